"""Teachers' judgements from either source, as one shape: `items` (one row per answer) and
`votes` (one row per non-skipped judgement: item position, annotator, scale index,
ground truth). Sources: annotation records (`asag annotate pull`) joined to raw answers
(`asag gather`), or a labelled table with a score column per teacher or a row per teacher.

Nothing is guessed: the scale comes from --scale or the records, a later judgement by the
same teacher of the same answer replaces the earlier one (input order), and every problem is
one line naming file, line and column."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from asag.build_dataset import jsonl_fast
from asag.build_dataset.splits import SPLIT_NAME, split_from_filename

from asag.console import progress
from asag.errors import InputError
from asag.records import ANNOTATION, RAW_ANSWER, read_jsonl, schema
from asag.scale import Scale
from asag.tables import header_key, open_table

TEXT_COLUMNS = ("id", "question_id", "question", "reference_answer", "student_answer")


@dataclass
class Collected:
    items: dict  # column -> numpy object array (TEXT_COLUMNS + "split")
    votes: dict  # item, annotator, idx, gt -> numpy arrays
    scale: Scale
    inputs: list = field(default_factory=list)  # {"path", "role", "sha256"}
    stats: dict = field(default_factory=dict)


@dataclass
class Chunk:
    """Judgements from one file, in file order: vote k came from record `record[k]`, on line
    `lines[record[k]]` (lines is None after a bulk read: found again only if reported)."""

    file: str
    record: np.ndarray
    item: np.ndarray
    annotator: np.ndarray
    score: np.ndarray
    gt: np.ndarray
    lines: np.ndarray | None = None
    column: np.ndarray | str = "score"

    def where(self, k: int) -> dict:
        column = self.column if isinstance(self.column, str) else self.column[k]
        return {"file": self.file, "line": _line(self.file, self.lines, int(self.record[k])),
                "column": column}


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _check_split(name, file: str, line: int | None, column: str = "split") -> str | None:
    if name is None or name == "":
        return None
    if not SPLIT_NAME.match(str(name)):
        raise InputError(f"split name '{name}' is not letters, digits and '_'", file=file,
                         line=line, column=column, fix="rename it, e.g. train or test_ua")
    return str(name)


def _records(path, schema_name: str, columns) -> tuple[dict, np.ndarray | None]:
    """The file's records as column arrays (bulk when possible) and their line numbers
    (None after a bulk read)."""
    table = jsonl_fast.read_table(path, schema(schema_name))
    if table is not None:
        return {c: (table.column(c).to_numpy(zero_copy_only=False)
                    if c in table.column_names else np.full(table.num_rows, None, dtype=object))
                for c in columns}, None
    cols, lines = {c: [] for c in columns}, []
    for line, rec in read_jsonl(path, schema_name):
        lines.append(line)
        for c in columns:
            cols[c].append(rec.get(c))
    return {c: _objects(v) for c, v in cols.items()}, np.asarray(lines, dtype=np.int64)


def _objects(values: list) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _line(path, lines, k: int) -> int:
    return int(lines[k]) if lines is not None else jsonl_fast.line_of_record(path, k)


def read_items(items_path: Path) -> dict:
    """Raw answers (schemas/raw_answer.schema.json) as column arrays; ids must be unique."""
    import pandas as pd

    cols, lines = _records(items_path, RAW_ANSWER, (*TEXT_COLUMNS, "split"))
    dup = pd.Index(cols["id"]).duplicated()
    if dup.any():
        k = int(np.flatnonzero(dup)[0])
        raise InputError(f"duplicate answer id '{cols['id'][k]}'", file=str(items_path),
                         line=_line(items_path, lines, k),
                         fix="give every answer its own id (asag gather does)")
    named = [s for s in pd.unique(cols["split"]) if s is not None]
    for name in named:
        if not SPLIT_NAME.match(str(name)):
            k = int(np.flatnonzero(cols["split"] == name)[0])
            _check_split(name, str(items_path), _line(items_path, lines, k))
    return cols


def read_annotations(paths, items_path, scale: Scale | None, adjudicator: str | None = None):
    """Annotation records (schemas/annotation.schema.json) joined to raw answers by id."""
    import pandas as pd

    items = read_items(items_path)
    index = pd.Index(items["id"])
    chunks, scales, stats = [], {}, {"records": 0, "skipped": 0}
    for path in progress(paths, label="reading annotations"):
        cols, lines = _records(path, ANNOTATION,
                               ("answer_id", "annotator", "score", "skipped", "ground_truth",
                                "scale"))
        stats["records"] += len(cols["answer_id"])
        pos = index.get_indexer(cols["answer_id"])
        if (pos < 0).any():
            k = int(np.flatnonzero(pos < 0)[0])
            raise InputError(f"unknown answer id '{cols['answer_id'][k]}'", file=str(path),
                             line=_line(path, lines, k), fix=f"it is not in {items_path}; pass "
                             "the raw answers file these annotations were made from")
        for spec in pd.unique(cols["scale"]):
            if spec is not None and spec not in scales:
                k = int(np.flatnonzero(cols["scale"] == spec)[0])
                scales[spec] = (str(path), _line(path, lines, k))
        scored = ~(cols["skipped"].astype(bool) | pd.isna(cols["score"]))
        stats["skipped"] += int((~scored).sum())
        gt = cols["ground_truth"] == True  # noqa: E712 (None -> False)
        if adjudicator is not None:
            gt = gt | (cols["annotator"] == adjudicator)
        rows = np.flatnonzero(scored)
        chunks.append(Chunk(str(path), rows, pos[rows], cols["annotator"][rows],
                            cols["score"][rows], gt[rows], lines))
    votes, scale = finish(chunks, scales, scale, stats, [str(p) for p in paths])
    inputs = [{"path": str(items_path), "role": "items", "sha256": file_sha256(items_path)}]
    inputs += [{"path": str(p), "role": "annotations", "sha256": file_sha256(p)} for p in paths]
    return Collected(items, votes, scale, inputs, stats)


def resolve_scale(option: Scale | None, scales: dict, files: list) -> Scale:
    """The one scale: --scale, else the records'; several, or a clash, is an error."""
    canonical: dict[str, tuple] = {}
    for spec, (file, line) in scales.items():
        try:
            canonical.setdefault(Scale.parse(spec).spec, (file, line))
        except Exception:
            raise InputError(f"'{spec}' is not a scale spec", file=file, line=line,
                             column="scale") from None
    specs = list(canonical)
    if len(specs) > 1:
        file, line = canonical[specs[1]]
        raise InputError(f"mixed scales: '{specs[1]}' here, '{specs[0]}' earlier", file=file,
                         line=line, column="scale", fix="build one dataset per scale")
    if option is not None:
        if specs and specs[0] != option.spec:
            file, line = canonical[specs[0]]
            raise InputError(f"mixed scales: the records say '{specs[0]}', --scale says "
                             f"'{option.spec}'", file=file, line=line, column="scale",
                             fix="drop --scale or give the records' scale")
        return option
    if not specs:
        raise InputError("no scale: the inputs do not name one", file=files[0] if files else None,
                         fix="pass --scale, e.g. --scale 0-5 or --scale incorrect,correct")
    return Scale.parse(specs[0])


