"""Calibrated confidence, conformal sets / intervals and auto-scoring (train/calibration.py):
the statistics on synthetic data, the whole path on tiny real scorers."""
# ruff: noqa: F811  (pytest fixtures imported from tests/model_fixtures.py)

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest

from tests.model_fixtures import (  # noqa: F401  (fixtures)
    TINY_TRAIN,
    make_dataset_dir,
    run_cli,
    tiny_base,
    trained_scorer,
    yes_no_dir,
    yes_no_rows,
)

# -- the statistics, on synthetic data ------------------------------------------------------

def test_auto_scored_error_stays_under_the_target_on_synthetic_data():
    """Held-out answers with an overconfident score (the stated confidence exceeds the real
    chance of being right): the certified threshold still keeps the error among auto-scored
    new answers <= 5 % in at least 1 - DELTA of the draws, and auto-scores a useful share."""
    from asag.train.calibration import DELTA, auto_threshold

    rng = np.random.default_rng(0)

    def draw(n):
        stated = 1 - 0.5 * rng.uniform(size=n) ** 2  # most answers stated near-certain
        right = rng.uniform(size=n) < stated ** 1.5  # less often right than stated
        return stated, right

    violations, shares = 0, []
    for _ in range(200):
        cut = auto_threshold(*draw(1000), max_error=0.05)
        stated, right = draw(20000)
        auto = stated >= cut
        shares.append(auto.mean())
        if auto.any() and 1 - right[auto].mean() > 0.05:
            violations += 1
    assert violations / 200 <= DELTA
    assert np.mean(shares) > 0.25  # not vacuous: at most about 45 % could be
    naive = stated >= 0.85  # trusting the stated confidence breaks the target
    assert 1 - right[naive].mean() > 0.06


def test_no_threshold_is_certified_when_the_held_out_answers_are_too_few_or_too_wrong():
    from asag.train.calibration import auto_threshold

    assert auto_threshold(np.linspace(0.9, 1, 30), np.ones(30, bool), 0.05) == float("inf")
    assert auto_threshold(np.linspace(0.5, 1, 500), np.arange(500) % 5 > 0, 0.05) == float("inf")
    assert auto_threshold(np.linspace(0.5, 1, 500), np.ones(500, bool), 0.05) < 0.6


def test_temperature_scaling_undoes_overconfident_logits():
    from asag.train.calibration import fit_temperature, softmax

    rng = np.random.default_rng(1)
    logits = rng.normal(size=(4000, 3)) * 2
    y = np.array([rng.choice(3, p=p) for p in softmax(logits)])
    assert fit_temperature(logits * 3, y) == pytest.approx(3, rel=0.1)


def test_a_prediction_set_is_never_empty_even_after_a_perfect_held_out_fit():
    from asag.train.calibration import Calibration

    perfect = Calibration(False, scores=np.full(50, 1e-4), confidence=np.ones(50),
                          correct=np.ones(50, bool), temperature=1.0)
    sets = perfect.sets(np.array([[0.99, 0.01], [0.2, 0.8], [0.9999, 0.0001]]))
    assert sets.tolist() == [[1, 0], [0, 1], [1, 0]]


def _skewed_draw(rng, n):
    """Three labels; the rare one (10 %) is the scorer's weak spot: its answers get a low
    probability for their true label, the common labels' answers a high one."""
    y = rng.choice(3, size=n, p=[0.45, 0.45, 0.1])
    p_true = np.where(y == 2, rng.uniform(0.05, 0.5, n), rng.uniform(0.5, 1.0, n))
    probs = np.empty((n, 3))
    for i, (label, pt) in enumerate(zip(y, p_true, strict=True)):
        rest = rng.dirichlet([1, 1]) * (1 - pt)
        probs[i] = np.insert(rest, label, pt)
    return probs, y


