"""`asag gradebook`: every student's answer with its final score and where it came from.

A course's grades come from three places: the teachers' scores (several teachers of one
answer aggregated under build-dataset's policy, build_dataset/aggregate.py), the scorer's
prediction where `--max-error` says it may be trusted (`Scorer.predict(max_error=...)`,
the decision `asag score` makes), and what is still open. One row per student answer, in
the order of the gathered answers (the LMS export's), so two students who wrote the same
text are two rows; the student identity comes from the local raw JSONL only (asag gather),
never from Label Studio. The per-question summary says what is left to score."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from asag.errors import InputError
from asag.scale import Scale

TEACHERS, AUTO, NEEDS_TEACHER = "teachers", "auto", "needs_teacher"
SOURCES = (TEACHERS, AUTO, NEEDS_TEACHER)
COLUMNS = ("student", "question_id", "question", "answer_id", "student_answer", "score",
           "source", "confidence", "model_score", "teacher_scores", "teachers")
SUMMARY_COLUMNS = ("question_id", "question", "answers", TEACHERS, AUTO, NEEDS_TEACHER)
FORMATS = {".csv": "csv", ".tsv": "tsv", ".xlsx": "xlsx", ".jsonl": "jsonl"}


@dataclass
class Options:
    scale: Scale | None = None
    policy: str = "median"
    fallback: str = "median"
    adjudicator: str | None = None
    min_annotators: int = 1
    model: Path | None = None
    max_error: float | None = None
    batch_size: int = 32


@dataclass
class Gradebook:
    rows: list[dict]  # COLUMNS, one per student answer
    scale: Scale | None
    notes: list[str] = field(default_factory=list)  # said to the user beside the summary

    def summary(self) -> list[dict]:
        """Per question (in the order questions first appear), then 'all': answers scored
        by teachers, auto-scored and still open."""
        by_q: dict[str, dict] = {}
        total = {"question_id": "all", "question": "", "answers": 0,
                 **dict.fromkeys(SOURCES, 0)}
        for row in self.rows:
            q = by_q.setdefault(row["question_id"], {
                "question_id": row["question_id"], "question": row["question"], "answers": 0,
                **dict.fromkeys(SOURCES, 0)})
            for counts in (q, total):
                counts["answers"] += 1
                counts[row["source"]] += 1
        return [*by_q.values(), total]


def build(items: Path | None, annotations: list[Path], opts: Options, *,
          dataset: Path | None = None) -> Gradebook:
    """The gradebook of the answers in `items` (raw JSONL from `asag gather`) scored by the
    `annotations` (`asag annotate pull`) or by a built `dataset`; with `opts.model`, the
    answers no teacher scored get the scorer's prediction (auto at `opts.max_error`)."""
    model_scale = _model_scale(opts.model) if opts.model is not None else None
    if dataset is not None:
        answers, teachers, scale, notes = _from_dataset(dataset, items)
        if opts.scale is not None and not opts.scale.same_as(scale):
            raise InputError(f"the dataset is on the scale '{scale.spec}', --scale says "
                             f"'{opts.scale.spec}'", file=str(dataset),
                             fix="drop --scale or give the dataset's scale")
    else:
        answers, teachers, scale, notes = _from_annotations(items, annotations, opts,
                                                             model_scale)
    scale = scale or opts.scale or model_scale
    if model_scale is not None and scale is not None and not model_scale.same_as(scale):
        raise InputError(f"the scorer scores on the scale '{model_scale.spec}', the teachers "
                         f"on '{scale.spec}'", file=str(opts.model),
                         fix="give the scorer trained on this course's scale")
    final, shown, counts = teachers
    n = len(answers["id"])
    rows = [{
        "student": answers["student"][i],
        "question_id": answers["question_id"][i],
        "question": answers["question"][i],
        "answer_id": answers["id"][i],
        "student_answer": answers["student_answer"][i],
        "score": final[i],
        "source": TEACHERS if final[i] is not None else NEEDS_TEACHER,
        "confidence": None,
        "model_score": None,
        "teacher_scores": shown[i],
        "teachers": int(counts[i]),
    } for i in range(n)]
    partly = sum(1 for r in rows if r["teachers"] and r["score"] is None)
    if partly:
        notes.append(f"{partly:,} answers have fewer than {opts.min_annotators} teachers' "
                     "scores (--min-annotators): still needs_teacher")
    if opts.model is not None:
        _predict([i for i, r in enumerate(rows) if r["teachers"] == 0], rows, answers, opts)
    return Gradebook(rows, scale, notes)


