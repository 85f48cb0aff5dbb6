"""`annotate pull`: every annotation of a project as a normalised record
(schemas/annotation.schema.json), fully or only what changed since the last pull.

Both kinds read a snapshot export restricted by a temporary data-manager view: annotated or
skipped tasks for a full pull, tasks updated since the last pull's server time for an
incremental one (a task's `updated_at` moves when one of its annotations is created, edited,
skipped or deleted). An exported task's annotations replace all earlier records of that task,
so edits replace and deletions show. The merged count is then checked against the project's
own annotation counters; a mismatch (a deleted task, say) turns the pull into a full one.

The output is written atomically before the state beside it, so a crash between the two only
makes the next pull fetch a little more again: nothing is lost or doubled."""

from __future__ import annotations

import email.utils
import json
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import orjson
from fastjsonschema import JsonSchemaException

from asag.annotate.connection import NO_RETRY, Api, no_retry, plain
from asag.annotate.groups import member_records
from asag.annotate.project import COMMENT_FROM, SCORE_FROM
from asag.annotate.screen import predicted_score
from asag.errors import InputError
from asag.records import ANNOTATION, ShapeValidator, atomic_writer
from asag.scale import Scale

STATE_SUFFIX = ".state.json"
VIEW_TITLE = "asag pull (temporary)"
# Re-read a little before the last pull (a save's timestamp precedes its commit; the Date
# header has whole seconds). Anything still missed changes the count and forces a full pull.
OVERLAP = timedelta(seconds=2)
SERIALIZATION = {
    "annotations__completed_by": {"only_id": False},  # {id, email, ...}
    "predictions": {"only_id": False},
    "drafts": {"only_id": True},
    "include_annotation_history": False,
}


@dataclass
class PullReport:
    mode: str = "full"
    tasks: int = 0
    new: int = 0
    edited: int = 0
    deleted: list[dict] = field(default_factory=list)
    total: int = 0
    answers: int = 0
    skipped: int = 0
    unscored: list[int] = field(default_factory=list)  # annotation ids without a usable score
    foreign: int = 0  # annotations of tasks without an answer_id (not pushed by asag)
    fallback: str = ""

    def summary(self, output: Path) -> str:
        text = (f"{output}: {self.total:,} annotations of {self.answers:,} answers "
                f"({self.skipped:,} skipped); {self.mode} pull read {self.tasks:,} tasks: "
                f"{self.new:,} new, {self.edited:,} edited, {len(self.deleted):,} deleted")
        if self.deleted:
            ids = ", ".join(str(d["annotation_id"]) for d in self.deleted[:5])
            text += f" (annotation ids {ids}{', ...' if len(self.deleted) > 5 else ''})"
        if self.fallback:
            text += f"; {self.fallback}"
        if self.unscored:
            ids = ", ".join(map(str, self.unscored[:5]))
            text += (f"; WARNING {len(self.unscored)} annotations have no score on the scale "
                     f"(ids {ids}): fix them in Label Studio")
        if self.foreign:
            text += f"; {self.foreign} annotations of tasks without an answer_id were ignored"
        return text


def state_path(output: Path) -> Path:
    return output.with_name(output.name + STATE_SUFFIX)


