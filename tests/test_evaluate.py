"""`asag evaluate` and the metrics behind it."""
# ruff: noqa: F811  (pytest fixtures imported from tests/model_fixtures.py)

from __future__ import annotations

import json
import math

import pytest

from asag.scale import Scale
from tests.model_fixtures import (  # noqa: F401  (fixtures)
    numeric_dataset,
    run_cli,
    tiny_base,
    trained_scorer,
    yes_no_dir,
)


def test_evaluate_writes_json_markdown_confusion_png_and_predictions(tmp_path, trained_scorer,
                                                                      yes_no_dir):
    out = tmp_path / "report"
    result = run_cli("evaluate", trained_scorer, yes_no_dir, "--split", "test",
                     "--split", "validation", "-o", out)
    assert result.exit_code == 0, result.output
    assert "| test | 40 |" in result.output
    metrics = json.loads((out / "metrics.json").read_text())
    test = metrics["splits"]["test"]
    assert {"accuracy", "macro_f1", "weighted_f1", "qwk"} <= set(test["overall"])
    assert set(test["per_question"]) == {"q0", "q1", "q2", "q3"}
    assert sum(q["n"] for q in test["per_question"].values()) == 40
    assert sum(map(sum, test["confusion"]["matrix"])) == 40
    assert [c["label"] for c in test["per_class"]] == ["incorrect", "correct"]
    for split in ("test", "validation"):
        assert (out / f"confusion-{split}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        lines = (out / f"predictions-{split}.jsonl").read_text().splitlines()
        assert len(lines) == 40
        assert {"id", "true_score", "predicted_score", "probabilities"} <= set(json.loads(lines[0]))
    report = (out / "report.md").read_text()
    assert "confusion-test.png" in report and "Per question (4)" in report


def test_evaluate_names_the_splits_there_are(tmp_path, trained_scorer, yes_no_dir):
    result = run_cli("evaluate", trained_scorer, yes_no_dir, "--split", "test_uq")
    assert result.exit_code == 1
    assert "no split 'test_uq'" in result.output and "train, validation, test" in result.output


def test_evaluate_refuses_a_dataset_on_another_scale(tmp_path, trained_scorer):
    data = numeric_dataset(tmp_path / "num")
    result = run_cli("evaluate", trained_scorer, data)
    assert result.exit_code == 1 and "the model scores on 'incorrect,correct'" in result.output


def test_classification_metrics_match_hand_computed_values():
    from asag.train.metrics import compute

    scale = Scale.parse("incorrect,partially_correct,correct")
    m = compute(scale, [0, 1, 2, 2], [0, 2, 2, 2])
    assert m["accuracy"] == 0.75
    # F1 per class: 1.0, 0.0, 0.8 -> macro 0.6; weighted (1*1 + 1*0 + 2*0.8) / 4 = 0.65
    assert m["macro_f1"] == pytest.approx(0.6)
    assert m["weighted_f1"] == pytest.approx(0.65)
    assert 0 < m["qwk"] < 1


def test_regression_metrics_on_the_scale_values():
    from asag.train.metrics import compute

    scale = Scale.parse("0-5")
    m = compute(scale, [0, 1, 4, 5], [0.4, 1.0, 3.0, 5.0])
    assert m["rmse"] == pytest.approx(math.sqrt((0.16 + 1) / 4), abs=1e-6)
    assert m["mae"] == pytest.approx(0.35)
    assert m["accuracy"] == 0.75  # 0.4 -> 0, 3.0 != 4
    assert m["within_one_step"] == 1.0
    assert m["pearson"] > 0.9 and m["spearman"] == pytest.approx(1.0)
    assert "macro_f1" not in m


def test_undefined_agreement_is_none_not_nan():
    from asag.train.metrics import compute

    m = compute(Scale.parse("0-5"), [3, 3, 3], [3, 3, 3])
    assert m["qwk"] is None and m["pearson"] is None and m["rmse"] == 0


def test_confusion_matrix_snaps_numeric_scores_to_steps():
    from asag.train.metrics import confusion

    names, matrix = confusion(Scale.parse("0-2 step 0.5"), [0, 0.5, 2], [0.2, 0.9, 1.8])
    assert names == ["0", "0.5", "1", "1.5", "2"]
    assert matrix[0][0] == 1 and matrix[1][2] == 1 and matrix[4][4] == 1
