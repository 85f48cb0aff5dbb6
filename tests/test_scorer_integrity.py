"""A scorer directory proves it is whole: every file the manifest lists is checked against
its sha256 when loading, and a damaged, missing, added or mixed file stops `asag score` with
one line naming it (no traceback, never a fallback to another tokenizer or config)."""
# ruff: noqa: F811  (pytest fixtures imported from tests/model_fixtures.py)

from __future__ import annotations

import csv
import json
import shutil

import pytest
from click.testing import CliRunner

from asag.cli import cli
from tests.model_fixtures import (  # noqa: F401  (fixtures)
    tiny_base,
    trained_scorer,
    yes_no_dir,
    yes_no_rows,
)


def _answers(path):
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["question", "reference_answer", "student_answer"])
        for r in yes_no_rows(6, seed=3):
            w.writerow([r["question"], r["reference_answer"], r["student_answer"]])
    return path


def _score(model, source, out):
    """`asag score` in-process; any exception other than a clean exit would be a traceback."""
    result = CliRunner().invoke(cli, ["score", str(model), str(source), "-o", str(out)])
    assert isinstance(result.exception, SystemExit | None), result.exception
    assert "Traceback" not in result.output
    return result


def _damages(model):
    """(description, how to damage a copy) for every file of the scorer."""
    manifest = json.loads((model / "asag_scorer.json").read_text())
    for name in sorted(manifest["files"]):
        yield f"delete {name}", lambda d, n=name: (d / n).unlink()
        yield f"corrupt {name}", lambda d, n=name: (d / n).write_bytes(
            (d / n).read_bytes()[:-7] + b"garbage")
        yield f"empty {name}", lambda d, n=name: (d / n).write_bytes(b"")
    yield "manifest not JSON", lambda d: (d / "asag_scorer.json").write_text("{oops")
    yield "manifest without scale", lambda d: _edit_manifest(d, lambda m: m.pop("scale"))
    yield "manifest without files", lambda d: _edit_manifest(d, lambda m: m.pop("files"))
    yield "manifest deleted", lambda d: (d / "asag_scorer.json").unlink()
    yield "a file added", lambda d: (d / "vocab.txt").write_text("[PAD]\n[UNK]\n")


def _edit_manifest(directory, change):
    manifest = json.loads((directory / "asag_scorer.json").read_text())
    change(manifest)
    (directory / "asag_scorer.json").write_text(json.dumps(manifest))


def test_the_manifest_lists_every_file_the_scorer_loads_with_its_hash(trained_scorer):
    from asag.train.directory import sha256_file

    manifest = json.loads((trained_scorer / "asag_scorer.json").read_text())
    assert manifest["format_version"] == 2
    files = manifest["files"]
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= set(files)
    assert all(sha256_file(trained_scorer / n) == h for n, h in files.items())


def test_every_file_deleted_or_corrupted_in_turn_stops_score_with_one_line(tmp_path,
                                                                           trained_scorer):
    source = _answers(tmp_path / "answers.csv")
    exit_zero, runs = [], 0
    for what, damage in _damages(trained_scorer):
        copy = tmp_path / f"m{runs}"
        shutil.copytree(trained_scorer, copy)
        damage(copy)
        result = _score(copy, source, tmp_path / f"out{runs}.csv")
        runs += 1
        if result.exit_code == 0:
            exit_zero.append(what)
            continue
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), (what, result.output)
        assert str(copy) in lines[0], (what, lines[0])
    assert runs >= 14 and exit_zero == []


def test_a_file_from_another_scorer_is_named(tmp_path, trained_scorer):
    copy = tmp_path / "m"
    shutil.copytree(trained_scorer, copy)
    config = json.loads((copy / "config.json").read_text())
    config["id2label"] = {"0": "correct", "1": "incorrect"}  # another run's (swapped) labels
    (copy / "config.json").write_text(json.dumps(config))
    result = _score(copy, _answers(tmp_path / "a.csv"), tmp_path / "o.csv")
    assert result.exit_code == 1
    assert "config.json is damaged or comes from another scorer" in result.output


def test_a_scorer_saved_before_file_hashes_loads_with_a_warning(tmp_path, trained_scorer):
    copy = tmp_path / "old"
    shutil.copytree(trained_scorer, copy)
    _edit_manifest(copy, lambda m: (m.pop("files"), m.update(format_version=1)))
    result = _score(copy, _answers(tmp_path / "a.csv"), tmp_path / "o.csv")
    assert result.exit_code == 0, result.output
    assert "saved before asag recorded file hashes" in result.output
    (copy / "config.json").write_text("{not json")  # unchecked, so loading itself must fail
    result = _score(copy, _answers(tmp_path / "a.csv"), tmp_path / "o2.csv")
    assert result.exit_code == 1 and "cannot load the model or its tokenizer" in result.output


def test_python_api_refuses_a_damaged_scorer_with_input_error(tmp_path, trained_scorer):
    from asag.errors import InputError
    from asag.train import Scorer

    copy = tmp_path / "m"
    shutil.copytree(trained_scorer, copy)
    (copy / "tokenizer.json").unlink()
    with pytest.raises(InputError, match="tokenizer.json is missing"):
        Scorer.load(copy)
