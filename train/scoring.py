"""`asag score`: a table of answers in, the same rows out with the model's score and its
class probabilities (label scales) or nearest scale step (numeric scales)."""

from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path

from asag.answers import TEXT_FIELDS, normalize, resolve_columns
from asag.errors import InputError, Interrupted
from asag.tables import FORMATS, open_table


def answer_id(cell) -> str | None:
    """A table's answer id as gather records it (normalised), or None for an empty cell."""
    text = normalize(str(cell)) if cell is not None else ""
    return text or None


def output_columns(scale, *, calibrated: bool = False, decision: bool = False) -> list[str]:
    """Columns added to the input's: the score, the confidence, the conformal set or interval
    (calibrated scorers) and, with --max-error, the decision (auto / needs_teacher)."""
    if scale.is_numeric:
        cols = ["predicted_score", "predicted_step"]
        cols += ["confidence", "interval_low", "interval_high"] if calibrated else []
    else:
        cols = ["predicted_score", "confidence", *[f"prob_{label}" for label in scale.labels]]
        cols += ["set"] if calibrated else []
    return cols + (["decision"] if decision else [])


CHUNK_BATCHES = 16  # batches per chunk: rows are length-sorted within a chunk, written in order


def score_table(model_dir: str | Path, input_path: str | Path, output_path: str | Path, *,
                fmt: str | None = None, columns: dict[str, str | None] | None = None,
                batch_size: int = 32, quantize: bool = False, resume: bool = False,
                raw_csv: bool = False, max_error: float | None = None,
                tolerance: float = 0.0, threads: int | str | None = "auto") -> dict:
    """Score every row of the input table and write them with the predictions.

    Rows are scored in chunks of CHUNK_BATCHES batches and appended, in input order, to
    OUTPUT.partial as each chunk finishes (state beside it in OUTPUT.partial.json); the
    finished file is renamed to OUTPUT. After an interruption `resume` continues after the
    last chunk written, and the result is byte for byte the uninterrupted run's. With
    `max_error` each row is marked auto or needs_teacher (train/calibration.py), an error
    being a score more than `tolerance` from the teachers' (numeric scales)."""
    from asag.records import sha256_file
    from asag.train.directory import MANIFEST
    from asag.train.progress import counter
    from asag.train.scorer import Scorer, unscorable

    output_path = Path(output_path)
    out_fmt = FORMATS.get(output_path.suffix.lower())
    if out_fmt not in ("csv", "tsv", "jsonl"):
        raise InputError("unknown output format", file=str(output_path),
                         fix="end -o with .csv, .tsv or .jsonl")
    table = open_table(input_path, fmt)
    found = resolve_columns(table, columns or {}, fields=(*TEXT_FIELDS, "answer_id"),
                            required=TEXT_FIELDS)
    where = {f: found[f] for f in TEXT_FIELDS}
    id_col = found.get("answer_id")  # the memory never consults a row's own score
    records = list(table.rows)
    scorer = Scorer.load(model_dir, quantize=quantize, threads=threads)
    if max_error is not None and scorer.calibration is None:
        raise InputError("this scorer has no calibration, so --max-error cannot be held",
                         file=str(model_dir), fix="retrain it, or run 'asag calibrate MODEL "
                         "DATASET', or leave out --max-error")
    if max_error is not None:
        scorer.check_decision(tolerance)
    added = output_columns(scorer.scale, calibrated=scorer.calibration is not None,
                           decision=max_error is not None)
    header = [c for c in table.columns if c not in added] + added
    chunk = batch_size * CHUNK_BATCHES
    job = PartialOutput(output_path, {
        "model": sha256_file(Path(model_dir) / MANIFEST), "input": sha256_file(table.path),
        "columns": {**where, **({"answer_id": id_col} if id_col is not None else {})},
        "format": out_fmt, "raw_csv": raw_csv, "chunk": chunk,
        "batch_size": batch_size, "int8": quantize, "rows": len(records),
        "max_error": max_error, **({"tolerance": tolerance} if tolerance else {})})
    encode = _encoder(out_fmt, header, raw_csv)
    done = job.open(resume, encode(None) if out_fmt != "jsonl" else b"")
    started, scored = time.time(), 0
    try:
        with counter(len(records), "scoring", start=done) as advance:
            for first in range(done, len(records), chunk):
                part = records[first:first + chunk]
                rows = [{f: (cells[i] if i < len(cells) else None) or "" for f, i in where.items()}
                        for _, cells in part]
                if id_col is not None:
                    for row, (_, cells) in zip(rows, part, strict=True):
                        row["id"] = answer_id(cells[id_col] if id_col < len(cells) else None)
                # a row that cannot be scored (blank answer, text that is not Unicode) is
                # named and written with empty score cells; the others are scored
                problems = [unscorable(row) for row in rows]
                job.note_unscored([f"line {line}: {problem}" for (line, _), problem
                                   in zip(part, problems, strict=True) if problem])
                good = iter(scorer.predict([r for r, bad in zip(rows, problems, strict=True)
                                            if not bad], batch_size=batch_size,
                                           on_batch=advance, max_error=max_error,
                                           tolerance=tolerance))
                predictions = [None if bad else next(good) for bad in problems]
                if any(problems):  # the progress bar counts them too
                    advance(sum(map(bool, problems)))
                lines = []
                for (_, cells), p in zip(part, predictions, strict=True):
                    record = dict(zip(table.columns, cells, strict=False))
                    record.update(_prediction_cells(p) if p is not None else {})
                    lines.append(encode(record))
                job.append(b"".join(lines), first + len(part), scorer.truncated,
                           sum(bool(p and p.auto) for p in predictions))
                scored += len(part)
        job.finish()
    except KeyboardInterrupt:
        if job.finished:  # Ctrl-C after the rename: the output is whole, nothing to resume
            raise Interrupted(f"interrupted after all {len(records):,} answers were written "
                              f"to {output_path}; nothing to resume") from None
        raise Interrupted(
            f"interrupted: {job.rows:,} of {len(records):,} answers are kept in {job.path}; "
            f"run the same command with --resume to continue") from None
    seconds = time.time() - started
    return {"rows": len(records), "resumed_at": done, "seconds": round(seconds, 2),
            "answers_per_second": round(scored / seconds, 1) if seconds > 0 and scored else None,
            "truncated": job.truncated, "max_length": scorer.max_length,
            "auto": job.auto if max_error is not None else None,
            "decision": None if max_error is None else {
                **scorer.decision_evidence(max_error, tolerance),
                "teachers_differ": teachers_differ(scorer, tolerance)},
            "unscored": job.unscored, "unscored_count": job.unscored_count}


