"""Answer groups without a server: which answers join (asag/groups.py), what a group task
shows, and how a group task's annotation becomes one record per member (annotate/groups.py)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from asag.annotate import groups as task_groups
from asag.annotate.project import label_config
from asag.groups import group_answers, normalise
from asag.scale import Scale


def rec(i: int, text: str, question: str = "q1") -> dict:
    return {"id": f"a{i}", "question_id": question, "student_answer": text}


def members(groups) -> list[list[str]]:
    return [[m["id"] for m in g.members] for g in groups]


def test_normalise_ignores_case_punctuation_whitespace_and_unicode_form():
    assert normalise("  It's\u00a0 HOT!  ") == "its hot"
    assert normalise("Cafe\u0301.") == normalise("café")
    assert normalise("2.5 m") != normalise("25 m")  # a decimal point between digits is kept


def test_answers_identical_after_normalisation_form_one_group_at_any_threshold():
    rows = [rec(0, "Ice is less dense."), rec(1, "ice is LESS dense"), rec(2, "Wind.")]
    assert members(group_answers(rows, threshold=1.0)) == [["a0", "a1"], ["a2"]]


def test_a_typo_joins_the_group_of_the_answer_it_resembles():
    rows = [rec(0, "Ice is less dense than liquid water, so it floats on top of the water."),
            rec(1, "Ice is less dense than liquid water so it floats on top of the watr."),
            rec(2, "Water is denser when it is a liquid than ice.")]
    assert members(group_answers(rows)) == [["a0", "a1"], ["a2"]]
    assert members(group_answers(rows, threshold=1.0)) == [["a0"], ["a1"], ["a2"]]


def test_a_different_number_or_word_order_keeps_answers_apart():
    rows = [rec(0, "The network is 10.0.0.0/8 and the mask is 255.0.0.0"),
            rec(1, "The network is 10.0.0.0/16 and the mask is 255.0.0.0"),
            rec(2, "As the mass increases the speed decreases"),
            rec(3, "As the speed increases the mass decreases")]
    assert members(group_answers(rows)) == [["a0"], ["a1"], ["a2"], ["a3"]]


def test_answers_of_different_questions_never_join_and_input_order_is_kept():
    rows = [rec(0, "Yes.", "q1"), rec(1, "yes", "q2"), rec(2, "YES!", "q1"), rec(3, "no", "q2")]
    groups = group_answers(rows)
    assert members(groups) == [["a0", "a2"], ["a1"], ["a3"]]
    assert [g.id for g in groups] == ["a0", "a1", "a3"]


def test_empty_texts_after_normalisation_group_only_with_each_other():
    rows = [rec(0, "?"), rec(1, "!!"), rec(2, "a")]
    assert members(group_answers(rows)) == [["a0", "a1"], ["a2"]]


def test_a_group_task_lists_the_other_answers_texts_and_offers_the_split_checkbox():
    [group] = group_answers([rec(0, "Ice is less dense."), rec(1, "ice is less dense"),
                             rec(2, "ice is less dense"), rec(3, "Ice is less dense!")])
    fields = task_groups.task_fields(group, "en")
    assert fields[task_groups.MEMBERS] == ["a0", "a1", "a2", "a3"]
    assert fields[task_groups.SIZE] == 4
    assert fields[task_groups.TEXT] == "• ice is less dense  (×2)\n• Ice is less dense!"
    assert fields[task_groups.HEADING].startswith("Your score also applies to 3 other answer")
    assert len(fields[task_groups.SPLIT_CHOICES]) == 1
    [alone] = group_answers([rec(9, "Wind.")])
    assert task_groups.task_fields(alone) == {task_groups.MEMBERS: [], task_groups.SIZE: 1,
                                             task_groups.HEADING: "", task_groups.TEXT: "",
                                             task_groups.SPLIT_CHOICES: []}


def test_the_screen_shows_group_fields_and_a_split_checkbox_only_when_groups_are_on():
    plain = ET.fromstring(label_config(Scale.parse("0-5")))
    assert not [c for c in plain.iter("Choices") if c.get("name") == "split"]
    root = ET.fromstring(label_config(Scale.parse("0-5"), groups=True))
    [split] = [c for c in root.iter("Choices") if c.get("name") == "split"]
    assert split.get("value") == "$group_split" and split.get("choice") == "multiple"
    assert [t.get("value") for t in root.iter("Text") if t.get("name") == "group_text"] == [
        "$group_text"]


def _task(members: list[str], *annotations: dict) -> dict:
    return {"id": 7, "data": {"answer_id": members[0], task_groups.MEMBERS: members},
            "annotations": list(annotations)}


SCORE = {"from_name": "score", "value": {"choices": ["4"]}}
SPLIT = {"from_name": "split", "value": {"choices": ["Score these answers separately"]}}


def test_a_group_annotation_becomes_one_record_per_member_marked_with_the_group():
    task = _task(["a0", "a1", "a2"], {"result": [SCORE]})
    records = [{"answer_id": "a0", "annotation_id": 5, "score": 4}]
    out = task_groups.member_records(task, records)
    assert [(r["answer_id"], r["annotation_id"], r["score"], r["group_id"]) for r in out] == [
        ("a0", 5, 4, "a0"), ("a1", 5, 4, "a0"), ("a2", 5, 4, "a0")]


def test_a_split_group_scores_only_the_answer_shown():
    records = [{"answer_id": "a0", "annotation_id": 5, "score": 4}]
    split = _task(["a0", "a1"], {"result": [SCORE]}, {"result": [SCORE, SPLIT]})
    assert task_groups.member_records(split, records) == records
    skipped = _task(["a0", "a1"], {"result": [SPLIT], "was_cancelled": True})
    assert len(task_groups.member_records(skipped, records)) == 2  # a skip splits nothing
    alone = {"id": 8, "data": {"answer_id": "a0"}, "annotations": []}
    assert task_groups.member_records(alone, records) == records


def test_build_dataset_gives_every_member_of_a_pulled_group_its_score(tmp_path):
    from test_build_dataset_helpers import annotation, build_ok, raw_answer, write_jsonl

    from asag.dataset_layout import load_dataset_dir

    items = write_jsonl(tmp_path / "raw.jsonl", [raw_answer(i, i % 3) for i in range(30)])
    # a0000, a0003 and a0006 (question 0) were one group task scored 4: a record per member
    group = [{**annotation(f"a{i:04d}", "t1", 4), "task_id": 1, "annotation_id": 1,
              "group_id": "a0000"} for i in (0, 3, 6)]
    alone = [annotation(f"a{i:04d}", "t1", i % 6) for i in range(30) if i not in (0, 3, 6)]
    build_ok(write_jsonl(tmp_path / "ann.jsonl", group + alone), "--items", items,
             "-o", tmp_path / "ds")
    dsd, _ = load_dataset_dir(tmp_path / "ds")
    scores = {row["id"]: row["score"] for split in dsd.values() for row in split}
    assert len(scores) == 30
    assert [scores[a] for a in ("a0000", "a0003", "a0006")] == [4, 4, 4]