def pull(api: Api, project: dict, output: Path, *, scale: Scale, full: bool = False,
         _attempt: int = 0) -> PullReport:
    report = PullReport()
    state = _read_state(output, api.url, project["id"])
    old = _read_output(output) if state is not None and not full else None
    since = state["watermark"] if old is not None else None  # no output: start again
    report.mode = "incremental" if since else "full"

    with tempfile.TemporaryDirectory(prefix="asag-pull-") as tmp:
        spool = Path(tmp) / "export.json"
        server_now = export_tasks(api, project["id"], since=since, spool=spool)
        fresh, foreign, task_ids = _normalise_all(read_export(spool), project, scale, report)
    if since:
        merged = _merge(old, fresh, task_ids, report)
        foreign = {**{k: n for k, n in state.get("foreign", {}).items()
                      if int(k) not in task_ids}, **foreign}
        found = len({k[0] for k in merged}) + sum(foreign.values())
        # the counters fetched with the project (just before the export) save a call; only
        # when they disagree are fresh ones asked for, after one more look at the changes
        expected = _counted(project) if _attempt == 0 else None
        if expected is None:
            expected = _expected_count(api, project)
        if expected is not None and expected != found:
            if _attempt == 0:  # a label saved during this pull, or stale counters
                return pull(api, project, output, scale=scale, _attempt=1)
            report = pull(api, project, output, scale=scale, full=True)
            report.fallback = (f"incremental pull found {found} annotations but the project has "
                               f"{expected} (tasks deleted?), so a full pull was done")
            return report
    else:
        merged = fresh
        previous = _read_output(output, strict=False) if state is not None else None
        _compare(previous or {}, merged, report)

    if not (since and report.new == report.edited == 0 and not report.deleted):
        _write(output, merged)  # (an incremental pull that changed nothing leaves it as it is)
    _write_state(output, api.url, project, server_now - OVERLAP, foreign, report)
    annotations = {r["annotation_id"]: r for r in merged.values()}  # group members share one
    report.total = len(annotations)
    report.answers = len({r["answer_id"] for r in merged.values()})
    report.skipped = sum(1 for r in annotations.values() if r["skipped"])
    report.foreign = sum(foreign.values())
    return report


# -- export -----------------------------------------------------------------------------

def export_tasks(api: Api, project_id: int, *, since: str | None, spool: Path) -> datetime:
    """Tasks (with annotations, completed_by expanded, predictions) through a snapshot export
    limited by a temporary view, written to `spool` as it downloads (`read_export` reads it
    task by task: a course's export is never whole in memory); returns the server's time
    just before it. The view and the export are deleted afterwards."""
    if since is None:
        filters = {"conjunction": "or", "items": [
            _number_filter("total_annotations", 0), _number_filter("cancelled_annotations", 0)]}
    else:
        filters = {"conjunction": "and", "items": [
            {"filter": "filter:tasks:updated_at", "operator": "greater", "type": "Datetime",
             "value": since}]}
    # the raw-response variant for the HTTP Date header: the server's clock, taken before the
    # snapshot, so nothing saved later is skipped
    made = api.sdk.views.with_raw_response.create(
        project=project_id, data={"title": VIEW_TITLE, "filters": filters},
        request_options=NO_RETRY)
    view, server_now = made.data, _parse_date(made.headers.get("date"))
    export = None
    try:
        export = plain(api.sdk.projects.exports.create(
            project_id, title="asag pull", task_filter_options={"view": view.id},
            serialization_options=SERIALIZATION, request_options=no_retry(timeout=1800)))
        export = _wait_export(api, project_id, export)
        with spool.open("wb") as fh:  # the bytes as they come: no SDK model per task
            for chunk in api.sdk.projects.exports.download(
                    project_id, export["id"], export_type="JSON",
                    request_options={"timeout": 1800, "chunk_size": 1 << 20}):
                fh.write(chunk)
        return server_now
    finally:
        if export is not None:
            _quietly(api.sdk.projects.exports.delete, project_id, export["id"])
        _quietly(api.sdk.views.delete, str(view.id))


def read_export(spool: Path) -> Iterator[dict]:
    """The tasks of a JSON export (a list), one at a time (ijson's C parser)."""
    import ijson

    with spool.open("rb") as fh:
        yield from ijson.items(fh, "item", use_float=True)


def _number_filter(column: str, above: int) -> dict:
    return {"filter": f"filter:tasks:{column}", "operator": "greater", "type": "Number",
            "value": above}


def _wait_export(api: Api, project_id: int, export: dict, timeout: float = 1800) -> dict:
    """Snapshot exports finish inside the request without Redis, later with it: poll."""
    deadline = time.monotonic() + timeout
    while export.get("status") not in ("completed", "failed"):
        if time.monotonic() > deadline:
            raise click.ClickException(
                f"Label Studio's export {export['id']} did not finish in {timeout:.0f} s")
        time.sleep(0.5)
        export = plain(api.sdk.projects.exports.get(project_id, export["id"]))
    if export["status"] == "failed":
        raise click.ClickException(
            f"Label Studio's export {export['id']} failed; see the server's log "
            "(`asag labelstudio status` shows where it is) and re-run")
    return export


