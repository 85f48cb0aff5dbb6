"""Whole JSONL files read at C speed with pyarrow's JSON reader, checked against the same
JSON Schema in bulk. Anything the bulk check cannot vouch for (a parse error, a wrong type,
an unknown field, a missing or empty required value) returns None, and the caller re-reads
the file with asag.records.read_jsonl, which names the offending line. Valid files give the
same values either way; 1M annotation records read in seconds instead of a minute."""

from __future__ import annotations

from pathlib import Path

_SIMPLE = {"string": "string", "integer": "int64", "number": "float64", "boolean": "bool_"}


def _arrow_type(prop: dict):
    import pyarrow as pa

    types = prop.get("type")
    types = [types] if isinstance(types, str) else list(types or [])
    concrete = [t for t in types if t != "null"]
    if len(concrete) == 1 and concrete[0] in _SIMPLE:
        return getattr(pa, _SIMPLE[concrete[0]])(), "null" in types
    return None, True  # mixed or nested: let pyarrow infer it


def read_table(path: str | Path, schema: dict):
    """A pyarrow Table of the file's records, or None when only the exact reader can judge."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.json as pj

    props = schema["properties"]
    fields, nullable = [], {}
    for name, prop in props.items():
        arrow, can_be_null = _arrow_type(prop)
        nullable[name] = can_be_null
        if arrow is not None:
            fields.append(pa.field(name, arrow))
    try:
        with open(path, "rb") as fh:
            if fh.read(3) == b"\xef\xbb\xbf":
                return None
        table = pj.read_json(str(path), parse_options=pj.ParseOptions(
            explicit_schema=pa.schema(fields), unexpected_field_behavior="infer"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError, UnicodeDecodeError):
        return None
    if table.num_rows == 0 or not set(table.column_names) <= set(props):
        return None
    for name in schema.get("required", []):
        if name not in table.column_names:
            return None
        column = table.column(name)
        if not nullable[name] and column.null_count:
            return None
    for name, prop in props.items():
        column = table.column(name) if name in table.column_names else None
        if column is None or not pa.types.is_string(column.type):
            continue
        length = pc.utf8_length(column)
        if "minLength" in prop and pc.any(pc.less(length, prop["minLength"])).as_py():
            return None
        if "maxLength" in prop and pc.any(pc.greater(length, prop["maxLength"])).as_py():
            return None
    return table


def line_of_record(path: str | Path, k: int) -> int:
    """Line number of the k-th (0-based) non-blank line: where row k of read_table came from."""
    with open(path, encoding="utf-8-sig") as fh:
        seen = -1
        for lineno, text in enumerate(fh, start=1):
            if text.strip():
                seen += 1
                if seen == k:
                    return lineno
    return 0
