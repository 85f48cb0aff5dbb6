"""Push and pull against the real server: two teachers take every answer from Label Studio's
labelling stream (--annotations-per-answer 2), one skips, the scores come back normalised,
and HTML/<script> in an answer reaches Label Studio byte for byte."""

from __future__ import annotations

import uuid

import pytest
from click.testing import CliRunner
from ls_server import answer, ls_server, tasks_by_answer, teacher, write_answers  # noqa: F401

from asag.annotate import project as projects
from asag.cli import cli
from asag.records import ANNOTATION, read_jsonl

pytestmark = pytest.mark.labelstudio

HTML = '<script>alert("x")</script><b>bold</b> &amp; é\u00a0ö  two  spaces <!-- c -->'
COMMENT = "<i>close</i>, but see §2 & <a href='x'>this</a>"


def run(server, *args):
    result = CliRunner().invoke(cli, list(args), env=server.cli_env(), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def test_two_teachers_skip_and_scores_round_trip(ls_server, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.chdir(tmp_path)
    name = f"round-trip-{uuid.uuid4().hex[:6]}"
    records = [answer(i) for i in range(5)] + [answer(5, HTML)]
    write_answers(tmp_path / "answers.jsonl", records)
    pushed = run(ls_server, "annotate", "push", "answers.jsonl", "--project", name,
                 "--scale", "0-10 step 0.5", "--annotations-per-answer", "2")
    assert "6 created, 0 already present" in pushed.output

    api = ls_server.api()
    project = projects.find(api, name)
    assert project["maximum_annotations"] == 2
    t1, s1 = teacher(api, f"t1-{uuid.uuid4().hex[:6]}@school.test")
    t2, s2 = teacher(api, f"t2-{uuid.uuid4().hex[:6]}@school.test")
    seen: dict[int, list[str]] = {}
    for user, session in ((t1, s1), (t2, s2)):
        seen[user["id"]] = []
        while (nxt := session.get(f"/api/projects/{project['id']}/next")).status_code == 200:
            task = nxt.json()
            answer_id = task["data"]["answer_id"]
            seen[user["id"]].append(answer_id)
            if user is t2 and answer_id == "a00001":
                body = {"result": [], "was_cancelled": True, "lead_time": 2.0}
            else:
                score = str(int(answer_id[1:]) + (0.5 if user is t2 else 0))
                body = {"lead_time": 7.25, "result": [
                    {"from_name": "score", "to_name": "student_answer", "type": "choices",
                     "value": {"choices": [score.removesuffix(".0")]}},
                    {"from_name": "comment", "to_name": "student_answer", "type": "textarea",
                     "value": {"text": [COMMENT]}}]}
            made = session.post(f"/api/tasks/{task['id']}/annotations/?project={project['id']}",
                                json=body)
            assert made.status_code == 201, made.text
        assert nxt.status_code == 404  # the stream is empty for this teacher
    ids = sorted(r["id"] for r in records)
    assert sorted(seen[t1["id"]]) == ids and sorted(seen[t2["id"]]) == ids

    pulled = run(ls_server, "annotate", "pull", "--project", name, "-o", "labels.jsonl")
    assert "12 annotations of 6 answers (1 skipped)" in pulled.output
    rows = [r for _, r in read_jsonl(tmp_path / "labels.jsonl", ANNOTATION)]
    assert {r["annotator"] for r in rows} == {str(t1["id"]), str(t2["id"])}
    assert {r["annotator_email"] for r in rows} == {t1["email"], t2["email"]}
    skipped = [r for r in rows if r["skipped"]]
    assert [(r["answer_id"], r["annotator"], r["score"]) for r in skipped] == [
        ("a00001", str(t2["id"]), None)]
    by_key = {(r["answer_id"], r["annotator"]): r for r in rows}
    assert by_key[("a00003", str(t1["id"]))]["score"] == 3
    assert by_key[("a00003", str(t2["id"]))]["score"] == 3.5
    scored = [r for r in rows if not r["skipped"]]
    assert all(r["comment"] == COMMENT and r["lead_time"] == 7.25 for r in scored)
    assert all(r["scale"] == "0-10 step 0.5" and r["project_id"] == project["id"] for r in rows)
    assert all(r["prediction"] is None and r["ground_truth"] is False for r in rows)

    html_task = tasks_by_answer(api, project["id"])["a00005"][0]
    assert api.sdk.tasks.get(str(html_task)).data["student_answer"] == HTML


def test_repush_adds_only_new_answers(ls_server, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.chdir(tmp_path)
    name = f"repush-{uuid.uuid4().hex[:6]}"
    write_answers(tmp_path / "a.jsonl", [answer(i) for i in range(40)])
    first = run(ls_server, "annotate", "push", "a.jsonl", "--project", name, "--scale", "0-5",
                "--batch-size", "15")
    assert "40 created, 0 already present" in first.output
    write_answers(tmp_path / "a.jsonl", [answer(i) for i in range(45)])
    second = run(ls_server, "annotate", "push", "a.jsonl", "--project", name)
    assert "5 created, 40 already present" in second.output
    (tmp_path / ".asag" / "cache").rename(tmp_path / "no-cache")  # a fresh machine: full listing
    third = run(ls_server, "annotate", "push", "a.jsonl", "--project", name)
    assert "0 created, 45 already present" in third.output
    api = ls_server.api()
    tasks = tasks_by_answer(api, projects.find(api, name)["id"])
    assert sorted(tasks) == [f"a{i:05d}" for i in range(45)]
    assert all(len(t) == 1 for t in tasks.values())
