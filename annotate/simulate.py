"""`annotate simulate`: SIMULATED teachers score a project's answers through the API, so the
main job (and a demo) runs the whole loop with nobody at the keyboard.

Each score column of a table (the bundled sample's teacher_a, teacher_b) becomes one real
Label Studio account (sim-teacher-a@asag.local, made through the invite sign-up like any
teacher's), and every task that account has not annotated yet gets an annotation with that
column's score, `completed_by` that account. Answers are matched by the stable id `asag
gather` gives them, so the table must be gathered with the same options. Where the task
carries a prediction of the project's current model, the annotation names it as its
`parent_prediction`, as Label Studio does when a teacher starts from the suggestion."""

from __future__ import annotations

import contextlib
import json
import re
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from label_studio_sdk.core.api_error import ApiError

from asag.annotate.connection import Api, dm_columns, every, no_retry, plain, task_page
from asag.annotate.races import create_retrying, task_pages
from asag.errors import InputError, LabelStudioError, OptionError
from asag.gather import GatherOptions, gather
from asag.hints import SCORE_FROM, TEXT_TO
from asag.records import read_jsonl
from asag.scale import Scale
from asag.tables import column_index, open_table

EMAIL_DOMAIN = "asag.local"
PAGE = 1000
CHUNK = 500  # task ids per listing of chosen tasks (they travel in the query string)
WORKERS = 4  # tasks whose annotations are being posted at once


@dataclass
class SimulationReport:
    teachers: dict[str, dict] = field(default_factory=dict)  # column -> {id, email, new}
    created: dict[str, int] = field(default_factory=dict)  # column -> annotations made
    already: dict[str, int] = field(default_factory=dict)  # column -> tasks it had done
    full: int = 0  # tasks skipped: enough teachers scored them already
    unmatched: int = 0  # tasks whose answer is not in the table
    tasks: int = 0
    miscounted: list[int] = field(default_factory=list)  # tasks with wrong counters after
    concurrent: int = 0  # our annotations deleted: a concurrent run had made the same first

    def summary(self, project: str) -> str:
        parts = [f"{self.teachers[c]['email']} (user {self.teachers[c]['id']}): "
                 f"{self.created.get(c, 0):,} new, {self.already.get(c, 0):,} done before"
                 for c in self.teachers]
        text = (f"project '{project}' ({self.tasks:,} tasks): SIMULATED teachers made "
                f"{sum(self.created.values()):,} annotations - " + "; ".join(parts))
        if self.full:
            text += f"; {self.full:,} tasks already had enough teachers"
        if self.unmatched:
            text += f"; {self.unmatched:,} tasks are not in the table (left alone)"
        if self.concurrent:
            text += (f"; {self.concurrent:,} removed again as concurrent duplicates (another "
                     "simulate run made the same annotations at the same time)")
        text += (f"; WARNING Label Studio's counters are wrong on {len(self.miscounted):,} "
                 f"tasks (ids {', '.join(map(str, self.miscounted[:5]))})" if self.miscounted
                 else "; every task's counters match its annotations (tasks annotated here)")
        return text


def teacher_email(column: str) -> str:
    """sim-teacher-a@asag.local for the column teacher_a."""
    slug = re.sub(r"[^a-z0-9]+", "-", column.lower()).strip("-") or "teacher"
    return f"sim-{slug}@{EMAIL_DOMAIN}"


def table_scores(path: Path, columns: list[str], scale: Scale) -> dict[str, dict[str, object]]:
    """answer id (as `asag gather` makes it) -> {column: score on the scale}, blanks left out."""
    table = open_table(path)
    where = {}
    for column in columns:
        index = column_index(table.columns, column)
        if index is None:
            raise InputError(f"no column '{column}' (columns: {', '.join(table.columns)})",
                             file=str(path), fix="name the teachers' score columns with "
                                                 "--teacher-cols")
        where[column] = index
    by_line: dict[int, dict[str, object]] = {}
    for line, cells in table.rows:
        scores = {}
        for column, index in where.items():
            value = cells[index] if index < len(cells) else None
            if value is None or not str(value).strip():
                continue
            try:
                scores[column] = scale.coerce(str(value).strip())
            except ValueError as exc:
                raise InputError(str(exc), file=str(path), line=line, column=column,
                                 fix=f"correct the score (the project's scale is {scale.spec})"
                                 ) from None
        by_line[line] = scores
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.jsonl"
        gather([path], raw, GatherOptions(skip_invalid=True), rejects=Path(tmp) / "rejects")
        return {record["id"]: by_line.get(record["source"]["line"], {})
                for _, record in read_jsonl(raw)}