def _model_scale(model: Path) -> Scale:
    from asag.train.directory import read

    return Scale.parse(read(model).scale)


def _read_answers(items: Path) -> dict:
    """The gathered answers, students included; a file without any is refused (an empty
    gradebook would look like a course with nothing left to score)."""
    from asag.build_dataset.inputs import read_items

    answers = read_items(items, extra=("student",))
    if not len(answers["id"]):
        raise InputError("no answers in the file", file=str(items),
                         fix="pass --items the raw.jsonl that asag gather wrote")
    return answers


def _from_annotations(items: Path | None, annotations: list[Path], opts: Options,
                      model_scale: Scale | None):
    from asag.build_dataset.inputs import read_annotations

    if items is None:
        raise InputError("no answers: the gradebook lists the gathered answers",
                         fix="pass --items RAW.jsonl (from asag gather), or --dataset DIR")
    answers = _read_answers(items)
    n = len(answers["id"])
    if not annotations:
        return answers, _no_scores(n), None, []
    data = read_annotations(annotations, items, opts.scale, opts.adjudicator, items=answers,
                            allow_empty=True)
    scale = data.scale or model_scale
    if scale is None or not len(data.votes["item"]):
        return answers, _no_scores(n), scale, []
    return answers, _aggregated(data.votes, n, scale, opts), scale, []


def _no_scores(n: int):
    return [None] * n, [[] for _ in range(n)], np.zeros(n, dtype=np.int64)


def _aggregated(votes: dict, n: int, scale: Scale, opts: Options):
    """(final score or None, the teachers' scores, how many) per answer, under
    build-dataset's policy (build_dataset/aggregate.py)."""
    from asag.build_dataset.aggregate import aggregate, check_policy
    from asag.build_dataset.build import Votes

    try:
        check_policy(opts.policy, opts.fallback, scale)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    v = Votes.of(votes, n, scale)
    score, _ties = aggregate(v.item, v.idx, v.gt, n, scale, opts.policy, opts.fallback)
    final, shown = [None] * n, [[] for _ in range(n)]
    values = scale.values
    for i in np.flatnonzero(v.counts):
        start = v.starts[i]
        shown[i] = [values[k] for k in v.idx[start:start + v.counts[i]]]
        if v.counts[i] >= opts.min_annotators:
            final[i] = _on_scale(score[i], scale)
    return final, shown, v.counts


def _on_scale(value: float, scale: Scale):
    """An aggregated score as written: a label, or a number (a mean may fall between steps)."""
    if not scale.is_numeric:
        return scale.labels[int(value)]
    r = round(float(value), 4)
    return int(r) if r.is_integer() else r


def _from_dataset(directory: Path, items: Path | None):
    """Teachers' scores from a built dataset (already aggregated under its own policy); the
    answers are `items` when given (the scores join by answer id), else the dataset's."""
    import pyarrow.parquet as pq

    from asag.dataset_layout import PARQUET_DIR, dataset_scale, read_manifest

    scale = dataset_scale(read_manifest(directory))
    parts = sorted((Path(directory) / PARQUET_DIR).glob("*.parquet"))
    if not parts:
        raise InputError("the dataset has no Parquet splits", file=str(directory),
                         fix="rebuild it with asag build-dataset")
    cols = ("id", "question_id", "question", "reference_answer", "student_answer", "score",
            "annotator_scores")
    table = {c: [] for c in cols}
    for part in parts:
        got = pq.read_table(part, columns=list(cols)).to_pydict()
        for c in cols:
            table[c] += got[c]
    scored = {aid: (_on_scale(s, scale), [_on_scale(t, scale) for t in ts], len(ts))
              for aid, s, ts in zip(table["id"], table["score"], table["annotator_scores"],
                                    strict=True)}
    notes = []
    if items is None:
        answers = {c: table[c] for c in cols[:5]}
        answers["student"] = [None] * len(answers["id"])
    else:
        answers = _read_answers(items)
        missing = len(set(scored) - set(answers["id"]))
        if missing:
            notes.append(f"{missing:,} answers of {directory} are not in {items}: left out")
    final, shown, counts = [], [], []
    for aid in answers["id"]:
        score, text, k = scored.get(aid, (None, [], 0))
        final.append(score)
        shown.append(text)
        counts.append(k)
    return answers, (final, shown, np.asarray(counts, dtype=np.int64)), scale, notes


