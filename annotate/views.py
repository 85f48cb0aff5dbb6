"""Saved Data Manager tabs for teachers: "Answers" (the task table without asag's internal
ids) and "Disagreements" (tasks whose teachers' scores differ by more than a gap, for review).

Label Studio's filters cannot compare two annotations, so `annotate pull` works out which
tasks disagree from the records it wrote and rewrites the tab's filter as a list of task ids."""

from __future__ import annotations

from collections.abc import Iterable

from asag.annotate.connection import NO_RETRY, Api, dm_columns, plain
from asag.annotate.screen import RUBRIC_FIELD
from asag.scale import Scale

TABLE = "Answers"
DISAGREEMENTS = "Disagreements"
HIDDEN = [f"tasks:data.{c}" for c in ("answer_id", "question_id", RUBRIC_FIELD,
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
    data = {"title": title, "hiddenColumns": hidden}
    if task_ids is not None or title == DISAGREEMENTS:
        data["filters"] = {"conjunction": "or", "items": items}
    return data


def ensure_views(api: Api, project_id: int, disagreeing: Iterable[int] | None = None) -> None:
    """Create the two tabs when missing; with `disagreeing` (task ids), set the review tab's
    filter to exactly those tasks."""
    found = {(v.get("data") or {}).get("title"): v
             for v in plain(api.sdk.views.list(project=project_id))}
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


def disagreeing_tasks(records: Iterable[dict], scale: Scale, max_gap: float) -> set[int]:
    """Tasks with two or more scores further apart than `max_gap` (scale units; steps on
    label scales), as build-dataset flags them."""
    low: dict[int, int] = {}
    high: dict[int, int] = {}
    for r in records:
        if r.get("skipped") or r.get("score") is None:
            continue
        i, t = scale.index(r["score"]), r["task_id"]
        low[t], high[t] = min(low.get(t, i), i), max(high.get(t, i), i)
    unit = scale.step if scale.is_numeric else 1
    return {t for t in low if (high[t] - low[t]) * unit > max_gap + 1e-9}
