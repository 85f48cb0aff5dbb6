"""Teachers' judgements from either source, as one shape: `items` (one row per answer) and
`votes` (one row per non-skipped judgement: item position, annotator, scale index,
ground truth). This module reads annotation records (`asag annotate pull`) joined to raw
answers (`asag gather`); table_input.py reads labelled tables into the same shape.

Nothing is guessed: the scale comes from --scale or the records, a later judgement by the
same teacher of the same answer replaces the earlier one (input order), and every problem is
one line naming file, line and column."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from asag.answers import TEXT_FIELDS
from asag.build_dataset import jsonl_fast
from asag.build_dataset.splits import SPLIT_NAME
from asag.console import progress
from asag.errors import InputError, ScaleError
from asag.records import ANNOTATION, RAW_ANSWER, read_jsonl, schema, sha256_file
from asag.scale import Scale

TEXT_COLUMNS = ("id", "question_id", *TEXT_FIELDS)


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


def check_split(name, file: str, line: int | None, column: str = "split") -> str | None:
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
    return {c: objects(v) for c, v in cols.items()}, np.asarray(lines, dtype=np.int64)


def objects(values: list) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _line(path, lines, k: int) -> int:
    return int(lines[k]) if lines is not None else jsonl_fast.line_of_record(path, k)


def read_items(items_path: Path, extra: tuple[str, ...] = ()) -> dict:
    """Raw answers (schemas/raw_answer.schema.json) as column arrays (TEXT_COLUMNS, split and
    the `extra` fields, e.g. student); ids must be unique."""
    import pandas as pd

    cols, lines = _records(items_path, RAW_ANSWER, (*TEXT_COLUMNS, "split", *extra))
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
            check_split(name, str(items_path), _line(items_path, lines, k))
    return cols


def read_annotations(paths, items_path, scale: Scale | None, adjudicator: str | None = None,
                     *, items: dict | None = None, allow_empty: bool = False):
    """Annotation records (schemas/annotation.schema.json) joined to raw answers by id
    (`items`: read_items(items_path) already read). `allow_empty`: no scored judgement yet is
    no error (the gradebook of a course nobody has scored)."""
    import pandas as pd

    items = read_items(items_path) if items is None else items
    index = pd.Index(items["id"])
    chunks, scales, stats = [], {}, {"records": 0, "skipped": 0}
    shown = []  # (teacher's score, the model's hint the teacher saw)
    for path in progress(paths, label="reading annotations"):
        cols, lines = _records(path, ANNOTATION,
                               ("answer_id", "annotator", "score", "skipped", "ground_truth",
                                "scale", "prediction"))
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
        shown += [(s, p) for s, p in zip(cols["score"][rows], cols["prediction"][rows],
                                         strict=True) if isinstance(p, dict)]
    votes, scale = finish(chunks, scales, scale, stats, [str(p) for p in paths],
                          allow_empty=allow_empty)
    if shown:
        from asag.build_dataset.agreement import model_hints

        stats["model_hints"] = model_hints(shown, scale)
    inputs = [{"path": str(items_path), "role": "items", "sha256": sha256_file(items_path)}]
    inputs += [{"path": str(p), "role": "annotations", "sha256": sha256_file(p)} for p in paths]
    return Collected(items, votes, scale, inputs, stats)


def resolve_scale(option: Scale | None, scales: dict, files: list) -> Scale:
    """The one scale: --scale, else the records'; several, or a clash, is an error."""
    canonical: dict[str, tuple] = {}
    for spec, (file, line) in scales.items():
        try:
            canonical.setdefault(Scale.parse(spec).spec, (file, line))
        except ScaleError:
            raise InputError(f"'{spec}' is not a scale spec", file=file, line=line,
                             column="scale") from None
    specs = list(canonical)
    if len(specs) > 1:
        file, line = canonical[specs[1]]
        raise InputError(f"mixed scales: '{specs[1]}' here, '{specs[0]}' earlier", file=file,
                         line=line, column="scale", fix="build one dataset per scale")
    if option is not None:
        if specs and not option.same_as(specs[0]):
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


def finish(chunks: list, scales: dict, option: Scale | None, stats: dict, files: list, *,
           allow_empty: bool = False):
    """Votes as arrays on one scale, each teacher's last judgement of an answer kept."""
    import pandas as pd

    if allow_empty and not sum(len(c.item) for c in chunks):
        stats["superseded"] = 0
        empty = np.zeros(0, dtype=np.int64)
        return {"item": empty, "annotator": objects([]), "idx": empty.astype(np.int16),
                "gt": np.zeros(0, dtype=bool)}, (resolve_scale(option, scales, files)
                                                 if option or scales else None)
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
