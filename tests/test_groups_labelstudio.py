"""Answer groups against the real Label Studio: push grouped answers, score the group task
through the API, pull (every member gets the score), split the group, pull and push again
(the other members become tasks of their own)."""

from __future__ import annotations

import uuid

import pytest
from click.testing import CliRunner
from ls_server import answer, ls_server, tasks_by_answer, write_answers  # noqa: F401

from asag.annotate import groups as task_groups
from asag.annotate import project as projects
from asag.cli import cli
from asag.records import ANNOTATION, read_jsonl

pytestmark = pytest.mark.labelstudio

DENSE = "Ice is less dense than liquid water, so it floats on top of the water."
ANSWERS = [
    answer(0, DENSE),
    answer(1, "ice is less dense than liquid water so it floats on top of the water"),
    answer(2, "Ice is less dense than liquid water so it floats on top of the watr."),
    answer(3, "It floats because of the wind."),
    answer(4, DENSE, question_id="q2"),  # the same text, another question: never joined
]


def run(server, *args):
    result = CliRunner().invoke(cli, list(args), env=server.cli_env(), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def score(value: str, *extra: dict) -> list[dict]:
    return [{"from_name": "score", "to_name": "student_answer", "type": "choices",
             "value": {"choices": [value]}}, *extra]


def pulled(path) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for _, r in read_jsonl(path, ANNOTATION):
        out.setdefault(r["answer_id"], []).append(r)
    return out


def test_a_group_is_scored_once_for_all_members_and_a_split_group_separately(
        ls_server, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.chdir(tmp_path)
    name = f"groups-{uuid.uuid4().hex[:6]}"
    write_answers(tmp_path / "answers.jsonl", ANSWERS)
    first = run(ls_server, "annotate", "push", "answers.jsonl", "--project", name,
                "--scale", "0-5", "--groups")
    assert "3 created, 0 already present;" in first.output
    assert "1 of the tasks created stand for 3 near-identical answers" in first.output
    again = run(ls_server, "annotate", "push", "answers.jsonl", "--project", name)
    assert "0 created, 5 already present" in again.output

    api = ls_server.api()
    project = projects.find(api, name)
    tasks = tasks_by_answer(api, project["id"])
    assert sorted(tasks) == ["a00000", "a00003", "a00004"]
    group_task = api.sdk.tasks.get(str(tasks["a00000"][0])).data
    assert group_task[task_groups.MEMBERS] == ["a00000", "a00001", "a00002"]
    assert group_task["student_answer"] == DENSE
    assert group_task[task_groups.TEXT] == "\n".join(f"• {a['student_answer']}"
                                                     for a in ANSWERS[1:3])
    assert "a00001" not in group_task[task_groups.TEXT]  # texts only, no ids or students
    assert api.sdk.tasks.get(str(tasks["a00003"][0])).data[task_groups.MEMBERS] == []

    made = {}
    for answer_id, value in (("a00000", "4"), ("a00003", "1"), ("a00004", "3")):
        made[answer_id] = api.sdk.annotations.create(id=tasks[answer_id][0],
                                                     result=score(value)).id
    out = run(ls_server, "annotate", "pull", "--project", name, "-o", "labels.jsonl")
    assert "3 annotations of 5 answers (0 skipped)" in out.output
    records = pulled(tmp_path / "labels.jsonl")
    assert {a: [(r["score"], r.get("group_id")) for r in rs] for a, rs in records.items()} == {
        "a00000": [(4, "a00000")], "a00001": [(4, "a00000")], "a00002": [(4, "a00000")],
        "a00003": [(1, None)], "a00004": [(3, None)]}

    # a teacher ticks "score these answers separately": the score is the shown answer's only
    split = {"from_name": "split", "to_name": "student_answer", "type": "choices",
             "value": {"choices": [group_task[task_groups.SPLIT_CHOICES][0]["value"]]}}
    api.sdk.annotations.update(id=made["a00000"], result=score("4", split))
    out = run(ls_server, "annotate", "pull", "--project", name, "-o", "labels.jsonl")
    assert "3 annotations of 3 answers" in out.output and "0 deleted" in out.output
    records = pulled(tmp_path / "labels.jsonl")
    assert sorted(records) == ["a00000", "a00003", "a00004"]
    assert [r.get("group_id") for r in records["a00000"]] == [None]

    # the next push imports the other members, each on its own (never grouped again)
    third = run(ls_server, "annotate", "push", "answers.jsonl", "--project", name)
    assert "2 created, 3 already present" in third.output
    tasks = tasks_by_answer(api, project["id"])
    assert sorted(tasks) == [a["id"] for a in ANSWERS]
    for answer_id in ("a00001", "a00002"):
        data = api.sdk.tasks.get(str(tasks[answer_id][0])).data
        assert data[task_groups.SIZE] == 1 and data[task_groups.MEMBERS] == []
    fourth = run(ls_server, "annotate", "push", "answers.jsonl", "--project", name)
    assert "0 created, 5 already present" in fourth.output


def test_a_new_answer_like_a_pushed_group_gets_a_task_of_its_own(
        ls_server, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.chdir(tmp_path)
    name = f"groups-new-{uuid.uuid4().hex[:6]}"
    write_answers(tmp_path / "answers.jsonl", ANSWERS[:2])
    first = run(ls_server, "annotate", "push", "answers.jsonl", "--project", name,
                "--scale", "0-5", "--groups")
    assert "1 created, 0 already present" in first.output
    # a late answer that would have joined: its own task (the group's score may already
    # be given without it), and grouping stays on for the project without --groups
    late = [answer(5, DENSE.upper()), answer(6, DENSE.lower())]
    write_answers(tmp_path / "answers.jsonl", ANSWERS[:2] + late)
    second = run(ls_server, "annotate", "push", "answers.jsonl", "--project", name)
    assert "1 created, 2 already present" in second.output
    api = ls_server.api()
    tasks = tasks_by_answer(api, projects.find(api, name)["id"])
    assert sorted(tasks) == ["a00000", "a00005"]
    data = api.sdk.tasks.get(str(tasks["a00005"][0])).data
    assert data[task_groups.MEMBERS] == ["a00005", "a00006"]


def test_groups_turned_on_later_give_the_earlier_tasks_the_group_fields(
        ls_server, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.chdir(tmp_path)
    name = f"groups-later-{uuid.uuid4().hex[:6]}"
    write_answers(tmp_path / "answers.jsonl", [ANSWERS[0], ANSWERS[3]])
    assert "2 created" in run(ls_server, "annotate", "push", "answers.jsonl", "--project", name,
                              "--scale", "0-5").output
    write_answers(tmp_path / "answers.jsonl", ANSWERS[:4])
    later = run(ls_server, "annotate", "push", "answers.jsonl", "--project", name, "--groups")
    assert "answer groups turned on: 2 tasks already in the project given the group fields" \
        in later.output
    assert "1 created, 2 already present" in later.output  # a1 and a2, grouped with each other
    api = ls_server.api()
    tasks = tasks_by_answer(api, projects.find(api, name)["id"])
    assert sorted(tasks) == ["a00000", "a00001", "a00003"]
    assert api.sdk.tasks.get(str(tasks["a00000"][0])).data[task_groups.SIZE] == 1
    assert api.sdk.tasks.get(str(tasks["a00001"][0])).data[task_groups.MEMBERS] == [
        "a00001", "a00002"]