def ensure_teacher(api: Api, email: str) -> tuple[dict, bool]:
    """The simulated teacher's account, made through the invite sign-up the first time."""
    from asag.annotate.users import create_account, find_user

    user = find_user(api, email)
    if user is not None:
        return user, False
    try:
        user, _password = create_account(api, email)  # nobody logs in as it: password discarded
    except LabelStudioError:
        user = find_user(api, email)  # a concurrent run signed it up a moment before
        if user is None:
            raise
        return user, False
    return user, True


def every_task(api: Api, project_id: int) -> list[dict]:
    """Every task with its answer id, who annotated it and its predictions, by task id."""
    pages = api.sdk.tasks.list(project=project_id, fields="all", resolve_uri=False,
                               page_size=PAGE)
    return sorted(every(pages), key=lambda t: t["id"])


def plan_tasks(api: Api, project_id: int) -> list[dict]:
    """Every task's id, answer id and annotators (user ids), by task id, from the
    data manager's list with only the `annotators` column computed (`light_query`): Label
    Studio serialises no annotation or prediction. With those (`every_task`), ten teachers
    starting at once on a 5,000-task project had made no annotation after 15 min."""
    query = light_query(api, project_id, ("annotators",))
    tasks = [task for page in task_pages(
        api, project_id, query=query, page_size=PAGE,
        include="id,data,total_predictions,annotators")
        for task in page]
    if any(int(t.get("total_predictions") or 0) for t in tasks):  # for parent_prediction
        shown: dict[int, list[dict]] = {}
        for pred in sorted(plain(api.sdk.predictions.list(project=project_id)),
                           key=lambda p: p["id"]):
            shown.setdefault(pred.get("task"), []).append(
                {"id": pred["id"], "model_version": pred.get("model_version")})
        for task in tasks:
            task["predictions"] = shown.get(task["id"], [])
    return tasks


def light_query(api: Api, project_id: int, shown: Iterable[str]) -> dict:
    """A data-manager query that hides every column but `shown`: the task list then computes
    only those aggregates (with fields=all it computes all of them, ~10x the time)."""
    keep = {f"tasks:{name}" for name in shown}
    hidden = ["tasks:" + ("data." if c.get("parent") == "data" else "") + c["id"]
              for c in dm_columns(api, project_id)]
    hidden = [c for c in hidden if c not in keep]
    return {"hiddenColumns": {"explore": hidden, "labeling": hidden}}


def checked_tasks(api: Api, project: dict, task_ids: Iterable[int]) -> list[dict]:
    """The given tasks as the settle and the counter check need them: their counters,
    annotators and annotation ids (light); those where these do not add up (a teacher twice,
    a counter off, a skip) again with their annotations (`tasks_with_annotations`)."""
    project_id = project["id"]
    ids = sorted(set(task_ids))
    query = light_query(api, project_id, ("annotators", "annotations_ids"))
    light = []
    for start in range(0, len(ids), CHUNK):
        part = ids[start:start + CHUNK]
        light += task_page(api, project=project_id, fields="task_only", resolve_uri="false",
                           include="id,total_annotations,cancelled_annotations,is_labeled,"
                                   "overlap,annotators,annotations_ids",
                           page_size=len(part), page=1, query=json.dumps(
                               {**query, "selectedItems": {"all": False, "included": part},
                                "ordering": ["tasks:id"]}))
    suspect = []
    for task in light:
        text = str(task.get("annotations_ids") or "")
        task["annotations_ids"] = [int(i) for i in re.findall(r"\d+", text)]
        if (len(text) >= 450  # the data manager cuts the column at 500 characters
                or int(task.get("cancelled_annotations") or 0)
                or len(task["annotations_ids"]) != len(set(task.get("annotators") or []))
                or _counters_wrong(task, project)):
            suspect.append(task["id"])
    full = {t["id"]: t for t in tasks_with_annotations(api, project_id, suspect)}
    return [full.get(t["id"], t) for t in light]


def tasks_with_annotations(api: Api, project_id: int, task_ids: Iterable[int]) -> list[dict]:
    """The given tasks with their annotations (fields=all, as `every_task`; ~25 ms a task
    under load), CHUNK ids a call."""
    ids = sorted(set(task_ids))
    out: list[dict] = []
    for start in range(0, len(ids), CHUNK):
        part = ids[start:start + CHUNK]
        query = {"selectedItems": {"all": False, "included": part}, "ordering": ["tasks:id"]}
        out += task_page(api, project=project_id, fields="all", resolve_uri="false",
                         page_size=len(part), page=1, query=json.dumps(query))
    return out


