"""The data contracts in `schemas/`, and JSONL files that are read with line numbers and
written atomically, so a crash never leaves a half-written output behind."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import IO, Any

import orjson

from asag.errors import InputError

RAW_ANSWER = "raw_answer"
ANNOTATION = "annotation"
DATASET_ROW = "dataset_row"


def schema_text(name: str) -> str:
    return files("asag.schemas").joinpath(name).read_text(encoding="utf-8")


@cache
def schema(name: str) -> dict[str, Any]:
    return json.loads(schema_text(f"{name}.schema.json"))


@cache
def validator(name: str) -> Callable[[Any], Any]:
    import fastjsonschema

    return fastjsonschema.compile(schema(name))


class ShapeValidator:
    """Schema validation for records a program builds itself, at streaming speed.

    Such records differ only in which keys are present and the types of their values; the
    full schema check runs once per distinct shape (a few per file), which keeps a
    million-row gather near I/O speed. Value limits the shape does not fix (string lengths)
    are the builder's job, which also gives the user a better message than the schema's.
    """

    def __init__(self, name: str, shape: Callable[[dict], tuple] | None = None) -> None:
        self.check = validator(name)
        self.shape = shape or _shape
        self.seen: set[tuple] = set()

    def __call__(self, record: dict) -> None:
        shape = self.shape(record)
        if shape not in self.seen:
            self.check(record)
            self.seen.add(shape)


def _shape(record: dict) -> tuple:
    types = tuple(map(type, record.values()))
    nested = tuple(k for k, v in record.items() if type(v) is dict
                   for k in (k, *v)) if dict in types else ()
    return tuple(record), types, nested


def validation_error(name: str, record: Any) -> str | None:
    """The schema's complaint about `record`, or None when it conforms."""
    import fastjsonschema

    try:
        validator(name)(record)
    except fastjsonschema.JsonSchemaException as exc:
        return exc.message
    return None


def json_object(path: str | os.PathLike, lineno: int, text: str) -> dict:
    """One JSONL line as an object; anything else is a one-line error naming the line."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON ({exc.msg} at character {exc.pos + 1})",
                         file=str(path), line=lineno, fix="repair or delete that line") from None
    if not isinstance(obj, dict):
        raise InputError("expected one JSON object per line", file=str(path), line=lineno)
    return obj


def read_jsonl(
    path: str | os.PathLike, schema_name: str | None = None
) -> Iterator[tuple[int, dict]]:
    """Yield (line number, record); a corrupt or non-conforming line is a one-line error."""
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", file=str(path), fix="check the path")
    with path.open(encoding="utf-8-sig") as fh:
        lineno = 0
        try:
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                record = json_object(path, lineno, line)
                if schema_name is not None:
                    problem = validation_error(schema_name, record)
                    if problem:
                        raise InputError(
                            f"does not match schemas/{schema_name}.schema.json: {problem}",
                            file=str(path),
                            line=lineno,
                        )
                yield lineno, record
        except UnicodeDecodeError as exc:
            raise InputError(
                f"not valid UTF-8 (byte 0x{exc.object[exc.start]:02x})",
                file=str(path),
                line=lineno + 1,
                fix="re-save the file as UTF-8",
            ) from None


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike, mode: str = "w", *, private: bool = False
                  ) -> Iterator[IO]:
    """Write to a temporary file beside `path`, then rename it over `path` on success.
    `private` keeps it owner-only (0600), for credentials."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    if not private:  # mkstemp makes 0600; outputs are ordinary files
        os.chmod(tmp, 0o666 & ~umask())
    try:
        kwargs = {} if "b" in mode else {"encoding": "utf-8", "newline": "\n"}
        with os.fdopen(fd, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def sha256_file(path: str | os.PathLike) -> str:
    """The file's SHA-256 (hex), read in 1 MiB blocks: the inputs a dataset was built from,
    the files a scorer directory seals, the model and input a resumed `asag score` checks."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def umask() -> int:
    """The process umask (reading it means setting it; it is put straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def dumps(record: dict) -> bytes:
    """One JSONL line without its newline: UTF-8 text kept as is, key order as given."""
    return orjson.dumps(record)


def write_jsonl(path: str | os.PathLike, records, schema_name: str | None = None) -> int:
    """Atomically write records (validated when a schema is named); returns the count."""
    check = validator(schema_name) if schema_name else None
    n = 0
    with atomic_writer(path, "wb") as fh:
        for record in records:
            if check is not None:
                check(record)
            fh.write(orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE))
            n += 1
    return n
