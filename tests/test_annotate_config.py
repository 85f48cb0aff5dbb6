"""The labelling config generated from a scale: valid XML whatever the labels hold, choices
that round-trip exactly, plain-text display, and the scale recorded for `pull`."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from asag.annotate.project import label_config, scale_of
from asag.annotate.push import prediction_payload, task_data
from asag.scale import Scale


@pytest.mark.parametrize(
    "spec",
    ["0-5", "0-10 step 0.5", "incorrect,partially_correct,correct",
     'bad "quote",<tag>,a & b,x--y,$var'],
)
def test_choices_round_trip_and_scale_is_recorded(spec):
    scale = Scale.parse(spec)
    config = label_config(scale, title='Physics <1> & "quotes"')
    root = ET.fromstring(config)
    assert [c.get("value") for c in root.iter("Choice")] == [str(v) for v in scale.values]
    assert root.find("Header").get("value") == 'Physics <1> & "quotes"'
    assert scale_of(config) == scale


def test_answers_are_shown_as_text_never_html():
    root = ET.fromstring(label_config(Scale.parse("0-5"), title="t"))
    assert {t.get("name") for t in root.iter("Text")} == {
        "question", "reference_answer", "student_answer"}
    assert not list(root.iter("HyperText"))
    assert root.find(".//Choices").get("required") == "true"


def test_half_point_scale_has_every_step():
    root = ET.fromstring(label_config(Scale.parse("0-2 step 0.5"), title="t"))
    assert [c.get("value") for c in root.iter("Choice")] == ["0", "0.5", "1", "1.5", "2"]


def test_config_without_marker_has_no_scale():
    assert scale_of("<View><Text name='x' value='$x'/></View>") is None


def test_task_data_carries_the_answer_id_and_only_what_teachers_see():
    record = {"id": "h1", "question_id": "q", "question": "Q", "reference_answer": "R",
              "student_answer": "<script>x</script>", "source": {"file": "f", "line": 1},
              "score": 3}
    assert task_data(record) == {"answer_id": "h1", "question_id": "q", "question": "Q",
                                 "reference_answer": "R", "student_answer": "<script>x</script>"}


def test_prediction_payload_uses_the_score_choices():
    pred = prediction_payload(Scale.parse("0-10 step 0.5"), 7.5, model_version="m1",
                              confidence=0.8)
    assert pred["result"][0]["value"] == {"choices": ["7.5"]}
    assert pred["result"][0]["from_name"] == "score" and pred["score"] == 0.8
    with pytest.raises(ValueError):
        prediction_payload(Scale.parse("0-5"), 7, model_version="m1")


@pytest.mark.parametrize(
    "spec", ["0-5", "0-10 step 0.5", "1-4", "incorrect,partially_correct,correct"])
def test_scale_survives_a_config_edited_without_its_marker(spec):
    config = label_config(Scale.parse(spec), title="t")
    edited = config[config.index("<View>"):]  # the comment dropped by an edit in Label Studio
    assert scale_of(edited) == Scale.parse(spec)