def test_each_label_is_covered_at_the_nominal_level_not_only_on_average():
    """Class-conditional sets cover the rare label that a marginal threshold gives up on, and
    a manifest round trip keeps them class-conditional; a manifest from before the labels
    were stored still gives (marginal) sets."""
    from asag.scale import Scale
    from asag.train.calibration import Calibration, HeldOut

    rng = np.random.default_rng(3)
    probs, y = _skewed_draw(rng, 3000)
    held = HeldOut(np.log(probs), np.log(probs), None, None, y.astype(float))
    scale = Scale.parse("a,b,c")
    cal = Calibration.from_manifest(scale, Calibration.fit(scale, held, {}).to_manifest())
    test_p, test_y = _skewed_draw(rng, 20000)
    test_p = cal.probabilities(np.log(test_p))
    inside = cal.sets(test_p)[np.arange(len(test_y)), test_y]
    for label in range(3):
        assert 0.88 <= inside[test_y == label].mean() <= 0.95, label  # never-empty adds a little

    old = cal.to_manifest()
    del old["score_labels"]
    marginal = Calibration.from_manifest(scale, old).sets(test_p)[np.arange(len(test_y)), test_y]
    assert 0.88 <= marginal.mean() <= 0.93
    assert marginal[test_y == 2].mean() < 0.6  # what the marginal sets did to the rare label


# -- tiny real scorers ---------------------------------------------------------------------

def numeric_rows(n: int, seed: int) -> list[dict]:
    rows = yes_no_rows(n, seed)
    rnd = np.random.default_rng(seed)
    for r in rows:
        r["score"] = float(rnd.choice([4, 5]) if r["label"] == "correct" else rnd.choice([0, 1]))
    return rows


@pytest.fixture(scope="module")
def numeric_scorer(tmp_path_factory, tiny_base):
    data = make_dataset_dir(tmp_path_factory.mktemp("num") / "d", "0-5", {
        "train": numeric_rows(200, 4), "test": numeric_rows(60, 5)})
    out = tmp_path_factory.mktemp("num-model") / "model"
    result = run_cli("-q", "train", data, "-o", out, "--base-model", tiny_base, *TINY_TRAIN)
    assert result.exit_code == 0, result.output
    return out, data


def test_label_scorer_is_calibrated_on_its_held_out_answers(trained_scorer):
    from asag.train import Scorer

    scorer = Scorer.load(trained_scorer)
    fitted = scorer.manifest["calibration"]["fitted_on"]
    assert fitted["answers"] == 40 and "validation" in fitted["split"]
    assert "cross-fitted" in fitted["outputs"] and "temperature" in fitted["method"]
    for p in scorer.score_many(yes_no_rows(20, seed=9)):
        assert p.confidence == pytest.approx(max(p.probabilities.values()), abs=1e-6)
        assert p.labels and set(p.labels) <= set(scorer.scale.labels)
        assert p.to_dict()["set"] == p.labels


def test_numeric_scorer_gives_a_probability_and_an_interval_on_steps(numeric_scorer):
    from asag.train import Scorer

    scorer = Scorer.load(numeric_scorer[0])
    assert scorer.manifest["calibration"]["fitted_on"]["answers"] == 20  # 10 % of train
    for p in scorer.score_many(numeric_rows(20, seed=6)):
        assert 0 <= p.confidence <= 1
        low, high = p.interval
        assert 0 <= low <= high <= 5 and low == int(low) and high == int(high)
        assert p.to_dict()["interval"] == [low, high]


def test_score_max_error_marks_each_answer_and_counts_them(trained_scorer, tmp_path):
    rows = yes_no_rows(30, seed=11)
    src = tmp_path / "in.csv"
    with src.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, ["question", "reference_answer", "student_answer"],
                                extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    out = tmp_path / "out.csv"
    result = run_cli("score", trained_scorer, src, "-o", out, "--max-error", "0.05")
    assert result.exit_code == 0, result.output
    got = list(csv.DictReader(out.open()))
    assert {r["decision"] for r in got} <= {"auto", "needs_teacher"}
    auto = sum(r["decision"] == "auto" for r in got)
    assert f"auto: {auto}; needs_teacher: {30 - auto}" in result.output
    assert all(r["set"] and r["confidence"] for r in got)


