"""Labelled tables (CSV, TSV, JSONL, Excel via asag.tables) as judgements: one score column
per teacher (the column name is the teacher), or one row per teacher. Files map to splits
by `FILE:SPLIT` or by their names; every problem names file, line and column."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from asag.answers import (
    ALIASES,
    TEXT_FIELDS,
    answer_id,
    normalize,
    normalize_repeated,
    question_id,
)
from asag.answers import resolve_columns as answer_columns
from asag.build_dataset.inputs import (
    TEXT_COLUMNS,
    Chunk,
    Collected,
    check_split,
    finish,
    objects,
)
from asag.build_dataset.splits import split_from_filename
from asag.console import progress
from asag.errors import InputError
from asag.records import sha256_file
from asag.scale import Scale
from asag.tables import alias_index, column_index, open_table


def parse_sources(args, from_filename: bool) -> list[tuple[Path, str | None]]:
    """Table arguments as (path, split): 'FILE:SPLIT', or the split in the file name."""
    out = []
    for arg in args:
        path, split = Path(arg), None
        if not path.exists() and ":" in str(arg):
            head, _, tail = str(arg).rpartition(":")
            if Path(head).exists():
                path, split = Path(head), tail
        if split is None and from_filename:
            split = split_from_filename(path.stem)
            if split is None:
                raise InputError("no split in the file name (train, validation, dev, test...)",
                                 file=str(path), fix=f"name it as {path}:SPLIT instead")
        out.append((path, check_split(split, str(path), None) if split else None))
    return out


def _column(columns: list[str], wanted: str | None, file: str, option: str | None):
    """Position of a column (exact name, else loosely matched); None if absent and optional
    (option None), else a one-line error naming the option that sets it."""
    index = column_index(columns, wanted) if wanted else None
    if index is not None:
        return index
    if option:
        raise InputError(f"no column '{wanted}' (columns: {', '.join(columns)})", file=file,
                         fix=f"name the column with {option}")
    return None


class _Row:
    """A table row's cells by column position; None for absent columns and short rows."""

    def __init__(self, cells: list) -> None:
        self.cells = cells

    def __call__(self, i: int | None):
        value = self.cells[i] if i is not None and i < len(self.cells) else None
        return None if value is None or str(value).strip() == "" else value


# the answer fields a table may hold (asag.answers finds them by the same names as gather)
_FIELDS = ("answer_id", "question_id", *TEXT_FIELDS)
_OPTIONS = {"answer_id": "--id-col"}


def _table_columns(table, file: str, id_col, split_col, annotator_col, score_col, score_cols):
    cols = table.columns
    found = answer_columns(table, {"answer_id": id_col}, fields=_FIELDS, need_question=False,
                           options=_OPTIONS)
    ix = {name: found.get(name) for name in _FIELDS}
    ix["split"] = _column(cols, split_col, file, None) if split_col else None
    ix["annotator"] = (_column(cols, annotator_col, file, "--annotator-col")
                       if annotator_col else None)
    if annotator_col:
        scored = [(None, _column(cols, score_col, file, "--score-col"))]
    else:
        scored = [(c, _column(cols, c, file, "--score-cols")) for c in score_cols]
    # a student column (found by name, as asag gather finds it) gives the ids gather gives;
    # never a column that holds teachers or their scores
    taken = [i for i in (*found.values(), ix["split"], ix["annotator"], *(c for _, c in scored))
             if i is not None]
    ix["student"] = alias_index(cols, ALIASES["student"], taken=taken)
    return ix, scored


def read_tables(sources, scale: Scale | None, *, score_cols=(), annotator_col=None,
                score_col="score", id_col=None, split_col="split", adjudicator=None):
    """Labelled tables: a score column per teacher (`score_cols`, the column name is the
    annotator) or a row per teacher (`annotator_col` + `score_col`).

    With a row per answer, rows without an id column that repeat another row's texts (two
    students wrote the same answer) are distinct answers: the n-th such row, in input order,
    gets gather's content-hash id + '-n' (the first keeps the plain hash), the same on every
    run over the same files."""
    items = {c: [] for c in (*TEXT_COLUMNS, "split")}
    position: dict[str, tuple[int, str, int]] = {}
    repeats: dict[str, int] = {}  # content-hash id -> rows seen with it
    chunks, stats = [], {"records": 0, "skipped": 0}
    for path, file_split in progress(sources, label="reading tables"):
        table, file = open_table(path), str(path)
        ix, scored = _table_columns(table, file, id_col, split_col, annotator_col, score_col,
                                    score_cols)
        votes = {k: [] for k in ("record", "item", "annotator", "score", "column")}
        lines = []
        for line, cells in table.rows:
            cell = _Row(cells)
            split = check_split(cell(ix["split"]), file, line) or file_split
            pos = _add_item(items, position, split, cell, ix, file, line,
                            repeat_ok=bool(annotator_col), repeats=repeats)
            for name, col in scored:
                stats["records"] += 1
                annotator, value = name or cell(ix["annotator"]), cell(col)
                if value is None:
                    stats["skipped"] += 1
                    continue
                if annotator is None:
                    raise InputError("empty annotator", file=file, line=line,
                                     column=annotator_col)
                for key, v in zip(votes, (len(lines), pos, annotator, value, table.columns[col]),
                                  strict=True):
                    votes[key].append(v)
            lines.append(line)
        v = {k: objects(x) for k, x in votes.items()}
        chunks.append(Chunk(file, v["record"].astype(np.int64), v["item"].astype(np.int64),
                            v["annotator"], v["score"],
                            v["annotator"] == adjudicator if adjudicator else
                            np.zeros(len(v["item"]), dtype=bool),
                            np.asarray(lines, dtype=np.int64), v["column"]))
    votes_arrays, scale = finish(chunks, {}, scale, stats, [str(p) for p, _ in sources])
    inputs = [{"path": str(p), "role": "table", "split": s, "sha256": sha256_file(p)}
              for p, s in sources]
    items = {c: objects(v) for c, v in items.items()}
    return Collected(items, votes_arrays, scale, inputs, stats)


def _add_item(items, position, split, cell, ix, file, line, repeat_ok, repeats) -> int:
    """The row's answer (texts normalised, ids as `asag gather` gives them), added once; a
    repeated content-hash id on a row-per-answer table is numbered (read_tables)."""
    student = normalize(cell(ix["student_answer"]) or "")
    if not student:
        raise InputError("empty student answer", file=file, line=line, column="student_answer")
    question = normalize_repeated(cell(ix["question"]) or "")
    reference = normalize_repeated(cell(ix["reference_answer"]) or "")
    qid = question_id(cell(ix["question_id"]), question)
    given = cell(ix["answer_id"])
    aid = answer_id(given, qid, reference, student, normalize(cell(ix["student"]) or ""))
    if not given and not repeat_ok:
        seen = repeats[aid] = repeats.get(aid, 0) + 1
        if seen > 1:
            aid = f"{aid}-{seen}"
    if aid in position:
        pos, first_file, first_line = position[aid]
        if not repeat_ok:
            raise InputError(f"duplicate answer id '{aid}' (first at {first_file}:"
                             f"{first_line})", file=file, line=line,
                             fix="one row per answer; for a row per teacher use --annotator-col")
        return pos
    position[aid] = (len(items["id"]), file, line)
    for name, value in zip(("id", "question_id", *TEXT_FIELDS, "split"),
                           (aid, qid, question, reference, student, split), strict=True):
        items[name].append(value)
    return position[aid][0]