def _annotators(task: dict) -> set[int]:
    if "annotations" not in task:  # plan_tasks: the data manager's aggregate
        return set(task.get("annotators") or [])
    found = set()
    for ann in task.get("annotations") or []:
        user = ann.get("completed_by")
        found.add(user.get("id") if isinstance(user, dict) else user)
    return found


def _parent_prediction(task: dict, model_version: str | None) -> int | None:
    preds = [p for p in task.get("predictions") or [] if isinstance(p, dict)]
    if model_version:
        preds = [p for p in preds if p.get("model_version") == model_version]
    return preds[-1]["id"] if preds and preds[-1].get("id") is not None else None


def annotation_body(scale: Scale, score, user_id: int, parent: int | None) -> dict:
    body = {
        "completed_by": user_id,
        "lead_time": 5.0,
        "result": [{"from_name": SCORE_FROM, "to_name": TEXT_TO, "type": "choices",
                    "value": {"choices": [str(scale.coerce(score))]}}],
    }
    if parent is not None:
        body["parent_prediction"] = parent
    return body


def simulate(
    api: Api,
    project: dict,
    scale: Scale,
    scores: dict[str, dict[str, object]],
    columns: Iterable[str],
    *,
    limit: int | None = None,
    progress: Callable = lambda items, **_: items,
) -> SimulationReport:
    """Each column's teacher annotates the tasks it has not done, in task order (push imports
    them in predictions.labelling_order), until it has annotated `limit` of the table's
    answers in all (those done before count, so a re-run scores no more)."""
    report = SimulationReport()
    columns = list(columns)
    for column in columns:
        user, new = ensure_teacher(api, teacher_email(column))
        report.teachers[column] = {"id": user["id"], "email": user["email"], "new": new}
    tasks = plan_tasks(api, project["id"])
    report.tasks = len(tasks)
    maximum = int(project.get("maximum_annotations") or 1)
    todo: list[tuple[str, dict, object]] = []
    rows = {}
    for task in tasks:
        row = scores.get(str((task.get("data") or {}).get("answer_id") or ""))
        if row is None:
            report.unmatched += 1
        else:
            rows[task["id"]] = row
            done = _annotators(task)
            for column in columns:
                if report.teachers[column]["id"] in done:
                    report.already[column] = report.already.get(column, 0) + 1
    planned = {c: report.already.get(c, 0) for c in columns}
    for task in tasks:
        row = rows.get(task["id"])
        if row is None:
            continue
        # a task is full when enough teachers hold it; not by its annotation count, which
        # two runs saving one teacher's score at once inflate until one settles
        done = _annotators(task)
        count = len(done)
        for column in columns:
            if report.teachers[column]["id"] in done:
                continue
            if column not in row or (limit is not None and planned[column] >= limit):
                continue
            if count >= maximum:
                report.full += 1
                continue
            todo.append((column, task, row[column]))
            planned[column] += 1
            count += 1
    model_version = project.get("model_version") or None
    posted: list[tuple[int, int, int]] = []  # (task, user, annotation) ids

    def annotate_task(items: list[tuple[str, dict, object]]) -> list[str]:
        # one task's annotations one after another: posted in parallel, Label Studio can
        # leave the task's counters (total_annotations, is_labeled) wrong
        for column, task, score in items:
            body = annotation_body(scale, score, report.teachers[column]["id"],
                                   _parent_prediction(task, model_version))
            # repeated only after a 5xx (SQLite "database is locked" with many teachers at
            # once): a copy that a failed try committed is removed by the settle below
            made = create_retrying(lambda: api.sdk.annotations.create(
                task["id"], **body, request_options=no_retry(  # noqa: B023 - called at once
                    additional_query_parameters={"project": project["id"]})))
            posted.append((task["id"], body["completed_by"], made.id))
        return [column for column, _, _ in items]

    by_task: dict[int, list] = {}
    for item in todo:
        by_task.setdefault(item[1]["id"], []).append(item)
    # A few tasks in flight: each POST spends most of its time in the server's request
    # handling, which runs in threads; SQLite serialises only the short writes.
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        done = progress(pool.map(annotate_task, by_task.values()), length=len(by_task),
                        label="simulated teachers scoring")
        try:
            for columns_done in done:
                for column in columns_done:
                    report.created[column] = report.created.get(column, 0) + 1
        except BaseException:
            pool.shutdown(cancel_futures=True)  # no new POSTs after a failure or Ctrl-C
            raise
    # one listing of the tasks annotated here serves both checks, unless annotations were
    # deleted; of two runs saving one task at once, the later checks after both saves
    touched = {task_id for task_id, _, _ in posted}
    tasks = checked_tasks(api, project, touched)
    report.concurrent = remove_concurrent_annotations(api, tasks, posted, report)
    if report.concurrent:
        tasks = checked_tasks(api, project, touched)
    report.miscounted = miscounted_tasks(api, project, tasks)
    if report.miscounted and repair_counters(api, project, report.miscounted):
        report.miscounted = miscounted_tasks(
            api, project, checked_tasks(api, project, report.miscounted))
    return report


