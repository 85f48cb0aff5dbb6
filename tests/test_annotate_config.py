"""The labelling config generated from a scale: valid XML whatever the labels hold, choices
that round-trip exactly, plain-text display, the scale recorded for `pull`, a key on every
choice (the digit is the score), the model's hint apart from the score, a rubric."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from asag import hints
from asag.annotate import screen
from asag.annotate.project import label_config, scale_of
from asag.annotate.push import batch_for, task_data
from asag.annotate.rubric import read_rubric
from asag.annotate.views import disagreeing_tasks
from asag.errors import InputError
from asag.hints import task_prediction
from asag.scale import Scale
from asag.train.scorer import Prediction


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
    assert scale_of(config) == scale


def test_answers_are_shown_as_text_never_html():
    root = ET.fromstring(label_config(Scale.parse("0-5"), title="t"))
    assert {t.get("name") for t in root.iter("Text")} == {
        "question", "reference_answer", "student_answer"}  # and the rubric once there is one
    assert not list(root.iter("HyperText"))
    assert root.find(".//Choices").get("required") == "true"


def test_half_point_scale_has_every_step():
    root = ET.fromstring(label_config(Scale.parse("0-2 step 0.5")))
    assert [c.get("value") for c in root.iter("Choice")] == ["0", "0.5", "1", "1.5", "2"]


def test_config_without_marker_has_no_scale():
    assert scale_of("<View><Text name='x' value='$x'/></View>") is None


def test_task_data_carries_the_answer_id_and_only_what_teachers_see():
    record = {"id": "h1", "question_id": "q", "question": "Q", "reference_answer": "R",
              "student_answer": "<script>x</script>", "source": {"file": "f", "line": 1},
              "score": 3}
    assert task_data(record) == {"answer_id": "h1", "question_id": "q", "question": "Q",
                                 "reference_answer": "R", "student_answer": "<script>x</script>",
                                 "rubric": ""}


def test_a_large_push_imports_in_fewer_larger_calls():
    assert [batch_for(n) for n in (10, 25_000, 50_000, 100_000, 1_000_000)] == [
        2500, 2500, 5000, 10_000, 10_000]


@pytest.mark.parametrize("spec", ["0-5", "1-4", "0-9", "0-10", "1-10", "0-10 step 0.5",
                                  "0-2 step 0.5", "0-20", "incorrect,partially_correct,correct"])
def test_every_choice_has_its_own_distinct_key(spec):
    root = ET.fromstring(label_config(Scale.parse(spec)))
    keys = [c.get("hotkey") for c in root.iter("Choice")]
    assert all(keys) and len(set(keys)) == len(keys)  # no choice left to automatic numbering


def test_a_scale_longer_than_the_keys_still_makes_a_config():
    root = ET.fromstring(label_config(Scale.parse("0-100")))
    keys = [c.get("hotkey") for c in root.iter("Choice")]
    assert len(keys) == 101 and keys[:3] == ["1", "2", "3"] and keys[36:] == [None] * 65


def test_on_integer_scales_the_digit_is_the_score():
    root = ET.fromstring(label_config(Scale.parse("0-5")))
    assert {c.get("value"): c.get("hotkey") for c in root.iter("Choice")} == {
        str(i): str(i) for i in range(6)}
    assert screen.hotkeys(Scale.parse("1-10"))[-1] == "0"  # ten on the 0 key when 0 is free
    assert screen.hotkeys(Scale.parse("0-10"))[-1] == "t"


def test_half_points_are_shift_digit_and_labels_are_numbered_worst_first():
    assert screen.hotkeys(Scale.parse("0-2 step 0.5")) == ["0", "shift+0", "1", "shift+1", "2"]
    assert screen.keys_summary(Scale.parse("0-2 step 0.5")) == "0-2, ⇧digit +0.5"
    labels = ET.fromstring(label_config(Scale.parse("wrong,right")))
    assert [c.get("hotkey") for c in labels.iter("Choice")] == ["1", "2"]
    assert screen.keys_summary(Scale.parse("wrong,right")) == "wrong=1, right=2"


@pytest.mark.parametrize("language", screen.LANGUAGES)
def test_screen_language_and_settings_are_kept_in_the_config(language):
    config = label_config(Scale.parse("0-5"), language=language, hint=True,
                          instructions="Be fair -- always.", rubric={"q1": {"3": "ok"}})
    root = ET.fromstring(config)
    headers = [h.get("value") for h in root.iter("Header")]
    assert headers[0] == screen.WORDS[language]["question"]
    assert screen.settings_of(config) == {"language": language, "hint": True,
                                          "instructions": "Be fair -- always.",
                                          "rubric": {"q1": {"3": "ok"}}}
    assert [t.get("name") for t in root.iter("TextArea")] == ["model_hint", "comment"]
    assert [t.get("value") for t in root.iter("Text")][-1] == "$rubric"


def test_the_hint_is_a_read_only_text_and_nothing_is_preselected_unless_prefill():
    scale = Scale.parse("0-5")
    pred = task_prediction(scale, Prediction(score=3.4, step=3), model_version="m1",
                           confidence_words="hu")
    assert pred["score"] == pytest.approx(0.2)
    assert pred["result"] == [{"from_name": "model_hint", "to_name": "student_answer",
                               "type": "textarea", "readonly": True,
                               "value": {"text": ["modell: 3, bizonytalan"],
                                         "model_score": "3"}}]
    assert hints.predicted_score(pred, scale) == 3
    filled = task_prediction(scale, Prediction(score=3.0, step=3), model_version="m1",
                             prefill=True)
    assert filled["result"][0]["value"]["text"] == ["model: 3, sure"]
    assert filled["result"][1]["value"] == {"choices": ["3"]}
    labels = Scale.parse("a,b")
    pred = task_prediction(labels, Prediction(score="b", confidence=0.6), model_version="m")
    assert pred["result"][0]["value"]["text"] == ["model: b, fairly sure"]
    with pytest.raises(ValueError):
        task_prediction(scale, Prediction(score=7.0, step=7), model_version="m1")


def test_confidence_words_by_band():
    assert [hints.confidence_in_words(c) for c in (0.95, 0.8, 0.6, 0.1)] == [
        "sure", "sure", "fairly sure", "unsure"]
    assert hints.confidence_in_words(0.9, "de") == "sicher"


def test_rubric_from_yaml_and_csv_in_scale_order(tmp_path):
    scale = Scale.parse("0-5")
    yml = tmp_path / "r.yaml"
    yml.write_text("instructions: Be kind.\nquestions:\n  q1:\n    5: all\n    0: none\n",
                   encoding="utf-8")
    rubric = read_rubric(yml, scale)
    assert rubric.instructions == "Be kind."
    assert rubric.text_for({"question_id": "q1"}) == "0 – none\n5 – all"
    assert rubric.text_for({"question_id": "q2", "question": "?"}) == ""
    table = tmp_path / "r.csv"
    table.write_text("question,level,description\nWhy?,1,some\nWhy?,0,none\n",
                     encoding="utf-8")
    assert read_rubric(table, scale).text_for({"question_id": "x", "question": "Why?"}) == \
        "0 – none\n1 – some"
    table.write_text("question,level,description\nWhy?,9,too high\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"r.csv:2: .*9.*scale"):
        read_rubric(table, scale)


def test_disagreements_differ_by_more_than_the_gap_and_name_each_teachers_score():
    scale = Scale.parse("0-5")
    records = [{"task_id": 1, "score": 3, "annotator_email": "b@x"},
               {"task_id": 1, "score": 1, "annotator_email": "a@x"},
               {"task_id": 2, "score": 2, "annotator_email": "a@x"},
               {"task_id": 2, "score": 3, "annotator_email": "b@x"},
               {"task_id": 3, "score": 0, "annotator_email": "a@x"},
               {"task_id": 3, "score": None, "skipped": True, "annotator_email": "b@x"}]
    assert disagreeing_tasks(records, scale, 1.0) == {1: "a@x: 1 · b@x: 3"}
    assert disagreeing_tasks(records, scale, 0.0) == {1: "a@x: 1 · b@x: 3",
                                                      2: "a@x: 2 · b@x: 3"}


@pytest.mark.parametrize(
    "spec", ["0-5", "0-10 step 0.5", "1-4", "incorrect,partially_correct,correct"])
def test_scale_survives_a_config_edited_without_its_marker(spec):
    config = label_config(Scale.parse(spec), title="t")
    edited = config[config.index("<View>"):]  # the comment dropped by an edit in Label Studio
    assert scale_of(edited) == Scale.parse(spec)


def test_the_samples_instructions_follow_the_screens_language():
    from asag.annotate.screen import instructions_html

    scale = Scale.parse("0-5")
    rubric = read_rubric(Path(__file__).parents[1] / "examples" / "sample_rubric.yaml", scale)
    assert set(rubric.instructions) == {"en", "hu"}
    hu = instructions_html(scale, "hu", rubric.to_settings()["instructions"])
    assert "Azt pontozza, amit a tanuló megértett" in hu and "Score what" not in hu
    assert "Olvassa el a kérdést, a mintaválaszt és a tanuló válaszát" in hu
    de = instructions_html(scale, "de", rubric.instructions)  # no German text: English
    assert "Lesen Sie die Frage" in de and "Score what the student understood" in de
    config = label_config(scale, **rubric.to_settings())  # kept in the marker as given
    assert screen.settings_of(config)["instructions"] == rubric.instructions
