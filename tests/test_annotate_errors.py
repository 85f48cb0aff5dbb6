"""What a user gets wrong, answered with one line naming the fix, never a traceback."""

from __future__ import annotations

import uuid

import pytest
from click.testing import CliRunner
from ls_server import answer, ls_server, write_answers  # noqa: F401

from asag.annotate import project as projects
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
    line = fail(["annotate", "push", answers, "--project", "Physics", "--scale", "0-5"],
                {"LABEL_STUDIO_URL": url, "LABEL_STUDIO_API_KEY": "k" * 40})
    assert f"cannot reach Label Studio at {url}" in line and "LABEL_STUDIO_URL" in line


def test_no_server_at_all_says_how_to_get_one(answers):
    line = fail(["annotate", "pull", "--project", "p", "-o", "x.jsonl"],
                {"LABEL_STUDIO_URL": None, "LABEL_STUDIO_API_KEY": None})
    assert line == ("Error: no Label Studio server: start the embedded one with `asag labelstudio "
                    "start`, or set LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY for a server of "
                    "your own")


def test_url_without_key_asks_for_the_key(answers):
    line = fail(["annotate", "--url", "http://127.0.0.1:9", "pull", "--project", "p", "-o", "x"],
                {"LABEL_STUDIO_API_KEY": None, "LABEL_STUDIO_URL": None})
    assert line == ("Error: no API key for http://127.0.0.1:9: set LABEL_STUDIO_API_KEY (Label "
                    "Studio: Account & Settings -> Access Token) or pass --api-key")


@pytest.mark.labelstudio
def test_bad_token_is_one_line(ls_server, answers):  # noqa: F811
    env = {**ls_server.cli_env(), "LABEL_STUDIO_API_KEY": "0123456789abcdef" * 2}
    line = fail(["annotate", "push", answers, "--project", "Physics", "--scale", "0-5"], env)
    assert "refused the API key" in line and "LABEL_STUDIO_API_KEY" in line
    assert env["LABEL_STUDIO_API_KEY"] not in line


@pytest.mark.labelstudio
def test_unknown_project_is_one_line(ls_server, answers):  # noqa: F811
    name = f"nope-{uuid.uuid4().hex[:6]}"
    line = fail(["annotate", "pull", "--project", name, "-o", "x.jsonl"], ls_server.cli_env())
    assert f"no project titled '{name}'" in line and "--project" in line


@pytest.mark.labelstudio
def test_new_project_needs_a_scale(ls_server, answers):  # noqa: F811
    name = f"new-{uuid.uuid4().hex[:6]}"
    line = fail(["annotate", "push", answers, "--project", name], ls_server.cli_env())
    assert line == (f"Error: project '{name}' does not exist yet: give --scale to create it "
                    "(e.g. --scale 0-5)")


@pytest.mark.labelstudio
def test_other_scale_on_an_existing_project_is_refused(ls_server, answers):  # noqa: F811
    name = f"scale-{uuid.uuid4().hex[:6]}"
    ok = CliRunner().invoke(cli, ["annotate", "push", answers, "--project", name, "--scale",
                                  "0-5"], env=ls_server.cli_env())
    assert ok.exit_code == 0, ok.output
    line = fail(["annotate", "push", answers, "--project", name, "--scale", "0-10"],
                ls_server.cli_env())
    assert line == (f"Error: project '{name}' scores on the scale '0-5', not '0-10'; push with "
                    "--scale '0-5' or choose another --project")


def test_bad_records_line_is_named(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.jsonl").write_text('{"id": "x"}\n{not json\n', encoding="utf-8")
    line = fail(["annotate", "push", "bad.jsonl", "--project", "Physics", "--scale", "0-5"],
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


@pytest.mark.parametrize("title,problem", [
    ("   ", "a project title cannot be blank"),
    ("", "a project title cannot be blank"),
    ("ab", "'ab' has 2 characters"),
    ("x" * 51, f"'{'x' * 40}…' has 51 characters"),
])
def test_a_title_label_studio_cannot_store_is_refused_before_connecting(answers, title,
                                                                        problem):
    """Checked before any connection (the URL is a closed port): a blank title used to be
    stored as an untitled project, and 51 characters gave only 'HTTP 400 Validation error'."""
    line = fail(["annotate", "push", answers, "--project", title, "--scale", "0-5"],
                {"LABEL_STUDIO_URL": "http://127.0.0.1:9", "LABEL_STUDIO_API_KEY": "k" * 40})
    assert line == (f"Error: Invalid value for '--project': {problem}; Label Studio takes "
                    "titles of 3 to 50 characters, e.g. --project 'Physics 2026'")


@pytest.mark.labelstudio
@pytest.mark.parametrize("records,message", [
    ([answer(1), answer(2), answer(1), answer(3), answer(2)],
     "answers.jsonl:3: id 'a00001' repeats line 1 (1 more bad line after it); give each "
     "answer its own id (asag gather drops exact duplicates); nothing was pushed"),
    ([answer(1), answer(2, "x" * 5_000_000)],
     "answers.jsonl:2: student_answer has 5,000,000 characters, over the limit of 20,000; "
     "shorten it: a teacher reads it on one screen; nothing was pushed"),
    ([answer(1), answer(2, " \t ")],
     "answers.jsonl:2: blank student_answer; fill it in or drop the line; nothing was pushed"),
], ids=["repeated-id", "5-MB-answer", "blank-answer"])
def test_a_bad_input_file_creates_nothing_on_the_server(ls_server, tmp_path, monkeypatch,  # noqa: F811
                                                        records, message):
    monkeypatch.chdir(tmp_path)
    write_answers(tmp_path / "answers.jsonl", records)
    name = f"bad-{uuid.uuid4().hex[:6]}"
    line = fail(["annotate", "push", "answers.jsonl", "--project", name, "--scale", "0-5"],
                ls_server.cli_env())
    assert line == f"Error: {message}"
    assert projects.find(ls_server.api(), name) is None


@pytest.mark.labelstudio
def test_spaces_around_a_title_name_the_same_project_on_every_push(ls_server, answers):  # noqa: F811
    """Label Studio strips a title's spaces: '  X  ' is stored as 'X', and the next push must
    find it rather than make a second project."""
    name = f"padded-{uuid.uuid4().hex[:6]}"
    for expected in ("1 created, 0 already present", "0 created, 1 already present"):
        result = CliRunner().invoke(cli, ["annotate", "push", answers, "--project",
                                          f"  {name} ", "--scale", "0-5"],
                                    env=ls_server.cli_env())
        assert result.exit_code == 0, result.output
        assert f"project '{name}': {expected}" in result.output
    listed = ls_server.api().sdk.projects.list(title=name).items
    assert [p.title for p in listed] == [name]


@pytest.mark.labelstudio
def test_add_user_says_why_label_studio_refused_the_account(ls_server):  # noqa: F811
    email = f"teacher-{uuid.uuid4().hex[:6]}@school.test"
    made = CliRunner().invoke(cli, ["labelstudio", "add-user", email, "--password",
                                    "Long-enough-9"], env=ls_server.cli_env())
    assert made.exit_code == 0, made.output
    again = fail(["labelstudio", "add-user", email.upper(), "--password", "Long-enough-9"],
                 ls_server.cli_env())
    assert again == (f"Error: Label Studio did not create the account {email.upper()}: "
                     "email: User with this email already exists")
    both = fail(["labelstudio", "add-user", "not-an-email", "--password", "short"],
                ls_server.cli_env())
    assert both == ("Error: Label Studio did not create the account not-an-email: email: "
                    "Enter a valid email address; password: Please enter a password 8–128 "
                    "characters in length")