def test_max_error_on_an_uncalibrated_scorer_is_one_line_naming_asag_calibrate(
        trained_scorer, yes_no_dir, tmp_path):
    model = tmp_path / "old"
    shutil.copytree(trained_scorer, model)
    manifest = json.loads((model / "asag_scorer.json").read_text())
    fitted = manifest.pop("calibration")
    (model / "asag_scorer.json").write_text(json.dumps(manifest))
    src = tmp_path / "in.csv"
    src.write_text("question,reference_answer,student_answer\nq,r,yes\n")
    result = run_cli("score", model, src, "-o", tmp_path / "out.csv", "--max-error", "0.05")
    assert result.exit_code != 0 and "asag calibrate" in result.output
    assert "Traceback" not in result.output

    result = run_cli("calibrate", model, yes_no_dir)  # refit from the same held-out split
    assert result.exit_code == 0, result.output
    refitted = json.loads((model / "asag_scorer.json").read_text())["calibration"]
    assert refitted["fitted_on"]["answers"] == fitted["fitted_on"]["answers"]
    assert refitted["temperature"] == pytest.approx(fitted["temperature"], rel=1e-3)
    result = run_cli("score", model, src, "-o", tmp_path / "out.csv", "--max-error", "0.05")
    assert result.exit_code == 0, result.output


def test_evaluate_reports_ece_coverage_risk_coverage_and_a_reliability_diagram(
        numeric_scorer, tmp_path):
    model, data = numeric_scorer
    result = run_cli("evaluate", model, data, "-o", tmp_path / "eval")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    cal = report["splits"]["test"]["calibration"]
    assert 0 <= cal["ece"] <= 1 and 0 <= cal["coverage"] <= 1 and cal["level"] == 0.9
    assert [c["share"] for c in cal["risk_coverage"]] == [0.25, 0.5, 0.75, 1.0]
    assert cal["risk_coverage"][-1]["n"] == 60
    assert set(cal["auto_scoring"]) >= {"fraction", "realised_error", "threshold"}
    assert (tmp_path / "eval" / "reliability-test.png").stat().st_size > 1000
    markdown = (tmp_path / "eval" / "report.md").read_text()
    assert "reliability-test.png" in markdown and "Expected calibration error" in markdown


def test_update_from_refits_calibration_on_the_answers_new_to_the_scorer(
        trained_scorer, tmp_path):
    grown = make_dataset_dir(tmp_path / "grown", "incorrect,correct", {
        "train": yes_no_rows(160, 1) + yes_no_rows(30, 21), "validation": yes_no_rows(40, 2),
        "test": yes_no_rows(40, 3)})
    result = run_cli("-q", "train", grown, "-o", tmp_path / "v2", "--update-from",
                     trained_scorer)
    assert result.exit_code == 0, result.output
    fitted = json.loads((tmp_path / "v2" / "asag_scorer.json").read_text())["calibration"]
    assert fitted["fitted_on"]["answers"] == 30
    assert "--update-from" in fitted["fitted_on"]["split"]


def test_score_tolerance_holds_errors_beyond_t_and_says_so(numeric_scorer, tmp_path):
    """0-5 scorer, `--tolerance 1`: the summary names the tolerance and the evidence; the
    manifest's held-out errors are kept so tolerance can be applied."""
    model, _ = numeric_scorer
    src = tmp_path / "in.csv"
    with src.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, ["question", "reference_answer", "student_answer"],
                                extrasaction="ignore")
        writer.writeheader()
        writer.writerows(numeric_rows(30, 12))
    out = tmp_path / "out.csv"
    result = run_cli("score", model, src, "-o", out, "--max-error", "0.05", "--tolerance", "1")
    assert result.exit_code == 0, result.output
    got = list(csv.DictReader(out.open()))
    auto = sum(r["decision"] == "auto" for r in got)
    held = len(json.loads((model / "asag_scorer.json").read_text())["calibration"]["errors"])
    assert (f"auto: {auto}; needs_teacher: {30 - auto} (auto-scored answers more than 1 off "
            f"held at <= 5.0%, certified on {held} held-out answers + 0 teacher checks)"
            ) in result.output


def test_tolerance_on_a_label_scale_is_one_line(trained_scorer, tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("question,reference_answer,student_answer\nq,r,yes\n")
    result = run_cli("score", trained_scorer, src, "-o", tmp_path / "out.csv",
                     "--max-error", "0.05", "--tolerance", "1")
    assert result.exit_code != 0
    assert ("--tolerance applies to numeric scales; this scorer scores labels "
            "(incorrect,correct)") in result.output
    assert "Traceback" not in result.output
