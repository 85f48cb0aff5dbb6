"""`asag score`: a table of answers in, the same rows out with the model's score and its
class probabilities (label scales) or nearest scale step (numeric scales)."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

from asag.errors import InputError
from asag.gather import ALIASES, OPTION
from asag.tables import FORMATS, alias_index, column_index, open_table

FIELDS = ("question", "reference_answer", "student_answer")


def find_columns(path: Path, columns: list[str], given: dict[str, str | None]) -> dict[str, int]:
    found = {}
    for field in FIELDS:
        name = given.get(field)
        if name:
            index = column_index(columns, name)
            if index is None:
                raise InputError(f"no column '{name}' (columns: {', '.join(columns)})",
                                 file=str(path), fix=f"check {OPTION[field]}")
            found[field] = index
            continue
        match = alias_index(columns, ALIASES[field])
        if match is None:
            raise InputError(f"no {field} column (columns: {', '.join(columns)})",
                             file=str(path), fix=f"name it with {OPTION[field]}")
        found[field] = match
    return found


def output_columns(scale) -> list[str]:
    if scale.is_numeric:
        return ["predicted_score", "predicted_step"]
    return ["predicted_score", "confidence", *[f"prob_{label}" for label in scale.labels]]


def score_table(model_dir: str | Path, input_path: str | Path, output_path: str | Path, *,
                fmt: str | None = None, columns: dict[str, str | None] | None = None,
                batch_size: int = 32, quantize: bool = False) -> dict:
    """Score every row of the input table and write them with the predictions."""
    from asag.records import atomic_writer
    from asag.train.progress import counter
    from asag.train.scorer import Scorer

    output_path = Path(output_path)
    out_fmt = FORMATS.get(output_path.suffix.lower())
    if out_fmt not in ("csv", "tsv", "jsonl"):
        raise InputError("unknown output format", file=str(output_path),
                         fix="end -o with .csv, .tsv or .jsonl")
    table = open_table(input_path, fmt)
    where = find_columns(table.path, table.columns, columns or {})
    records = list(table.rows)
    rows = [{f: (cells[i] if i < len(cells) else None) or "" for f, i in where.items()}
            for _, cells in records]
    scorer = Scorer.load(model_dir, quantize=quantize)
    started = time.time()
    with counter(len(rows), "scoring") as advance:
        outputs = scorer.raw(rows, batch_size=batch_size, on_batch=advance)
    seconds = time.time() - started
    added = output_columns(scorer.scale)
    header = [c for c in table.columns if c not in added] + added
    with atomic_writer(output_path) as fh:
        writer = None if out_fmt == "jsonl" else csv.writer(
            fh, delimiter="\t" if out_fmt == "tsv" else ",", lineterminator="\n")
        if writer:
            writer.writerow(header)
        for (_, cells), logits in zip(records, outputs, strict=True):
            record = dict(zip(table.columns, cells, strict=False))
            record.update(_prediction_cells(scorer.prediction(logits)))
            if writer:
                writer.writerow(["" if record.get(c) is None else record.get(c) for c in header])
            else:
                fh.write(json.dumps({c: record.get(c) for c in header}, ensure_ascii=False) + "\n")
    return {"rows": len(rows), "seconds": round(seconds, 2),
            "answers_per_second": round(len(rows) / seconds, 1) if seconds > 0 else None}


def _prediction_cells(p) -> dict:
    if p.probabilities is None:
        return {"predicted_score": p.score, "predicted_step": p.step}
    cells = {"predicted_score": p.score, "confidence": p.confidence}
    cells.update({f"prob_{label}": v for label, v in p.probabilities.items()})
    return cells