def _quietly(call, *args) -> None:
    try:
        call(*args)
    except Exception:  # noqa: BLE001 - clean-up only; the pull's own result matters
        pass


def _parse_date(stamp: str) -> datetime:
    """An HTTP Date header (whole seconds, UTC); our own clock if there is none."""
    try:
        return email.utils.parsedate_to_datetime(stamp).astimezone(UTC)
    except (TypeError, ValueError):
        return datetime.now(UTC)


def _expected_count(api: Api, project: dict) -> int | None:
    """Annotations the project holds now, skipped ones included (its own counters)."""
    rows = [p for p in plain(api.sdk.projects.list(
        ids=str(project["id"]),
        include="id,total_annotations_number,skipped_annotations_number").items or [])
        if p.get("id") == project["id"]]
    return _counted(rows[0]) if rows else None


def _counted(project: dict) -> int | None:
    try:
        return int(project["total_annotations_number"]) + int(project["skipped_annotations_number"])
    except (KeyError, TypeError, ValueError):
        return None


# -- normalising ----------------------------------------------------------------------------

def _normalise_all(tasks: Iterable[dict], project: dict, scale: Scale, report: PullReport):
    """Records keyed by (annotation id, answer id): an annotation of an answer-group task is
    one record per member (annotate/groups.py); also the ids of the tasks read."""
    fresh: dict[tuple, dict] = {}
    foreign: dict[str, int] = {}
    task_ids: set[int] = set()
    for task in tasks:
        task_ids.add(task["id"])
        answer_id = (task.get("data") or {}).get("answer_id")
        annotations = task.get("annotations") or []
        if answer_id in (None, ""):
            if annotations:
                foreign[str(task["id"])] = len(annotations)
            continue
        records = [normalise(task, ann, project, scale) for ann in annotations]
        report.unscored += [r["annotation_id"] for r in records
                            if r["score"] is None and not r["skipped"]]
        for record in member_records(task, records):
            fresh[_key(record)] = record
    report.tasks = len(task_ids)
    return fresh, foreign, task_ids


def _key(record: dict) -> tuple:
    return record["annotation_id"], record["answer_id"]


def normalise(task: dict, ann: dict, project: dict, scale: Scale) -> dict:
    """One annotation as an annotation record."""
    user = ann.get("completed_by")
    if isinstance(user, dict):
        user_id, email_ = user.get("id"), user.get("email")
    else:
        user_id, email_ = user, None
    skipped = bool(ann.get("was_cancelled"))
    score, comment = _read_result(ann.get("result") or [], scale)
    data = task.get("data") or {}
    lead = ann.get("lead_time")
    return {
        "answer_id": str(data["answer_id"]),
        "question_id": None if data.get("question_id") is None else str(data["question_id"]),
        "task_id": task["id"],
        "annotation_id": ann["id"],
        "project_id": project["id"],
        "annotator": str(user_id) if user_id is not None else "unknown",
        "annotator_email": email_,
        "score": None if skipped else score,
        "scale": scale.spec,
        "comment": comment,
        "created_at": ann.get("created_at"),
        "updated_at": ann.get("updated_at"),
        "lead_time": float(lead) if lead is not None else None,
        "skipped": skipped,
        "ground_truth": bool(ann.get("ground_truth")),
        "prediction": _shown_prediction(task, ann, project, scale),
    }


def _read_result(result: list[dict], scale: Scale):
    score, comments = None, []
    for item in result:
        value = item.get("value") or {}
        if item.get("from_name") == SCORE_FROM and value.get("choices"):
            try:
                score = scale.coerce(value["choices"][0])
            except ValueError:
                score = None
        elif item.get("from_name") == COMMENT_FROM and value.get("text"):
            text = value["text"]
            comments += text if isinstance(text, list) else [text]
    return score, ("\n".join(str(c) for c in comments) if comments else None)


