"""Concurrent writers against the real Label Studio: several `annotate push` runs at once
(each its own process and working directory, as on separate machines) leave one project and
one task per answer; concurrent `simulate` runs leave one annotation per teacher and task;
concurrent `pull` runs into one file leave it whole. benchmarks/bench_concurrent_push.py
runs the full-size version (4 x 4,969 answers). Each test runs on SQLite and on PostgreSQL."""
# ruff: noqa: F811  (the ls_server fixture imported from ls_server.py)

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner
from ls_server import answer, ls_server_each_database, tasks_by_answer, write_answers  # noqa: F401

from asag.annotate import project as projects
from asag.annotate.connection import every
from asag.annotate.races import titled
from asag.cli import cli
from asag.records import ANNOTATION, read_jsonl

pytestmark = pytest.mark.labelstudio
REPO = Path(__file__).resolve().parents[1]
WRITERS = 4


@pytest.fixture
def ls_server(ls_server_each_database):  # noqa: F811
    """Every test here runs on SQLite and on PostgreSQL (no id-order guarantee there)."""
    return ls_server_each_database


def _at_once(server, cwds, *args) -> list[str]:
    """Run `asag ARGS` in each working directory at the same time; their last stderr lines."""
    env = {**os.environ, **server.cli_env()}
    procs = [subprocess.Popen([sys.executable, "-m", "asag", *map(str, args)], cwd=cwd, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for cwd in cwds]
    errs = [proc.communicate(timeout=600)[1] for proc in procs]  # all end before any assert
    for proc, err in zip(procs, errs, strict=True):
        assert proc.returncode == 0, err
        assert "Traceback" not in err
    return [err.strip().splitlines()[-1] for err in errs]


def _machines(tmp_path, n=WRITERS) -> list[Path]:
    cwds = [tmp_path / f"machine{k}" for k in range(n)]
    for cwd in cwds:
        cwd.mkdir(parents=True)
    return cwds


def _created(summary: str) -> int:
    return int(summary.split(": ", 1)[1].split(" created")[0].replace(",", ""))


def test_concurrent_first_pushes_make_one_project_and_one_task_per_answer(
        ls_server, tmp_path):  # noqa: F811
    records = write_answers(tmp_path / "a.jsonl", [answer(i) for i in range(240)])
    api = ls_server.api()
    for _ in range(2):
        name = f"race-first-{uuid.uuid4().hex[:6]}"
        summaries = _at_once(ls_server, _machines(tmp_path / name), "annotate", "push", records,
                             "--project", name, "--scale", "0-5", "--batch-size", "60")
        found = titled(api, name, "id,title")
        assert len(found) == 1
        per_answer = tasks_by_answer(api, found[0]["id"])
        assert len(per_answer) == 240 and all(len(t) == 1 for t in per_answer.values())
        # (each run's "created" is what it made minus what was removed as concurrent
        # duplicates; under load the sum over runs is near 240, not exact: the end state is)
        assert all(_created(s) <= 240 for s in summaries), summaries
        assert not any("more than one task" in s for s in summaries), summaries


def test_concurrent_pushes_into_an_existing_project_add_each_answer_once(
        ls_server, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.chdir(tmp_path)
    name = f"race-existing-{uuid.uuid4().hex[:6]}"
    write_answers(tmp_path / "head.jsonl", [answer(i) for i in range(50)])
    result = CliRunner().invoke(cli, ["annotate", "push", "head.jsonl", "--project", name,
                                      "--scale", "0-5"], env=ls_server.cli_env())
    assert result.exit_code == 0, result.output
    records = write_answers(tmp_path / "a.jsonl", [answer(i) for i in range(200)])
    # two share a working directory (and its task cache), two are "other machines"
    cwds = _machines(tmp_path / "m", 3)
    summaries = _at_once(ls_server, [tmp_path, *cwds], "annotate", "push", records,
                         "--project", name, "--batch-size", "50")
    api = ls_server.api()
    per_answer = tasks_by_answer(api, projects.find(api, name)["id"])
    assert len(per_answer) == 200 and all(len(t) == 1 for t in per_answer.values())
    assert all(_created(s) <= 150 for s in summaries), "\n".join(summaries)
    assert not any("more than one task" in s for s in summaries), "\n".join(summaries)
    result = CliRunner().invoke(cli, ["annotate", "push", "a.jsonl", "--project", name],
                                env=ls_server.cli_env())
    assert result.exit_code == 0 and "0 created, 200 already present" in result.output
    assert "more than once" not in result.output
    cache = next((tmp_path / ".asag" / "cache").iterdir())
    assert cache.stat().st_mode & 0o777 == 0o600  # students' answer ids: owner-only


def test_repeated_answers_are_removed_by_the_next_push_and_only_annotated_copies_reported(
        ls_server, tmp_path, monkeypatch):  # noqa: F811
    from asag.annotate.connection import import_tasks
    from asag.annotate.push import task_data

    monkeypatch.chdir(tmp_path)
    name = f"repeated-{uuid.uuid4().hex[:6]}"
    records = [answer(i) for i in range(5)]
    write_answers(tmp_path / "a.jsonl", records)
    push = ["annotate", "push", "a.jsonl", "--project", name, "--scale", "0-5"]
    assert CliRunner().invoke(cli, push, env=ls_server.cli_env()).exit_code == 0
    api = ls_server.api()
    pid = projects.find(api, name)["id"]
    # what an interrupted concurrent push leaves: answers 0-2 imported a second time
    extra = import_tasks(api, pid, [{"data": task_data(r)} for r in records[:3]])
    api.sdk.annotations.create(extra[0], result=[], was_cancelled=True)  # a teacher skipped it
    result = CliRunner().invoke(cli, push, env=ls_server.cli_env())
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == (
        f"project '{name}': 0 created, 5 already present; 2 repeated tasks of "
        "other runs were removed (each answer keeps its first task); 1 answers still have "
        "more than one task and "
        f"the extra ones hold annotations (task ids {extra[0]}): keep the annotations you want "
        "in Label Studio, then delete the extra tasks")
    per_answer = tasks_by_answer(api, pid)
    assert sorted(len(t) for t in per_answer.values()) == [1, 1, 1, 1, 2]
    assert per_answer[records[0]["id"]][1] == extra[0]


def test_a_project_that_loses_to_a_late_lower_one_moves_its_answers_there(
        ls_server, tmp_path, monkeypatch):  # noqa: F811
    """What a first push does when another first push's project, with a lower id, becomes
    visible only after this one settled (a late commit on PostgreSQL): staged here by
    making the lower project first and handing the push the higher one."""
    from asag.annotate import push as pushing
    from asag.annotate.connection import plain
    from asag.annotate.push import PushReport, push_records
    from asag.scale import Scale

    monkeypatch.chdir(tmp_path)
    api = ls_server.api()
    name = f"late-{uuid.uuid4().hex[:6]}"
    config = projects.label_config(Scale.parse("0-5"), name)
    lower, higher = (plain(api.sdk.projects.create(title=name, label_config=config))
                     for _ in range(2))
    rows = [answer(i) for i in range(12)]
    report = push_records(api, higher, rows, PushReport())
    assert report.created == 12
    moved, winner = pushing._recheck_project(api, higher, rows, report, 100, None)
    assert winner["id"] == lower["id"] and moved.created == 12
    assert [p["id"] for p in titled(api, name, "id,title")] == [lower["id"]]
    per_answer = tasks_by_answer(api, lower["id"])
    assert len(per_answer) == 12 and all(len(t) == 1 for t in per_answer.values())
    assert tasks_by_answer(api, higher["id"]) == {}
    assert plain(api.sdk.projects.get(higher["id"]))["title"] == (
        f"asag duplicate {higher['id']} (empty)")


def test_the_settle_finds_copies_by_answer_not_by_id_order_and_keeps_the_lowest_left(
        ls_server):  # noqa: F811
    """The settle after an import reads only the tasks this push neither listed nor made,
    by id range: a concurrent copy whose id lies between ids the push had listed (a late
    commit on PostgreSQL) is found; a listed task deleted since is no winner."""
    from asag.annotate.connection import import_tasks, plain
    from asag.annotate.push import task_data
    from asag.annotate.races import settle_tasks
    from asag.scale import Scale

    api = ls_server.api()
    name = f"settle-{uuid.uuid4().hex[:6]}"
    pid = plain(api.sdk.projects.create(
        title=name, label_config=projects.label_config(Scale.parse("0-5"), name)))["id"]
    rows = [answer(i) for i in range(5)]

    def put(*indices):
        return import_tasks(api, pid, [{"data": task_data(rows[i])} for i in indices])

    listed = put(0, 1)
    late = put(3)  # another run's copy of answer 3, below a task this run had listed
    listed += put(2)
    known = {t: rows[i]["id"] for t, i in zip(listed, (0, 1, 2), strict=True)}
    ours = put(3, 4)
    after = put(4, 1)  # another run's copy of answer 4 after ours; and of 1, whose
    api.sdk.tasks.delete(listed[1])  # listed task a person deleted meanwhile
    mine = {ours[0]: rows[3]["id"], ours[1]: rows[4]["id"]}

    others, annotated, remaining = settle_tasks(api, pid, mine, known)

    assert (others, annotated) == (1, [])  # after[0] deleted here; our copy of 3 too
    assert tasks_by_answer(api, pid) == {
        rows[0]["id"]: [listed[0]], rows[1]["id"]: [after[1]], rows[2]["id"]: [listed[2]],
        rows[3]["id"]: [late[0]], rows[4]["id"]: [ours[1]]}
    assert remaining == {
        listed[0]: rows[0]["id"], after[1]: rows[1]["id"], listed[2]: rows[2]["id"],
        late[0]: rows[3]["id"], ours[1]: rows[4]["id"]}


def _gather_and_push(ls_server, table: str, name: str) -> None:
    """Gather TABLE (in the working directory) and push it for two teachers per answer."""
    for args in (["gather", table, "-o", "raw.jsonl"],
                 ["annotate", "push", "raw.jsonl", "--project", name, "--scale", "0-5",
                  "--annotations-per-answer", "2"]):
        result = CliRunner().invoke(cli, args, env=ls_server.cli_env())
        assert result.exit_code == 0, result.output


def test_concurrent_simulate_and_pull_runs_double_nothing(ls_server, tmp_path,
                                                          monkeypatch):  # noqa: F811
    monkeypatch.chdir(tmp_path)
    name = f"race-simulate-{uuid.uuid4().hex[:6]}"
    table = tmp_path / "sample.csv"
    shutil.copy(REPO / "examples" / "sample_answers.csv", table)
    _gather_and_push(ls_server, "sample.csv", name)
    cwds = _machines(tmp_path / "sim", 3)
    _at_once(ls_server, cwds, "annotate", "simulate", "--project", name, "--scores", table,
             "--teacher-cols", "teacher_a,teacher_b", "--limit", "30")
    api = ls_server.api()
    pid = projects.find(api, name)["id"]
    pairs = Counter()
    for task in every(api.sdk.tasks.list(project=pid, fields="all", page_size=1000)):
        for ann in task.get("annotations") or []:
            user = ann["completed_by"]
            pairs[(task["id"], user["id"] if isinstance(user, dict) else user)] += 1
    assert sum(pairs.values()) == 60 and set(pairs.values()) == {1}

    out = tmp_path / "labels.jsonl"
    _at_once(ls_server, [tmp_path] * 3, "annotate", "pull", "--project", name, "-o", out)
    records = [r for _, r in read_jsonl(out, ANNOTATION)]
    assert len(records) == 60 and len({r["annotation_id"] for r in records}) == 60
    assert json.loads((tmp_path / "labels.jsonl.state.json").read_text())["project_id"] == pid


def test_teachers_scoring_at_once_leave_exactly_their_annotations_and_right_counters(
        ls_server, tmp_path, monkeypatch):  # noqa: F811
    """The small version of benchmarks/bench_many_teachers.py: 4 teachers at 4 machines, each
    answer scored by exactly 2 of them, all at the same time (a department's server:
    PostgreSQL; SQLite answers such load with "database is locked", BENCHMARKS.md)."""
    import csv

    if ls_server.database != "postgresql":
        pytest.skip("many teachers at once: the PostgreSQL server's case")

    from asag.annotate.simulate import every_task, miscounted_tasks, teacher_email

    monkeypatch.chdir(tmp_path)
    name = f"teachers-{uuid.uuid4().hex[:6]}"
    teachers = [f"teacher_{k}" for k in range(4)]
    want = {}
    with (tmp_path / "t.csv").open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["question_id", "question", "reference_answer", "student_answer",
                      *teachers])
        for i in range(40):
            cells = [""] * 4
            for j in range(2):
                cells[(i + j) % 4] = str((i + j) % 6)
                want[(f"Answer {i}.", teacher_email(teachers[(i + j) % 4]))] = (i + j) % 6
            out.writerow(["q1", "Why?", "Because.", f"Answer {i}.", *cells])
    _gather_and_push(ls_server, "t.csv", name)
    env = ls_server.cli_env()
    cwds = _machines(tmp_path / "teachers", 4)
    procs = [subprocess.Popen(
        [sys.executable, "-m", "asag", "annotate", "simulate", "--project", name, "--scores",
         str(tmp_path / "t.csv"), "--teacher-cols", column], cwd=cwd,
        env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for cwd, column in zip(cwds, teachers, strict=True)]
    errs = [proc.communicate(timeout=600)[1] for proc in procs]
    assert [p.returncode for p in procs] == [0] * 4, errs
    assert all("counters match" in e for e in errs), errs

    api = ls_server.api()
    project = projects.find(api, name)
    tasks = every_task(api, project["id"])
    assert miscounted_tasks(api, project, tasks) == []
    def who(ann):
        user = ann["completed_by"]
        return user["id"] if isinstance(user, dict) else user

    assert all(len({who(a) for a in t["annotations"]}) == len(t["annotations"]) == 2
               for t in tasks)
    out = tmp_path / "labels.jsonl"
    result = CliRunner().invoke(cli, ["annotate", "pull", "--project", name, "-o", str(out)],
                                env=env)
    assert result.exit_code == 0, result.output
    text = {t["data"]["answer_id"]: t["data"]["student_answer"] for t in tasks}
    got = {(text[r["answer_id"]], r["annotator_email"]): r["score"]
           for _, r in read_jsonl(out, ANNOTATION)}
    assert got == want and len(list(read_jsonl(out, ANNOTATION))) == 80