def teachers_differ(scorer, tolerance: float) -> float | None:
    """How often two teachers of the scorer's dataset gave one answer scores more than
    `tolerance` apart (pairs of scores, from build-dataset's agreement): the bar an
    auto-score's error is read against. None when the dataset is gone, has single scores,
    or the tolerance is neither 0 nor one step."""
    from asag.dataset_layout import MANIFEST

    path = (scorer.manifest.get("dataset") or {}).get("path")
    try:
        agreement = json.loads((Path(path) / MANIFEST).read_text(encoding="utf-8"))[
            "agreement"]["overall"]
    except (TypeError, OSError, ValueError, KeyError):
        return None
    key = ("exact" if not tolerance else "adjacent"
           if abs(tolerance - scorer.scale.unit) < 1e-9 else None)
    share = agreement.get(key) if key and agreement.get("pairs") else None
    return None if share is None else round(1 - float(share), 6)


def _encoder(out_fmt: str, header: list[str], raw_csv: bool):
    """record -> bytes of one output line (None: the header line)."""
    import io

    from asag.tables import csv_rows

    def encode(record: dict | None) -> bytes:
        # a text that is not valid Unicode (a lone surrogate from a JSONL's "\udc80") is
        # written back escaped: as JSON escapes it (the same text), as \udc80 in a CSV
        if out_fmt == "jsonl":
            values = {c: record.get(c) for c in header}
            try:
                return (json.dumps(values, ensure_ascii=False) + "\n").encode()
            except UnicodeEncodeError:
                return (json.dumps(values) + "\n").encode()
        cells = header if record is None else [
            "" if record.get(c) is None else record.get(c) for c in header]
        buf = io.StringIO()
        csv.writer(buf, delimiter="\t" if out_fmt == "tsv" else ",",
                   lineterminator="\n").writerows(csv_rows([cells], raw=raw_csv))
        return buf.getvalue().encode("utf-8", "backslashreplace")

    return encode


