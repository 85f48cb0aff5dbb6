"""Agreement figures against published and hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from asag.build_dataset.agreement import agreement, qwk, qwk_batched

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 observers,
# 12 units, values 1-5, missing data ('.' as None). Published: nominal .743, ordinal .815,
# interval .849.
RELIABILITY_DATA = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]


def _alpha(units, observers, values, n_values: int, metric: str) -> float:
    """Alpha of (unit, observer, value-index) observations, all of one question, as
    build-dataset computes it (units observed once are not pairable)."""
    units = np.asarray(units)
    question = np.array(["q"] * (int(units.max()) + 1), dtype=object)
    figures = agreement(units, np.asarray(observers), np.asarray(values), question, n_values,
                        metric)
    return figures["overall"]["alpha"]


@pytest.mark.parametrize(("metric", "published"),
                         [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849)])
def test_alpha_reproduces_krippendorff_2011_worked_example(metric, published):
    seen = [(unit, observer, value - 1)  # value index on the 1-5 scale
            for observer, row in enumerate(RELIABILITY_DATA)
            for unit, value in enumerate(row) if value is not None]
    units, observers, values = zip(*seen, strict=True)
    assert round(_alpha(units, observers, values, 5, metric), 3) == published


def _figures(a, b, n_values, metric="interval"):
    """Two teachers' scores of the same answers, all of one question."""
    n = len(a)
    item = np.repeat(np.arange(n), 2)
    ann = np.tile([0, 1], n)
    idx = np.ravel(np.column_stack([a, b]))
    return agreement(item, ann, idx, np.array(["q"] * n, dtype=object), n_values, metric)


def test_perfect_teachers_agree_fully():
    fig = _figures([0, 1, 2, 3, 4, 5], [0, 1, 2, 3, 4, 5], 6)["overall"]
    assert (fig["qwk"], fig["alpha"], fig["exact"], fig["adjacent"]) == (1.0, 1.0, 1.0, 1.0)


def test_chance_level_teachers_have_zero_kappa():
    # Confusion [[1, 1], [1, 1]]: observed agreement 1/2 = expected 1/2 -> kappa 0.
    # Alpha: o = [[2, 2], [2, 2]], n = 8, 1 - 7 * 4 / (2 * 4 * 4) = 1/8 (small-sample term).
    fig = _figures([0, 0, 1, 1], [0, 1, 0, 1], 2)["overall"]
    assert fig["qwk"] == 0.0
    assert fig["alpha"] == pytest.approx(1 / 8)
    assert (fig["exact"], fig["adjacent"]) == (0.5, 1.0)


def test_systematically_shifted_teacher_is_adjacent_never_exact():
    # B = A + 1 on 0-3. QWK = 1 - sum w O / sum w E with w = (i-j)^2: sum w O = 3 (three
    # pairs one step apart); sum w E = sum (i-j)^2 a_i b_j / n = 21 / 3 = 7 -> 1 - 3/7 = 4/7.
    # Interval alpha: values {0,1,1,2,2,3}, sum o d2 = 6, sum n_c n_k d2 = 2*6*5.5 = 66,
    # 1 - 5 * 6 / 66 = 6/11.
    fig = _figures([0, 1, 2], [1, 2, 3], 4)["overall"]
    assert fig["qwk"] == pytest.approx(4 / 7, abs=1e-6)
    assert fig["alpha"] == pytest.approx(6 / 11, abs=1e-6)
    assert (fig["exact"], fig["adjacent"]) == (0.0, 1.0)


def test_agreement_is_reported_per_question_and_overall():
    # q1: two teachers agree perfectly; q2: one is shifted by a step
    item = np.repeat(np.arange(6), 2)
    ann = np.tile([0, 1], 6)
    idx = np.array([0, 0, 1, 1, 2, 2, 0, 1, 1, 2, 2, 3])
    question = np.array(["q1", "q1", "q1", "q2", "q2", "q2"], dtype=object)
    result = agreement(item, ann, idx, question, 4, "interval")
    assert result["per_question"]["q1"]["exact"] == 1.0
    assert result["per_question"]["q2"]["exact"] == 0.0
    assert result["per_question"]["q2"]["qwk"] == pytest.approx(4 / 7, abs=1e-6)
    assert result["overall"]["exact"] == 0.5
    assert result["overall"]["answers"] == 6 and result["overall"]["pairs"] == 6


def test_kappa_is_none_when_undefined():
    fig = _figures([2, 2, 2], [2, 2, 2], 5)["overall"]
    assert fig["qwk"] is None and fig["alpha"] is None
    assert fig["exact"] == 1.0


def test_answers_scored_once_do_not_count():
    result = agreement(np.array([0, 1]), np.array([0, 0]), np.array([1, 2]),
                       np.array(["q", "q"], dtype=object), 3, "ordinal")
    assert result["overall"]["answers"] == 0 and result["overall"]["qwk"] is None


def test_batched_kappa_equals_scikit_learn():
    rng = np.random.default_rng(3)
    group = np.repeat(np.arange(40), 25)
    a = rng.integers(0, 6, group.size)
    b = np.clip(a + rng.integers(-2, 3, group.size), 0, 5)
    batched = qwk_batched(group, a, b, 40, 6)
    for g in range(40):
        m = group == g
        expected = cohen_kappa_score(a[m], b[m], labels=list(range(6)), weights="quadratic")
        assert batched[g] == pytest.approx(expected, abs=1e-12)
        assert qwk(a[m], b[m], 6) == pytest.approx(expected, abs=1e-12)


def test_ordinal_alpha_on_three_teachers_is_between_zero_and_one():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, 200)
    units = np.repeat(np.arange(200), 3)
    values = np.clip(np.repeat(truth, 3) + rng.integers(-1, 2, 600), 0, 2)
    alpha = _alpha(units, np.tile([0, 1, 2], 200), values, 3, "ordinal")
    assert 0 < alpha < 1 and not math.isnan(alpha)
