"""The answer-table layer: which columns of a table hold an answer's fields, how its text is
normalised, and how it gets its answer id and question id. `asag gather`, `asag score`,
`asag build-dataset`'s table input and `asag annotate simulate` all read answers through
here, so the same rows get the same ids, whichever command reads them.

Reading the file itself (formats, encodings, line numbers) is asag.tables'."""

from __future__ import annotations

import hashlib
import unicodedata

from asag.errors import InputError
from asag.tables import Table, alias_index, column_index

# The three texts of an answer, in the order the scorer's template and the records use.
TEXT_FIELDS = ("question", "reference_answer", "student_answer")
# Field -> header names recognised without a mapping option (compared via header_key).
ALIASES: dict[str, tuple[str, ...]] = {
    "student_answer": ("student_answer", "answer", "response", "student_response",
                       "answer_text", "valasz", "hallgatoi_valasz", "student_answer_text"),
    "question": ("question", "question_text", "prompt", "kerdes", "question_body"),
    "question_id": ("question_id", "qid", "item_id", "question_no", "question_number",
                    "kerdes_id"),
    "reference_answer": ("reference_answer", "reference", "model_answer", "right_answer",
                         "correct_answer", "desired_answer", "expected_answer", "answer_key",
                         "ref_answer", "referencia", "referencia_valasz", "minta_valasz",
                         "helyes_valasz"),
    "answer_id": ("answer_id", "id", "response_id", "submission_id"),
    "score": ("score", "label", "grade", "points", "mark", "pontszam", "pont"),
    "split": ("split",),
    # Moodle's responses report (Email address, Username, ID number), Google Forms (Email
    # Address, Username), Neptun (Hungarian universities), plain tables
    "student": ("student_id", "student", "username", "user_name", "user", "email_address",
                "email", "e_mail", "e_mail_address", "id_number", "neptun_kod", "neptun",
                "hallgato", "user_id"),
}
# Field -> the option that names its column (asag gather's; asag score shares the text ones).
OPTION = {
    "student_answer": "--answer-col",
    "question": "--question-col",
    "question_id": "--question-id-col",
    "reference_answer": "--reference-col",
    "answer_id": "--answer-id-col",
    "score": "--score-col",
    "split": "--split-col",
    "student": "--student-col",
}
MAX_ID = 256  # schemas/raw_answer.schema.json
MAX_CHARS = 20_000  # per text cell: gather's default --max-chars, and push's limit


def resolve_columns(table: Table, given: dict[str, str | None], *, fields=tuple(ALIASES),
                    required=("student_answer",), need_question=True,
                    options=OPTION) -> dict[str, int]:
    """Field -> column index for `fields`: the user's mapping (`given`, exact else loose
    header) first, then the known aliases. `required` fields, and a question (its text or an
    id) if `need_question`, must be found; the error names the option (`options`) that maps
    each."""
    found: dict[str, int] = {}
    for name, header in given.items():
        if not header:
            continue
        index = column_index(table.columns, header)
        if index is None:
            raise InputError(
                f"no column '{header}' (given with {options[name]}); columns found: "
                + ", ".join(table.columns),
                file=str(table.path),
                fix=f"pass one of them to {options[name]}",
            )
        found[name] = index
    for name in fields:
        if name not in found:
            index = alias_index(table.columns, ALIASES[name], taken=found.values())
            if index is not None:
                found[name] = index
    missing = [n for n in required if n not in found]
    if need_question and "question" not in found and "question_id" not in found \
            and "question" not in missing:
        missing.append("question")
    if missing:
        hints = ", ".join(f"{options[n]} COLUMN" if n in options else f"a column headed '{n}'"
                          for n in missing)
        raise InputError(
            f"missing required column(s) {', '.join(missing)}; columns found: "
            + ", ".join(table.columns),
            file=str(table.path),
            fix=f"name them with {hints}",
        )
    return found


def normalize(text: str) -> str:
    """NFC, whitespace runs collapsed to one space, ends trimmed."""
    if not text.isascii() and not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    return " ".join(text.split())


_REPEATED: dict[str, str] = {}


def normalize_repeated(text: str) -> str:
    """normalize() for questions and references, which repeat on every row of a question."""
    value = _REPEATED.get(text)
    if value is None:
        if len(_REPEATED) > 100_000:
            _REPEATED.clear()
        value = _REPEATED[text] = normalize(text)
    return value


def question_id(given: str | None, question: str) -> str:
    """The source's question id (normalised), else one hashed from the normalised question
    text. (The hash is gather's since its first release: datasets already built carry these
    ids, and `--split-by question` keeps each in its split.)"""
    qid = normalize_repeated(given) if given else ""
    return qid or "q" + hashlib.blake2b(question.encode(), digest_size=6).hexdigest()


def answer_id(given: str | None, question_key: str, reference: str, answer: str,
              student: str | None = None) -> str:
    """The source's answer id (normalised), else 'h' + a content hash of the question id, the
    normalised reference and answer and, when the table names students, the student: the
    same on every re-run, whatever the row order. Without a student the hash is the one
    gather always gave (datasets already built keep their ids); with one, two students who
    wrote the same text are two answers."""
    aid = normalize(given) if given else ""
    if aid:
        return aid
    parts = (question_key, reference, answer) + ((student,) if student else ())
    return "h" + hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).hexdigest()
