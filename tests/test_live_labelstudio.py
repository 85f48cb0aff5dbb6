"""The live loop in a real Label Studio: `asag serve` connected with `annotate connect-model`;
a teacher's score of one answer changes the hint Label Studio shows for a near-identical
answer of the same question, a restarted server keeps it, a deleted annotation takes it
back."""
# ruff: noqa: F811  (pytest fixtures imported from tests/model_fixtures.py and ls_server.py)

from __future__ import annotations

import time
import uuid

import httpx
import pytest
from ls_server import ls_server, tasks_by_answer, teacher  # noqa: F401

from asag.annotate import project as projects
from asag.annotate.connection import plain
from tests.model_fixtures import (  # noqa: F401  (fixtures)
    tiny_base,
    trained_scorer,
    yes_no_dir,
)
from tests.serve_helpers import running, versioned_copy
from tests.test_live import QUESTION
from tests.test_serve_labelstudio import invoke, push

pytestmark = pytest.mark.labelstudio
TOKEN = "live-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ANSWERS = [{**QUESTION, "id": "A", "student_answer": "yes the sun moves it"},
           {**QUESTION, "id": "B", "student_answer": "yes the sun moves it up"}]


def serve(scorer, journal):
    from asag.serve.app import Settings, create_app

    return create_app(Settings(model_dir=scorer, token=TOKEN, journal=journal))


def served_version(url: str, expected: str) -> str:
    """Wait for the server to serve `expected` (the webhook's update runs in the background)."""
    deadline = time.monotonic() + 60
    while True:
        version = httpx.get(f"{url}/health").json()["model_version"]
        if version == expected or time.monotonic() > deadline:
            return version
        time.sleep(0.1)


def shown_hint(task: dict, version: str) -> str:
    [prediction] = [p for p in task["predictions"] if p["model_version"] == version]
    return prediction["result"][0]["value"]["model_score"]


def test_a_teachers_score_reaches_the_next_hint_survives_a_restart_and_leaves_when_deleted(
        ls_server, trained_scorer, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "token").write_text(TOKEN)
    journal = tmp_path / "model.live.jsonl"
    trained_scorer = versioned_copy(trained_scorer, tmp_path, "model")  # checks go beside it
    name = push(ls_server, tmp_path, "incorrect,correct", ANSWERS)
    api = ls_server.api()
    project = projects.find(api, name)
    tasks = {a: ids[0] for a, ids in tasks_by_answer(api, project["id"]).items()}
    _, session = teacher(api, f"t-{uuid.uuid4().hex[:6]}@school.test")

    app = serve(trained_scorer, journal)
    with running(app) as url:
        result = invoke(ls_server, "annotate", "connect-model", "--project", name, "--url", url,
                        "--token-file", tmp_path / "token")
        assert result.exit_code == 0, result.output
        v0 = app.state.batcher.model.version
        # every task opened gets the served model's hint
        before = {a: shown_hint(plain(api.sdk.tasks.get(str(t))), v0) for a, t in tasks.items()}
        opposite = "incorrect" if before["B"] == "correct" else "correct"

        made = session.post(f"/api/tasks/{tasks['A']}/annotations/?project={project['id']}",
                            json={"result": [{"from_name": "score", "to_name": "student_answer",
                                              "type": "choices",
                                              "value": {"choices": [opposite]}}],
                                  "lead_time": 2.0})
        assert made.status_code == 201, made.text
        assert served_version(url, f"{v0}+1") == f"{v0}+1"

        # the teacher's next task is B: Label Studio asks the new version for its hint
        opened = session.get(f"/api/projects/{project['id']}/next")
        assert opened.status_code == 200, opened.text
        task = opened.json()
        assert task["id"] == tasks["B"]
        assert shown_hint(task, f"{v0}+1") == opposite != before["B"]

    restarted = serve(trained_scorer, journal)  # on the same port: Label Studio's webhook
    with running(restarted, port=int(url.rsplit(":", 1)[1])) as url:
        assert httpx.get(f"{url}/health").json()["model_version"] == f"{v0}+1"
        body = {"tasks": [{"id": tasks["B"], "data": plain(api.sdk.tasks.get(
            str(tasks["B"])))["data"]}]}
        again = httpx.post(f"{url}/predict", json=body, headers=AUTH, timeout=120).json()
        assert again["results"][0]["result"][0]["value"]["model_score"] == opposite

        # Label Studio still sends this server's webhook: deleting the score takes it back
        deleted = session.delete(f"/api/annotations/{made.json()['id']}/")
        assert deleted.status_code == 204, deleted.text
        assert served_version(url, f"{v0}+2") == f"{v0}+2"
        back = httpx.post(f"{url}/predict", json=body, headers=AUTH, timeout=120).json()
        assert back["results"][0]["result"][0]["value"]["model_score"] == before["B"]
        assert restarted.state.live.to_dict()["answers"] == 0
