"""Prequential checks (train/checks.py) and the auto-scoring decision they feed: the
sequence's start, tolerance errors, the store, and which versions' checks count."""
# ruff: noqa: F811  (pytest fixtures imported from tests/model_fixtures.py)

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest

from asag.errors import InputError
from tests.model_fixtures import (  # noqa: F401  (fixtures)
    tiny_base,
    trained_scorer,
    yes_no_dir,
    yes_no_rows,
)

# -- the statistics ----------------------------------------------------------------------------


def test_the_sequence_starts_where_a_test_can_reject_so_one_early_error_does_not_end_it():
    """The issue's case: 377 held-out answers, 1 error among the most confident 57 (p = 0.21
    at 5 %), 2 % wrong in the most confident 60 %. Starting at the smallest set stopped at
    once; starting where the test has power certifies a threshold."""
    from asag.train.calibration import auto_threshold, power_start

    n = 377
    confidence = np.linspace(1.0, 0.5, n)
    wrong = np.zeros(n, bool)
    wrong[[30, 100, 160, 200]] = True  # 1 in the top 57, 4 in the top 226
    wrong[230:] = np.arange(n - 230) % 4 == 0  # the unsure rest: 25 % wrong
    assert power_start(0.05) > 57
    cut = auto_threshold(confidence, ~wrong, 0.05)
    assert math.isfinite(cut)
    auto = confidence >= cut
    assert auto.sum() >= 0.3 * n and wrong[auto].mean() <= 0.05


def _numeric_calibration(errors: np.ndarray):
    from asag.train.calibration import Calibration

    n = len(errors)
    return Calibration(True, np.sort(errors), np.linspace(1.0, 0.6, n), errors == 0,
                       correctness={}, errors=errors)


def test_tolerance_counts_an_auto_score_as_an_error_only_beyond_t():
    """On 0-5, 20 % of the held-out scores are one point off: at 5 % exact nothing can be
    certified; within one point every answer is right and the lowest threshold is."""
    errors = np.where(np.arange(400) % 5 == 0, 1.0, 0.0)
    cal = _numeric_calibration(errors)
    assert cal.threshold(0.05) == math.inf
    assert cal.threshold(0.05, tolerance=1) == pytest.approx(0.6)
    assert cal.correct_within(0.5).mean() == pytest.approx(0.8)


def test_tolerance_on_a_calibration_without_errors_asks_for_asag_calibrate():
    cal = _numeric_calibration(np.zeros(100))
    cal.errors = None  # a manifest written before tolerances
    with pytest.raises(InputError, match="asag calibrate"):
        cal.threshold(0.05, tolerance=1)


def test_a_question_with_enough_evidence_gets_its_own_threshold_and_the_rest_the_courses():
    """Three questions: "easy" (120 answers, every one right), "hard" (120, a third of the
    confident ones wrong) and "few" (30, all right). The course's threshold is held back by
    "hard"; "easy" is certified on its own answers; "few" has under 45 (no test of its own
    could reject) and keeps the course's; "hard" certifies nothing of its own."""
    from asag.train.calibration import Calibration, fewest_to_reject
    from asag.train.scorer import Prediction

    assert fewest_to_reject(0.05) == 45
    questions = ["easy"] * 120 + ["hard"] * 120 + ["few"] * 30
    confidence = np.concatenate([np.linspace(1.0, 0.6, 120)] * 2 + [np.linspace(1, 0.6, 30)])
    correct = np.ones(270, bool)
    correct[120:240] = np.arange(120) % 3 != 0
    cal = Calibration(False, 1 - confidence, confidence, correct, temperature=1.0,
                      questions=np.array(questions, dtype=object))
    course = cal.threshold(0.05)
    assert course == math.inf  # a sixth of the course's confident answers are wrong
    assert cal.threshold(0.05, question="few") == course
    assert cal.threshold(0.05, question="hard") == math.inf
    assert math.isfinite(cal.threshold(0.05, question="easy"))
    assert cal.threshold(0.05, question="easy") < course
    assert set(cal.own_thresholds(0.05)) == {"easy", "hard"}

    predictions = [Prediction(score="correct", index=1) for _ in range(3)]
    logits = np.tile([0.0, math.log(0.7 / 0.3)], (3, 1))  # confidence 0.7 each
    cal.annotate(cal_scale(), predictions, logits, logits, None, None, max_error=0.05,
                 questions=["easy", "hard", "few"])
    assert [p.confidence for p in predictions] == [pytest.approx(0.7)] * 3
    assert [p.auto for p in predictions] == [True, False, False]

    # the question ids travel with the manifest; a manifest without them: the course's only
    again = Calibration.from_manifest(cal_scale(), cal.to_manifest())
    assert again.threshold(0.05, question="easy") == cal.threshold(0.05, question="easy")
    data = cal.to_manifest()
    del data["questions"]
    assert Calibration.from_manifest(cal_scale(), data).threshold(0.05, question="easy") == \
        course


