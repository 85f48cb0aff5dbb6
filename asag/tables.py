"""Tabular sources (CSV, TSV, JSONL, Excel) read row by row with their line numbers, so
every command that takes a table reports bad input the same way and memory stays flat."""

from __future__ import annotations

import csv
import json
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from asag.errors import InputError
from asag.records import json_object

FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".txt": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
}
FORMAT_NAMES = ("csv", "tsv", "jsonl", "xlsx")
# Far above any real answer, but a cap keeps one broken quote from swallowing a file.
csv.field_size_limit(64 * 1024 * 1024)


@dataclass
class Table:
    """Header plus an iterator of (line number, cells); cells align with `columns`."""

    path: Path
    format: str
    columns: list[str]
    rows: Iterator[tuple[int, list[str | None]]]
    position: callable = field(default=lambda: 0)  # bytes consumed so far (for progress)
    size: int = 0
    encoding: str = "utf-8"


def detect_format(path: Path, fmt: str | None) -> str:
    if fmt:
        return fmt
    suffix = path.suffix.lower()
    if suffix in FORMATS:
        return FORMATS[suffix]
    raise InputError(
        f"unknown format '{suffix or path.name}'",
        file=str(path),
        fix="give a .csv, .tsv, .jsonl or .xlsx file, or name the format with --format",
    )


def open_table(path: str | Path, fmt: str | None = None, encoding: str | None = None) -> Table:
    """A table with its header checked. `encoding` None: UTF-8, else the legacy encoding
    (cp1250, cp1252, ...) that charset-normalizer finds, announced on stderr."""
    path = Path(path)
    if not path.exists():
        raise InputError("file not found", file=str(path), fix="check the path")
    if path.is_dir():
        raise InputError("is a directory, not a file", file=str(path))
    fmt = detect_format(path, fmt)
    if fmt == "xlsx":
        return _checked(_open_xlsx(path))
    if encoding is None:
        encoding = _sniff_encoding(path)
    table = _open_text(path, fmt, encoding)
    table.encoding = encoding
    return _checked(table)


def _open_text(path: Path, fmt: str, encoding: str) -> Table:
    enc = "utf-8-sig" if encoding.replace("_", "-").lower() in ("utf-8", "utf8") else encoding
    try:
        fh = path.open(encoding=enc, newline="")
    except LookupError:
        raise InputError(
            f"unknown encoding '{encoding}'", file=str(path), fix="pass e.g. --encoding cp1250"
        ) from None
    size = path.stat().st_size
    if fmt == "jsonl":
        return _open_jsonl(path, fh, size, encoding)
    return _open_delimited(path, fh, fmt, size, encoding)


# Legacy encodings of the exports asag meets (Hungarian Excel writes cp1250).
LEGACY_ENCODINGS = ("cp1250", "cp1252", "iso8859_2", "latin_1")
SNIFF_BYTES = 1 << 20


def _sniff_encoding(path: Path) -> str:
    """'utf-8' when the file's first MiB is UTF-8; else the legacy encoding that
    charset-normalizer finds, said on stderr (a later bad byte is still a one-line error)."""
    import codecs

    with path.open("rb") as fh:
        head = fh.read(SNIFF_BYTES)
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=len(head) < SNIFF_BYTES)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    detected = _detect_legacy(head)
    if detected is None:
        return "utf-8"  # reading fails with the line of the first bad byte
    from asag.console import info

    info(f"{path}: not UTF-8; read as {detected} (detected; pass --encoding to choose another)")
    return detected


def _detect_legacy(data: bytes) -> str | None:
    from charset_normalizer import from_bytes

    best = from_bytes(data, cp_isolation=list(LEGACY_ENCODINGS)).best()
    return None if best is None else best.encoding


def _decode_error(path: Path, exc: UnicodeDecodeError, encoding: str) -> InputError:
    line, byte = _first_undecodable(path, encoding)
    with path.open("rb") as fh:
        guess = _detect_legacy(fh.read(SNIFF_BYTES * 4))
    hint = f"it looks like {guess}: pass --encoding {guess}" if guess and guess != encoding else (
        "pass --encoding cp1250 (Central European, e.g. Hungarian Excel) or cp1252 (Western)")
    return InputError(
        f"not valid {encoding} text (byte 0x{byte:02x})",
        file=str(path),
        line=line,
        fix=f"{hint}, or re-save the file as UTF-8",
    )


def _first_undecodable(path: Path, encoding: str) -> tuple[int, int]:
    """Line number and value of the first byte the encoding rejects (decoders read ahead,
    so the position the exception reports is not the line)."""
    import codecs

    decoder = codecs.getincrementaldecoder(encoding)()
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                decoder.decode(raw)
            except UnicodeDecodeError as exc:
                return lineno, exc.object[exc.start]
    return 1, 0


def _open_delimited(path: Path, fh, fmt: str, size: int, encoding: str) -> Table:
    try:
        first = fh.readline()
    except UnicodeDecodeError as exc:
        fh.close()
        raise _decode_error(path, exc, encoding) from None
    if not first.strip():
        fh.close()
        raise InputError("the file is empty (no header row)", file=str(path),
                         fix="export it again with a header row")
    if fmt == "tsv":
        delimiter = "\t"
    else:  # Excel in many locales writes ';'
        delimiter = max([",", ";", "\t"], key=first.count)
    header = next(csv.reader([first], delimiter=delimiter))
    columns = [c.strip() for c in header]

    def rows() -> Iterator[tuple[int, list[str | None]]]:
        reader = csv.reader(fh, delimiter=delimiter, strict=True)
        start = 2
        try:
            with fh:
                for cells in reader:
                    if cells:
                        yield start, cells
                    start = reader.line_num + 2  # +1 for the header read above
        except UnicodeDecodeError as exc:
            raise _decode_error(path, exc, encoding) from None
        except csv.Error as exc:
            problem = str(exc)
            if "unexpected end of data" in problem:
                problem = "a quoted field that starts on this line is never closed"
            raise InputError(f"unreadable CSV ({problem})", file=str(path), line=start,
                             fix="check the quotes in that row") from None

    return Table(path, fmt, columns, rows(), position=lambda: fh.buffer.tell(), size=size)


