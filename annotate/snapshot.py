"""Reading a project's annotations out of Label Studio, for `annotate pull`: a snapshot
export restricted by a temporary data-manager view (annotated or skipped tasks for a full
pull, tasks updated since a time for an incremental one: a task's `updated_at` moves when one
of its annotations is created, edited, skipped or deleted), the project's own annotation
counters, and each exported annotation as a normalised record
(schemas/annotation.schema.json). Nothing here reads or writes the pulled files (pulled.py)."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from asag.annotate.connection import NO_RETRY, Api, no_retry, plain
from asag.annotate.groups import member_records
from asag.errors import LabelStudioError
from asag.hints import COMMENT_FROM, SCORE_FROM, predicted_score
from asag.scale import Scale

VIEW_TITLE = "asag pull (temporary)"
SERIALIZATION = {
    "annotations__completed_by": {"only_id": False},  # {id, email, ...}
    "predictions": {"only_id": False},
    "drafts": {"only_id": True},
    "include_annotation_history": False,
}


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
            raise LabelStudioError(
                f"Label Studio's export {export['id']} did not finish in {timeout:.0f} s")
        time.sleep(0.5)
        export = plain(api.sdk.projects.exports.get(project_id, export["id"]))
    if export["status"] == "failed":
        raise LabelStudioError(
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


def expected_count(api: Api, project: dict) -> int | None:
    """Annotations the project holds now, skipped ones included (its own counters)."""
    rows = [p for p in plain(api.sdk.projects.list(
        ids=str(project["id"]),
        include="id,total_annotations_number,skipped_annotations_number").items or [])
        if p.get("id") == project["id"]]
    return counted(rows[0]) if rows else None


def counted(project: dict) -> int | None:
    try:
        return int(project["total_annotations_number"]) + int(project["skipped_annotations_number"])
    except (KeyError, TypeError, ValueError):
        return None


def records(tasks: Iterable[dict], project: dict, scale: Scale
            ) -> tuple[dict[tuple, dict], dict[str, int], list[int], set[int]]:
    """(records keyed by (annotation id, answer id), annotation counts of tasks without an
    answer_id by task id, ids of annotations without a usable score, ids of the tasks read).
    An annotation of an answer-group task is one record per member (annotate/groups.py)."""
    fresh: dict[tuple, dict] = {}
    foreign: dict[str, int] = {}
    unscored: list[int] = []
    task_ids: set[int] = set()
    for task in tasks:
        task_ids.add(task["id"])
        answer_id = (task.get("data") or {}).get("answer_id")
        annotations = task.get("annotations") or []
        if answer_id in (None, ""):
            if annotations:
                foreign[str(task["id"])] = len(annotations)
            continue
        made = [normalise(task, ann, project, scale) for ann in annotations]
        unscored += [r["annotation_id"] for r in made if r["score"] is None and not r["skipped"]]
        for record in member_records(task, made):
            fresh[key(record)] = record
    return fresh, foreign, unscored, task_ids


def key(record: dict) -> tuple:
    """A record's key: (annotation id, answer id)."""
    return record["annotation_id"], record["answer_id"]


def normalise(task: dict, ann: dict, project: dict, scale: Scale) -> dict:
    """One annotation as an annotation record."""
    user = ann.get("completed_by")
    if isinstance(user, dict):
        user_id, email_ = user.get("id"), user.get("email")
    else:
        user_id, email_ = user, None
    skipped = bool(ann.get("was_cancelled"))
    score, comment = read_result(ann.get("result") or [], scale)
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


def read_result(result: list[dict], scale: Scale):
    """(score on the scale or None, the comments as one text or None) of a result."""
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
