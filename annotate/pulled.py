"""The pulled annotation records and the state beside them, for `annotate pull`: reading the
previous output, merging what a pull re-read into it (an exported task's annotations
replace all earlier records of that task, so edits replace and deletions show), counting
what is new, edited and gone, and writing both files. The output is written atomically
before its state, so a crash between the two only makes the next pull fetch a little more
again: nothing is lost or doubled. Nothing here talks to Label Studio (snapshot.py)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson
from fastjsonschema import JsonSchemaException

from asag.annotate.snapshot import key
from asag.errors import InputError
from asag.records import ANNOTATION, ShapeValidator, atomic_writer

STATE_SUFFIX = ".state.json"


def state_path(output: Path) -> Path:
    return output.with_name(output.name + STATE_SUFFIX)


def merge(old: dict[tuple, dict], fresh: dict[tuple, dict], task_ids: set[int]
          ) -> tuple[dict[tuple, dict], tuple[int, int, list[dict]]]:
    """(old records minus those of re-read tasks plus the re-read ones, what changed: see
    `changes`)."""
    merged = {k: r for k, r in old.items() if r["task_id"] not in task_ids}
    merged.update(fresh)
    re_read = {k: r for k, r in old.items() if r["task_id"] in task_ids}
    return merged, changes(re_read, fresh)


def changes(old: dict[tuple, dict], merged: dict[tuple, dict]) -> tuple[int, int, list[dict]]:
    """(new, edited, deleted records), counted in annotations (an answer group's members
    share one; a record of a member that a split removed is not a deleted annotation)."""
    now, before = {k[0] for k in merged}, {k[0] for k in old}
    edited = ({k[0] for k, r in merged.items() if k[0] in before and old.get(k) != r}
              | {k[0] for k in old if k[0] in now and k not in merged})
    deleted = {r["annotation_id"]: _deletion(r) for k, r in old.items() if k[0] not in now}
    return len(now - before), len(edited), list(deleted.values())


def _deletion(record: dict) -> dict:
    return {k: record[k] for k in ("annotation_id", "answer_id", "task_id", "annotator")}


def read_output(output: Path, strict: bool = True) -> dict[tuple, dict] | None:
    """The previous output by annotation id (our own records: a shape check suffices)."""
    if not output.is_file():
        return None
    check, records = ShapeValidator(ANNOTATION), {}
    with output.open("rb") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                record = orjson.loads(line)
                if not isinstance(record, dict) or "annotation_id" not in record:
                    raise JsonSchemaException("no annotation_id")
                check(record)
            except (orjson.JSONDecodeError, JsonSchemaException) as exc:
                if not strict:
                    return None
                raise InputError(f"not an annotation record ({exc})", file=str(output),
                                 line=lineno, fix="re-run with --full to rewrite it") from None
            records[key(record)] = record
    return records


def write_output(output: Path, records: dict[tuple, dict],
                 fresh: dict[tuple, dict] | None = None) -> None:
    """The records, sorted by answer and annotation id, written atomically; those in `fresh`
    (all when None) are checked first (the others were, when read_output read them)."""
    check = ShapeValidator(ANNOTATION)
    for record in (records if fresh is None else fresh).values():
        check(record)
    with atomic_writer(output, "wb") as fh:
        for record in sorted(records.values(), key=lambda r: (r["answer_id"], r["annotation_id"])):
            fh.write(orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE))


def read_state(output: Path, url: str, project_id: int) -> dict | None:
    """The state of the last pull into `output` from this server's project, else None."""
    try:
        state = json.loads(state_path(output).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    if state.get("url") != url or state.get("project_id") != project_id:
        return None
    return state


def write_state(output: Path, url: str, project: dict, watermark: datetime, foreign: dict,
                deleted_now: list[dict]) -> None:
    """The state: the next incremental pull reads tasks updated after `watermark`."""
    path = state_path(output)
    previous = {}
    if path.is_file():
        try:
            previous = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            previous = {}
    deleted = (previous.get("deleted", []) if previous.get("project_id") == project["id"] else [])
    state = {
        "url": url,
        "project_id": project["id"],
        "project": project["title"],
        # Label Studio compares this with tasks' updated_at (UTC)
        "watermark": watermark.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "pulled_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "foreign": foreign,
        "deleted": deleted + deleted_now,  # a record of what disappeared, for audits
    }
    with atomic_writer(path) as fh:
        json.dump(state, fh, indent=1)
        fh.write("\n")