def cal_scale():
    from asag.scale import Scale

    return Scale.parse("incorrect,correct")


# -- the store ---------------------------------------------------------------------------------


@pytest.fixture
def scorer_copy(trained_scorer, tmp_path):
    out = tmp_path / "model"
    shutil.copytree(trained_scorer, out)
    return out


def test_checks_are_appended_the_last_per_answer_counts_and_a_torn_line_is_skipped(
        scorer_copy):
    from asag.train.checks import CHECKS, Checks

    checks = Checks(scorer_copy)
    checks.add("m@1", "q1", "a1", "correct", 0.9, "incorrect")
    checks.add("m@1", "q1", "a1", "correct", 0.9, "correct")  # the teacher changed the score
    checks.add("m@1", "q2", "a2", "incorrect", 0.7, "incorrect")
    checks.add("m@2", "q2", "a2", "correct", 0.8, "incorrect")
    with (scorer_copy / CHECKS).open("a") as fh:
        fh.write('{"model_version": "m@1", "answ')  # a crash mid-line
    assert checks.summary() == {
        "m@1": {"checks": 2, "wrong": 0, "questions": {"q1": 1, "q2": 1}},
        "m@2": {"checks": 1, "wrong": 1, "questions": {"q2": 1}}}
    mine = checks.of("m@1")
    assert len(mine) == 2 and mine.errors.tolist() == [0.0, 0.0]


def test_a_check_off_the_scale_is_refused_in_one_line(scorer_copy):
    from asag.train.checks import Checks

    with pytest.raises(InputError, match="teacher_score 'maybe' is not on the scorer's scale"):
        Checks(scorer_copy).add("m@1", "q1", "a1", "correct", 0.9, "maybe")
    with pytest.raises(InputError, match="confidence must lie in 0..1"):
        Checks(scorer_copy).add("m@1", "q1", "a1", "correct", 1.5, "correct")


def test_the_checks_file_is_outside_the_sealed_files(scorer_copy):
    from asag.train.checks import Checks
    from asag.train.scorer import Scorer

    Checks(scorer_copy).add("m@1", "q1", "a1", "correct", 0.9, "correct")
    Scorer.load(scorer_copy)  # verify() accepts the directory with its checks


# -- the decision ------------------------------------------------------------------------------


def _checked(scorer, rows, version, *, right: bool):
    """Record each row as checked by `version` with the confidence the scorer gives it."""
    from asag.train.checks import Checks

    store = Checks(scorer.path)
    for i, (row, p) in enumerate(zip(rows, scorer.predict(rows), strict=True)):
        other = "incorrect" if p.score == "correct" else "correct"
        store.add(version, row["question_id"], f"{version}-{i}", p.score, p.confidence,
                  p.score if right else other)


def test_prequential_checks_of_this_version_feed_the_auto_scoring_decision(scorer_copy):
    """40 held-out answers cannot certify 5 % (45 right answers in a row are the least that
    can); 300 right checks of the same version can. Ignoring checks leaves auto at 0."""
    from asag.train.scorer import Scorer

    rows = yes_no_rows(300, seed=21)
    scorer = Scorer.load(scorer_copy)
    assert not any(p.auto for p in scorer.predict(rows, max_error=0.05))
    assert scorer.decision_evidence(0.05)["threshold"] is None
    _checked(scorer, rows, scorer.version, right=True)
    auto = [p.auto for p in scorer.predict(rows, max_error=0.05)]
    assert sum(auto) >= 60
    evidence = scorer.decision_evidence(0.05)
    assert evidence["checks"] == 300 and evidence["held_out"] == 40


