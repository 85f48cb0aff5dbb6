"""Prequential checks: every answer a teacher scores after a model predicted it is a fresh
held-out check of that model. They are kept, append-only, in `checks.jsonl` beside the
scorer (outside its sealed files), per model version and question, and `--max-error` pools
the current version's checks with the calibration's held-out answers, so the evidence for
auto-scoring grows as the course is graded.

    from asag.train.checks import Checks
    Checks("models/physics-v3").add(model_version, question_id, answer_id,
                                    predicted, confidence, teacher_score)

Which checks count (the rule, and why): a check counts for the version that made the
prediction and for the later versions of its lineage, and for no other. A lineage is one
trained scorer as `asag serve`'s live loop grows it: `VERSION+N` is VERSION's cross-encoder,
heads and calibration with N teachers' scores added to its memory, so VERSION+N counts the
checks of VERSION, VERSION+1, ..., VERSION+N. Each of them is a prediction on an answer
whose own score that version's memory did not hold, with the same confidence function, so it
is a held-out draw of the lineage's decision as it was served; the test then bounds the error
of the lineage's auto-scores over the course so far, which is the current version's when
adding teachers' scores to the memory does not make its confident predictions worse (the
live loop's premise: a score adds evidence to its own question's vote). Without pooling,
every score changed the version and the checks never reached a decision. A version outside
the lineage (retrained, or a refitted calibration: another confidence function) takes no
older checks as they are; it
takes the teachers' scores as held-out answers of its own calibration, re-scored by itself
(`asag train --update-from` refits the calibration on the answers new to the scorer, each left
out of the memory; the course simulation does so every round), which is the use of them the
statistics allow. Per answer the lineage's last check counts (a teacher who changes a score
replaces that answer's check)."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from asag.errors import InputError

CHECKS = "checks.jsonl"
_LOCK = threading.Lock()  # one process's threads (serve) append whole lines one at a time
# (checks file, version) -> (the file's size and mtime, its Evidence): a scorer decides on
# every batch it serves, and the file only changes when a check is appended
_EVIDENCE: dict[tuple[str, str], tuple[tuple[int, int], Evidence]] = {}


@dataclass
class Evidence:
    """One version's checks as the decision reads them."""

    confidence: np.ndarray
    errors: np.ndarray  # |predicted - teachers'| (numeric, scale units); 0/1 on label scales
    digest: str  # changes whenever the checks do (the threshold cache's key)
    questions: list  # each check's question id (None: unknown)

    def __len__(self) -> int:
        return len(self.confidence)


def lineage(model_version: str) -> tuple[str, int]:
    """(VERSION, N) of a served version `VERSION+N` (N live scores in its memory); N is 0 for
    a version as trained."""
    base, plus, grown = str(model_version).rpartition("+")
    if plus and grown.isdigit():
        return base, int(grown)
    return str(model_version), 0


class Checks:
    """The checks store of one scorer directory."""

    def __init__(self, model_dir: str | Path) -> None:
        from asag.scale import Scale
        from asag.train.directory import read

        self.dir = Path(model_dir)
        self.path = self.dir / CHECKS
        self.scale = Scale.parse(read(self.dir).scale)

    def add(self, model_version: str, question_id, answer_id, predicted, confidence: float,
            teacher_score) -> dict:
        """Record that a teacher scored `answer_id` (of `question_id`) `teacher_score` after
        `model_version` predicted `predicted` with `confidence`. Durable when it returns."""
        if not model_version or answer_id in (None, ""):
            raise InputError("a check needs the model version and the answer id",
                             file=str(self.path), fix="pass both (model_version, answer_id)")
        try:
            conf = float(confidence)
        except (TypeError, ValueError):
            conf = float("nan")
        if not 0 <= conf <= 1:
            raise InputError(f"a check's confidence must lie in 0..1, not {confidence!r}",
                             file=str(self.path), fix="pass the confidence the model showed")
        record = {"model_version": str(model_version),
                  "question_id": None if question_id is None else str(question_id),
                  "answer_id": str(answer_id), "predicted": self._value(predicted, "predicted"),
                  "confidence": round(conf, 6),
                  "teacher_score": self._value(teacher_score, "teacher_score")}
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode()
        with _LOCK:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)
        return record

    def _value(self, value, name: str):
        """A score of the scale; a numeric prediction may lie between steps."""
        s = self.scale
        try:
            if name == "predicted" and s.is_numeric:
                number = float(value)
                if not s.low - 1e-9 <= number <= s.high + 1e-9:
                    raise ValueError(value)
                return number
            return s.coerce(value)
        except (ValueError, TypeError):
            raise InputError(f"{name} {value!r} is not on the scorer's scale "
                             f"'{self.scale.spec}'", file=str(self.path),
                             fix="pass a score of the scale") from None

    def records(self) -> list[dict]:
        """The checks, the last one per (version, answer); a line cut off by a crash at the
        end of the file is skipped (it was never acknowledged)."""
        if not self.path.is_file():
            return []
        lines = self.path.read_bytes().split(b"\n")
        latest: dict[tuple[str, str], dict] = {}
        for number, raw in enumerate(lines, 1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
                key = (record["model_version"], record["answer_id"])
            except (ValueError, KeyError, TypeError):
                if number >= len(lines) - 1:  # the torn last line
                    continue
                raise InputError(f"line {number} is not a check", file=str(self.path),
                                 fix="remove that line (the others are kept)") from None
            latest.pop(key, None)
            latest[key] = record
        return list(latest.values())

    def of(self, model_version: str) -> Evidence:
        """The checks that count for `model_version` (the rule in the module's docstring),
        read again only when the file has changed."""
        try:
            stat = self.path.stat()
            seen = (stat.st_size, stat.st_mtime_ns)
        except FileNotFoundError:
            seen = (0, 0)
        key = (str(self.path.resolve()), str(model_version))
        cached = _EVIDENCE.get(key)
        if cached is not None and cached[0] == seen:
            return cached[1]
        if len(_EVIDENCE) > 256:
            _EVIDENCE.clear()
        evidence = self._of(model_version)
        _EVIDENCE[key] = (seen, evidence)
        return evidence

    def _of(self, model_version: str) -> Evidence:
        base, grown = lineage(model_version)
        latest: dict[str, dict] = {}
        for r in self.records():
            b, n = lineage(r["model_version"])
            if b == base and n <= grown:
                latest.pop(r["answer_id"], None)
                latest[r["answer_id"]] = r
        mine = list(latest.values())
        digest = hashlib.sha256(json.dumps(mine, sort_keys=True).encode()).hexdigest()[:16]
        return Evidence(np.array([r["confidence"] for r in mine], dtype=np.float64),
                        np.array([self.error(r) for r in mine], dtype=np.float64), digest,
                        [r["question_id"] for r in mine])

    def error(self, record: dict) -> float:
        """How far the prediction was from the teachers' score: on numeric scales its nearest
        step's distance (scale units), on label scales 0 (same label) or 1."""
        predicted, truth = record["predicted"], record["teacher_score"]
        if not self.scale.is_numeric:
            return float(predicted != truth)
        return abs(self.scale.nearest_step(predicted) - float(truth))

    def summary(self) -> dict:
        """Per model version: checks, errors (exact) and checks per question."""
        out: dict[str, dict] = {}
        for r in self.records():
            v = out.setdefault(r["model_version"], {"checks": 0, "wrong": 0, "questions": {}})
            v["checks"] += 1
            v["wrong"] += int(self.error(r) > 1e-9)
            q = r["question_id"] or ""
            v["questions"][q] = v["questions"].get(q, 0) + 1
        return out
