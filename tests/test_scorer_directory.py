"""One owner for the scorer directory (train/directory.py): its manifest follows
schemas/scorer_manifest.schema.json, reads back exactly as written (a later version's keys
and explicit nulls kept, so a directory's version does not change), and a bad field is one
line naming the file and the field."""
# ruff: noqa: F811  (pytest fixtures imported from tests/model_fixtures.py)

from __future__ import annotations

import dataclasses
import json
import shutil

import pytest

from asag.errors import InputError
from asag.records import schema, validator
from asag.train.directory import MANIFEST, ScorerManifest, read, update_calibration, version
from tests.model_fixtures import (  # noqa: F401  (fixtures)
    tiny_base,
    trained_scorer,
    yes_no_dir,
)


def test_a_trained_scorers_manifest_follows_the_schema_and_uses_only_its_fields(
        trained_scorer):
    manifest = json.loads((trained_scorer / MANIFEST).read_text(encoding="utf-8"))
    validator("scorer_manifest")(manifest)
    properties = schema("scorer_manifest")["properties"]
    assert set(manifest) <= set(properties)  # every key asag writes is documented
    assert {"format_version", "task", "scale", "template", "max_length", "dataset", "metrics",
            "training", "training_args", "memory", "calibration", "files"} <= set(manifest)
    assert set(ScorerManifest.fields()) == set(properties)


def _old_format(trained_scorer, tmp_path):
    """A copy whose manifest is written as the code before train/directory.py wrote it
    (json.dump, indent 2, its key order), with a null calibration (what `--update-from`
    wrote when the source had none) and a key from a later version."""
    copy = tmp_path / "old"
    shutil.copytree(trained_scorer, copy)
    current = json.loads((copy / MANIFEST).read_text(encoding="utf-8"))
    order = ["format_version", "task", "scale", "template", "max_length", "base_model",
             "base_model_source", "dataset", "training_args", "training", "metrics", "memory",
             "calibration", "files"]
    old = {k: current[k] for k in order if k in current}
    old["calibration"] = None
    old["served_by"] = {"a later version's key": [1, 2]}
    (copy / MANIFEST).write_text(json.dumps(old, indent=2, ensure_ascii=False),
                                 encoding="utf-8")
    return copy, old


def test_a_directory_in_the_current_format_loads_with_its_version_unchanged(trained_scorer,
                                                                            tmp_path):
    import hashlib

    from asag.train.scorer import Scorer

    copy, old = _old_format(trained_scorer, tmp_path)
    scorer = Scorer.load(copy)
    assert scorer.manifest == old and scorer.calibration is None
    digest = hashlib.sha256(json.dumps(old, sort_keys=True, default=str).encode()).hexdigest()
    assert scorer.version == f"old@{digest[:8]}"  # what predictions and checks carry
    assert scorer.score("why?", "because the force pulls it", "yes it moves").score in (
        "correct", "incorrect")


def test_update_calibration_keeps_the_files_and_a_later_versions_keys(trained_scorer,
                                                                      tmp_path):
    copy, old = _old_format(trained_scorer, tmp_path)
    fitted = json.loads((trained_scorer / MANIFEST).read_text())["calibration"]
    update_calibration(copy, fitted)
    again = json.loads((copy / MANIFEST).read_text(encoding="utf-8"))
    assert again == {**old, "calibration": fitted}
    assert version(copy, read(copy)) != version(copy, old)  # a refit is a new version


@pytest.mark.parametrize("change,message", [
    (lambda m: m.update(max_length="64"), "lacks a valid max_length"),
    (lambda m: m.pop("template"), "lacks a valid template"),
    (lambda m: m.update(memory=3), "asag_scorer.json: memory must be object or null"),
    (lambda m: m.update(files={"config.json": "not a hash"}),
     "asag_scorer.json: files.config.json must match pattern"),
    (lambda m: m.update(task="ranking"), "asag_scorer.json: task must be one of"),
])
def test_a_bad_manifest_field_is_one_line_naming_the_file_and_the_field(trained_scorer,
                                                                        tmp_path, change,
                                                                        message):
    copy = tmp_path / "bad"
    copy.mkdir()
    manifest = json.loads((trained_scorer / MANIFEST).read_text(encoding="utf-8"))
    change(manifest)
    (copy / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read(copy)
    line = caught.value.message
    assert line.startswith(f"{copy / MANIFEST}: ") and message in line
    assert line.endswith("; restore the scorer directory from its source, or retrain")
    assert "\n" not in line


def test_round_trip_keeps_unknown_keys_and_explicit_nulls():
    data = {"scale": "0-5", "template": "{question} [SEP] {student_answer}", "max_length": 64,
            "calibration": None, "future": {"x": 1}}
    manifest = ScorerManifest.from_dict(data)
    assert manifest.extra == {"future": {"x": 1}} and manifest.to_dict() == data
    changed = dataclasses.replace(manifest, calibration={"fitted_on": {}})
    assert changed.to_dict()["calibration"] == {"fitted_on": {}}
