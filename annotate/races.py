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
  committed and lists the whole project (not only what is newer than what it saw), so the
  run that settles last sees every copy that all the runs made and removes the extras.
  Before advising a person to delete anything, the same listing is taken again.

`pull` writes a local file, so a file lock beside it serialises pulls into one output."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from label_studio_sdk.core.api_error import ApiError

from asag.annotate.connection import Api, every, no_retry, task_page
from asag.console import info

LIST_PAGE = 5000


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
    out: dict[int, tuple[str, int]] = {}
    for tasks in task_pages(api, project_id, after=after,
                            include="id,data,total_annotations,cancelled_annotations"):
        for task in tasks:
            answer_id = (task.get("data") or {}).get("answer_id")
            done = int(task.get("total_annotations") or 0) + int(
                task.get("cancelled_annotations") or 0)
            out[task["id"]] = (str(answer_id) if answer_id is not None else "", done)
    return out


def settle_tasks(api: Api, project_id: int, mine: Mapping[int, str]
                 ) -> tuple[int, list[int], dict[int, str]]:
    """After importing `mine` (task id -> answer id), or after seeing an answer twice: list
    the whole project and, of each answer's tasks, keep the lowest id; every other one is a
    duplicate (ours, another run's, or left by Label Studio's own retry of a locked request)
    and is deleted unless a teacher has already annotated it (then it is kept, and returned
    if it is ours, for the report). Concurrent runs that all do this agree, in any commit
    order (module docstring).

    Returns (how many of other runs' tasks were deleted here, at least; ours kept because
    annotated; task id -> answer id of every task that remains)."""
    tasks = task_answers(api, project_id, after=None)
    lowest: dict[str, int] = {}
    for task_id, (answer_id, _) in sorted(tasks.items()):
        lowest.setdefault(answer_id, task_id)
    doomed, annotated = [], []
    for task_id, (answer_id, done) in sorted(tasks.items()):
        if answer_id and lowest[answer_id] < task_id:
            (annotated if done else doomed).append(task_id)
    removed = delete_tasks(api, project_id, doomed)
    others = max(0, removed - sum(1 for t in doomed if t in mine))  # at least this many
    gone = set(doomed)
    annotated = [t for t in annotated if t in mine]  # others report their own
    return others, annotated, {t: a for t, (a, _) in tasks.items() if t not in gone}


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
