"""Saved Data Manager tabs for teachers: "Answers" (the task table without asag's internal
ids) and "Disagreements" (tasks whose teachers' scores differ by more than a gap, for review).

Label Studio's filters cannot compare two annotations, so `annotate pull` works out which
tasks disagree from the records it wrote and rewrites the tab's filter as a list of task ids.
Its table cannot show one annotation's score either (only all results as raw JSON), so each
disagreeing task carries the teachers' scores in its data ("anna@school: 1 · bela@school:
4"), a column of the Disagreements tab only; the labelling screen never shows it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from asag.annotate.connection import NO_RETRY, Api, dm_columns, plain, selected_tasks
from asag.annotate.screen import RUBRIC_FIELD
from asag.scale import Scale

TABLE = "Answers"
DISAGREEMENTS = "Disagreements"
SCORES_FIELD = "teacher_scores"  # task data: who scored a disagreeing answer what
HIDDEN = [f"tasks:data.{c}" for c in ("answer_id", "question_id", RUBRIC_FIELD, SCORES_FIELD,
                                      "group_members", "group_size", "group_split")]
_NONE = [{"filter": "filter:tasks:id", "operator": "equal", "type": "Number", "value": 0}]


def hidden_columns(api: Api, project_id: int) -> dict[str, list[str]]:
    """asag's internal columns plus those Label Studio hides by default (a tab's own list
    replaces its defaults)."""
    out: dict[str, list[str]] = {"explore": list(HIDDEN), "labeling": list(HIDDEN)}
    for column in dm_columns(api, project_id):
        name = f"{column['target']}:" + (f"{column['parent']}." if column.get("parent") else "") \
            + column["id"]
        for mode, shown in (column.get("visibility_defaults") or {}).items():
            if not shown and mode in out and name not in out[mode]:
                out[mode].append(name)
    return out


def _tab(title: str, hidden: dict, task_ids: Iterable[int] | None = None) -> dict:
    items = [{"filter": "filter:tasks:id", "operator": "equal", "type": "Number", "value": t}
             for t in sorted(task_ids or [])] or _NONE
    if title == DISAGREEMENTS:  # the teachers' scores are what this tab is for
        hidden = {mode: [c for c in cols if c != f"tasks:data.{SCORES_FIELD}"]
                  for mode, cols in hidden.items()}
    data = {"title": title, "hiddenColumns": hidden}
    if task_ids is not None or title == DISAGREEMENTS:
        data["filters"] = {"conjunction": "or", "items": items}
    return data


def ensure_views(api: Api, project_id: int,
                 disagreeing: Mapping[int, str] | Iterable[int] | None = None) -> int:
    """Create the two tabs when missing; with `disagreeing` (task ids, or task id -> the
    teachers' scores as text: disagreeing_tasks), set the review tab's filter to exactly those
    tasks and write the scores into their data (cleared on tasks that no longer disagree).
    Returns how many tasks' scores were written (changed)."""
    found = {(v.get("data") or {}).get("title"): v
             for v in plain(api.sdk.views.list(project=project_id))}
    written = 0
    if isinstance(disagreeing, Mapping) and (disagreeing or DISAGREEMENTS in found):
        before = {i["value"] for i in ((found.get(DISAGREEMENTS) or {}).get("data") or {})
                  .get("filters", {}).get("items", []) if i.get("value")}
        written = _write_scores(api, project_id, {**{t: "" for t in before}, **disagreeing})
    hidden = None
    for title in (TABLE, DISAGREEMENTS):
        ids = disagreeing if title == DISAGREEMENTS else None
        if title in found and ids is None:
            continue
        hidden = hidden or hidden_columns(api, project_id)
        if title not in found:
            api.sdk.views.create(project=project_id, data=_tab(title, hidden, ids),
                                 request_options=NO_RETRY)
        else:
            api.sdk.views.update(str(found[title]["id"]), project=project_id,
                                 data=_tab(title, hidden, ids))
    return written


def _write_scores(api: Api, project_id: int, scores: Mapping[int, str]) -> int:
    """Task data's SCORES_FIELD set to each text; how many tasks were changed. Their data is
    read in pages of selected tasks (a PATCH sends a task's whole data back), and only the
    tasks whose text changes are written, one PATCH each (Label Studio has no bulk update of
    task data); tasks already right, or gone, are left alone."""
    from label_studio_sdk.core.api_error import ApiError

    changed = 0
    for task in selected_tasks(api, project_id, scores, include="id,data"):
        data, text = task.get("data") or {}, scores[task["id"]]
        if (data.get(SCORES_FIELD) or "") == text:
            continue
        try:
            api.sdk.tasks.update(str(task["id"]), data={**data, SCORES_FIELD: text})
            changed += 1
        except ApiError as exc:
            if exc.status_code != 404:
                raise
    return changed


def disagreeing_tasks(records: Iterable[dict], scale: Scale, max_gap: float) -> dict[int, str]:
    """Tasks with two or more scores further apart than `max_gap` (scale units; steps on
    label scales), as build-dataset flags them: task id -> each teacher's score
    ('anna@school: 1 · bela@school: 4'). Only tasks scored twice or more are looked at
    (a course of one teacher per answer: 100,000 records in well under a second)."""
    scored: dict[int, list[dict]] = {}
    for r in records:
        if not r.get("skipped") and r.get("score") is not None:
            scored.setdefault(r["task_id"], []).append(r)
    out: dict[int, str] = {}
    for task_id, rs in scored.items():
        if len(rs) < 2:
            continue
        steps = [scale.index(r["score"]) for r in rs]
        if scale.too_far_apart(min(steps), max(steps), max_gap):
            out[task_id] = " · ".join(sorted(
                f"{r.get('annotator_email') or r.get('annotator') or '?'}: "
                f"{scale.coerce(r['score'])}" for r in rs))
    return out