def _open_jsonl(path: Path, fh, size: int, encoding: str) -> Table:
    lines = enumerate(fh, start=1)
    first = None
    try:
        for lineno, text in lines:
            if text.strip():
                first = (lineno, json_object(path, lineno, text))
                break
    except UnicodeDecodeError as exc:
        raise _decode_error(path, exc, encoding) from None
    if first is None:
        fh.close()
        raise InputError("the file is empty", file=str(path))
    columns = list(first[1])

    def rows() -> Iterator[tuple[int, list[str | None]]]:
        lineno = first[0]
        try:
            with fh:
                yield lineno, [_cell(first[1].get(c)) for c in columns]
                for lineno, text in lines:
                    if not text.strip():
                        continue
                    obj = json_object(path, lineno, text)
                    for key in obj:
                        if key not in columns:
                            columns.append(key)
                    yield lineno, [_cell(obj.get(c)) for c in columns]
        except UnicodeDecodeError as exc:
            raise _decode_error(path, exc, encoding) from None

    return Table(path, "jsonl", columns, rows(), position=lambda: fh.buffer.tell(), size=size)


def _open_xlsx(path: Path) -> Table:
    import zipfile

    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, OSError, KeyError, ValueError) as exc:
        raise InputError(f"not a readable Excel .xlsx workbook ({exc})", file=str(path),
                         fix="open it in Excel or LibreOffice and save it as .xlsx") from None
    sheet = book.worksheets[0]
    it = sheet.iter_rows(values_only=True)
    header = next(it, None)
    if header is None:
        book.close()
        raise InputError("the first sheet is empty (no header row)", file=str(path))
    columns = ["" if c is None else str(c).strip() for c in header]
    while columns and not columns[-1]:
        columns.pop()

    def rows() -> Iterator[tuple[int, list[str | None]]]:
        try:
            for lineno, values in enumerate(it, start=2):
                cells = [_cell(v) for v in values]
                while len(cells) > len(columns) and cells[-1] in (None, ""):
                    cells.pop()
                if any(c not in (None, "") for c in cells):
                    yield lineno, cells
        finally:
            book.close()

    return Table(path, "xlsx", columns, rows(), size=path.stat().st_size)


def _cell(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float)):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return json.dumps(value, ensure_ascii=False)


def _checked(table: Table) -> Table:
    """A header naming the same column twice (loosely, as lookups compare) is an error:
    otherwise the first would silently win."""
    seen: dict[str, int] = {}
    for position, name in enumerate(table.columns, start=1):
        key = header_key(name)
        if not key:
            continue
        if key in seen:
            first = seen[key]
            raise InputError(
                f"the header names the same column twice: column {first} "
                f"('{table.columns[first - 1]}') and column {position} ('{name}')",
                file=str(table.path), line=1, fix="rename or delete one of them")
        seen[key] = position
    return table


def column_index(columns: list[str], name: str) -> int | None:
    """Where a header a user named sits: exact, else loosely (header_key) matched."""
    if name in columns:
        return columns.index(name)
    keys = [header_key(c) for c in columns]
    key = header_key(name)
    return keys.index(key) if key in keys else None


def alias_index(columns: list[str], aliases, taken=()) -> int | None:
    """The first column whose loose header matches one of `aliases` (already header_keys)."""
    keys = [header_key(c) for c in columns]
    for alias in aliases:
        if alias in keys and keys.index(alias) not in taken:
            return keys.index(alias)
    return None


def header_key(name: str) -> str:
    """Compare headers loosely: 'Reference Answer', 'reference_answer', 'Referencia válasz'."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return "_".join("".join(ch if ch.isalnum() else " " for ch in text).split())


# -- writing tables people open in a spreadsheet ------------------------------------------

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
RAW_CSV_HELP = ("Write text cells exactly as they are, for programs (default: cells starting "
                "with = + - @ get a leading ' so Excel or LibreOffice never runs them).")


def spreadsheet_safe(value):
    """A text cell that a spreadsheet would run as a formula (= + - @, tab, CR first), with a
    leading ' (OWASP's advice on CSV injection); numbers and other text unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_START) and not _NUMBER.fullmatch(
            value):
        return "'" + value
    return value


def csv_rows(rows, *, raw: bool = False):
    """`rows` (lists of cells) made spreadsheet-safe unless `raw`: every CSV/TSV writer with
    students' or teachers' text goes through here."""
    if raw:
        yield from rows
        return
    for row in rows:
        yield [spreadsheet_safe(cell) for cell in row]


def safe_frame(frame, *, raw: bool = False):
    """A pandas DataFrame's text columns made spreadsheet-safe unless `raw` (a copy)."""
    if raw:
        return frame
    frame = frame.copy()
    for column in frame.columns:
        if frame[column].dtype == object or str(frame[column].dtype).startswith("str"):
            frame[column] = frame[column].map(spreadsheet_safe)
    return frame
