"""The live grading loop behind `asag serve`'s webhook: a teacher's score, submitted, updated
or deleted in Label Studio, reaches the served scorer's graded-answer memory within
seconds, without retraining; the model version changes, so Label Studio asks again for the
hints of that question's remaining answers.

Why: a fine-tuned cross-encoder learns only from a retrain, but the memory's vote of the
nearest graded answers of a question (train/memory.py) uses a scored answer at once; the
first few scores of a question move its hints the most.

- Several teachers per answer: their scores are aggregated as `build-dataset --policy
  adjudicated --fallback median` does (a reviewer's ground-truth score wins; otherwise the
  median, the lower middle vote on label scales). A skipped annotation is no score.
- Deleted annotations (and deleted tasks) leave the memory; an answer that was already in
  the scorer's trained memory falls back to its trained score.
- Nothing is lost on a restart: every change is appended to a journal (JSON lines, fsync'd
  before the webhook answers) beside the scorer directory, replayed at start and onto every
  model a reload brings. The sealed scorer directory itself is never written.
- `--retrain-after N --retrain-command CMD`: after N new annotations, CMD (pull -> build ->
  train -> replace the model directory) runs in a background process; when it succeeds the
  server reloads the directory as POST /reload does. Requests are never blocked meanwhile.

Version: the loaded model's version plus `+N`, N the journal's entries, so it changes with
every learned score and is the same after a restart replays the same journal."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from asag.errors import InputError, one_line

log = logging.getLogger("uvicorn.error")
LEARNED = ("ANNOTATION_CREATED", "ANNOTATIONS_CREATED", "ANNOTATION_UPDATED")
DELETED = ("ANNOTATIONS_DELETED", "ANNOTATION_DELETED")
TEXT_KEYS = ("question", "reference_answer", "student_answer")


def default_journal(model_dir: Path) -> Path:
    """`MODEL.live.jsonl` beside the scorer directory (outside it: the directory is sealed,
    and a deploy that swaps a symlink named MODEL keeps the same journal)."""
    model_dir = Path(model_dir)
    return model_dir.with_name(model_dir.name + ".live.jsonl")


# -- the journal ------------------------------------------------------------------------

class Journal:
    """Append-only JSON lines, each flushed and fsync'd before `append` returns. A torn last
    line (a crash in the middle of a write) is dropped on reading; damage elsewhere is a
    one-line error naming the line."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fh = None

    def read(self) -> list[dict]:
        if not self.path.exists():
            return []
        try:
            raw = self.path.read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read the live journal ({exc.strerror})",
                             file=str(self.path), fix="check its permissions") from None
        lines = raw.split(b"\n")
        entries = []
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                if not isinstance(entry, dict) or "op" not in entry:
                    raise ValueError("not a journal entry")
            except ValueError as exc:
                if n == len(lines):  # the unfinished last line of a crashed write
                    log.warning("%s:%d: dropped an unfinished last line", self.path, n)
                    self._truncate(len(raw) - len(line))
                    break
                raise InputError(f"the live journal is damaged ({exc})", file=str(self.path),
                                 line=n, fix="restore it from a backup, or move it away to "
                                             "start the live memory afresh") from None
            entries.append(entry)
        return entries

    def _truncate(self, size: int) -> None:
        with self.path.open("r+b") as fh:
            fh.truncate(size)

    def append(self, entry: dict) -> None:
        if self._fh is None:
            new = not self.path.exists()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = self.path.open("a", encoding="utf-8")
            if new:
                _fsync_dir(self.path.parent)
        self._fh.write(json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def check_writable(self) -> None:
        """At start: a journal that cannot be written is a one-line error, not a lost score
        later."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8"):
                pass
        except OSError as exc:
            raise InputError(f"cannot write the live journal ({exc.strerror})",
                             file=str(self.path), fix="give a writable --journal PATH") from None

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# -- the teachers' scores -----------------------------------------------------------------

@dataclass
class Scores:
    """Every live annotation, by (project, annotation id): the state the journal replays to.
    Changed in the event loop, read by the worker thread that rebuilds the memory: the lock
    keeps a snapshot's records and entry count together."""

    records: dict[str, dict] = field(default_factory=dict)
    entries: int = 0  # journal entries applied: the live part of the model version
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def snapshot(self) -> Scores:
        with self.lock:
            return Scores(dict(self.records), self.entries)

    @staticmethod
    def key(project, annotation_id) -> str:
        return f"{project}:{annotation_id}"

    def apply(self, entry: dict) -> set[str]:
        """Apply one journal entry; returns the answer ids whose scores it touched."""
        with self.lock:
            self.entries += 1
            return self._apply(entry)

    def _apply(self, entry: dict) -> set[str]:
        op = entry["op"]
        if op == "put":
            record = entry["record"]
            key = self.key(record["project"], record["annotation_id"])
            old = self.records.get(key)
            self.records[key] = record
            return {record["answer_id"]} | ({old["answer_id"]} if old else set())
        if op == "delete":
            project = entry.get("project")
            gone = [k for k in (self.key(project, a) for a in entry.get("annotations", []))
                    if k in self.records]
            tasks = {str(t) for t in entry.get("tasks", [])}
            gone += [k for k, r in self.records.items()
                     if tasks and str(r.get("project")) == str(project)
                     and str(r.get("task_id")) in tasks]
            return {self.records.pop(k)["answer_id"] for k in set(gone)}
        raise ValueError(f"unknown journal op {op!r}")

    def changes(self, entry: dict) -> bool:
        """Whether the entry would change anything (a webhook delivered twice does not)."""
        if entry["op"] == "put":
            record = entry["record"]
            return self.records.get(self.key(record["project"], record["annotation_id"])) \
                != record
        return bool(Scores(dict(self.records))._apply(entry))

    def answers(self) -> dict[str, tuple[dict, list[tuple[object, bool]]]]:
        """answer id -> (its latest record, its teachers' (score, ground truth) votes)."""
        mine: dict[str, list[dict]] = {}
        for r in self.records.values():
            mine.setdefault(r["answer_id"], []).append(r)
        out = {}
        for answer_id, records in sorted(mine.items()):
            records.sort(key=lambda r: (str(r.get("updated_at") or ""), str(r["annotation_id"])))
            out[answer_id] = (records[-1], [(r["score"], bool(r.get("ground_truth")))
                                            for r in records if r.get("score") is not None])
        return out


def aggregated(scale, votes: list[tuple[object, bool]]):
    """Several teachers' scores of one answer as one score on the scale, as build-dataset's
    `--policy adjudicated --fallback median` aggregates them."""
    import numpy as np

    from asag.build_dataset.aggregate import aggregate

    idx = np.array([scale.index(score) for score, _ in votes])
    gt = np.array([truth for _, truth in votes], dtype=bool)
    value, _ = aggregate(np.zeros(len(votes), dtype=np.int64), idx, gt, 1, scale,
                         "adjudicated", "median")
    v = float(value[0])
    return v if scale.is_numeric else scale.labels[int(v)]


def records_of(event: Mapping, scale) -> tuple[list[dict], str | None]:
    """The annotation records of a created/updated event, and why none (tasks not made by
    `asag annotate push`, an event without its task)."""
    from asag.annotate.snapshot import read_result

    annotations = event.get("annotation")
    tasks = event.get("task")
    annotations = annotations if isinstance(annotations, list) else [annotations]
    tasks = tasks if isinstance(tasks, list) else [tasks]
    by_id = {t.get("id"): t for t in tasks if isinstance(t, Mapping)}
    project = _project_id(event)
    out, why = [], None
    for ann in annotations:
        if not isinstance(ann, Mapping) or ann.get("id") is None:
            why = "the event carries no annotation"
            continue
        task = by_id.get(ann.get("task")) or (tasks[0] if len(tasks) == 1 else None)
        data = task.get("data") if isinstance(task, Mapping) else None
        if not isinstance(data, Mapping):
            why = "the event carries no task data"
            continue
        if data.get("answer_id") in (None, "") or not all(
                isinstance(data.get(k), str) for k in TEXT_KEYS):
            why = "the task was not made by `asag annotate push` (no answer_id or texts)"
            continue
        score, _ = read_result(ann.get("result") or [], scale)
        skipped = bool(ann.get("was_cancelled"))
        out.append({
            "project": project, "annotation_id": ann["id"], "task_id": task.get("id"),
            "answer_id": str(data["answer_id"]),
            "question_id": None if data.get("question_id") in (None, "")
            else str(data["question_id"]),
            **{k: data[k] for k in TEXT_KEYS},
            "score": None if skipped else score, "ground_truth": bool(ann.get("ground_truth")),
            "annotator": ann.get("completed_by"),
            "updated_at": ann.get("updated_at") or ann.get("created_at"),
        })
    return out, why


def _project_id(event: Mapping):
    project = event.get("project")
    return project.get("id") if isinstance(project, Mapping) else project


def _ids(items) -> list:
    return [i.get("id") if isinstance(i, Mapping) else i for i in (items or [])
            if (i.get("id") if isinstance(i, Mapping) else i) is not None]


# -- the loop ------------------------------------------------------------------------------

class LiveLoop:
    """The live memory of one served scorer (see the module's docstring). `restore` puts the
    journal's scores into a freshly loaded model; `handle` takes a webhook event."""

    def __init__(self, journal: Path | None, *, retrain_command: str | None = None,
                 model_dir: Path | None = None) -> None:
        self.journal = Journal(journal) if journal is not None else None
        self.scores = Scores()
        if self.journal is not None:
            self.journal.check_writable()
            for entry in self.journal.read():
                self.scores.apply(entry)
        self.retrain_command, self.model_dir = retrain_command, model_dir
        self.base = None  # the LoadedModel as loaded from disk
        self._vectors: dict[str, tuple] = {}  # answer id -> (text, keys, vector), this base
        self._lock: asyncio.Lock | None = None
        self._applier: asyncio.Task | None = None
        self._dirty = False
        self._checks: set[asyncio.Task] = set()
        self.learned_at: float | None = None  # when the last score reached the memory
        self.retrain = Retrainer(retrain_command, model_dir)

    # -- models -------------------------------------------------------------------------
    def restore(self, model):
        """`model` (just loaded from disk) with the journal's scores in its memory, under the
        live version. Runs in a worker thread (load or reload)."""
        self.base, self._vectors = model, {}
        return self._live(model)

    def _live(self, base):
        """`base` with the live scores in a copy of its memory (the scorer's weights are
        shared), so a batch in flight keeps the memory and version it started with."""
        consultant = getattr(base.scorer, "consultant", None)
        scores = self.scores.snapshot()
        if not scores.entries or consultant is None:  # no memory: nothing to learn into
            return base
        scorer = base.scorer.grown(self._memory(base.scorer, scores), scores.entries)
        from asag.serve.batcher import LoadedModel

        return LoadedModel(scorer, f"{base.version}+{scores.entries}", base.path,
                           base.loaded_at)

    def _memory(self, scorer, scores: Scores):
        """The trained memory with every live answer in it (its aggregated score); answers
        with no score left keep their trained one, or are not there."""
        import numpy as np

        from asag.train.data import target
        from asag.train.memory import Memory

        base = scorer.consultant.memory
        scale = scorer.scale
        rows = []
        for answer_id, (latest, votes) in scores.answers().items():
            if votes:
                rows.append({**latest, "id": answer_id, "score": aggregated(scale, votes)})
        fresh = [r for r in rows if self._vectors.get(r["id"], (None,))[0]
                 != (r["student_answer"], r["question_id"], r["question"])]
        if fresh:
            built = Memory.build(fresh, scorer.consultant.embedder, scale)
            for r, keys, vector in zip(fresh, built.keys, built.vectors, strict=True):
                self._vectors[r["id"]] = ((r["student_answer"], r["question_id"],
                                           r["question"]), keys, vector)
        if not rows:
            return base
        live = Memory(ids=[r["id"] for r in rows],
                      keys=[self._vectors[r["id"]][1] for r in rows],
                      targets=np.array([target(scale, r["score"]) for r in rows],
                                       dtype=np.float32),
                      vectors=np.stack([self._vectors[r["id"]][2] for r in rows]))
        return base.extended(live)

    # -- events ---------------------------------------------------------------------------
    async def handle(self, event: Mapping, batcher, counter=None, reload=None) -> dict:
        """A webhook event: teachers' scores are journaled (durable before this returns) and
        reach the memory in the background; returns what the webhook answers under "live"."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        if counter is not None and reload is not None:
            self.retrain.maybe_start(counter, reload)
        action = event.get("action")
        entries, why = [], None
        scale = batcher.model.scorer.scale
        if action in LEARNED:
            records, why = records_of(event, scale)
            entries = [{"op": "put", "record": r} for r in records]
        elif action in DELETED or action == "TASKS_DELETED":
            which = "tasks" if action == "TASKS_DELETED" else "annotations"
            ids = _ids(event.get(which) or event.get("annotation"))
            entries = [{"op": "delete", "project": _project_id(event), which: ids}] if ids \
                else []
        else:
            return {"handled": False}
        async with self._lock:
            changed = [e for e in entries if self.scores.changes(e)]
            for entry in changed:
                entry["at"] = time.time()
                if self.journal is not None:
                    await asyncio.to_thread(self.journal.append, entry)
                self.scores.apply(entry)
        if changed:
            scored = [e["record"] for e in changed
                      if e["op"] == "put" and e["record"]["score"] is not None]
            if scored and self.model_dir is not None:
                self._background(asyncio.to_thread(
                    prequential_checks, self.model_dir, batcher.model, scored))
            self._schedule(batcher)
        out = {"handled": True, "changes": len(changed),
               "pending_version": self._version(batcher)}
        if why and not changed:
            out["ignored"] = why
        return out

    def _background(self, work) -> None:
        async def run():
            try:
                await work
            except Exception as exc:  # noqa: BLE001 - a check lost, never a score
                log.error("prequential check not recorded: %s: %s", type(exc).__name__, exc)

        task = asyncio.create_task(run())
        self._checks.add(task)
        task.add_done_callback(self._checks.discard)

    def _version(self, batcher) -> str:
        base = self.base or batcher.model
        if not self.scores.entries or getattr(base.scorer, "consultant", None) is None:
            return base.version
        return f"{base.version}+{self.scores.entries}"

    def _schedule(self, batcher) -> None:
        """Rebuild the served memory in the background; changes that arrive meanwhile are
        taken in one more rebuild (a burst of scores costs two rebuilds, not one each)."""
        self._dirty = True
        if self._applier is None or self._applier.done():
            self._applier = asyncio.create_task(self._apply(batcher))

    async def _apply(self, batcher) -> None:
        while self._dirty:
            self._dirty = False
            try:
                _, new = await batcher.reload(lambda: self._live(self.base or batcher.model))
            except Exception as exc:  # noqa: BLE001 - the journal keeps the score; next event retries
                log.error("live memory update failed (kept in the journal, retried with the "
                          "next score): %s: %s", type(exc).__name__, exc)
                return
            self.learned_at = time.time()
            log.info("live memory: %d teachers' annotations; serving %s",
                     len(self.scores.records), new.version)

    async def settled(self) -> None:
        """Wait until every journaled score is in the served memory and checked (tests)."""
        while self._applier is not None and not self._applier.done():
            await asyncio.shield(self._applier)
        if self._checks:
            await asyncio.gather(*self._checks, return_exceptions=True)

    @property
    def busy(self) -> bool:
        return (self._applier is not None and not self._applier.done()) or bool(self._checks)

    def to_dict(self) -> dict:
        return {"journal": str(self.journal.path) if self.journal else None,
                "annotations": len(self.scores.records),
                "answers": len({r["answer_id"] for r in self.scores.records.values()}),
                "journal_entries": self.scores.entries, "learned_at": self.learned_at,
                "retrain": self.retrain.to_dict()}

    def close(self) -> None:
        if self.journal is not None:
            self.journal.close()


def prequential_checks(model_dir: Path, model, records: list[dict]) -> int:
    """The hook into train/checks.py: a teacher's score of an answer is a fresh check of the
    version that served before the score arrived (its memory never holds the answer's own
    score), recorded with what that version predicts and its confidence. Runs in a worker
    thread; does nothing where asag.train.checks is not installed. Returns the checks made."""
    try:
        from asag.train.checks import Checks
    except ImportError:
        return 0
    from asag.hints import certainty

    rows = [{"id": r["answer_id"], "question_id": r["question_id"],
             **{k: r[k] for k in TEXT_KEYS}} for r in records]
    scale = model.scorer.scale
    checks = Checks(model_dir)
    for record, p in zip(records, model.scorer.predict(rows), strict=True):
        shown = p.step if p.step is not None else p.score
        checks.add(model.version, record["question_id"], record["answer_id"], shown,
                   certainty(scale, p), record["score"])
    return len(records)


# -- scheduled retraining -------------------------------------------------------------------

class Retrainer:
    """Runs the course's retrain command in a background process when the webhook's counter
    says a retrain is due, one at a time, then reloads the model directory. The command gets
    ASAG_SERVE_MODEL (the directory to replace, e.g. by re-pointing a symlink) in its
    environment; its output goes to the server's log."""

    def __init__(self, command: str | None, model_dir: Path | None) -> None:
        self.command, self.model_dir = command, model_dir
        self.task: asyncio.Task | None = None
        self.runs: list[dict] = []
        self._tried_at: int | None = None  # the counter's value when the last run failed

    def maybe_start(self, counter, reload: Callable[[], Awaitable[dict]]) -> bool:
        if not self.command or not counter.retrain_due:
            return False
        if self.task is not None and not self.task.done():
            return False
        if self._tried_at is not None and counter.count < self._tried_at + counter.retrain_after:
            return False  # failed: try again after another N annotations, not every event
        self._tried_at = counter.count
        self.task = asyncio.create_task(self._run(reload))
        return True

    async def _run(self, reload) -> None:
        started = time.time()
        env = {**os.environ, "ASAG_SERVE_MODEL": str(self.model_dir or "")}
        log.info("retrain due: running %s", self.command)
        run = {"started_at": started, "command": self.command}
        self.runs.append(run)
        try:
            proc = await asyncio.create_subprocess_shell(
                self.command, env=env, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT, start_new_session=True)
            output, _ = await proc.communicate()
            run["exit_code"] = proc.returncode
            tail = output.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
            run["last_line"] = tail[0][:300]
            if proc.returncode != 0:
                log.error("retrain command failed (exit %d): %s; still serving the old model",
                          proc.returncode, run["last_line"])
                return
            reloaded = await reload()
            run["model_version"] = reloaded["model_version"]
            self._tried_at = None
            log.info("retrained and reloaded: %s", reloaded["model_version"])
        except Exception as exc:  # noqa: BLE001 - the service goes on with the old model
            run["error"] = one_line(exc)
            log.error("retrain failed: %s; still serving the old model", run["error"])
        finally:
            run["seconds"] = round(time.time() - started, 1)

    def to_dict(self) -> dict:
        return {"command": self.command,
                "running": self.task is not None and not self.task.done(),
                "runs": self.runs[-5:]}
