"""The real default base model (all-MiniLM-L6-v2 from PyPI, offline) learns to score real
answers: trained briefly on a slice of SciEntsBank's 2-way train split, it beats the
majority class on held-out unseen answers."""
# ruff: noqa: F811  (pytest fixtures imported from tests/model_fixtures.py)

from __future__ import annotations

import csv
import json
import random
from collections import Counter

import pytest
from sklearn.metrics import f1_score

from tests.model_fixtures import make_dataset_dir, run_cli


def _rows(path, n, seed):
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    rows = random.Random(seed).sample(rows, n)
    return [{"id": r["answer_id"], **{k: r[k] for k in ("question_id", "question",
                                                          "reference_answer", "student_answer",
                                                          "label")}} for r in rows]


@pytest.mark.slow
def test_default_model_beats_the_majority_class_on_unseen_answers(tmp_path, scientsbank):
    train = _rows(scientsbank / "2way_train.csv", 480, seed=0)
    test = _rows(scientsbank / "2way_test_ua.csv", 240, seed=0)
    data = make_dataset_dir(tmp_path / "sb2", "incorrect,correct",
                            {"train": train[:400], "validation": train[400:], "test": test})
    # the reference answer says what matters; leaving the question out keeps inputs short
    result = run_cli("-q", "train", data, "-o", tmp_path / "model", "--epochs", "3",
                     "--learning-rate", "1e-4", "--max-length", "96", "--logging-steps", "1000",
                     "--template", "{reference_answer} [SEP] {student_answer}")
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "model" / "asag_scorer.json").read_text())
    assert manifest["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    majority_label = Counter(r["label"] for r in train).most_common(1)[0][0]
    truth = [r["label"] for r in test]
    majority = [majority_label] * len(test)
    test_metrics = manifest["metrics"]["test"]
    # measured on the 2-core CPU: macro-F1 0.566 (floor 0.377), weighted-F1 0.597 (0.455)
    assert test_metrics["macro_f1"] >= f1_score(truth, majority, average="macro") + 0.1
    assert test_metrics["weighted_f1"] >= f1_score(truth, majority, average="weighted") + 0.05