def test_checks_of_another_version_do_not_count_and_wrong_ones_keep_answers_with_teachers(
        scorer_copy):
    from asag.train.directory import MANIFEST
    from asag.train.scorer import Scorer

    rows = yes_no_rows(300, seed=22)
    scorer = Scorer.load(scorer_copy)
    _checked(scorer, rows, "another@00000000", right=True)
    assert not any(p.auto for p in scorer.predict(rows, max_error=0.05))
    _checked(scorer, rows, scorer.version, right=False)
    assert not any(p.auto for p in scorer.predict(rows, max_error=0.05))
    assert scorer.decision_evidence(0.05)["checks"] == 300

    # a new version of the scorer (its manifest changed): the old version's checks stay in
    # the store but no longer count
    _checked(scorer, rows, scorer.version, right=True)  # now right: the last check counts
    assert any(p.auto for p in scorer.predict(rows, max_error=0.05))
    manifest = json.loads((scorer_copy / MANIFEST).read_text())
    manifest["notes"] = "refitted"
    (scorer_copy / MANIFEST).write_text(json.dumps(manifest))
    newer = Scorer.load(scorer_copy)
    assert newer.version != scorer.version
    assert not any(p.auto for p in newer.predict(rows, max_error=0.05))
    assert newer.decision_evidence(0.05)["checks"] == 0


def test_a_live_version_counts_the_checks_of_its_lineage_up_to_itself(scorer_copy):
    """`asag serve` makes every learned score a new version VERSION+N; the checks of VERSION,
    VERSION+1, ... VERSION+N count for VERSION+N (same weights, heads and calibration, a
    smaller memory), those of later live versions and of other scorers do not."""
    from asag.train.checks import Checks, lineage
    from asag.train.scorer import Scorer

    rows = yes_no_rows(300, seed=23)
    scorer = Scorer.load(scorer_copy)
    version = scorer.version
    assert lineage(f"{version}+12") == (version, 12) and lineage(version) == (version, 0)
    store = Checks(scorer.path)
    for i, (row, p) in enumerate(zip(rows, scorer.predict(rows), strict=True)):
        served = version if i < 100 else f"{version}+{i // 100}"  # 100 each: +0, +1, +2
        store.add(served, row["question_id"], f"a{i}", p.score, p.confidence, p.score)
        store.add(f"other@0000+{i // 100}", row["question_id"], f"a{i}", p.score,
                  p.confidence, p.score)
    memory = scorer.consultant.memory
    assert [scorer.grown(memory, n).decision_evidence(0.05)["checks"] for n in (0, 1, 2, 7)] \
        == [100, 200, 300, 300]
    assert scorer.decision_evidence(0.05)["checks"] == 100  # the trained version itself
    live = scorer.grown(memory, 2)
    assert live.version == f"{version}+2" and scorer.version == version
    assert any(p.auto for p in live.predict(rows, max_error=0.05))

    # the lineage's last check of an answer counts: a teacher's changed score replaces it
    for i, (row, p) in enumerate(zip(rows, live.predict(rows), strict=True)):
        other = "incorrect" if p.score == "correct" else "correct"
        store.add(f"{version}+2", row["question_id"], f"a{i}", p.score, p.confidence, other)
    assert live.decision_evidence(0.05)["checks"] == 300
    assert not any(p.auto for p in live.predict(rows, max_error=0.05))


