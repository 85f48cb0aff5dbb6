"""Incremental pulls: only changed tasks are read, an edit replaces its earlier record, a
deletion is reported and removed, a deleted task forces a full pull, and re-runs change
nothing."""

from __future__ import annotations

import json
import uuid

import pytest
from click.testing import CliRunner
from ls_server import answer, ls_server, tasks_by_answer, write_answers  # noqa: F401

from asag.annotate import project as projects
from asag.cli import cli
from asag.records import ANNOTATION, read_jsonl

pytestmark = pytest.mark.labelstudio
SCALE = "incorrect,partially_correct,correct"


def run(server, *args):
    result = CliRunner().invoke(cli, list(args), env=server.cli_env(), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def label(api, task_id: int, value: str, user_id: int) -> int:
    body = {"completed_by": user_id, "lead_time": 1.0, "result": [
        {"from_name": "score", "to_name": "student_answer", "type": "choices",
         "value": {"choices": [value]}}]}
    return api.sdk.annotations.create(task_id, **body).id


def records(path):
    return {r["annotation_id"]: r for _, r in read_jsonl(path, ANNOTATION)}


def test_edit_delete_and_new_on_incremental_pull(ls_server, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.chdir(tmp_path)
    name = f"incremental-{uuid.uuid4().hex[:6]}"
    write_answers(tmp_path / "a.jsonl", [answer(i) for i in range(5)])
    run(ls_server, "annotate", "push", "a.jsonl", "--project", name, "--scale", SCALE)
    api = ls_server.api()
    pid = projects.find(api, name)["id"]
    me = api.sdk.users.whoami().id
    task = {a: ids[0] for a, ids in tasks_by_answer(api, pid).items()}
    first = [label(api, task[f"a{i:05d}"], "correct", me) for i in range(3)]

    out = tmp_path / "labels.jsonl"
    assert "full pull" in run(ls_server, "annotate", "pull", "--project", name, "-o", str(out))
    assert {r["score"] for r in records(out).values()} == {"correct"}
    state = json.loads((tmp_path / "labels.jsonl.state.json").read_text())
    assert state["project_id"] == pid and state["watermark"].endswith("Z")

    api.sdk.annotations.update(first[0], result=[
        {"from_name": "score", "to_name": "student_answer", "type": "choices",
         "value": {"choices": ["partially_correct"]}}])
    api.sdk.annotations.delete(first[1])
    added = label(api, task["a00004"], "incorrect", me)

    summary = run(ls_server, "annotate", "pull", "--project", name, "-o", str(out))
    assert "incremental pull" in summary
    assert "1 new, 1 edited, 1 deleted" in summary and str(first[1]) in summary
    rows = records(out)
    assert sorted(rows) == sorted([first[0], first[2], added])
    assert rows[first[0]]["score"] == "partially_correct" and rows[added]["score"] == "incorrect"
    before = out.read_bytes()
    run(ls_server, "annotate", "pull", "--project", name, "-o", str(out))
    assert out.read_bytes() == before  # a re-run neither loses nor doubles a label
    run(ls_server, "annotate", "pull", "--project", name, "-o", str(out), "--full")
    assert out.read_bytes() == before

    api.sdk.tasks.delete(str(task["a00002"]))  # a whole task gone: counts disagree
    summary = run(ls_server, "annotate", "pull", "--project", name, "-o", str(out))
    assert "so a full pull was done" in summary
    assert sorted(records(out)) == sorted([first[0], added])
