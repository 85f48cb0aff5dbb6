"""`asag annotate connect-model` against a real Label Studio: every check before any change
(a model on another scale leaves the project as it was), and Label Studio holding only the
server's low-privilege token, in a webhook that had it from its first moment."""
# ruff: noqa: F811  (pytest fixtures imported from tests/model_fixtures.py and ls_server.py)

from __future__ import annotations

import json

import httpx
import pytest
from ls_server import ls_server  # noqa: F401

from asag.annotate import project as projects
from asag.annotate.connection import plain
from tests.model_fixtures import (  # noqa: F401  (fixtures)
    tiny_base,
    trained_scorer,
    yes_no_dir,
)
from tests.serve_helpers import running
from tests.test_serve_labelstudio import invoke
from tests.test_serve_labelstudio import push as push_rows

pytestmark = pytest.mark.labelstudio
TOKEN = "the-servers-own-token"


def push(server, tmp_path, scale: str) -> str:
    return push_rows(server, tmp_path, scale, [{
        "id": "c1", "question_id": "q", "question": "q?", "reference_answer": "r",
        "student_answer": "s"}])


@pytest.fixture(scope="module")
def model_url(trained_scorer):
    from asag.serve.app import Settings, create_app

    with running(create_app(Settings(model_dir=trained_scorer, token=TOKEN))) as url:
        yield url


def state(api, project_id: int) -> dict:
    """What connect-model may change: the project's config and instructions, its backends
    and webhooks."""
    project = plain(api.sdk.projects.get(project_id))
    return {"config": project["label_config"], "model_version": project.get("model_version"),
            "instruction": project.get("expert_instruction"),
            "backends": plain(api.sdk.ml.list(project=project_id)),
            "webhooks": plain(api.sdk.webhooks.list(project=str(project_id)))}


def test_a_model_on_another_scale_is_refused_and_the_project_is_left_as_it_was(
        ls_server, model_url, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    name = push(ls_server, tmp_path, "0-5")  # the model scores incorrect/correct
    api = ls_server.api()
    project_id = projects.find(api, name)["id"]
    before = state(api, project_id)
    (tmp_path / "token").write_text(TOKEN)
    result = invoke(ls_server, "annotate", "connect-model", "--project", name, "--url",
                    model_url, "--token-file", tmp_path / "token")
    assert result.exit_code == 1
    assert "scores on '0-5'" in result.output
    assert len(result.output.strip().splitlines()) == 1
    after = state(api, project_id)
    assert after == before  # no hint box, no backend, no webhook
    assert 'name="model_hint"' not in after["config"]


def test_label_studio_gets_only_the_low_privilege_token_in_a_webhook_made_complete(
        ls_server, model_url, tmp_path, monkeypatch):
    from asag.tokens import labelstudio_token

    monkeypatch.chdir(tmp_path)
    name = push(ls_server, tmp_path, "incorrect,correct")
    (tmp_path / "token").write_text(TOKEN)
    for _ in range(2):  # a second run changes nothing more
        result = invoke(ls_server, "annotate", "connect-model", "--project", name, "--url",
                        model_url, "--token-file", tmp_path / "token")
        assert result.exit_code == 0, result.output
    api = ls_server.api()
    project_id = projects.find(api, name)["id"]
    now = state(api, project_id)
    assert TOKEN not in json.dumps(now)  # readable by every account: the server's never is
    hooks = now["webhooks"]
    assert [h["url"] for h in hooks] == [f"{model_url}/webhook"]  # Label Studio added none
    ls_token = labelstudio_token(TOKEN)
    assert hooks[0]["headers"] == {"Authorization": f"Bearer {ls_token}"}
    assert hooks[0]["is_active"] and hooks[0]["send_payload"]
    [backend] = now["backends"]
    assert backend["auth_method"] == "BASIC_AUTH" and backend["basic_auth_pass_is_set"]
    assert 'name="model_hint"' in now["config"]
    # what a teacher could read opens Label Studio's routes, never /reload or /score
    auth = {"Authorization": f"Bearer {ls_token}"}
    assert httpx.post(f"{model_url}/setup", json={"schema": now["config"]},
                      headers=auth).status_code == 200
    assert httpx.post(f"{model_url}/reload", headers=auth).status_code == 403


def test_connecting_with_label_studios_own_token_works_and_with_a_wrong_one_is_refused(
        ls_server, model_url, tmp_path, monkeypatch):
    from asag.tokens import labelstudio_token

    monkeypatch.chdir(tmp_path)
    name = push(ls_server, tmp_path, "incorrect,correct")
    (tmp_path / "ls-token").write_text(labelstudio_token(TOKEN))
    result = invoke(ls_server, "annotate", "connect-model", "--project", name, "--url",
                    model_url, "--token-file", tmp_path / "ls-token")
    assert result.exit_code == 0, result.output
    other = push(ls_server, tmp_path, "incorrect,correct")
    (tmp_path / "wrong").write_text("not-a-token")
    result = invoke(ls_server, "annotate", "connect-model", "--project", other, "--url",
                    model_url, "--token-file", tmp_path / "wrong")
    assert result.exit_code == 1 and "refused the token" in result.output
    api = ls_server.api()
    assert state(api, projects.find(api, other)["id"])["webhooks"] == []
