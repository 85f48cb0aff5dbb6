"""One rule on every entry point: where an input row has an answer id, a scorer's
graded-answer memory leaves that answer out, so an answer the teachers scored is scored as
if it were new (never from its own score). The rows here are training answers of the tiny
scorer, so they are in its memory; each entry point must give what the Python API gives for
the same rows with their ids, and that differs from what it gives without them."""
# ruff: noqa: F811  (pytest fixtures imported from tests/model_fixtures.py)

from __future__ import annotations

import csv

import httpx
import pytest

from asag.hints import certainty
from asag.scale import Scale
from tests.model_fixtures import (  # noqa: F401  (fixtures)
    run_cli,
    tiny_base,
    trained_scorer,
    yes_no_dir,
    yes_no_rows,
)
from tests.serve_helpers import items, running

SCALE = Scale.parse("incorrect,correct")


@pytest.fixture(scope="module")
def graded(trained_scorer):
    """(training answers with their ids, the Python API's predictions of them with the
    ids); the ids change those predictions, else these tests would prove nothing."""
    from asag.train import Scorer

    scorer = Scorer.load(trained_scorer)
    rows = yes_no_rows(8, 1)  # the first answers of the scorer's training split
    with_ids = scorer.predict([{**text, "id": row["id"]}
                               for text, row in zip(items(rows), rows, strict=True)])
    without = scorer.predict(items(rows))
    assert any(a.probabilities != pytest.approx(b.probabilities, abs=1e-4)
               for a, b in zip(with_ids, without, strict=True))
    return rows, with_ids


def _same(got: dict[str, float], want: dict[str, float]) -> None:
    assert got == pytest.approx(want, abs=1e-4)


def test_asag_score_leaves_out_the_answer_id_of_each_row(tmp_path, trained_scorer, graded):
    rows, want = graded
    table, out = tmp_path / "answers.csv", tmp_path / "scored.csv"
    with table.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["answer_id", "question", "reference_answer", "student_answer"])
        writer.writerows([r["id"], r["question"], r["reference_answer"], r["student_answer"]]
                         for r in rows)
    result = run_cli("-q", "score", trained_scorer, table, "-o", out)
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8") as fh:
        scored = list(csv.DictReader(fh))
    for got, p in zip(scored, want, strict=True):
        _same({label: float(got[f"prob_{label}"]) for label in SCALE.labels}, p.probabilities)


def test_score_route_leaves_out_the_id_of_each_answer(trained_scorer, graded):
    from asag.serve.app import Settings, create_app

    rows, want = graded
    body = [{**text, "id": row["id"]} for text, row in zip(items(rows), rows, strict=True)]
    with running(create_app(Settings(model_dir=trained_scorer))) as url:
        reply = httpx.post(f"{url}/score", json=body, timeout=60)
    assert reply.status_code == 200, reply.text
    for got, p in zip(reply.json()["results"], want, strict=True):
        _same(got["probabilities"], p.probabilities)


def test_predict_route_leaves_out_the_answer_id_of_each_task(trained_scorer, graded):
    from asag.annotate.project import label_config
    from asag.serve.app import Settings, create_app

    rows, want = graded
    tasks = [{"id": i, "data": {**r, "answer_id": r["id"]}} for i, r in enumerate(rows)]
    config = label_config(SCALE, "t", hint=True)
    with running(create_app(Settings(model_dir=trained_scorer))) as url:
        reply = httpx.post(f"{url}/predict", json={"tasks": tasks, "label_config": config},
                           timeout=60)
    assert reply.status_code == 200, reply.text
    for got, p in zip(reply.json()["results"], want, strict=True):
        assert got["score"] == pytest.approx(certainty(SCALE, p), abs=1e-4)


def test_push_predictions_leave_out_the_id_of_each_record(trained_scorer, graded):
    """`annotate push --predictions-from`'s scoring step (the push itself: Label Studio's
    tests)."""
    from asag.annotate.predictions import predictor

    rows, want = graded
    predict = predictor(trained_scorer, SCALE)
    _, payloads = predict([{k: v for k, v in r.items() if k != "label"} for r in rows])
    for row, p in zip(rows, want, strict=True):
        assert payloads[row["id"]]["score"] == pytest.approx(certainty(SCALE, p), abs=1e-4)