class PartialOutput:
    """OUTPUT.partial, grown chunk by chunk, and OUTPUT.partial.json saying how many rows and
    bytes of it are complete and which model, input and settings made it."""

    def __init__(self, output: Path, identity: dict) -> None:
        self.output, self.identity = output, identity
        self.path = output.with_name(output.name + ".partial")
        self.state_path = output.with_name(output.name + ".partial.json")
        self.rows, self.truncated, self.auto, self.fh = 0, 0, 0, None
        self.unscored: list[str] = []  # "line N: why" of the first rows left unscored
        self.unscored_count = 0
        self.finished = False

    def open(self, resume: bool, head: bytes) -> int:
        """Rows already written (0 unless resuming); positions the file after them."""
        if resume:
            state = self._state()
            self.fh = self.path.open("r+b")
            self.fh.truncate(state["bytes"])  # drop a chunk cut off mid-write
            self.fh.seek(state["bytes"])
            self.rows, self.truncated = state["done"], state.get("truncated", 0)
            self.auto = state.get("auto", 0)
            self.unscored = state.get("unscored", [])
            self.unscored_count = state.get("unscored_count", len(self.unscored))
            return self.rows
        self.output.parent.mkdir(parents=True, exist_ok=True)
        self.fh = self.path.open("wb")
        self.append(head, 0, 0)
        return 0

    def _state(self) -> dict:
        fix = "run without --resume to score from the start"
        try:
            state = json.loads(self.state_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError(f"--resume: no interrupted run to continue ({self.state_path.name}"
                             " is missing)", file=str(self.output), fix=fix) from None
        except ValueError:
            raise InputError("--resume: the state of the interrupted run is damaged",
                             file=str(self.state_path), fix=fix) from None
        if not isinstance(state, dict) or not self.path.is_file() or \
                self.path.stat().st_size < state.get("bytes", 0):
            raise InputError("--resume: the partial output is missing or shorter than its "
                             "state says", file=str(self.path), fix=fix)
        changed = [k for k, v in self.identity.items() if state.get("identity", {}).get(k) != v]
        if changed:
            raise InputError("--resume: the interrupted run used another " + ", ".join(changed),
                             file=str(self.output),
                             fix="repeat its options and files exactly, or " + fix)
        return state

    def append(self, data: bytes, rows: int, truncated: int, auto: int = 0) -> None:
        """Write a finished chunk, make it durable, then record it (a crash between the two
        only makes the resumed run redo that chunk)."""
        from asag.records import atomic_writer

        self.fh.write(data)
        self.fh.flush()
        os.fsync(self.fh.fileno())
        self.rows, self.truncated, self.auto = rows, truncated, self.auto + auto
        with atomic_writer(self.state_path) as fh:
            json.dump({"identity": self.identity, "done": rows, "bytes": self.fh.tell(),
                       "truncated": truncated, "auto": self.auto,
                       "unscored": self.unscored, "unscored_count": self.unscored_count}, fh)

    def note_unscored(self, reasons: list[str]) -> None:
        self.unscored_count += len(reasons)
        self.unscored += reasons[:max(0, 20 - len(self.unscored))]

    def finish(self) -> None:
        self.fh.close()
        os.replace(self.path, self.output)
        self.finished = True
        self.state_path.unlink(missing_ok=True)


def _prediction_cells(p) -> dict:
    if p.probabilities is None:
        cells = {"predicted_score": p.score, "predicted_step": p.step,
                 "confidence": p.confidence}
    else:
        cells = {"predicted_score": p.score, "confidence": p.confidence}
        cells.update({f"prob_{label}": v for label, v in p.probabilities.items()})
    if p.interval is not None:
        cells["interval_low"], cells["interval_high"] = p.interval
    if p.labels is not None:
        cells["set"] = " | ".join(p.labels)
    if p.auto is not None:
        cells["decision"] = "auto" if p.auto else "needs_teacher"
    return cells
