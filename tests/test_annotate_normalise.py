"""Label Studio's exported annotations as annotation records: scores on the scale, skips,
comments, and which model suggestion the teacher saw."""

from __future__ import annotations

from asag.annotate.snapshot import normalise
from asag.records import validation_error
from asag.scale import Scale

SCALE = Scale.parse("0-10 step 0.5")
PROJECT = {"id": 3, "model_version": "m2"}


def task(**extra) -> dict:
    return {"id": 11, "data": {"answer_id": "h1", "question_id": "q1"}, "predictions": [],
            **extra}


def ann(**extra) -> dict:
    base = {"id": 7, "completed_by": {"id": 4, "email": "t@s.test"}, "was_cancelled": False,
            "ground_truth": False, "created_at": "2026-01-02T10:00:00Z",
            "updated_at": "2026-01-02T10:01:00Z", "lead_time": 12.5, "result": [
                {"from_name": "score", "to_name": "student_answer", "type": "choices",
                 "value": {"choices": ["7.5"]}},
                {"from_name": "comment", "to_name": "student_answer", "type": "textarea",
                 "value": {"text": ["first", "second <b>"]}}]}
    return {**base, **extra}


def test_score_comment_and_annotator_are_read():
    record = normalise(task(), ann(), PROJECT, SCALE)
    assert validation_error("annotation", record) is None
    assert (record["score"], record["comment"], record["annotator"],
            record["annotator_email"]) == (7.5, "first\nsecond <b>", "4", "t@s.test")
    assert (record["task_id"], record["annotation_id"], record["project_id"]) == (11, 7, 3)


def test_skipped_annotation_has_no_score():
    record = normalise(task(), ann(was_cancelled=True, result=[]), PROJECT, SCALE)
    assert record["skipped"] is True and record["score"] is None
    assert validation_error("annotation", record) is None


def test_value_off_the_scale_is_not_guessed():
    bad = ann(result=[{"from_name": "score", "type": "choices", "value": {"choices": ["11"]}}])
    assert normalise(task(), bad, PROJECT, SCALE)["score"] is None


def test_prediction_shown_is_the_parent_else_the_current_models_earlier_one():
    preds = [
        {"id": 1, "model_version": "m1", "score": 0.9, "created_at": "2026-01-01T00:00:00Z",
         "result": [{"from_name": "score", "value": {"choices": ["3"]}}]},
        {"id": 2, "model_version": "m2", "score": 0.6, "created_at": "2026-01-01T00:00:00Z",
         "result": [{"from_name": "score", "value": {"choices": ["4.5"]}}]},
        {"id": 3, "model_version": "m2", "score": 0.7, "created_at": "2026-02-01T00:00:00Z",
         "result": [{"from_name": "score", "value": {"choices": ["5"]}}]},
    ]
    shown = normalise(task(predictions=preds), ann(), PROJECT, SCALE)["prediction"]
    assert shown == {"model_version": "m2", "score": 4.5, "confidence": 0.6}
    parent = normalise(task(predictions=preds), ann(parent_prediction=1), PROJECT, SCALE)
    assert parent["prediction"] == {"model_version": "m1", "score": 3, "confidence": 0.9}
    assert normalise(task(), ann(), PROJECT, SCALE)["prediction"] is None