def _scale_indices(chunks: list, scale: Scale) -> np.ndarray:
    """Scale index of every score (few distinct values, each checked once); the first
    off-scale one is a one-line error."""
    import pandas as pd

    scores = np.concatenate([c.score for c in chunks])
    codes, uniques = pd.factorize(scores, use_na_sentinel=False)
    mapped = np.empty(len(uniques), dtype=np.int16)
    for u, value in enumerate(uniques):
        try:
            mapped[u] = scale.index(value)
        except ValueError as exc:
            g = int(np.flatnonzero(codes == u)[0])
            for chunk in chunks:
                if g < len(chunk.item):
                    raise InputError(f"score off the scale: {exc}", **chunk.where(g),
                                     fix=f"give a value of the scale {scale.spec}, or fix "
                                     "--scale") from None
                g -= len(chunk.item)
    return mapped[codes]


def finish(chunks: list, scales: dict, option: Scale | None, stats: dict, files: list):
    """Votes as arrays on one scale, each teacher's last judgement of an answer kept."""
    import pandas as pd

    if not sum(len(c.item) for c in chunks):
        raise InputError("empty input: no scored judgements", file=", ".join(files) or None,
                         fix="check that teachers have scored answers (skipped ones count "
                             "for nothing)")
    scale = resolve_scale(option, scales, files)
    idx = _scale_indices(chunks, scale)
    item = np.concatenate([c.item for c in chunks]).astype(np.int64)
    annotator = np.concatenate([c.annotator for c in chunks]).astype(object)
    gt = np.concatenate([c.gt for c in chunks]).astype(bool)
    keep = ~pd.DataFrame({"i": item, "a": annotator}).duplicated(keep="last").to_numpy()
    stats["superseded"] = int(len(item) - keep.sum())
    return {"item": item[keep], "annotator": annotator[keep], "idx": idx[keep],
            "gt": gt[keep]}, scale


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
        out.append((path, _check_split(split, str(path), None) if split else None))
    return out


