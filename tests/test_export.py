"""`asag export --onnx`: ONNX Runtime (with only `tokenizers` for the text) gives PyTorch's
score on every answer, on label and numeric scales, and the docs' standalone example runs
as printed."""
# ruff: noqa: F811  (pytest fixtures imported from tests/model_fixtures.py)

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.model_fixtures import (  # noqa: F401  (fixtures)
    numeric_dataset,
    plain_scorer,
    run_cli,
    tiny_base,
    trained_on_fingerprint,
    trained_scorer,
    yes_no_dir,
    yes_no_rows,
)
from tests.serve_helpers import items

SERVING = Path(__file__).resolve().parents[1] / "docs" / "serving.md"


@pytest.fixture(scope="module")
def exported(tmp_path_factory, plain_scorer) -> Path:
    out = tmp_path_factory.mktemp("onnx") / "scorer-onnx"
    result = run_cli("export", plain_scorer, "--onnx", out, "--int8")
    assert result.exit_code == 0, result.output
    assert "model.int8.onnx" in result.output
    return out


def test_onnx_runtime_gives_pytorchs_label_on_every_answer(exported, plain_scorer):
    from asag.train import Scorer
    from asag.train.export import agreement

    scorer = Scorer.load(plain_scorer)
    rows = items(yes_no_rows(80, seed=41))
    fp32 = agreement(scorer, exported, rows)
    assert fp32["same_score"] == 1.0 and fp32["max_abs_difference"] < 1e-3
    assert agreement(scorer, exported, rows, int8=True)["same_score"] >= 0.9


def test_export_describes_inputs_outputs_text_and_scale(exported, plain_scorer):
    spec = json.loads((exported / "asag_onnx.json").read_text())
    assert spec["scale"] == {"kind": "labels", "spec": "incorrect,correct",
                             "labels": ["incorrect", "correct"]}
    assert set(spec["inputs"]) == {"input_ids", "attention_mask", "token_type_ids"}
    assert spec["outputs"]["logits"]["shape"] == ["batch", 2]
    assert spec["text"]["second"] == "{student_answer}"
    assert spec["model_version"].startswith("model@")
    assert spec["model"]["dataset_fingerprint"] == trained_on_fingerprint(plain_scorer)
    for name in spec["files"].values():
        assert (exported / name).is_file()


def test_docs_onnx_example_runs_standalone_and_matches_the_scorer(exported, plain_scorer,
                                                                  tmp_path):
    from asag.train import Scorer

    text = SERVING.read_text(encoding="utf-8")
    code = re.search(r"<!-- onnx-example[^>]*-->\n```python\n(.*?)```", text, re.S).group(1)
    (tmp_path / "scorer-onnx").symlink_to(exported)
    (tmp_path / "example.py").write_text(code)
    # no asag, torch or transformers: the example must need only what it imports
    guard = ("import sys; sys.modules.update(dict.fromkeys(['torch', 'transformers', 'asag']));"
             " exec(open('example.py').read())")
    out = subprocess.run([sys.executable, "-c", guard], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    label, confidence = out.stdout.split()
    scorer = Scorer.load(plain_scorer)
    row = {"question": "Why does ice float on water?",
           "reference_answer": "Ice is less dense than liquid water.",
           "student_answer": "because it is lighter than water"}
    expected = scorer.prediction(scorer.cross_encoder_outputs([row])[0])  # the graph's own
    assert label == expected.score
    assert float(confidence) == pytest.approx(expected.confidence, abs=1e-3)


def test_numeric_scale_outputs_agree_within_1e_3(tmp_path, tiny_base):
    from asag.train import Scorer
    from asag.train.export import agreement, export_onnx

    data = numeric_dataset(tmp_path / "data", n=40)
    model = tmp_path / "model"
    trained = run_cli("-q", "train", data, "-o", model, "--base-model", tiny_base,
                      "--max-steps", "2", "--batch-size", "8", "--no-graded-memory")
    assert trained.exit_code == 0, trained.output
    spec = export_onnx(model, tmp_path / "onnx")
    assert spec["scale"]["kind"] == "numeric" and spec["scale"]["high"] == 5
    result = agreement(Scorer.load(model), tmp_path / "onnx", items(yes_no_rows(40, seed=42)))
    assert result["max_abs_difference"] < 1e-3 and result["same_score"] == 1.0


def test_export_refuses_a_directory_holding_other_files_in_one_line(tmp_path, plain_scorer):
    (tmp_path / "notes.txt").write_text("mine")
    result = run_cli("export", plain_scorer, "--onnx", tmp_path)
    assert result.exit_code == 1
    assert "is not an asag ONNX export" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_export_refuses_a_scorer_with_a_graded_answer_memory_without_the_flag(
        tmp_path, trained_scorer):
    result = run_cli("export", trained_scorer, "--onnx", tmp_path / "onnx")
    assert result.exit_code == 1 and "memory of graded answers" in result.output
    assert "--cross-encoder-only" in result.output
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "onnx").exists()


def test_a_cross_encoder_only_export_says_how_far_it_is_from_asag_score(tmp_path,
                                                                       trained_scorer):
    """With --cross-encoder-only the graph is the cross-encoder (PyTorch's logits within
    1e-3), and how far that is from `asag score` is measured at export time on the scorer's
    own test split: the share of answers given `asag score`'s label, in the summary line and
    asag_onnx.json."""
    from datasets import load_from_disk

    from asag.train import Scorer
    from asag.train.export import SPEC_FILE, agreement, onnx_logits

    result = run_cli("export", trained_scorer, "--onnx", tmp_path / "onnx",
                     "--cross-encoder-only")
    assert result.exit_code == 0, result.output
    same = agreement(Scorer.load(trained_scorer), tmp_path / "onnx",
                     items(yes_no_rows(20, seed=43)))
    assert same["max_abs_difference"] < 1e-3
    whole = json.loads((tmp_path / "onnx" / SPEC_FILE).read_text())["whole_scorer"]
    dataset = json.loads((trained_scorer / "asag_scorer.json").read_text())["dataset"]["path"]
    rows = [dict(r) for r in load_from_disk(dataset)["test"]]
    assert whole["measured"] and whole["split"].startswith("test (")
    assert whole["answers"] == len(rows) and whole["unit"] == "label steps"

    scorer = Scorer.load(trained_scorer)  # what `asag score` gives, against the graph's
    expected = [p.score for p in scorer.predict(rows)]
    graph = [scorer.scale.labels[int(x.argmax())]
             for x in onnx_logits(tmp_path / "onnx", items(rows))]
    same = sum(a == b for a, b in zip(expected, graph, strict=True)) / len(rows)
    assert whole["same_score"] == pytest.approx(same, abs=1e-4)
    assert f"gives `asag score`'s score to {same:.1%}" in " ".join(result.output.split())
