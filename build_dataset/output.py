"""Writing a built dataset directory (the contract in asag/dataset_layout.py) atomically:
Arrow tables per split with explicit Features, save_to_disk, Parquet per split, and a content
fingerprint computed from canonical bytes of the rows, so it does not depend on library
versions or on the order the inputs came in."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from asag.dataset_layout import MANIFEST, PARQUET_DIR
from asag.records import DATASET_ROW, atomic_writer, schema, umask, validation_error
from asag.scale import Scale

FORMAT_VERSION = 1
# The row contract, schemas/dataset_row.schema.json: its columns, in its order, and their
# types make the Features; every built split is checked against it (check_rows).
ROW = schema(DATASET_ROW)
COLUMNS = tuple(ROW["required"])
STRING_COLUMNS = tuple(c for c in COLUMNS if ROW["properties"][c]["type"] == "string")
_ARROW = {"string": "string", "integer": "int32", "number": "float32"}


def features(scale: Scale):
    """The Features of schemas/dataset_row.schema.json; the score's from the scale (float32 on
    numeric scales, a ClassLabel of the scale's labels, worst first, on label scales)."""
    from datasets import ClassLabel, Features, List, Value

    def feature(name: str, prop: dict):
        if name == "score":
            return Value("float32") if scale.is_numeric else ClassLabel(names=list(scale.labels))
        if prop["type"] == "array":
            return List(Value(_ARROW[prop["items"]["type"]]))
        return Value(_ARROW[prop["type"]])

    return Features({c: feature(c, ROW["properties"][c]) for c in COLUMNS})


def check_rows(table, split: str) -> None:
    """A split's Arrow table against schemas/dataset_row.schema.json: the string limits on
    every row (vectorised), the whole schema on the first row. A failure is asag's bug."""
    import pyarrow.compute as pc

    for name in STRING_COLUMNS:
        low = ROW["properties"][name].get("minLength")
        if low and table.num_rows and pc.min(pc.utf8_length(table.column(name))).as_py() < low:
            raise AssertionError(f"split {split}: a {name} shorter than {low} characters "
                                 "breaks schemas/dataset_row.schema.json")
    if table.num_rows:
        problem = validation_error(DATASET_ROW, table.slice(0, 1).to_pylist()[0])
        if problem:
            raise AssertionError(f"split {split}: {problem} (schemas/dataset_row.schema.json)")


def split_table(rows: np.ndarray, items: dict, score: np.ndarray, counts: np.ndarray,
                starts: np.ndarray, flat_scores: np.ndarray, feats):
    """Arrow table of the answers at positions `rows` (already in output order).
    Each answer's teacher scores are flat_scores[starts[i] : starts[i] + counts[i]]."""
    import pyarrow as pa

    lens = counts[rows]
    offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int32)
    flat = np.repeat(starts[rows] - offsets[:-1], lens) + np.arange(offsets[-1])
    columns = {c: pa.array(items[c][rows], type=pa.string()) for c in STRING_COLUMNS}
    columns["score"] = pa.array(score[rows], type=feats.arrow_schema.field("score").type)
    columns["annotator_scores"] = pa.ListArray.from_arrays(
        pa.array(offsets), pa.array(flat_scores[flat], type=pa.float32()))
    columns["num_annotators"] = pa.array(lens, type=pa.int32())
    return pa.table(columns, schema=feats.arrow_schema)


def _string_bytes(array) -> bytes:
    """Each string's length and the UTF-8 bytes of them all: canonical, whatever the slicing
    or buffer padding of the Arrow array."""
    import pyarrow as pa

    array = array.cast(pa.large_string())
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int64)[
        array.offset:array.offset + len(array) + 1]
    data = array.buffers()[2]
    body = b"" if data is None else data.to_pybytes()[offsets[0]:offsets[-1]]
    return np.diff(offsets).astype("<i8").tobytes() + body


def fingerprint(tables: dict, scale: Scale, settings: dict) -> str:
    """sha256 over the format version, scale, build settings and every row's values."""
    h = hashlib.sha256()
    h.update(json.dumps({"format_version": FORMAT_VERSION, "scale": scale.spec, **settings},
                        sort_keys=True).encode())
    for name in sorted(tables):
        table = tables[name]
        h.update(f"\x1e{name}\x1e{table.num_rows}".encode())
        for column in COLUMNS:
            h.update(f"\x1d{column}".encode())
            array = table.column(column).combine_chunks()
            if column in STRING_COLUMNS:
                h.update(_string_bytes(array))
            elif column == "annotator_scores":
                h.update(np.asarray(array.offsets).astype("<i8").tobytes())
                h.update(np.asarray(array.values).astype("<f4").tobytes())
            else:
                h.update(array.to_numpy(zero_copy_only=False).astype("<f8").tobytes())
    return h.hexdigest()


def write_parquet(table, path: Path) -> None:
    """One Parquet file per split; the schema carries the Features so `load_dataset`
    recovers ClassLabel names. Same table and pyarrow version -> the same bytes."""
    import pyarrow.parquet as pq

    pq.write_table(table, path, compression="snappy", write_statistics=True)


@contextlib.contextmanager
def staged_directory(final: Path):
    """A temporary directory beside `final` that replaces it only when the block succeeds,
    so a crash never leaves a half-built dataset where a good one was."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    try:
        yield tmp
        _umask_permissions(tmp)
        if final.exists():
            old = final.with_name(f".{final.name}.old-{os.getpid()}")
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _umask_permissions(root: Path) -> None:
    """mkdtemp / mkstemp make private files; a dataset is read by others (the train step)."""
    mask = umask()
    for folder, _, files in os.walk(root):
        os.chmod(folder, 0o777 & ~mask)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o666 & ~mask)


def write_dataset(directory: Path, tables: dict, feats, manifest: dict, card: str,
                  extra: dict | None = None) -> None:
    """Fill `directory` (a staged one) with save_to_disk, Parquet, card and manifest."""
    from datasets import Dataset, DatasetDict, DatasetInfo, NamedSplit, disable_progress_bars
    from datasets.table import InMemoryTable

    from asag.console import progress

    disable_progress_bars()  # one bar of ours instead of one per split

    dsd = DatasetDict({
        name: Dataset(InMemoryTable(table), info=DatasetInfo(features=feats),
                      split=NamedSplit(name), fingerprint=f"{manifest['fingerprint'][:16]}{name}")
        for name, table in tables.items()
    })
    dsd.save_to_disk(str(directory))
    (directory / PARQUET_DIR).mkdir()
    for name in progress(list(tables), label="writing Parquet"):
        write_parquet(tables[name], directory / PARQUET_DIR / f"{name}.parquet")
    with atomic_writer(directory / "README.md") as fh:
        fh.write(card)
    with atomic_writer(directory / MANIFEST) as fh:
        fh.write(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    for name, writer in (extra or {}).items():
        writer(directory / name)