def repair_counters(api: Api, project: dict, task_ids: list[int]) -> int:
    """Label Studio recounts a task's annotations whenever one of them is saved; two teachers
    saving the same task at the same moment can each count only their own (on PostgreSQL as
    on SQLite), leaving total_annotations and is_labeled short. Saving again, alone, one
    simulated teacher's annotation of each such task (unchanged) recounts it; real teachers'
    annotations are never touched. Returns how many were saved again."""
    simulated = {u["id"] for u in plain(api.sdk.users.list())
                 if re.fullmatch(rf"sim-[a-z0-9-]+@{re.escape(EMAIL_DOMAIN)}",
                                 (u.get("email") or "").lower())}
    saved = 0
    for task in tasks_with_annotations(api, project["id"], task_ids):
        ann = next((a for a in sorted(task.get("annotations") or [], key=lambda a: a["id"])
                    if _user_of(a) in simulated), None)
        if ann is None:
            continue
        with contextlib.suppress(ApiError):  # deleted meanwhile: its task was recounted
            api.sdk.annotations.update(ann["id"], result=ann.get("result") or [])
            saved += 1
    return saved


def miscounted_tasks(api: Api, project: dict, tasks: list[dict] | None = None) -> list[int]:
    """Tasks whose own counters (total_annotations, cancelled_annotations, is_labeled: enough
    teachers for its overlap) disagree with the annotations they hold (`tasks`: a listing
    of the project just made, else it is listed here)."""
    return [task["id"] for task in (every_task(api, project["id"]) if tasks is None else tasks)
            if _counters_wrong(task, project)]


def _counters_wrong(task: dict, project: dict) -> bool:
    """A task with its annotations, or with their ids only (`checked_tasks`: then the split
    between done and skipped is taken from the task's own counter)."""
    if "annotations" in task:
        anns = task.get("annotations") or []
        held, done = len(anns), sum(1 for a in anns if not a.get("was_cancelled"))
    else:
        held = len(task.get("annotations_ids") or [])
        done = held - int(task.get("cancelled_annotations") or 0)
    overlap = int(task.get("overlap") or project.get("maximum_annotations") or 1)
    return (int(task.get("total_annotations") or 0) != done
            or int(task.get("cancelled_annotations") or 0) != held - done
            or (held == done and bool(task.get("is_labeled")) != (done >= overlap)))


def remove_concurrent_annotations(api: Api, tasks: list[dict],
                                  posted: list[tuple[int, int, int]],
                                  report: SimulationReport) -> int:
    """Delete the annotations we posted where a concurrent run had posted the same teacher's
    annotation of the same task too (annotate/races.py: the lowest id stays, whoever made it;
    `tasks`: checked_tasks of the tasks annotated here); returns how many were deleted here."""
    from asag.annotate.races import settle_annotations

    def annotations_of(task_ids: list[int]) -> dict[int, list[tuple[int, int]]]:
        wanted = set(task_ids)
        return {t["id"]: [(a["id"], _user_of(a)) for a in t.get("annotations") or []]
                for t in tasks if t["id"] in wanted}

    if not posted:
        return 0
    deleted = set(settle_annotations(api, posted, annotations_of))
    listed = {a for t in tasks for a in _annotation_ids(t)}
    for _task, user_id, annotation_id in posted:
        # removed here, or already by a concurrent run (then it was not listed)
        if annotation_id in deleted or annotation_id not in listed:
            column = next(c for c, t in report.teachers.items() if t["id"] == user_id)
            report.created[column] -= 1
            report.already[column] = report.already.get(column, 0) + 1
    return len(deleted)


def _annotation_ids(task: dict) -> list[int]:
    if "annotations" in task:
        return [a["id"] for a in task.get("annotations") or []]
    return list(task.get("annotations_ids") or [])


def _user_of(annotation: dict) -> int | None:
    user = annotation.get("completed_by")
    return user.get("id") if isinstance(user, dict) else user


def check_columns(columns: str) -> list[str]:
    names = [c.strip() for c in columns.split(",") if c.strip()]
    if not names or len(set(names)) != len(names):
        raise OptionError("give distinct column names separated by commas, e.g. "
                          "teacher_a,teacher_b", option="--teacher-cols")
    return names
