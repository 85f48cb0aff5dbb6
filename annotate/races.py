"""Concurrent writers: several `annotate push`, `simulate` or `pull` runs at once, from one
machine or several, never leave a second project, a second task per answer or a second
annotation per teacher and task.

Label Studio has no compare-and-set, and its ids do not come in commit order on PostgreSQL
(an id is taken at insert, the row is seen at commit), so nothing here relies on id order.
Two rules instead:
- a deterministic winner: of the copies of one thing (tasks of one answer, annotations of
  one teacher on one task, projects of one title), the lowest id is kept; any run deletes
  any other copy it sees (unless a teacher has annotated it). A copy is deleted only when a
  lower one exists, so the lowest is never deleted, whoever looks first;
- a re-check after writing that sees everything: each run settles after its own writes have
  committed and looks at every task of the project (not only what is newer than what it
  saw), so the run that settles last sees every copy that all the runs made and removes the
  extras. A push lists every task *id* for this, and reads the data (answer id, counters)
  only of the tasks it has not seen before (settle_tasks). Before advising a person to
  delete anything, the same listing is taken again.

`pull` writes a local file, so a file lock beside it serialises pulls into one output."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from label_studio_sdk.core.api_error import ApiError

from asag.annotate.connection import Api, every, no_retry, selected_tasks, task_page
from asag.console import info

LIST_PAGE = 5000
GAPS_PER_CALL = 16  # id ranges in one task-list query (it travels in the URL); such a call
# costs about as much as listing 400 tasks


# -- projects ------------------------------------------------------------------------------

def titled(api: Api, title: str, fields: str) -> list[dict]:
    """Every project with exactly this title, lowest id first."""
    pages = api.sdk.projects.list(title=title, page_size=100, include=fields)
    return sorted((p for p in every(pages) if p.get("title") == title), key=lambda p: p["id"])


def create_retrying(call, *, attempts: int = 4):
    """`call()` creates something and is never retried by the SDK (no_retry options, or a raw
    call); it is repeated here after a 5xx (SQLite "database is locked" under load): safe
    only where the settle rules below remove what a half-committed failed try left behind
    (projects, imported tasks)."""
    for attempt in range(attempts):
        try:
            return call()
        except ApiError as exc:
            if (exc.status_code or 0) < 500 or attempt == attempts - 1:
                raise
            time.sleep(1.5 * (attempt + 1))
    raise AssertionError("unreachable")  # pragma: no cover


def settle_project(api: Api, mine: dict, fields: str) -> tuple[dict, bool]:
    """After creating `mine`: the project of this title with the lowest id wins. Every
    other one that holds no task (ours, another run's, or one that Label Studio's own retry
    of a "database is locked" request left behind: it re-runs a create that had
    half-committed) is renamed out of the way, not deleted: Label Studio deletes a project
    with all model signals switched off process-wide, and two deletes at once leave them off
    for good (task counters then stop updating). (winner, ours_won)."""
    same = titled(api, mine["title"], fields)
    first = same[0] if same else mine
    for project in same[1:]:
        if project["id"] == mine["id"] or not project.get("task_number"):
            with contextlib.suppress(ApiError):  # gone or renamed by another run
                api.sdk.projects.update(
                    project["id"], title=f"asag duplicate {project['id']} (empty)",
                    description=f"An empty copy of '{mine['title']}' made by two pushes at "
                                "once; safe to delete.")
    return first, first["id"] == mine["id"]


def later_winner(api: Api, used: dict, fields: str) -> dict | None:
    """The re-check at the end of a push that created its project: a concurrent first push's
    project with the same title and a lower id that became visible only after this run
    settled (its commit came late) is the winner after all; returned, else None."""
    same = titled(api, used["title"], fields)
    return same[0] if same and same[0]["id"] < used["id"] else None


def retire_project(api: Api, project: dict, winner: dict) -> None:
    """Empty a project that lost to `winner` (its tasks were pushed there too) and rename it
    out of the way (not deleted: see settle_project)."""
    api.sdk.actions.create(id="delete_tasks", project=project["id"],
                           selected_items={"all": True, "excluded": []},
                           request_options=no_retry(timeout=900))
    with contextlib.suppress(ApiError):
        api.sdk.projects.update(
            project["id"], title=f"asag duplicate {project['id']} (empty)",
            description=f"An empty copy of '{winner['title']}' (id {winner['id']}) made by two "
                        "pushes at once; safe to delete.")


# -- tasks ---------------------------------------------------------------------------------

def task_pages(api: Api, project_id: int, *, after: int | None = None,
               query: dict | None = None, page_size: int = LIST_PAGE,
               **params) -> Iterator[list[dict]]:
    """The data manager's task list (fields="task_only" unless `params` say otherwise), page
    after page, lowest id first; `query` adds to the data manager's query (hiddenColumns).

    Paged by id (each page: the next ids above the last one seen), not by page number:
    while other runs delete tasks, numbered pages shift and skip tasks or run out."""
    cursor = after
    while True:
        filters = {"conjunction": "and", "items": []}
        if cursor is not None:
            filters["items"].append({"filter": "filter:tasks:id", "operator": "greater",
                                     "type": "Number", "value": cursor})
        body = {**(query or {}), "filters": filters, "ordering": ["tasks:id"]}
        tasks = task_page(api, **{"fields": "task_only", **params}, project=project_id,
                          resolve_uri="false", page_size=page_size, page=1,
                          query=json.dumps(body))
        if tasks:
            yield tasks
        if len(tasks) < page_size:
            return
        cursor = max(t["id"] for t in tasks)


def task_answers(api: Api, project_id: int, *, after: int | None) -> dict[int, tuple[str, int]]:
    """Task id -> (answer id, annotations incl. skipped) for tasks with an id above `after`."""
    return {task["id"]: _answer_and_done(task) for tasks in task_pages(
        api, project_id, after=after, include="id,data,total_annotations,cancelled_annotations")
        for task in tasks}


def _answer_and_done(task: dict) -> tuple[str, int]:
    """(answer id or "", annotations incl. skipped) of a listed task."""
    answer_id = (task.get("data") or {}).get("answer_id")
    done = int(task.get("total_annotations") or 0) + int(task.get("cancelled_annotations") or 0)
    return str(answer_id) if answer_id is not None else "", done


def unseen_tasks(api: Api, project_id: int, seen: Iterable[int], *, include: str
                 ) -> Iterator[dict]:
    """The project's tasks whose ids are not in `seen`: the data manager's list filtered to
    the id ranges between the seen ids (a few calls), not a listing of the whole project
    (its task list costs ~0.5 ms a task on the server, with or without the data)."""
    gaps = _gaps(seen)
    for start in range(0, len(gaps), GAPS_PER_CALL):
        part, cursor = gaps[start:start + GAPS_PER_CALL], 0
        while True:  # paged by id, as task_pages
            items = [_id_range(max(lo, cursor + 1), hi) for lo, hi in part
                     if hi is None or hi > cursor]
            if not items:
                break
            body = {"filters": {"conjunction": "or", "items": items}, "ordering": ["tasks:id"]}
            tasks = task_page(api, project=project_id, fields="task_only", resolve_uri="false",
                              include=include, page_size=LIST_PAGE, page=1,
                              query=json.dumps(body, separators=(",", ":")))
            yield from tasks
            if len(tasks) < LIST_PAGE:
                break
            cursor = max(t["id"] for t in tasks)


def _gaps(seen: Iterable[int]) -> list[tuple[int, int | None]]:
    """The id ranges (first, last; None: no end) that hold no id of `seen`."""
    out, last = [], 0
    for task_id in sorted(set(seen)):
        if task_id > last + 1:
            out.append((last + 1, task_id - 1))
        last = task_id
    return [*out, (last + 1, None)]


def _id_range(first: int, last: int | None) -> dict:
    if last is None:
        return {"filter": "filter:tasks:id", "operator": "greater", "type": "Number",
                "value": first - 1}
    return {"filter": "filter:tasks:id", "operator": "in", "type": "Number",
            "value": {"min": first, "max": last}}


def task_details(api: Api, project_id: int, ids: Iterable[int]) -> dict[int, int]:
    """Task id -> annotations incl. skipped, of the given tasks that still exist."""
    return {task["id"]: _answer_and_done(task)[1] for task in selected_tasks(
        api, project_id, ids, include="id,total_annotations,cancelled_annotations")}


def settle_tasks(api: Api, project_id: int, mine: Mapping[int, str],
                 known: Mapping[int, str] | None = None
                 ) -> tuple[int, list[int], dict[int, str]]:
    """After importing `mine` (task id -> answer id), or after seeing an answer twice: of
    each answer's tasks keep the lowest id; every other one is a duplicate (ours, another
    run's, or left by Label Studio's own retry of a locked request) and is deleted unless a
    teacher has already annotated it (then it is kept, and returned if it is ours, for the
    report). Concurrent runs that all do this agree, in any commit order (module docstring).

    `known` (task id -> answer id: the listing this run took before importing, in which no
    answer repeated) spares listing the whole project again: only the tasks that are
    neither known nor ours are read (`unseen_tasks`: every id outside those two sets, so no
    id order is assumed). That sees every copy the full listing would of the answers this
    run imported: a copy is ours or unseen (had it been known, the answer would not have
    been imported), and a known task's answer id does not change. Before a task is deleted,
    it and the lower copy it loses to are read again (counters), so nothing is deleted for
    a copy that is gone or that a teacher has annotated since. Known tasks are never deleted
    here (their counters were not read): a known task that is not its answer's lowest copy
    lost to an unseen one, whose run imported that answer after the known task had
    committed, so to that run the known task is unseen, and it deletes it. `known=None`:
    the whole project is read (after an answer was seen twice).

    Returns (how many of other runs' tasks were deleted here, at least; ours kept because
    annotated; task id -> answer id of every task that remains)."""
    seen = {*(known or ()), *mine}
    if known is not None and len(_gaps(seen)) > GAPS_PER_CALL * (1 + len(seen) // 400):
        known = None  # ids full of holes: one listing of everything costs fewer calls
    if known is None:
        fresh = task_answers(api, project_id, after=None)
        tasks = {t: a for t, (a, _) in fresh.items()}
    else:
        fresh = {t["id"]: _answer_and_done(t) for t in unseen_tasks(
            api, project_id, seen,
            include="id,data,total_annotations,cancelled_annotations")}
        tasks = {**known, **mine, **{t: a for t, (a, _) in fresh.items()}}
    done = {t: n for t, (_, n) in fresh.items()}  # read after this run's imports
    while True:
        lowest: dict[str, int] = {}
        for task_id, answer_id in sorted(tasks.items()):
            lowest.setdefault(answer_id, task_id)
        extra = [t for t in sorted(tasks) if tasks[t] and lowest[tasks[t]] < t
                 and (known is None or t not in known)]
        unread = ({lowest[tasks[t]] for t in extra} | set(extra)) - set(done)
        if not unread:
            break
        done.update(task_details(api, project_id, unread))
        for task_id in unread - set(done):  # gone: deleted by another run (or a person)
            del tasks[task_id]
    doomed = [t for t in extra if not done[t]]
    annotated = [t for t in extra if done[t] and t in mine]  # others report their own
    removed = delete_tasks(api, project_id, doomed)
    others = max(0, removed - sum(1 for t in doomed if t in mine))  # at least this many
    for task_id in doomed:
        del tasks[task_id]
    return others, annotated, tasks


def repeated_answers(tasks: Mapping[int, str]) -> dict[str, list[int]]:
    """answer id -> its task ids, for the answers held by more than one task."""
    out: dict[str, list[int]] = {}
    for task_id, answer_id in sorted(tasks.items()):
        if answer_id:
            out.setdefault(answer_id, []).append(task_id)
    return {a: t for a, t in out.items() if len(t) > 1}


def delete_tasks(api: Api, project_id: int, task_ids: list[int], chunk: int = 1000) -> int:
    """The data manager's bulk delete (one call per thousand tasks, not one per task); how
    many of them were still there (another run may have deleted some first)."""
    from asag.annotate.connection import _raw

    removed = 0
    for start in range(0, len(task_ids), chunk):
        body = _raw(api, "POST", "api/dm/actions/", timeout=900,
                    params={"id": "delete_tasks", "project": project_id},
                    json_body={"selectedItems": {"all": False,
                                                 "included": task_ids[start:start + chunk]}})
        removed += int((body or {}).get("processed_items") or 0)
    return removed


# -- annotations ---------------------------------------------------------------------------

def settle_annotations(api: Api, mine: Iterable[tuple[int, int, int]],
                       annotations_of) -> list[int]:
    """After posting `mine` ((task id, user id, annotation id) triples): of one user's
    annotations of one task, the lowest id is kept and every other is deleted, ours or a
    concurrent run's, for the users and tasks in `mine` only (the simulated teachers: a real
    teacher's work is never touched). `annotations_of(task_ids)` returns, from a listing made
    after posting, task id -> [(annotation id, user id)]. Returns the annotation ids deleted."""
    mine = list(mine)
    users = {u for _, u, _ in mine}
    current = annotations_of(sorted({t for t, _, _ in mine}))
    deleted = []
    for found in current.values():
        firsts: dict[int, int] = {}
        for annotation_id, user_id in sorted(found, key=lambda f: f[0]):
            if user_id not in users:
                continue
            if user_id not in firsts:
                firsts[user_id] = annotation_id
                continue
            with contextlib.suppress(ApiError):  # already gone: another run deleted it
                api.sdk.annotations.delete(annotation_id)
                deleted.append(annotation_id)
    return deleted


# -- local outputs -------------------------------------------------------------------------

@contextlib.contextmanager
def output_lock(output: Path) -> Iterator[None]:
    """Hold an exclusive lock on OUTPUT.lock while writing OUTPUT (a second run waits, then
    reads what the first one wrote). POSIX advisory lock: released when the process ends."""
    import fcntl

    path = output.with_name(output.name + ".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            info(f"waiting for another run writing {output} to finish...")
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