def _shown_prediction(task: dict, ann: dict, project: dict, scale: Scale) -> dict | None:
    """The prediction the annotation started from (`parent_prediction`), else the project's
    current model's prediction made before the annotation (Label Studio shows that one)."""
    preds = [p for p in task.get("predictions") or [] if isinstance(p, dict)]
    chosen = None
    parent = ann.get("parent_prediction")
    if parent is not None:
        chosen = next((p for p in preds if p.get("id") == parent), None)
    if chosen is None and project.get("model_version"):
        before = [p for p in preds if p.get("model_version") == project["model_version"]
                  and (p.get("created_at") or "") <= (ann.get("created_at") or "")]
        chosen = before[-1] if before else None
    if chosen is None:
        return None
    value = predicted_score(chosen, scale)  # the hint box's model_score, or a prefilled choice
    confidence = chosen.get("score")
    return {"model_version": chosen.get("model_version"), "score": value,
            "confidence": float(confidence) if confidence is not None else None}


# -- merging and files ------------------------------------------------------------------

def _merge(old: dict[tuple, dict], fresh: dict[tuple, dict], task_ids: set[int],
           report: PullReport) -> dict[tuple, dict]:
    """Old records minus those of re-read tasks, plus the re-read ones."""
    merged = {k: r for k, r in old.items() if r["task_id"] not in task_ids}
    merged.update(fresh)
    re_read = {k: r for k, r in old.items() if r["task_id"] in task_ids}
    _compare(re_read, fresh, report)
    return merged


def _compare(old: dict[tuple, dict], merged: dict[tuple, dict], report: PullReport) -> None:
    """What is new, edited and gone, counted in annotations (an answer group's members share
    one; a record of a member that a split removed is not a deleted annotation)."""
    now, before = {k[0] for k in merged}, {k[0] for k in old}
    report.new = len(now - before)
    report.edited = len({k[0] for k, r in merged.items() if k[0] in before and old.get(k) != r}
                        | {k[0] for k in old if k[0] in now and k not in merged})
    report.deleted = list({r["annotation_id"]: _deletion(r) for k, r in old.items()
                           if k[0] not in now}.values())


def _deletion(record: dict) -> dict:
    return {k: record[k] for k in ("annotation_id", "answer_id", "task_id", "annotator")}


def _read_output(output: Path, strict: bool = True) -> dict[tuple, dict] | None:
    """The previous output by annotation id (our own records: a shape check suffices)."""
    if not output.is_file():
        return None
    check, records = ShapeValidator(ANNOTATION), {}
    with output.open("rb") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                record = orjson.loads(line)
                if not isinstance(record, dict) or "annotation_id" not in record:
                    raise JsonSchemaException("no annotation_id")
                check(record)
            except (orjson.JSONDecodeError, JsonSchemaException) as exc:
                if not strict:
                    return None
                raise InputError(f"not an annotation record ({exc})", file=str(output),
                                 line=lineno, fix="re-run with --full to rewrite it") from None
            records[_key(record)] = record
    return records


def _write(output: Path, records: dict[tuple, dict]) -> None:
    check = ShapeValidator(ANNOTATION)
    with atomic_writer(output, "wb") as fh:
        for record in sorted(records.values(), key=lambda r: (r["answer_id"], r["annotation_id"])):
            check(record)
            fh.write(orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE))


def _read_state(output: Path, url: str, project_id: int) -> dict | None:
    try:
        state = json.loads(state_path(output).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    if state.get("url") != url or state.get("project_id") != project_id:
        return None
    return state


def _write_state(output: Path, url: str, project: dict, watermark: datetime, foreign: dict,
                 report: PullReport) -> None:
    path = state_path(output)
    previous = {}
    if path.is_file():
        try:
            previous = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            previous = {}
    deleted = (previous.get("deleted", []) if previous.get("project_id") == project["id"] else [])
    state = {
        "url": url,
        "project_id": project["id"],
        "project": project["title"],
        # Label Studio compares this with tasks' updated_at (UTC)
        "watermark": watermark.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "pulled_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "foreign": foreign,
        "deleted": deleted + report.deleted,  # a record of what disappeared, for audits
    }
    with atomic_writer(path) as fh:
        json.dump(state, fh, indent=1)
        fh.write("\n")
