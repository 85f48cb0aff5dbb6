"""`asag gather`: raw answer exports into one JSONL of validated records with stable ids.

Rows stream through one at a time; only the deduplication index (answer id -> content
digest) grows with the input."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from asag.answers import (
    ALIASES,
    MAX_CHARS,
    MAX_ID,
    TEXT_FIELDS,
    answer_id,
    normalize,
    normalize_repeated,
    question_id,
    resolve_columns,
)
from asag.errors import InputError
from asag.records import RAW_ANSWER, ShapeValidator, atomic_writer, dumps
from asag.scale import Scale
from asag.tables import Table, alias_index, header_key, open_table

_MOODLE_RESPONSE = re.compile(r"^response\s*(\d+)$", re.IGNORECASE)
_MOODLE_BLANK = {"", "-"}
_DECIMAL_COMMA = re.compile(r"^([+-]?\d+),(\d+)$")  # '2,5' in Hungarian (and most) locales


@dataclass
class GatherOptions:
    columns: dict[str, str] = field(default_factory=dict)  # field -> header given by the user
    format: str | None = None
    encoding: str | None = None  # None: UTF-8, else detected (asag.tables.open_table)
    scale: Scale | None = None
    max_chars: int = MAX_CHARS
    skip_invalid: bool = False
    student_col: str | None = None  # None: found by name (answers.ALIASES); "": ignored


@dataclass
class GatherStats:
    files: int = 0
    rows: int = 0
    written: int = 0
    duplicates: int = 0
    rejected: int = 0
    blank: int = 0
    student_columns: list[str] = field(default_factory=list)  # per file with one

    def summary(self, output: Path) -> str:
        text = (
            f"read {self.rows:,} answers from {self.files} file(s); wrote {self.written:,} to "
            f"{output}; {self.duplicates:,} exact duplicates dropped; {self.rejected:,} rejected"
        )
        text += f"; {self.blank:,} blank Moodle responses skipped" if self.blank else ""
        if self.student_columns:
            names = ", ".join(f"'{c}'" for c in dict.fromkeys(self.student_columns))
            text += (f"; students from column {names} (kept in {output.name} only, never sent "
                     "to Label Studio; the same text by two students is two answers)")
        return text


class RowError(InputError):
    """A problem with one row: fatal, or written aside under --skip-invalid."""

    def __init__(self, problem, *, line, column=None, fix=None, cells=None):
        super().__init__(problem, line=line, column=column, fix=fix)
        self.cells = cells


def _moodle_questions(table: Table) -> list[tuple[int, int | None, int | None]] | None:
    """(response, question, right answer) column indices of a Moodle Responses report."""
    keys = [header_key(c) for c in table.columns]
    out = []
    for idx, column in enumerate(table.columns):
        m = _MOODLE_RESPONSE.match(column.strip())
        if m:
            n = m.group(1)
            q = f"question_{n}"
            r = f"right_answer_{n}"
            out.append((idx, keys.index(q) if q in keys else None,
                        keys.index(r) if r in keys else None))
    return out or None


def _raw_rows(table: Table, opts: GatherOptions, stats: GatherStats | None = None
              ) -> Iterator[tuple[int, dict | RowError, dict]]:
    """(line, {field: raw text} or the row's error, {field: column header}) per answer."""
    ncols = len(table.columns)
    moodle = None if opts.columns else _moodle_questions(table)
    if moodle is None:
        cols = resolve_columns(table, opts.columns, fields=_FIELDS)
        student = _student_column(table, opts, taken=cols.values())
        if student is not None:
            cols["student"] = student
        headers = {name: table.columns[i] for name, i in cols.items()}
        items = tuple(cols.items())
    else:
        student = _student_column(table, opts)
    if student is not None and stats is not None:
        stats.student_columns.append(table.columns[student])
    for line, cells in table.rows:
        if table.format in ("csv", "tsv") and len(cells) != ncols:
            yield line, RowError(
                f"row has {len(cells)} fields but the header has {ncols}",
                line=line,
                fix="check the quoting and the delimiter of that row",
                cells=cells,
            ), {}
            continue
        if moodle is None:
            if len(cells) < ncols:  # short Excel / JSONL rows
                cells = cells + [None] * (ncols - len(cells))
            yield line, {n: cells[i] for n, i in items}, headers
            continue
        for resp, qcol, rcol in moodle:
            answer = _at(cells, resp)
            if answer is None or answer.strip() in _MOODLE_BLANK:
                yield line, None, {}
                continue
            question = _at(cells, qcol) if qcol is not None else None
            fields = {
                "student_answer": answer,
                "question": question,
                "question_id": None if question else table.columns[resp].replace("Response", "Q"),
                "reference_answer": _at(cells, rcol) if rcol is not None else None,
                "student": _at(cells, student) if student is not None else None,
            }
            yield line, fields, {"student_answer": table.columns[resp]}


# the fields found by name; the student column is found on its own (_student_column), so
# that naming it does not turn off the Moodle layout's detection
_FIELDS = tuple(f for f in ALIASES if f != "student")


def _student_column(table: Table, opts: GatherOptions, taken=()) -> int | None:
    """Where the student identity is: --student-col, else a known header (Moodle's Email
    address / Username, Forms' Email Address, student, student_id ...); None without one."""
    if opts.student_col == "":
        return None
    if opts.student_col is not None:
        return resolve_columns(table, {"student": opts.student_col}, fields=(),
                               required=(), need_question=False)["student"]
    return alias_index(table.columns, ALIASES["student"], taken=taken)


def _at(cells: list, index: int | None):
    if index is None or index >= len(cells):
        return None
    return cells[index]


def make_record(fields: dict, headers: dict, line: int, path: str, opts: GatherOptions) -> dict:
    """One raw-answer record, or RowError naming the column to fix. (The hot path of a
    million-row gather: plain locals, no per-field loops.)"""
    get = fields.get
    answer_raw = get("student_answer") or ""
    question_raw = get("question") or ""
    reference_raw = get("reference_answer") or ""
    limit = opts.max_chars
    if len(answer_raw) > limit or len(question_raw) > limit or len(reference_raw) > limit:
        name = next(n for n in TEXT_FIELDS if len(get(n) or "") > limit)
        raise RowError(
            f"cell has {len(get(name)):,} characters, over the limit of {limit:,}",
            line=line, column=headers.get(name, name), fix="shorten it, or raise --max-chars",
        )
    answer = normalize(answer_raw)
    if not answer:
        raise RowError("empty student answer", line=line,
                       column=headers.get("student_answer", "student_answer"),
                       fix="fill it in, or drop the row (--skip-invalid writes it aside)")
    question = normalize_repeated(question_raw)
    reference = normalize_repeated(reference_raw)
    qid_given = get("question_id")
    if not question and not (qid_given and qid_given.strip()):
        raise RowError("empty question", line=line,
                       column=headers.get("question", "question"),
                       fix="fill it in, or give a question id column (--question-id-col)")
    qid = question_id(qid_given, question)
    student = normalize(get("student") or "")
    aid = answer_id(get("answer_id"), qid, reference, answer, student)
    if len(aid) > MAX_ID or len(qid) > MAX_ID or len(student) > MAX_ID:
        name = ("answer_id" if len(aid) > MAX_ID else "question_id" if len(qid) > MAX_ID
                else "student")
        raise RowError(f"id is over {MAX_ID} characters long", line=line,
                       column=headers.get(name, name),
                       fix="map the right column, or leave the id column out")
    record = {
        "id": aid,
        "question_id": qid,
        "question": question,
        "reference_answer": reference,
        "student_answer": answer,
    }
    if student:  # kept here only: push never sends it to Label Studio (teachers grade blind)
        record["student"] = student
    score = get("score")
    if score is not None and score.strip():
        record["score"] = _score(score.strip(), opts.scale, line, headers.get("score", "score"))
    split = get("split")
    if split is not None and split.strip():
        record["split"] = split.strip()
    if answer != answer_raw or question != question_raw or reference != reference_raw:
        original = {n: raw for n, raw, value in (("question", question_raw, question),
                                                 ("reference_answer", reference_raw, reference),
                                                 ("student_answer", answer_raw, answer))
                    if raw and raw != value}
        if original:
            record["original"] = original
    record["source"] = {"file": path, "line": line}
    return record


def _score(value: str, scale: Scale | None, line: int, column: str):
    if scale is not None:
        try:
            return scale.coerce(value)
        except ValueError as exc:
            raise RowError(str(exc), line=line, column=column,
                           fix="correct the score, or check --scale") from None
    try:
        number = float(_DECIMAL_COMMA.sub(r"\1.\2", value))
    except ValueError:
        return value
    return int(number) if number.is_integer() else number


def _record_shape(record: dict) -> tuple:
    """All that varies in the structure of a record make_record builds."""
    return tuple(record), type(record.get("score")), tuple(record.get("original", ()))


def _fingerprint(record: dict) -> bytes:
    return hashlib.blake2b(
        "\x1f".join((record["question_id"], record["question"], record["reference_answer"],
                     record["student_answer"], record.get("student", ""))).encode(),
        digest_size=8).digest()


def gather(sources: list[Path], output: Path, opts: GatherOptions, *, rejects: Path | None = None,
           progress=None) -> GatherStats:
    """Read every source, write `output` atomically; rejected rows go to `rejects`."""
    stats = GatherStats()
    seen: dict[str, tuple[bytes, int, int]] = {}  # id -> (content digest, table, line) first seen
    check = ShapeValidator(RAW_ANSWER, shape=_record_shape)
    tables = [open_table(p, opts.format, opts.encoding) for p in sources]  # fail early
    reject_fh = None
    with atomic_writer(output, "wb") as out:
        try:
            for table_no, table in enumerate(tables):
                stats.files += 1
                path = str(table.path)
                for line, fields, headers in _tracked(table, opts, progress, stats):
                    if fields is None:
                        stats.blank += 1
                        continue
                    stats.rows += 1
                    try:
                        if isinstance(fields, RowError):
                            raise fields
                        record = make_record(fields, headers, line, path, opts)
                        # A content-hash id already stands for its content.
                        digest = _fingerprint(record) if fields.get("answer_id") else b""
                        first = seen.get(record["id"])
                        if first is not None:
                            if first[0] == digest:
                                stats.duplicates += 1
                                continue
                            where = f"{tables[first[1]].path}:{first[2]}"
                            raise RowError(
                                f"answer id '{record['id']}' was already used at {where} "
                                "for a different answer",
                                line=line, column=headers.get("answer_id", "answer_id"),
                                fix="make the ids unique, or leave out --answer-id-col",
                            )
                        seen[record["id"]] = (digest, table_no, line)
                        check(record)
                    except RowError as exc:
                        if not opts.skip_invalid:
                            raise InputError(exc.problem, file=path, line=line,
                                             column=exc.column, fix=exc.fix) from None
                        if reject_fh is None:
                            reject_fh = _open_rejects(rejects)
                        stats.rejected += 1
                        reject_fh.write(dumps({"file": path, "line": line,
                                               "reason": exc.reason,
                                               "row": exc.cells if exc.cells else fields}))
                        reject_fh.write(b"\n")
                        continue
                    out.write(orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE))
                    stats.written += 1
        finally:
            if reject_fh is not None:
                reject_fh.close()
    return stats


def _tracked(table: Table, opts: GatherOptions, progress, stats: GatherStats):
    """_raw_rows, feeding the progress bar with the bytes read."""
    last = 0
    for n, item in enumerate(_raw_rows(table, opts, stats), start=1):
        if progress is not None and n % 4096 == 0:
            pos = table.position()
            progress(pos - last)
            last = pos
        yield item
    if progress is not None:
        progress(max(table.size - last, 0))


def _open_rejects(path: Path | None):
    if path is None:
        raise InputError("--skip-invalid needs somewhere to write rejected rows",
                         fix="pass --rejects PATH")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("wb")
