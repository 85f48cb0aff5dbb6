"""What a user gets wrong, answered with one line naming the fix, never a traceback."""

from __future__ import annotations

import uuid

import pytest
from click.testing import CliRunner
from ls_server import answer, ls_server, write_answers  # noqa: F401

from asag.annotate import server
from asag.cli import cli


def fail(args, env):
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    # CliRunner keeps an unhandled exception in result.exception (not in the output)
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        result.exc_info
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    return errors[0]


@pytest.fixture
def answers(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return str(write_answers(tmp_path / "answers.jsonl", [answer(1)]))


def test_unreachable_url_is_one_line(answers):
    url = f"http://127.0.0.1:{server.free_port()}"
    line = fail(["annotate", "push", answers, "--project", "p", "--scale", "0-5"],
                {"LABEL_STUDIO_URL": url, "LABEL_STUDIO_API_KEY": "k" * 40})
    assert f"cannot reach Label Studio at {url}" in line and "LABEL_STUDIO_URL" in line


def test_no_server_at_all_says_how_to_get_one(answers):
    line = fail(["annotate", "pull", "--project", "p", "-o", "x.jsonl"],
                {"LABEL_STUDIO_URL": None, "LABEL_STUDIO_API_KEY": None})
    assert "asag labelstudio start" in line and "LABEL_STUDIO_API_KEY" in line


def test_url_without_key_asks_for_the_key(answers):
    line = fail(["annotate", "--url", "http://127.0.0.1:9", "pull", "--project", "p", "-o", "x"],
                {"LABEL_STUDIO_API_KEY": None, "LABEL_STUDIO_URL": None})
    assert "no API key for http://127.0.0.1:9" in line


@pytest.mark.labelstudio
def test_bad_token_is_one_line(ls_server, answers):  # noqa: F811
    env = {**ls_server.cli_env(), "LABEL_STUDIO_API_KEY": "0123456789abcdef" * 2}
    line = fail(["annotate", "push", answers, "--project", "p", "--scale", "0-5"], env)
    assert "refused the API key" in line and "LABEL_STUDIO_API_KEY" in line
    assert env["LABEL_STUDIO_API_KEY"] not in line


@pytest.mark.labelstudio
def test_unknown_project_is_one_line(ls_server, answers):  # noqa: F811
    name = f"nope-{uuid.uuid4().hex[:6]}"
    line = fail(["annotate", "pull", "--project", name, "-o", "x.jsonl"], ls_server.cli_env())
    assert f"no project titled '{name}'" in line and "--project" in line


@pytest.mark.labelstudio
def test_new_project_needs_a_scale(ls_server, answers):  # noqa: F811
    line = fail(["annotate", "push", answers, "--project", f"new-{uuid.uuid4().hex[:6]}"],
                ls_server.cli_env())
    assert "give --scale" in line


@pytest.mark.labelstudio
def test_other_scale_on_an_existing_project_is_refused(ls_server, answers):  # noqa: F811
    name = f"scale-{uuid.uuid4().hex[:6]}"
    ok = CliRunner().invoke(cli, ["annotate", "push", answers, "--project", name, "--scale",
                                  "0-5"], env=ls_server.cli_env())
    assert ok.exit_code == 0, ok.output
    line = fail(["annotate", "push", answers, "--project", name, "--scale", "0-10"],
                ls_server.cli_env())
    assert "scores on the scale '0-5', not '0-10'" in line


def test_bad_records_line_is_named(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.jsonl").write_text('{"id": "x"}\n{not json\n', encoding="utf-8")
    line = fail(["annotate", "push", "bad.jsonl", "--project", "p", "--scale", "0-5"],
                {"LABEL_STUDIO_URL": None, "LABEL_STUDIO_API_KEY": None})
    assert "bad.jsonl:2:" in line and "not valid JSON" in line


@pytest.mark.labelstudio
def test_a_personal_access_token_pushes_and_pulls(ls_server, answers, tmp_path):  # noqa: F811
    """Personal access tokens (JWT refresh tokens) authenticate the SDK's calls and the raw
    ones (import, task listing) alike."""
    api = ls_server.api()
    settings = api.sdk.jwt_settings.get()
    api.sdk.jwt_settings.update(api_token_ttl_days=settings.api_token_ttl_days or 30,
                                api_tokens_enabled=True)
    pat = api.sdk.tokens.create().token
    assert pat.count(".") == 2  # a JWT, not a legacy token
    env = {**ls_server.cli_env(), "LABEL_STUDIO_API_KEY": pat}
    project = f"pat-{uuid.uuid4().hex[:8]}"
    args = ["annotate", "push", answers, "--project", project, "--scale", "0-5"]
    push = CliRunner().invoke(cli, args, env=env)
    assert push.exit_code == 0, push.output
    assert "1 created, 0 already present" in push.output, push.output
    again = CliRunner().invoke(cli, args, env=env)  # lists the project's tasks
    assert "0 created, 1 already present" in again.output, again.output
    pull = CliRunner().invoke(cli, ["annotate", "pull", "--project", project, "-o",
                                    str(tmp_path / "ann.jsonl")], env=env)
    assert pull.exit_code == 0, pull.output
