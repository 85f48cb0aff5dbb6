"""`asag serve` as the ML backend of a real Label Studio project: `annotate connect-model`
registers it, a teacher who opens a task imported without predictions gets the served
model's score as the prediction, and the annotation is counted by the webhook."""
# ruff: noqa: F811  (pytest fixtures imported from tests/model_fixtures.py and ls_server.py)

from __future__ import annotations

import time
import uuid

import httpx
import pytest
from click.testing import CliRunner
from ls_server import ls_server, tasks_by_answer, teacher, write_answers  # noqa: F401

from asag.annotate import project as projects
from asag.annotate.connection import plain
from asag.cli import cli
from tests.model_fixtures import (  # noqa: F401  (fixtures)
    tiny_base,
    trained_scorer,
    yes_no_dir,
    yes_no_rows,
)
from tests.serve_helpers import items, running

pytestmark = pytest.mark.labelstudio
TOKEN = "ml-backend-token"


def invoke(server, *args):
    return CliRunner().invoke(cli, [str(a) for a in args], env=server.cli_env())


ANSWER_FIELDS = ("id", "question_id", "question", "reference_answer", "student_answer")


def push(server, tmp_path, scale: str, rows: list[dict]) -> str:
    """Push `rows` (their answer fields; a gold label or other columns are left out)."""
    name = f"served-{uuid.uuid4().hex[:6]}"
    write_answers(tmp_path / f"{name}.jsonl", [
        {**{k: r[k] for k in ANSWER_FIELDS}, "source": {"file": "answers.csv", "line": i + 2}}
        for i, r in enumerate(rows)])
    result = invoke(server, "annotate", "push", tmp_path / f"{name}.jsonl", "--project", name,
                    "--scale", scale)
    assert result.exit_code == 0, result.output
    return name


@pytest.fixture
def model_server(trained_scorer, tmp_path):
    from asag.serve.app import Settings, create_app

    app = create_app(Settings(model_dir=trained_scorer, token=TOKEN))
    (tmp_path / "token").write_text(TOKEN)
    with running(app) as url:
        yield url, app


def test_a_teacher_opening_a_task_sees_the_served_models_prediction(
        ls_server, model_server, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    url, app = model_server
    rows = yes_no_rows(4, seed=31)
    name = push(ls_server, tmp_path, "incorrect,correct", rows)

    result = invoke(ls_server, "annotate", "connect-model", "--project", name, "--url", url,
                    "--token-file", tmp_path / "token")
    assert result.exit_code == 0, result.output
    version = app.state.batcher.model.version
    assert version in result.output and TOKEN not in result.output

    api = ls_server.api()
    project = projects.find(api, name)
    served = app.state.batcher.model.scorer
    expected = {r["id"]: p.score for r, p in zip(
        rows, served.score_many(items(rows)), strict=True)}
    _, session = teacher(api, f"t-{uuid.uuid4().hex[:6]}@school.test")
    opened = session.get(f"/api/projects/{project['id']}/next")
    assert opened.status_code == 200, opened.text
    task = opened.json()
    assert [p["model_version"] for p in task["predictions"]] == [version]
    hint = task["predictions"][0]["result"][0]["value"]  # the hint box, nothing pre-selected
    assert hint["model_score"] == str(expected[task["data"]["answer_id"]])
    assert hint["text"][0].startswith("model: ")

    # the same through the API an application uses: every task opened gets its prediction
    for answer_id, (task_id,) in tasks_by_answer(api, project["id"]).items():
        body = plain(api.sdk.tasks.get(str(task_id)))
        assert [p["model_version"] for p in body["predictions"]] == [version]
        got = body["predictions"][0]["result"][0]["value"]["model_score"]
        assert got == str(expected[answer_id])

    # the annotation the teacher saves reaches the webhook, with the token
    made = session.post(f"/api/tasks/{task['id']}/annotations/?project={project['id']}", json={
        "result": [{"from_name": "score", "to_name": "student_answer", "type": "choices",
                    "value": {"choices": ["correct"]}}], "lead_time": 3.0})
    assert made.status_code == 201, made.text
    deadline = time.monotonic() + 30
    while True:
        counted = httpx.get(f"{url}/model", headers={"Authorization": f"Bearer {TOKEN}"}).json()
        if counted["annotations"]["new_annotations"] >= 1 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert counted["annotations"]["by_project"] == {str(project["id"]): 1}


@pytest.mark.parametrize(("scale", "token", "says"), [
    ("0-5", TOKEN, "scores on '0-5'"),  # the model scores incorrect/correct
    ("incorrect,correct", "not-the-token", "refused the token"),
], ids=["another scale", "a wrong token"])
def test_connecting_a_model_it_cannot_use_is_refused_in_one_line(
        ls_server, model_server, tmp_path, monkeypatch, scale, token, says):
    monkeypatch.chdir(tmp_path)
    url, _ = model_server
    name = push(ls_server, tmp_path, scale, [{
        "id": "b1", "question_id": "q", "question": "q?", "reference_answer": "r",
        "student_answer": "s"}])
    (tmp_path / "given").write_text(token)
    result = invoke(ls_server, "annotate", "connect-model", "--project", name, "--url", url,
                    "--token-file", tmp_path / "given")
    assert result.exit_code == 1
    assert says in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert token not in result.output


def test_retrieve_predictions_from_label_studios_own_screen_stores_one_per_task(
        ls_server, model_server, tmp_path, monkeypatch):
    """A project connected from Label Studio's own Model settings (not connect-model: no hint
    box), then "Retrieve predictions" on all its tasks: Label Studio sends them in one
    /predict, and stores one prediction per task, the score as a `choices` region on the
    project's score control that passes the label-studio-sdk's prediction check."""
    from label_studio_sdk.label_interface import LabelInterface

    monkeypatch.chdir(tmp_path)
    url, app = model_server
    rows = yes_no_rows(300, seed=32)
    name = push(ls_server, tmp_path, "incorrect,correct", rows)
    api = ls_server.api()
    project = projects.find(api, name)
    assert "model_hint" not in project["label_config"]
    api.sdk.ml.create(project=project["id"], url=url, title="asag", auth_method="BASIC_AUTH",
                      basic_auth_user="labelstudio", basic_auth_pass=TOKEN)

    api.sdk.actions.create(id="retrieve_tasks_predictions", project=project["id"],
                           selected_items={"all": True, "excluded": []},
                           request_options={"timeout_in_seconds": 600})

    stored = [plain(p) for p in api.sdk.predictions.list(project=project["id"])]
    assert len(stored) == 300
    by_task = {task_id: answer for answer, (task_id,) in
               tasks_by_answer(api, project["id"]).items()}
    label = {r["id"]: r["label"] for r in rows}
    check = LabelInterface(project["label_config"])
    version = app.state.batcher.model.version
    for prediction in stored:
        assert prediction["model_version"] == version
        assert check.validate_prediction(prediction, return_errors=True) == []
        (region,) = prediction["result"]
        assert (region["from_name"], region["to_name"], region["type"]) == (
            "score", "student_answer", "choices")
        assert region["value"]["choices"] == [label[by_task[prediction["task"]]]]
