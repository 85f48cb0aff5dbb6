"""Answer groups in Label Studio (asag/groups.py forms them): one task per group, one score
for all its members, and a teacher's way to split a group.

A group task is the representative's task (its `answer_id`, so push stays idempotent and
concurrent pushes settle as for any answer) with the members' answer ids in the task data
(`group_members`), the other members' texts under the answer (no student identities:
teachers grade blind), and a "score separately" checkbox. In a project with groups on, every
task carries these fields (empty on a task of one answer), because Label Studio refuses an
import that lacks a field its screen shows.

- pull: each annotation of a group task becomes one record per member (`group_id` = the
  representative's id), unless a teacher ticked "score separately" on the task: then it
  counts for the representative only, like an ordinary task.
- push: answers already in an unsplit group task are present; the other members of a split
  group are imported as tasks of their own (never regrouped). A new answer is grouped only
  with other new answers, never attached to a task already in the project: a teacher may have
  scored that task without it."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from asag.annotate.connection import Api, task_page
from asag.groups import Group, group_answers

MEMBERS = "group_members"  # task data: every member's answer id, the representative first
SIZE = "group_size"  # task data: how many answers the task stands for (1 alone)
HEADING = "group_heading"  # task data: "Your score also applies to 2 other answers ..."
TEXT = "group_text"  # task data: the other members' texts, one line each
SPLIT_CHOICES = "group_split"  # task data: the checkbox (none on a task of one answer)
SPLIT_FROM = "split"  # <Choices name=...> the teacher ticks to score the members separately
PAGE = 1000

WORDS = {
    "en": ("Your score also applies to {n} other answer(s) to this question that are nearly "
           "the same as this one:",
           "Score these answers separately (my score then counts for the answer above only)"),
    "hu": ("A pontszám a kérdés további {n} válaszára is érvényes, amelyek szinte azonosak "
           "ezzel:",
           "Ezeket a válaszokat külön pontozom (a pontszámom ekkor csak a fenti válaszé)"),
    "de": ("Ihre Punktzahl gilt auch für {n} weitere, fast gleiche Antwort(en) auf diese Frage:",
           "Diese Antworten einzeln bewerten (meine Punktzahl gilt dann nur für die Antwort "
           "oben)"),
}


def task_fields(group: Group, language: str = "en") -> dict:
    """The group's part of its task's data (empty fields for a group of one)."""
    if len(group.members) < 2:
        return {MEMBERS: [], SIZE: 1, HEADING: "", TEXT: "", SPLIT_CHOICES: []}
    heading, split = WORDS.get(language, WORDS["en"])
    counts = Counter(m["student_answer"] for m in group.others)
    lines = [f"• {text}" + (f"  (×{n})" if n > 1 else "") for text, n in counts.items()]
    return {MEMBERS: [m["id"] for m in group.members], SIZE: len(group.members),
            HEADING: heading.format(n=len(group.others)), TEXT: "\n".join(lines),
            SPLIT_CHOICES: [{"value": split}]}


# -- what the project already holds ----------------------------------------------------------

@dataclass
class GroupTask:
    task_id: int
    members: list[str]
    split: bool


def is_split(annotations: Iterable[dict]) -> bool:
    """A teacher ticked "score separately" in one of these annotations (skips don't count)."""
    for ann in annotations:
        if ann.get("was_cancelled"):
            continue
        for item in ann.get("result") or []:
            if item.get("from_name") == SPLIT_FROM and (item.get("value") or {}).get("choices"):
                return True
    return False


def group_tasks(api: Api, project_id: int) -> list[GroupTask]:
    """The project's tasks of two or more answers, each with whether it was split. The data
    manager's listing (paged by id) carries each task's annotation results as one string;
    only a task whose string mentions the checkbox has its annotations fetched and read."""
    found, cursor = [], 0
    while True:
        query = {"filters": {"conjunction": "and", "items": [
            {"filter": f"filter:tasks:data.{SIZE}", "operator": "greater", "type": "Number",
             "value": 1},
            {"filter": "filter:tasks:id", "operator": "greater", "type": "Number",
             "value": cursor}]}, "ordering": ["tasks:id"]}
        tasks = task_page(api, project=project_id, fields="all",
                          include="id,data,annotations_results", resolve_uri="false",
                          page_size=PAGE, page=1, query=json.dumps(query))
        for task in tasks:
            members = [str(m) for m in (task.get("data") or {}).get(MEMBERS) or []]
            # the string's format is Label Studio's own: any mention is read properly
            split = SPLIT_FROM in str(task.get("annotations_results") or "") \
                and is_split(_annotations(api, task["id"]))
            found.append(GroupTask(task["id"], members, split))
        if len(tasks) < PAGE:
            return found
        cursor = max(t["id"] for t in tasks)


def _annotations(api: Api, task_id: int) -> list[dict]:
    from asag.annotate.connection import plain

    return plain(api.sdk.annotations.list(id=task_id))


def fill_fields(api: Api, project_id: int) -> int:
    """Give the tasks imported before groups were turned on the group fields (empty): the
    screen that now shows them cannot load a task without them. Returns how many changed."""
    from asag.annotate.connection import every

    empty = task_fields(Group([{}]))
    changed = 0
    for task in every(api.sdk.tasks.list(project=project_id, fields="task_only",
                                         include="id,data", resolve_uri=False, page_size=PAGE)):
        data = task.get("data") or {}
        if SIZE not in data:
            api.sdk.tasks.update(str(task["id"]), data={**data, **empty})
            changed += 1
    return changed


# -- push ----------------------------------------------------------------------------------

@dataclass
class Plan:
    records: list[dict]  # what to import: one per task, in the input's order
    fields: dict[str, dict]  # answer id (of each imported record) -> its group fields
    present: int = 0  # answers already in an unsplit group task of the project
    grouped: int = 0  # answers that ride in a new group task, not as tasks of their own
    group_tasks: int = 0  # new tasks of two or more answers


def plan(api: Api, project_id: int, missing: list[dict], *, threshold: float | None,
         language: str = "en") -> Plan:
    """The tasks to import for the answers the project lacks: groups among them when
    `threshold` is given (else one task each), minus what existing group tasks hold, with
    the members of split groups alone."""
    covered, alone = set(), set()
    for task in group_tasks(api, project_id):
        if task.split:
            alone.update(task.members[1:])
        else:
            covered.update(task.members)
    rest = [r for r in missing if r["id"] not in covered]
    joinable = [r for r in rest if r["id"] not in alone]
    groups = (group_answers(joinable, threshold) if threshold is not None
              else [Group([r]) for r in joinable])
    groups += [Group([r]) for r in rest if r["id"] in alone]
    order = {r["id"]: n for n, r in enumerate(rest)}
    groups.sort(key=lambda g: order[g.id])
    big = [g for g in groups if len(g.members) > 1]
    return Plan(records=[g.representative for g in groups],
                fields={g.id: task_fields(g, language) for g in groups},
                present=len(missing) - len(rest), grouped=sum(len(g.others) for g in big),
                group_tasks=len(big))


# -- pull ----------------------------------------------------------------------------------

def member_records(task: dict, records: list[dict]) -> list[dict]:
    """The task's annotation records, one per member answer for a group task (marked with
    `group_id`), unchanged for a task of one answer or a split group."""
    data = task.get("data") or {}
    members = [str(m) for m in data.get(MEMBERS) or []]
    if len(members) < 2 or is_split(task.get("annotations") or []):
        return records
    group_id = str(data["answer_id"])
    return [{**record, "answer_id": member, "group_id": group_id}
            for record in records for member in members]