def _predict(open_rows: list[int], rows: list[dict], answers: dict, opts: Options) -> None:
    """The scorer's score and confidence for the answers no teacher scored; `auto` where the
    --max-error decision trusts it."""
    if not open_rows:
        return
    from asag.train.progress import counter
    from asag.train.scorer import Scorer

    scorer = Scorer.load(opts.model)
    if opts.max_error is not None and scorer.calibration is None:
        raise InputError("this scorer has no calibration, so --max-error cannot be held",
                         file=str(opts.model), fix="retrain it, or run 'asag calibrate MODEL "
                         "DATASET', or leave out --max-error")
    inputs = [{c: answers[c][i] for c in ("id", "question_id", "question", "reference_answer",
                                          "student_answer")} for i in open_rows]
    with counter(len(inputs), "scoring open answers") as advance:
        predictions = scorer.predict(inputs, batch_size=opts.batch_size, on_batch=advance,
                                     max_error=opts.max_error)
    for i, p in zip(open_rows, predictions, strict=True):
        row = rows[i]
        row["model_score"] = p.step if p.step is not None else p.score
        row["confidence"] = None if p.confidence is None else round(float(p.confidence), 4)
        if p.auto:
            row["score"], row["source"] = row["model_score"], AUTO


# -- writing ---------------------------------------------------------------------------------

def output_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError("unknown output format", file=str(path),
                         fix="end it with .csv, .tsv, .xlsx or .jsonl")
    return fmt


def summary_path(output: Path) -> Path:
    """GRADES.csv -> GRADES.summary.csv (the same format)."""
    return output.with_name(f"{output.stem}.summary{output.suffix}")


def write(path: Path, columns: Iterable[str], rows: list[dict], *, raw: bool = False) -> None:
    """Rows as CSV / TSV / XLSX (text cells spreadsheet-safe unless `raw`) or JSONL, written
    atomically (a crash leaves the previous file)."""
    import orjson

    from asag.records import atomic_writer
    from asag.tables import csv_rows

    columns = list(columns)
    fmt = output_format(path)
    if fmt == "jsonl":
        with atomic_writer(path, "wb") as fh:
            for row in rows:
                fh.write(orjson.dumps({c: row.get(c) for c in columns},
                                      option=orjson.OPT_APPEND_NEWLINE))
        return
    cells = ([_cell(row.get(c)) for c in columns] for row in rows)
    safe = csv_rows([columns, *cells], raw=raw)
    if fmt == "xlsx":
        _write_xlsx(path, safe)
        return
    with atomic_writer(path, "w") as fh:
        csv.writer(fh, delimiter="\t" if fmt == "tsv" else ",",
                   lineterminator="\n").writerows(safe)


def _cell(value):
    """A spreadsheet cell: nothing for None, a list (the teachers' scores) as '4; 5'."""
    if isinstance(value, list):
        return "; ".join(map(str, value))
    return "" if value is None else value


def _write_xlsx(path: Path, rows) -> None:
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    from asag.records import atomic_writer

    book = Workbook(write_only=True)
    sheet = book.create_sheet(path.stem[:31] or "gradebook")
    for row in rows:  # control characters are not allowed in XLSX text: dropped
        sheet.append([ILLEGAL_CHARACTERS_RE.sub("", v) if isinstance(v, str) else v
                      for v in row])
    with atomic_writer(path, "wb") as fh:
        book.save(fh)


def summary_table(summary: list[dict], width: int = 40) -> str:
    """The per-question summary as aligned text (questions cut to `width` characters)."""
    head = ("question", "answers", TEACHERS, AUTO, "open")
    lines = [(_short(s["question"] or s["question_id"], width), str(s["answers"]),
              str(s[TEACHERS]), str(s[AUTO]), str(s[NEEDS_TEACHER])) for s in summary]
    widths = [max(len(x) for x in col) for col in zip(head, *lines, strict=True)]
    fmt = "  ".join(f"{{:<{widths[0]}}}" if k == 0 else f"{{:>{w}}}"
                    for k, w in enumerate(widths))
    return "\n".join(fmt.format(*r) for r in (head, *lines))


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"
