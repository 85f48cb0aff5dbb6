"""The teacher's screen settings against the real Label Studio: a rubric pushed later reaches
the answers already imported (no re-import), the screen language and rubric are kept by later
pushes, the instructions are shown, and the saved tabs hide internal ids and list exactly the
answers whose teachers disagree after a pull."""

from __future__ import annotations

import csv
import re
import uuid

import pytest
from click.testing import CliRunner
from ls_server import answer, ls_server  # noqa: F401

from asag.annotate import project as projects
from asag.annotate import screen, views
from asag.annotate.connection import every, plain
from asag.cli import cli

pytestmark = pytest.mark.labelstudio
HEADER = ["question_id", "question", "reference_answer", "student_answer", "teacher_a",
          "teacher_b"]
ROWS = [  # the second answer's teachers differ by 3 points, the others by at most 1
    ["q1", "Why does ice float?", "It is less dense.", "It is lighter.", "2", "3"],
    ["q1", "Why does ice float?", "It is less dense.", "Less dense than water.", "5", "2"],
    ["q2", "What is rust?", "Iron oxide.", "Oxidised iron.", "5", "5"],
]


def run(server, *args, code: int = 0):
    result = CliRunner().invoke(cli, [str(a) for a in args], env=server.cli_env(),
                                catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


def rubrics(api, project_id: int) -> dict[str, str]:
    tasks = every(api.sdk.tasks.list(project=project_id, page_size=100))
    return {t["data"]["student_answer"]: t["data"]["rubric"] for t in tasks}


def test_rubric_language_and_tabs_follow_the_project(ls_server, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.chdir(tmp_path)
    name = f"rubric-{uuid.uuid4().hex[:6]}"
    with (tmp_path / "answers.csv").open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([HEADER, *ROWS])
    run(ls_server, "gather", "answers.csv", "-o", "all.jsonl")
    lines = (tmp_path / "all.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    (tmp_path / "first.jsonl").write_text("".join(lines[:2]), encoding="utf-8")
    (tmp_path / "rubric.csv").write_text(
        "question,level,description\nq1,0,Nothing about density.\nq1,5,Less dense.\n",
        encoding="utf-8")
    run(ls_server, "annotate", "push", "first.jsonl", "--project", name, "--scale", "0-5",
        "--annotations-per-answer", "2", "--ui-language", "hu")
    api = ls_server.api()
    project = projects.find(api, name)
    assert set(rubrics(api, project["id"]).values()) == {""}  # no rubric yet

    out = run(ls_server, "annotate", "push", "first.jsonl", "--project", name,
              "--rubric", "rubric.csv")
    assert "rubric updated on 2 answers" in out
    want = "0 – Nothing about density.\n5 – Less dense."
    assert set(rubrics(api, project["id"]).values()) == {want}  # the same tasks, updated

    (tmp_path / "rubric.yaml").write_text(
        "instructions: Ignore spelling.\nquestions:\n  What is rust?:\n    5: Iron oxide.\n"
        "  q1:\n    5: Less dense than water.\n", encoding="utf-8")
    run(ls_server, "annotate", "push", "all.jsonl", "--project", name, "--rubric", "rubric.yaml")
    assert rubrics(api, project["id"]) == {
        "It is lighter.": "5 – Less dense than water.",
        "Less dense than water.": "5 – Less dense than water.",
        "Oxidised iron.": "5 – Iron oxide."}  # matched by question text too
    detail = plain(api.sdk.projects.get(project["id"]))
    assert screen.settings_of(detail["label_config"])["language"] == "hu"  # kept
    assert detail["show_instruction"] and "Ignore spelling." in detail["expert_instruction"]
    assert "Olvassa el a kérdést" in detail["expert_instruction"]

    tabs = {v["data"]["title"]: v for v in plain(api.sdk.views.list(project=project["id"]))}
    assert set(tabs) >= {views.TABLE, views.DISAGREEMENTS}
    hidden = tabs[views.TABLE]["data"]["hiddenColumns"]["explore"]
    assert {"tasks:data.answer_id", "tasks:data.question_id", "tasks:inner_id"} <= set(hidden)
    assert "tasks:data.student_answer" not in hidden

    out = run(ls_server, "annotate", "simulate", "--project", name, "--scores", "answers.csv",
              "--teacher-cols", "teacher_a,teacher_b")
    assert "made 6 annotations" in out and "every task's counters match" in out
    out = run(ls_server, "annotate", "pull", "--project", name, "-o", "labels.jsonl")
    assert "1 answers in the tab 'Disagreements'" in out
    tab = next(v for v in plain(api.sdk.views.list(project=project["id"]))
               if v["data"]["title"] == views.DISAGREEMENTS)
    listed = every(api.sdk.tasks.list(project=project["id"], view=tab["id"]))
    assert [t["data"]["student_answer"] for t in listed] == ["Less dense than water."]
    # the teachers' scores: a column of this tab only, never on the labelling screen
    assert re.fullmatch(r"sim-teacher-a@asag\.local: \d · sim-teacher-b@asag\.local: \d",
                        listed[0]["data"][views.SCORES_FIELD])
    assert f"tasks:data.{views.SCORES_FIELD}" in hidden
    assert f"tasks:data.{views.SCORES_FIELD}" not in tab["data"]["hiddenColumns"]["explore"]
    assert views.SCORES_FIELD not in detail["label_config"]


def test_the_disagreements_tab_writes_only_the_scores_that_change(ls_server):  # noqa: F811
    """A pull's tab update reads the tasks' data in pages and PATCHes only the tasks whose
    teachers' scores text changes: a task that left the tab is cleared, one already right
    is not written again."""
    from asag.annotate.connection import import_tasks
    from asag.annotate.push import task_data
    from asag.scale import Scale

    api = ls_server.api()
    name = f"tab-{uuid.uuid4().hex[:6]}"
    pid = plain(api.sdk.projects.create(
        title=name, label_config=projects.label_config(Scale.parse("0-5"), name)))["id"]
    ids = import_tasks(api, pid, [{"data": task_data(answer(i))} for i in range(3)])

    def scores():
        return {t["id"]: t["data"].get(views.SCORES_FIELD)
                for t in every(api.sdk.tasks.list(project=pid))}

    both = {ids[0]: "a@x: 1 · b@x: 4", ids[1]: "a@x: 0 · b@x: 5"}
    assert views.ensure_views(api, pid, both) == 2
    assert views.ensure_views(api, pid, both) == 0
    assert views.ensure_views(api, pid, {ids[1]: "a@x: 0 · b@x: 3"}) == 2
    assert scores() == {ids[0]: "", ids[1]: "a@x: 0 · b@x: 3", ids[2]: None}
    assert views.ensure_views(api, pid, {}) == 1
    assert scores() == {ids[0]: "", ids[1]: "", ids[2]: None}