def test_teacher_checks_of_one_question_earn_that_question_its_own_threshold(scorer_copy):
    """Through Scorer.predict, as `asag score` and the hints decide: 60 right checks of q0
    and 60 wrong ones of q1 hold the course back, yet certify q0 on its own; the checks'
    question ids are what make the difference."""
    from asag.train.checks import Checks
    from asag.train.scorer import Scorer

    rows = yes_no_rows(240, seed=24)  # q0..q3, 60 each
    scorer = Scorer.load(scorer_copy)
    store = Checks(scorer.path)
    for row, p in zip(rows, scorer.predict(rows), strict=True):
        if row["question_id"] in ("q0", "q1"):
            other = "incorrect" if p.score == "correct" else "correct"
            store.add(scorer.version, row["question_id"], row["id"], p.score, p.confidence,
                      p.score if row["question_id"] == "q0" else other)
    evidence = scorer.decision_evidence(0.05)
    assert evidence["threshold"] is None and evidence["checks"] == 120
    assert evidence["own_thresholds"] == 2 and evidence["own_thresholds_certified"] == 1
    auto = {q: [p.auto for r, p in zip(rows, scorer.predict(rows, max_error=0.05), strict=True)
                if r["question_id"] == q] for q in ("q0", "q1", "q2")}
    assert any(auto["q0"]) and not any(auto["q1"]) and not any(auto["q2"])


# -- the same decision in `asag serve` and Label Studio's hint ---------------------------------


def test_serve_with_max_error_marks_the_answers_asag_score_marks_and_the_hint_says_so(
        scorer_copy):
    import httpx

    from asag.annotate.project import label_config
    from asag.scale import Scale
    from asag.serve.app import Settings, create_app
    from asag.train.scorer import Scorer
    from tests.serve_helpers import running

    rows = yes_no_rows(120, seed=25)
    scorer = Scorer.load(scorer_copy)
    _checked(scorer, yes_no_rows(300, seed=26), scorer.version, right=True)
    expected = [p.auto for p in scorer.predict(rows, max_error=0.05)]
    assert any(expected) and not all(expected)
    app = create_app(Settings(model_dir=scorer_copy, max_error=0.05, threads=1))
    answers = [{k: r[k] for k in ("id", "question_id", "question", "reference_answer",
                                  "student_answer")} for r in rows]
    config = label_config(Scale.parse("incorrect,correct"), "t", hint=True)
    tasks = [{"id": i, "data": {**r, "answer_id": r["id"]}} for i, r in enumerate(rows)]
    with running(app) as url:
        scored = httpx.post(f"{url}/score", json=answers, timeout=120).json()["results"]
        hints = httpx.post(f"{url}/predict", json={"tasks": tasks, "label_config": config},
                           timeout=120).json()["results"]
    assert [r["auto"] for r in scored] == expected
    texts = [h["result"][0]["value"]["text"][0] for h in hints]
    assert [t.endswith(", auto-scored") for t in texts] == expected


def test_serve_refuses_max_error_its_scorer_cannot_hold_in_one_line(scorer_copy):
    from click.testing import CliRunner

    from asag.cli import cli

    result = CliRunner().invoke(cli, ["serve", str(scorer_copy), "--port", "0",
                                      "--max-error", "0.05", "--tolerance", "1"])
    assert result.exit_code != 0
    assert "--tolerance applies to numeric scales" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_push_predictions_carry_the_same_decision_in_their_hint(scorer_copy):
    """`annotate push --predictions-from MODEL --max-error`: the pre-annotation's hint says
    "auto-scored" on exactly the answers Scorer.predict auto-scores."""
    from asag.annotate.predictions import predictor
    from asag.scale import Scale
    from asag.train.scorer import Scorer

    rows = yes_no_rows(120, seed=25)
    scorer = Scorer.load(scorer_copy)
    _checked(scorer, yes_no_rows(300, seed=26), scorer.version, right=True)
    expected = {r["id"]: p.auto for r, p in zip(rows, scorer.predict(rows, max_error=0.05),
                                                 strict=True)}
    assert any(expected.values()) and not all(expected.values())
    predict = predictor(scorer_copy, Scale.parse("incorrect,correct"), max_error=0.05)
    ordered, payloads = predict(rows)
    assert {r["id"] for r in ordered} == set(expected)
    said = {i: p["result"][0]["value"]["text"][0].endswith(", auto-scored")
            for i, p in payloads.items()}
    assert said == expected
