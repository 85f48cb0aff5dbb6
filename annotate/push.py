"""`annotate push`: raw answer records into a project's tasks, each answer exactly once.

Label Studio has no server-side dedupe (re-importing duplicates, an `id` field is ignored),
so the answer id travels in the task data and push imports only the ids the project lacks.
An import is repeated only after a 5xx answer (SQLite "database is locked" under load); what
a half-committed try left, like the tasks of concurrent pushes, is deleted after the import
as duplicates (annotate/races.py). After a crash the next run lists the project again and
skips what arrived.

Listing 10,000 tasks costs seconds, so the answer ids seen are cached per project in
`.asag/cache/`; the cache is trusted only when the server agrees: the tasks above the highest
cached task id are fetched, and the project's task count must equal cache + those. Any doubt
(tasks deleted, another client) falls back to the full listing."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from asag.annotate.connection import Api, import_tasks
from asag.annotate.groups import Plan
from asag.annotate.project import TASK_FIELDS
from asag.annotate.races import create_retrying
from asag.annotate.screen import RUBRIC_FIELD
from asag.answers import MAX_CHARS, TEXT_FIELDS
from asag.console import info, progress
from asag.errors import AsagError, InputError, OptionError
from asag.records import RAW_ANSWER, atomic_writer, read_jsonl, validation_error
from asag.scale import Scale

CACHE_DIR = Path(".asag") / "cache"
DEFAULT_BATCH = 2500  # ~3,000-4,000 tasks/s per call here; smaller batches cost throughput
MAX_BATCH = 10_000  # a large push's batches grow to a tenth of it, up to this (`batch_for`)


@dataclass
class PushReport:
    created: int = 0
    present: int = 0
    duplicates_on_server: dict[str, list[int]] = field(default_factory=dict)
    listed: str = "full"  # how the project's answers were found: full | cache
    concurrent: int = 0  # our tasks deleted again: a concurrent push imported them first
    concurrent_others: int = 0  # other runs' duplicate tasks deleted here (they may have too)
    concurrent_annotated: list[int] = field(default_factory=list)  # such tasks kept: annotated
    model_version: str | None = None  # the scorer whose predictions were attached
    grouped: int = 0  # answers imported inside another answer's group task (annotate/groups.py)
    group_tasks: int = 0  # tasks imported that stand for two or more answers

    def summary(self, project: str) -> str:
        text = f"project '{project}': {self.created:,} created, {self.present:,} already present"
        if self.concurrent:
            text += (f"; {self.concurrent:,} tasks imported here were removed again as "
                     "concurrent duplicates (another push imported the same answers first)")
        if self.concurrent_others:
            text += (f"; {self.concurrent_others:,} repeated tasks of other runs were removed "
                     "(each answer keeps its first task)")
        if self.concurrent_annotated:
            ids = ", ".join(map(str, self.concurrent_annotated[:5]))
            text += (f"; WARNING {len(self.concurrent_annotated):,} concurrent duplicates were "
                     f"already annotated and were kept (task ids {ids}): review them in Label "
                     "Studio")
        if self.grouped:
            text += (f"; {self.group_tasks:,} of the tasks created stand for "
                     f"{self.grouped + self.group_tasks:,} near-identical answers (one score "
                     "for each group)")
        if self.duplicates_on_server:
            ids = ", ".join(str(t[1]) for t in list(self.duplicates_on_server.values())[:5])
            text += (f"; {len(self.duplicates_on_server):,} answers still have more than one "
                     f"task and the extra ones hold annotations (task ids {ids}): keep the "
                     "annotations you want in Label Studio, then delete the extra tasks")
        return text


def read_records(path: str | os.PathLike) -> list[dict]:
    """The file's raw answer records in file order, all of them checked before anything
    reaches the server: a record that is not a raw answer, repeats an id, has a blank answer
    or a text over gather's limit is one line naming the first such line (and how many more),
    and nothing is pushed."""
    records, first_line, problems = [], {}, []
    for lineno, record in read_jsonl(path):
        problem = _problem(record, first_line)
        if problem:
            problems.append((lineno, problem))
            continue
        first_line[record["id"]] = lineno
        records.append(record)
    if problems:
        line, (problem, fix) = problems[0]
        more = len(problems) - 1
        more = f" ({more:,} more bad line{'s' * (more > 1)} after it)" if more else ""
        raise InputError(problem + more, file=str(path), line=line,
                         fix=f"{fix}; nothing was pushed")
    if not records:
        raise InputError("no answers to push", file=str(path),
                         fix="give `asag gather`'s output")
    return records


def _problem(record: dict, first_line: Mapping[str, int]) -> tuple[str, str] | None:
    """(what is wrong, how to fix it) for one record, or None."""
    problem = validation_error(RAW_ANSWER, record)
    if problem:
        return f"not a raw answer record: {problem}", "push `asag gather`'s output"
    if record["id"] in first_line:
        return (f"id '{record['id']}' repeats line {first_line[record['id']]}",
                "give each answer its own id (asag gather drops exact duplicates)")
    for name in TEXT_FIELDS:
        if len(record[name]) > MAX_CHARS:
            return (f"{name} has {len(record[name]):,} characters, over the limit of "
                    f"{MAX_CHARS:,}", "shorten it: a teacher reads it on one screen")
    if not record["student_answer"].strip():
        return "blank student_answer", "fill it in or drop the line"
    return None


def load_records(path: Path) -> tuple[list[dict], PushReport]:
    """The file's records and a fresh report (read before connecting: a wrong file fails
    without a server)."""
    return read_records(path), PushReport()


def task_data(record: Mapping) -> dict:
    """What a teacher sees (the question's rubric too: screen.py), plus the answer id that
    makes push idempotent."""
    data = {f: record.get(f) for f in TASK_FIELDS}
    data["answer_id"] = record["id"]
    data[RUBRIC_FIELD] = record.get(RUBRIC_FIELD) or ""
    return data


# -- which answers the project already holds --------------------------------------------

class TaskIndex:
    """answer id -> task ids of one project, cached on disk and checked against the server."""

    def __init__(self, api: Api, project: dict, cache_dir: Path = CACHE_DIR) -> None:
        self.api, self.project_id = api, project["id"]
        self.task_number = project.get("task_number")
        key = hashlib.sha1(api.url.encode()).hexdigest()[:10]
        self.path = cache_dir / f"labelstudio-tasks-{key}-p{self.project_id}.json"
        self.tasks: dict[int, str] = {}

    def load(self) -> str:
        """Fill from cache + server; returns how: 'cache' or 'full'."""
        cached = self._read_cache()
        if cached is not None and self.task_number is not None:
            top = max(cached, default=0)
            newer = self._list(after=top)
            if len(cached) + len(newer) == self.task_number:
                self.tasks = {**cached, **newer}
                self.save()
                return "cache"
        self.tasks = self._list(after=None)
        self.save()
        return "full"

    def by_answer(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for task_id, answer_id in sorted(self.tasks.items()):
            out.setdefault(answer_id, []).append(task_id)
        return out

    def _list(self, after: int | None) -> dict[int, str]:
        """Task id -> answer id from the data manager (only id and data, no URL resolving)."""
        from asag.annotate.races import task_answers

        return {t: a for t, (a, _) in task_answers(self.api, self.project_id, after=after).items()}

    def _read_cache(self) -> dict[int, str] | None:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            if raw.get("url") != self.api.url or raw.get("project_id") != self.project_id:
                return None
            return {int(k): v for k, v in raw["tasks"].items()}
        except (FileNotFoundError, ValueError, KeyError, AttributeError):
            return None

    def save(self) -> None:
        body = {"url": self.api.url, "project_id": self.project_id,
                "tasks": {str(k): v for k, v in self.tasks.items()}}
        with atomic_writer(self.path, private=True) as fh:  # 0600: task data is students' text
            json.dump(body, fh, separators=(",", ":"))


# -- the push ------------------------------------------------------------------------------

def push(api: Api, title: str, rows: list[dict], report: PushReport, *, scale: Scale | None,
         annotations_per_answer: int | None = None, batch_size: int | None = None,
         predictions_from: Path | None = None, prefill: bool = False,
         decision: dict | None = None, rubric_file: Path | None = None,
         ui_language: str | None = None, groups: bool | None = None,
         group_threshold: float | None = None) -> PushReport:
    """`annotate push`: the project found or created (on `scale`, needed then), its screen,
    rubric and saved tabs brought up to date, then the answers it lacks imported (with the
    scorer's predictions, in predictions.labelling_order, when `predictions_from` is
    given; `decision`: its --max-error / --tolerance, shown in the hints). `groups`:
    near-identical answers of a question as one task (annotate/groups.py; None: as the
    project was last pushed)."""
    from asag.annotate import project as projects
    from asag.annotate import rubric as rubrics
    from asag.annotate import screen

    title = projects.check_title(title)
    found = projects.find(api, title)
    if found is None and scale is None:
        raise OptionError(f"project '{title}' does not exist yet: give --scale to create it "
                          "(e.g. --scale 0-5)")
    if scale is None:
        scale = projects.scale_of(found.get("label_config", ""))
    course = rubrics.read_rubric(rubric_file, scale) if rubric_file else None
    language = ui_language or screen.settings_of(
        (found or {}).get("label_config", "")).get("language") or "en"
    predict = None
    if predictions_from is not None:  # a scale mismatch fails before anything is made
        from asag.annotate.predictions import predictor

        predict = predictor(predictions_from, scale, language=language, prefill=prefill,
                            **(decision or {}))
    proj, created = projects.ensure(api, title, scale,
                                    annotations_per_answer=annotations_per_answer,
                                    description=f"Scores on the scale {scale.spec} (asag)")
    if created:
        info(f"created project '{title}' (id {proj['id']}, scale {scale.spec}, "
             f"{proj.get('maximum_annotations', 1)} teacher(s) per answer)")
    proj, updated = rubrics.prepare_screen(api, proj, scale, rows, created=created,
                                           language=language, hint=predict is not None,
                                           course=course)
    if updated:
        info(f"rubric updated on {updated:,} answers already in the project")
    proj, grouping = _grouping(api, proj, scale, groups, group_threshold)
    try:
        push_records(api, proj, rows, report, batch_size=batch_size, predict=predict,
                     grouping=grouping)
    except AsagError:
        raise
    except Exception:
        info(f"stopped after {report.created:,} answers were confirmed imported")
        raise
    if found is None:  # made at this moment, here or by a concurrent push
        report, proj = _recheck_project(api, proj, rows, report, batch_size, predict)
    if predict is not None:
        report.model_version = predict.model_version
        # the project's model version picks the predictions teachers see; Label Studio
        # accepts it only once predictions of that version exist
        if report.created and proj.get("model_version") != predict.model_version:
            api.sdk.projects.update(proj["id"], model_version=predict.model_version)
    return report


def _grouping(api: Api, project: dict, scale: Scale, groups: bool | None,
              threshold: float | None) -> tuple[dict, Callable[[list[dict]], Plan] | None]:
    """(project, planner of the tasks to import) for a project whose screen shows answer
    groups (turned on here when `groups`); None for a project without them."""
    from asag.annotate import groups as answer_groups
    from asag.annotate import screen
    from asag.groups import DEFAULT_THRESHOLD

    if groups and not screen.settings_of(project.get("label_config", "")).get("groups"):
        project, _ = screen.update_project(api, project, scale, groups=True)
        if project.get("task_number"):
            info(f"answer groups turned on: {answer_groups.fill_fields(api, project['id']):,} "
                 "tasks already in the project given the group fields")
    settings = screen.settings_of(project.get("label_config", ""))
    if not settings.get("groups"):
        return project, None
    on = groups if groups is not None else True  # the project was pushed with groups before
    cutoff = (threshold if threshold is not None else DEFAULT_THRESHOLD) if on else None
    return project, lambda missing: answer_groups.plan(
        api, project["id"], missing, threshold=cutoff, language=settings.get("language") or "en")


def _recheck_project(api: Api, proj: dict, rows: list[dict], report: PushReport,
                     batch_size: int | None, predict) -> tuple[PushReport, dict]:
    """A project made while this run started can lose to a concurrent one whose lower id
    became visible only now (races.later_winner): the answers go there too, and the loser
    is emptied (every run that used it moves its own answers the same way)."""
    from asag.annotate.project import FIELDS
    from asag.annotate.races import later_winner, retire_project

    winner = later_winner(api, proj, FIELDS)
    if winner is None:
        return report, proj
    info(f"another push created project '{proj['title']}' at the same moment (id "
         f"{winner['id']}); moving the answers there")
    moved = PushReport()
    push_records(api, winner, rows, moved, batch_size=batch_size, predict=predict)
    retire_project(api, proj, winner)
    return moved, winner


def push_records(
    api: Api,
    project: dict,
    records: list[dict],
    report: PushReport,
    *,
    batch_size: int | None = None,
    predictions: Mapping[str, dict] | None = None,
    predict: Callable[[list[dict]], tuple[list[dict], Mapping[str, dict]]] | None = None,
    before_batch: Callable[[int], None] | None = None,
    cache_dir: Path = CACHE_DIR,
    grouping: Callable[[list[dict]], Plan] | None = None,
) -> PushReport:
    """Import the records the project lacks, in batches, in the given order.

    `predictions` maps answer ids to Label Studio predictions (asag.hints.task_prediction), shown
    to teachers as suggestions; `predict(missing)` makes them for the answers about to be
    imported only, and returns those answers in the order to import them
    (annotate/predictions.py: labelling_order). `before_batch(k)` is called before
    batch k (tests use it to kill the server mid-push). `grouping(missing)` turns the
    missing answers into answer-group tasks (annotate/groups.py: plan)."""
    index = TaskIndex(api, project, cache_dir)
    report.listed = index.load()
    known = dict(index.tasks)  # what this run saw before importing (races.settle_tasks)
    mine: dict[int, str] = {}
    present = index.by_answer()
    seen_twice = any(len(t) > 1 for a, t in present.items() if a)
    missing = [r for r in records if r["id"] not in present]
    report.present += len(records) - len(missing)
    extra: Mapping[str, dict] = {}
    if grouping is not None:
        planned = grouping(missing)
        missing, extra = planned.records, planned.fields
        report.present += planned.present
        report.grouped += planned.grouped
        report.group_tasks += planned.group_tasks
    if predict is not None:
        missing, made = predict(missing)
        predictions = {**(predictions or {}), **made}

    batch: list[dict] = []
    number = 0
    batch_size = batch_size or batch_for(len(missing))

    def flush() -> None:
        nonlocal number
        if before_batch is not None:
            before_batch(number)
        payload = []
        for record in batch:
            task = {"data": {**task_data(record), **extra.get(record["id"], {})}}
            if predictions and record["id"] in predictions:
                task["predictions"] = [predictions[record["id"]]]
            payload.append(task)
        # repeated only after a 5xx, because whatever a half-committed try left is removed
        # with the concurrent duplicates at the end
        task_ids = create_retrying(lambda: import_tasks(api, project["id"], payload))
        if len(task_ids) != len(batch):  # pragma: no cover - a server that ignores the flag
            raise RuntimeError(f"import returned {len(task_ids)} task ids for {len(batch)} tasks")
        pairs = list(zip(task_ids, (r["id"] for r in batch), strict=True))
        # saved only after the settle: a cache missing a concurrent push's tasks below ours
        # could pass the count check if tasks were also deleted by hand
        index.tasks.update(pairs)
        mine.update(pairs)
        report.created += len(batch)
        batch.clear()
        number += 1

    for record in progress(missing, length=len(missing), label="importing answers"):
        batch.append(record)
        if len(batch) >= batch_size:
            flush()
    if batch:
        flush()
    if mine or seen_twice:
        remove_concurrent_duplicates(index, mine, report,
                                     known=None if seen_twice else known)
    return report


def batch_for(missing: int) -> int:
    """Answers per import call when none is given: DEFAULT_BATCH, or a tenth of a large push
    (up to MAX_BATCH). Each call costs Label Studio ~0.2-0.4 s of its own bookkeeping
    besides its tasks: 50,000 answers in 20 calls took 1.13x one raw import of them all, in
    10 calls about 1.0x (PostgreSQL; 100,000 in 5 calls measured no better than in 10). On
    SQLite a call holds the database's write lock while it runs, so a teacher's save waits
    for it: give --batch-size to keep calls small."""
    return max(DEFAULT_BATCH, min(MAX_BATCH, -(-missing // 10)))


def remove_concurrent_duplicates(index: TaskIndex, mine: dict[int, str],
                                 report: PushReport, *,
                                 known: Mapping[int, str] | None = None) -> None:
    """Delete the tasks that repeat an answer (ours that a concurrent push had imported too,
    and other runs'; annotate/races.py), count them, and leave the index (and its cache) as
    the server now is. What still repeats afterwards has annotations on each copy: reported,
    never deleted. `known`: the tasks this run listed before importing (no answer twice);
    then only the tasks it has not seen are read (races.settle_tasks)."""
    from asag.annotate.races import repeated_answers, settle_tasks

    # Every task id is always listed, even when the project's task count suggests nobody
    # else imported: a count can balance by chance, and on PostgreSQL a concurrent import
    # can commit tasks with ids below the ones this run listed at its start.
    others, annotated, seen = settle_tasks(index.api, index.project_id, mine, known)
    ours = sum(1 for t in mine if t not in seen)  # deleted here or by another run
    report.concurrent += ours
    report.concurrent_others += others
    report.concurrent_annotated += annotated
    report.created -= ours
    report.present += ours
    report.duplicates_on_server = repeated_answers(seen)
    index.tasks = seen
    index.save()