def _column(columns: list[str], wanted: str | None, file: str, option: str | None):
    """Position of a column (exact name, else loosely matched); None if absent and optional
    (option None), else a one-line error naming the option that sets it."""
    keys = [header_key(c) for c in columns]
    for name in (wanted, header_key(wanted or "")):
        if name in columns:
            return columns.index(name)
        if name and name in keys:
            return keys.index(name)
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


def _question_id(text: str) -> str:
    return "q" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def _table_columns(table, file: str, id_col, split_col, annotator_col, score_col, score_cols):
    cols = table.columns
    if id_col is None:
        id_col = "answer_id" if _column(cols, "answer_id", file, None) is not None else "id"
    ix = {
        "id": _column(cols, id_col, file, "--id-col"),
        "question_id": _column(cols, "question_id", file, None),
        "question": _column(cols, "question", file, None),
        "reference_answer": _column(cols, "reference_answer", file, None),
        "student_answer": _column(cols, "student_answer", file, "a student_answer column"),
        "split": _column(cols, split_col, file, None) if split_col else None,
        "annotator": _column(cols, annotator_col, file, "--annotator-col")
        if annotator_col else None,
    }
    if annotator_col:
        scored = [(None, _column(cols, score_col, file, "--score-col"))]
    else:
        scored = [(c, _column(cols, c, file, "--score-cols")) for c in score_cols]
    return ix, scored


def read_tables(sources, scale: Scale | None, *, score_cols=(), annotator_col=None,
                score_col="score", id_col=None, split_col="split", adjudicator=None):
    """Labelled tables: a score column per teacher (`score_cols`, the column name is the
    annotator) or a row per teacher (`annotator_col` + `score_col`)."""
    items = {c: [] for c in (*TEXT_COLUMNS, "split")}
    position: dict[str, tuple[int, str, int]] = {}
    chunks, stats = [], {"records": 0, "skipped": 0}
    for path, file_split in progress(sources, label="reading tables"):
        table, file = open_table(path), str(path)
        ix, scored = _table_columns(table, file, id_col, split_col, annotator_col, score_col,
                                    score_cols)
        votes = {k: [] for k in ("record", "item", "annotator", "score", "column")}
        lines = []
        for line, cells in table.rows:
            cell = _Row(cells)
            answer_id = cell(ix["id"])
            if answer_id is None:
                raise InputError("empty answer id", file=file, line=line,
                                 column=table.columns[ix["id"]], fix="give every row an id")
            split = _check_split(cell(ix["split"]), file, line) or file_split
            pos = _add_item(items, position, answer_id, split, cell, ix, file, line,
                            repeat_ok=bool(annotator_col))
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
        v = {k: _objects(x) for k, x in votes.items()}
        chunks.append(Chunk(file, v["record"].astype(np.int64), v["item"].astype(np.int64),
                            v["annotator"], v["score"],
                            v["annotator"] == adjudicator if adjudicator else
                            np.zeros(len(v["item"]), dtype=bool),
                            np.asarray(lines, dtype=np.int64), v["column"]))
    votes_arrays, scale = finish(chunks, {}, scale, stats, [str(p) for p, _ in sources])
    inputs = [{"path": str(p), "role": "table", "split": s, "sha256": file_sha256(p)}
              for p, s in sources]
    items = {c: _objects(v) for c, v in items.items()}
    return Collected(items, votes_arrays, scale, inputs, stats)


def _add_item(items, position, answer_id, split, cell, ix, file, line, repeat_ok) -> int:
    if answer_id in position:
        pos, first_file, first_line = position[answer_id]
        if not repeat_ok:
            raise InputError(f"duplicate answer id '{answer_id}' (first at {first_file}:"
                             f"{first_line})", file=file, line=line,
                             fix="one row per answer; for a row per teacher use --annotator-col")
        return pos
    student = cell(ix["student_answer"])
    if student is None:
        raise InputError("empty student answer", file=file, line=line, column="student_answer")
    question = cell(ix["question"]) or ""
    position[answer_id] = (len(items["id"]), file, line)
    items["id"].append(answer_id)
    items["question_id"].append(cell(ix["question_id"]) or _question_id(question))
    items["question"].append(question)
    items["reference_answer"].append(cell(ix["reference_answer"]) or "")
    items["student_answer"].append(student)
    items["split"].append(split)
    return position[answer_id][0]
