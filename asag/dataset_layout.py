"""The on-disk contract of a built dataset directory, shared by build-dataset (writer) and
train / evaluate (readers):

    DIR/dataset_dict.json, DIR/<split>/...   datasets.DatasetDict.save_to_disk(DIR)
    DIR/parquet/<split>.parquet              the same splits as Parquet
    DIR/README.md                            dataset card (Hugging Face YAML header)
    DIR/manifest.json                        see MANIFEST_KEYS

Splits are named `train`, `validation`, `test` (any may be absent). Each row follows
schemas/dataset_row.schema.json: id, question_id, question, reference_answer,
student_answer, score (float32 on numeric scales; ClassLabel index on label scales, names =
the scale's labels lowest first), annotator_scores (sequence of float32), num_annotators.
"""

from __future__ import annotations

import json
from pathlib import Path

from asag.errors import InputError
from asag.scale import Scale

MANIFEST = "manifest.json"
PARQUET_DIR = "parquet"
SPLITS = ("train", "validation", "test")
# Keys every manifest has; writers may add more.
MANIFEST_KEYS = ("format_version", "fingerprint", "scale", "aggregation", "split", "counts")


def read_manifest(directory: str | Path) -> dict:
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise InputError(
            "not an asag dataset directory (no manifest.json)",
            file=str(directory),
            fix="build one with 'asag build-dataset'",
        )
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"manifest is not valid JSON ({exc.msg})", file=str(path)) from None


def dataset_scale(manifest: dict) -> Scale:
    return Scale.parse(manifest["scale"])


def load_dataset_dir(directory: str | Path):
    """(DatasetDict, manifest) of a built dataset directory."""
    from datasets import load_from_disk

    manifest = read_manifest(directory)
    try:
        return load_from_disk(str(directory)), manifest
    except FileNotFoundError:  # a manifest without the dataset's files beside it
        raise InputError("has a manifest.json but no dataset files", file=str(directory),
                         fix="rebuild it with 'asag build-dataset'") from None
