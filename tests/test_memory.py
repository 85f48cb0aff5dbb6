"""The graded-answer memory and its heads (train/memory.py): the answers teachers already
scored decide where the cross-encoder cannot, questions without graded answers still get a
score, and the memory can grow without retraining the cross-encoder."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from asag.scale import Scale
from asag.train import memory as M
from tests.model_fixtures import make_dataset_dir, run_cli, tiny_base  # noqa: F401

LABELS = Scale.parse("incorrect,correct")


def secret_rows(copies: int, seed: int, questions: int = 4, texts: int = 6) -> list[dict]:
    """Per question, a few answer texts whose label is arbitrary (drawn once per text, the
    same in every split): only the graded answers of that question can tell them apart."""
    rules = random.Random(99)
    label = {(q, t): rules.choice(["correct", "incorrect"])
             for q in range(questions) for t in range(texts)}
    rows = []
    for c in range(copies):
        for (q, t), lab in label.items():
            rows.append({"id": f"s{seed}-{c}-{q}-{t}", "question_id": f"q{q}",
                         "question": f"what does the answer {q} say?",
                         "reference_answer": "the force pulls it down",
                         "student_answer": f"{'abcdefghij'[t]} {'klmnopqrst'[q]} answer",
                         "label": lab})
    random.Random(seed).shuffle(rows)
    return rows


def test_vote_follows_the_most_similar_graded_answers():
    sims = np.array([0.99, 0.2, 0.98, 0.1])
    out = M._vote(LABELS, sims, np.array([1, 0, 1, 0], dtype=np.float32))
    vote, best = out[:2], out[2:]
    assert vote[1] > 0.99 and best.tolist() == pytest.approx([0.2, 0.99])
    numeric = M._vote(Scale.parse("0-5"), sims, np.array([0.8, 0.0, 0.6, 0.2]))
    assert numeric[1] == pytest.approx(0.8) and 0.6 < numeric[0] < 0.8


def test_head_round_trips_through_plain_numbers_and_needs_enough_answers():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3))
    y = (x[:, 0] > 0).astype(float)
    head = M.Head.fit(LABELS, x, y)
    again = M.Head.from_dict(json.loads(json.dumps(head.to_dict())))
    assert np.allclose(head(x), again(x), atol=1e-5)
    assert ((head(x).argmax(1)) == y).mean() > 0.9
    assert M.Head.fit(LABELS, x[:5], y[:5]) is None  # too few held-out answers
    assert M.Head.fit(LABELS, x, np.ones(40)) is None  # one class only


def test_memory_grows_by_answer_id_and_survives_a_save(tmp_path):
    q1, q2 = ("id:q1", "text:one?"), ("", "text:two?")
    a = M.Memory(ids=["x", "y"], keys=[q1, q1], targets=np.array([0, 1], np.float32),
                 vectors=np.eye(2, dtype=np.float32))
    b = M.Memory(ids=["y", "z"], keys=[q1, q2], targets=np.array([0, 0], np.float32),
                 vectors=np.eye(2, dtype=np.float32))
    grown = a.extended(b)
    assert grown.ids == ["x", "y", "z"] and grown.targets.tolist() == [0, 0, 0]
    grown.save(tmp_path / "m")
    loaded = M.Memory.load(tmp_path / "m")
    assert loaded.ids == grown.ids and loaded.keys == grown.keys
    assert sorted(loaded.by_key) == ["id:q1", "text:one?", "text:two?"]
    assert np.array_equal(loaded.vectors, grown.vectors)
    (tmp_path / "m" / "answers.jsonl").write_text(
        '{"id": "x", "question_id": "id:q1", "question": "text:one?"}\n')
    with pytest.raises(Exception, match="disagree"):
        M.Memory.load(tmp_path / "m")


def test_question_keys_are_the_id_and_the_normalised_text():
    assert M.question_keys({"question_id": "q7", "question": "X"}) == ("id:q7", "text:x")
    assert (M.question_keys({"question": "Why  is it?"})
            == M.question_keys({"question_id": "", "question": "why is it?"}))


def test_graded_answers_decide_where_the_cross_encoder_cannot(tmp_path, tiny_base):  # noqa: F811
    data = make_dataset_dir(tmp_path / "d", LABELS.spec, {
        "train": secret_rows(3, 1), "validation": secret_rows(1, 2), "test": secret_rows(1, 3)})
    common = ["--base-model", tiny_base, "--max-steps", "2", "--logging-steps", "1000"]
    with_memory, without = tmp_path / "with", tmp_path / "without"
    assert run_cli("-q", "train", data, "-o", with_memory, *common).exit_code == 0
    assert run_cli("-q", "train", data, "-o", without, *common,
                   "--no-graded-memory").exit_code == 0
    scored = json.loads((with_memory / "asag_scorer.json").read_text())
    plain = json.loads((without / "asag_scorer.json").read_text())
    assert scored["memory"]["answers"] == 24 * 4 and "memory" not in plain
    assert (with_memory / "embedder").is_dir() and (with_memory / "memory").is_dir()
    # two optimiser steps teach the cross-encoder nothing; the graded answers know
    assert scored["metrics"]["test"]["accuracy"] == 1.0
    assert plain["metrics"]["test"]["accuracy"] < 0.8

    from asag.train import Scorer

    scorer = Scorer.load(with_memory)
    row = secret_rows(1, 3)[0]
    known = scorer.score(row["question"], row["reference_answer"], row["student_answer"])
    assert known.score == row["label"]  # found by question text, without an id
    new_question = scorer.score("a question nobody graded", "the force pulls it down", "a b")
    assert new_question.score in LABELS.labels  # the head without the memory's features


def test_update_grows_the_memory_without_training_and_reports_against_the_old(tmp_path,
                                                                            tiny_base):  # noqa: F811
    def part(rows, questions):
        return [r for r in rows if r["question_id"] in questions]

    early, late = {"q0", "q1"}, {"q0", "q1", "q2", "q3"}
    v1 = make_dataset_dir(tmp_path / "v1", LABELS.spec, {
        "train": part(secret_rows(3, 1), early), "validation": part(secret_rows(1, 2), early),
        "test": secret_rows(1, 3)})
    v2 = make_dataset_dir(tmp_path / "v2", LABELS.spec, {
        "train": part(secret_rows(3, 1), late), "validation": part(secret_rows(1, 2), early),
        "test": secret_rows(1, 3)})
    m1, m2 = tmp_path / "m1", tmp_path / "m2"
    assert run_cli("-q", "train", v1, "-o", m1, "--base-model", tiny_base, "--max-steps", "2",
                   "--logging-steps", "1000").exit_code == 0
    result = run_cli("train", v2, "-o", m2, "--update-from", m1)
    assert result.exit_code == 0, result.output
    assert "grown by 36 answers" in result.output and "previous" in result.output
    old = json.loads((m1 / "asag_scorer.json").read_text())
    new = json.loads((m2 / "asag_scorer.json").read_text())
    assert new["memory"]["answers"] == old["memory"]["answers"] + 36
    assert new["updated_from"]["answers_added"] == 36
    assert old["metrics"]["test"]["accuracy"] < 0.9 <= new["metrics"]["test"]["accuracy"]
    comparison = json.loads((m2 / "comparison.json").read_text())
    assert comparison["previous_model"] == str(m1)
    same = run_cli("train", v2, "-o", m1, "--update-from", m1)
    assert same.exit_code != 0 and "another -o" in same.output
