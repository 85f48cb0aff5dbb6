"""benchmarks/bench_course.py's full learner (the product's own path through a course) on a
tiny model: retrains at its schedule, the memory and calibration step between them, the
product's decision every round and a prequential check of every answer the teacher scores
after a version predicted it."""
# ruff: noqa: F811  (pytest fixtures imported from tests/model_fixtures.py)

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np

from tests.model_fixtures import tiny_base, yes_no_rows  # noqa: F401  (fixtures)

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_course.py"
TINY = {"epochs": 8, "learning_rate": 1e-3, "batch_size": 8, "early_stopping_patience": 0,
        "logging_steps": 1000, "threads": 1}


def _bench():
    spec = importlib.util.spec_from_file_location("bench_course", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_full_learner_retrains_at_its_schedule_and_checks_every_answer_it_predicted(
        tiny_base, tmp_path):
    from asag.scale import Scale

    bench = _bench()
    scale = Scale.parse("incorrect,correct")
    rows = [{**r, "score": r["label"]} for r in yes_no_rows(60, seed=5)]
    course = {"name": "yes-no", "rows": rows, "scale": scale, "tolerance": 0.0,
              "second": None, "max_error": 0.05}
    learner = bench.FullLearner(course, None, tmp_path / "work", threads=1,
                                train_args={**TINY, "base_model": str(tiny_base)})
    result = bench.simulate(course, learner, order="asag", seed=0, max_error=0.05,
                            round_share=0.1)

    assert abs(result["teacher"] + result["auto"] - 1) < 1e-3  # every answer graded
    trained = [t["trained_on"] for t in result["trajectory"] if t.get("version")]
    assert sorted(set(trained)) == [10, 20, 40][:learner.versions]  # first, then doubled
    assert learner.versions >= 2
    before = result["trajectory"][1]  # 10 scored: the first training happens this round
    assert result["trajectory"][0]["version"] is None and before["version"] is not None
    # each answer the teacher scored after the first training is a check of the version
    # that predicted it, recorded in that training's directory
    checks = [json.loads(line) for path in sorted((tmp_path / "work").glob("v*/model/checks.jsonl"))
              for line in path.read_text().splitlines()]
    assert len(checks) == round(result["teacher"] * len(rows)) - 10
    assert len({c["answer_id"] for c in checks}) == len(checks)
    versions = {t["version"] for t in result["trajectory"] if t.get("version")}
    assert {c["model_version"] for c in checks} <= versions


def test_setfit_lever_tunes_at_the_schedule_and_calibrates_only_on_answers_after_it(tmp_path):
    """The tuned sentence model has seen the labels of the answers it was tuned on, so only the
    answers scored after the last tuning may calibrate the decision."""
    from asag.scale import Scale

    bench = _bench()
    scale = Scale.parse("incorrect,correct")
    rows = [{**r, "score": r["label"]} for r in yes_no_rows(40, seed=3)]
    course = {"name": "yes-no", "rows": rows, "scale": scale, "tolerance": 0.0,
              "second": None, "max_error": 0.05}
    texts = [" ".join(r[k].split()) for r in rows for k in ("student_answer",
                                                            "reference_answer")]
    frozen = bench.CachedEmbedder(texts, tmp_path / "cache")
    view = bench.TunedView(course, frozen, seed=0, cache=tmp_path / "cache")
    learner = bench.TunedMemory(course, view, seed=0)
    order = list(range(len(rows)))

    learner.decide(order[:5], order[5:], 0.05)  # under the first point (10 answers)
    assert view.tunings == 0 and view.vectors is frozen.vectors
    _, _, info = learner.decide(order[:10], order[10:], 0.05)
    assert view.tunings == 1 and view.tuned_at == 10 and info["held_out"] == 0
    assert not np.allclose(view.vectors, frozen.vectors)  # the model moved
    _, _, info = learner.decide(order[:15], order[15:], 0.05)
    assert view.tunings == 1 and info["held_out"] == 5  # not doubled yet: no new tuning
    learner.decide(order[:20], order[20:], 0.05)
    assert view.tunings == 2 and view.tuned_at == 20
