"""The Label Studio releases asag supports (annotate/versions.py): a server's release is
checked when asag connects (refused below the oldest supported, one warning line above the
newest tested), and the round-trip core (push with the teacher's screen, simulated teachers,
pull, connect-model and a teacher opening a task with the model's hint) passes on another
release's server, named by ASAG_TEST_LABEL_STUDIO_BIN (scripts/test.sh: the oldest one)."""
# ruff: noqa: F811  (pytest fixtures imported from tests/model_fixtures.py and ls_server.py)

from __future__ import annotations

import configparser
import csv
import os
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner
from ls_server import LabelStudioServer, ls_server, teacher  # noqa: F401

from asag.annotate import project as projects
from asag.annotate import server, versions
from asag.annotate.connection import plain
from asag.annotate.screen import settings_of
from asag.annotate.simulate import teacher_email
from asag.cli import cli
from asag.errors import LabelStudioError
from asag.records import ANNOTATION, read_jsonl
from tests.model_fixtures import (  # noqa: F401  (fixtures)
    tiny_base,
    trained_scorer,
    yes_no_dir,
    yes_no_rows,
)
from tests.serve_helpers import running

REPO = Path(__file__).resolve().parents[1]
OTHER_ENV = "ASAG_TEST_LABEL_STUDIO_BIN"
TOKEN = "versions-model-token"
URL = "http://ls.school:8080"


def run(srv, *args, code: int = 0) -> str:
    result = CliRunner().invoke(cli, [str(a) for a in args], env=srv.cli_env())
    assert result.exit_code == code, result.output
    return result.output


# -- the check of a release ---------------------------------------------------------------

@pytest.mark.parametrize("release", [versions.OLDEST, versions.NEWEST, "1.21.0",
                                     f"{versions.NEWEST}.post0"])
def test_a_release_in_the_supported_range_passes_silently(release):
    assert versions.check(URL, release, "Community") is None


def test_a_server_older_than_the_oldest_supported_is_refused_with_the_range_and_the_fix():
    with pytest.raises(LabelStudioError) as refused:
        versions.check(URL, "1.12.1", "Community")
    assert refused.value.message == (
        f"Label Studio at {URL} is 1.12.1, older than asag supports ({versions.OLDEST} to "
        f"{versions.NEWEST}); upgrade the server (pip install 'label-studio>={versions.OLDEST},"
        f"<={versions.NEWEST}'), or for the embedded one run scripts/setup.sh or set "
        "ASAG_LABEL_STUDIO to a newer label-studio")


@pytest.mark.parametrize("release", ["1.99.0", "2.0.0rc1", "1.23.3"])
def test_a_server_newer_than_the_newest_tested_gets_one_warning_line(release):
    warning = versions.check(URL, release, None)
    assert warning == (
        f"warning: Label Studio at {URL} is {release}, newer than asag was tested with "
        f"({versions.OLDEST} to {versions.NEWEST}); if a command fails, use "
        f"label-studio>={versions.OLDEST},<={versions.NEWEST}")


@pytest.mark.parametrize(("release", "edition"), [
    ("1.0.0", "Enterprise"),  # numbered on its own
    ("", "Community"), (None, None), ("develop", "Community"),
])
def test_enterprise_and_unreadable_releases_are_let_through(release, edition):
    assert versions.check(URL, release, edition) is None


def test_the_set_up_pins_and_the_extra_name_the_supported_range():
    assert (REPO / "constraints" / "labelstudio.txt").read_text().split() == [
        f"label-studio=={versions.NEWEST}"]
    assert (REPO / "constraints" / "labelstudio-oldest.txt").read_text().split() == [
        f"label-studio=={versions.OLDEST}"]
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    assert cfg["options.extras_require"]["labelstudio"].split() == [versions.SUPPORTED]


# -- the check on the real server ---------------------------------------------------------

@pytest.mark.labelstudio
def test_the_tested_server_is_accepted_without_a_word(ls_server):
    release = plain(ls_server.api().sdk.versions.get())["release"]
    assert versions.check(ls_server.url, release, "Community") is None
    out = run(ls_server, "labelstudio", "invite")
    assert out.count("\n") == 1 and "warning" not in out  # the link, nothing else


@pytest.mark.labelstudio
def test_a_real_server_outside_the_range_is_refused_or_warned_in_one_line(
        ls_server, monkeypatch):
    release = plain(ls_server.api().sdk.versions.get())["release"]
    monkeypatch.setattr(versions, "OLDEST", "99.0.0")
    out = run(ls_server, "labelstudio", "invite", code=1)
    assert out == (f"Error: Label Studio at {ls_server.url} is {release}, older than asag "
                   f"supports (99.0.0 to {versions.NEWEST}); upgrade the server (pip install "
                   f"'{versions.SUPPORTED}'), or for the embedded one run scripts/setup.sh or "
                   "set ASAG_LABEL_STUDIO to a newer label-studio\n")
    monkeypatch.setattr(versions, "OLDEST", "1.0.0")
    monkeypatch.setattr(versions, "NEWEST", "1.0.1")
    lines = run(ls_server, "labelstudio", "invite").splitlines()
    assert len(lines) == 2 and lines[0].startswith(
        f"warning: Label Studio at {ls_server.url} is {release}, newer than asag was tested")


# -- the round-trip core on another release -----------------------------------------------

@pytest.fixture(scope="module")
def other_server():
    """A server of the release ASAG_TEST_LABEL_STUDIO_BIN names, on SQLite in a temporary
    directory, started through asag's own server code."""
    exe = os.environ.get(OTHER_ENV)
    if not exe:
        pytest.skip(f"{OTHER_ENV} is not set: name another release's label-studio executable "
                    "to run the round trip on it (scripts/test.sh sets the oldest supported)")
    root = Path(tempfile.mkdtemp(prefix="asag-labelstudio-release-"))
    port = server.free_port()
    try:
        with pytest.MonkeyPatch.context() as env:
            env.setenv(server.LABEL_STUDIO_ENV, exe)
            creds, _ = server.start(root, port=port, timeout=900)
        yield LabelStudioServer(root, creds.url, creds.token, creds.username, creds.password,
                                port)
    finally:
        server.stop(root)
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.labelstudio
def test_the_round_trip_core_works_on_another_release(
        other_server, trained_scorer, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    api = other_server.api()  # the release check passes: in the range, without a warning
    release = plain(api.sdk.versions.get())["release"]
    assert versions.check(other_server.url, release, "Community") is None, release
    # no call home at start-up, though releases up to 1.20 ignore LATEST_VERSION_CHECK
    assert "pypi.org" not in (other_server.root / "server.log").read_text(errors="replace")

    # push: the project with the teacher's screen (rubric, keys, instructions)
    name = f"release-{uuid.uuid4().hex[:6]}"
    rows = [dict(r, teacher_a=r["label"], teacher_b="correct" if i % 2 else "incorrect")
            for i, r in enumerate(yes_no_rows(6, seed=41))]
    with (tmp_path / "answers.csv").open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["question_id", "question", "reference_answer", "student_answer",
                      "teacher_a", "teacher_b"])
        out.writerows([r["question_id"], r["question"], r["reference_answer"],
                       r["student_answer"], r["teacher_a"], r["teacher_b"]] for r in rows)
    (tmp_path / "rubric.yaml").write_text(
        "instructions: Score the idea, not the spelling.\n"
        f"questions:\n  {rows[0]['question_id']}:\n    correct: names the reason\n",
        encoding="utf-8")
    run(other_server, "gather", "answers.csv", "-o", "raw.jsonl")
    pushed = run(other_server, "annotate", "push", "raw.jsonl", "--project", name, "--scale",
                 "incorrect,correct", "--annotations-per-answer", "2", "--rubric",
                 "rubric.yaml")
    assert "6 created, 0 already present" in pushed
    project = projects.find(api, name)
    config = project["label_config"]
    assert config == projects.label_config(projects.scale_of(config), **settings_of(config))
    assert 'hotkey="' in config and "names the reason" in config
    assert project["maximum_annotations"] == 2
    assert "Score the idea" in plain(api.sdk.projects.get(project["id"]))["expert_instruction"]

    # simulated teachers, then pull: every score back under its teacher
    simulated = run(other_server, "annotate", "simulate", "--project", name, "--scores",
                    "answers.csv", "--teacher-cols", "teacher_a,teacher_b")
    assert "made 12 annotations" in simulated
    assert "every task's counters match its annotations" in simulated
    pulled = run(other_server, "annotate", "pull", "--project", name, "-o", "labels.jsonl")
    assert "12 annotations of 6 answers" in pulled
    records = [r for _, r in read_jsonl(tmp_path / "labels.jsonl", ANNOTATION)]
    raw = {r["id"]: r["student_answer"] for _, r in read_jsonl(tmp_path / "raw.jsonl")}
    want = {(r["student_answer"], teacher_email(c)): r[c]
            for r in rows for c in ("teacher_a", "teacher_b")}
    got = {(raw[r["answer_id"]], r["annotator_email"]): r["score"] for r in records}
    assert got == want

    # connect-model: the backend, the webhook and the hint box; a teacher opening a new
    # task gets the served model's hint
    from asag.serve.app import Settings, create_app

    (tmp_path / "token").write_text(TOKEN)
    served = create_app(Settings(model_dir=trained_scorer, token=TOKEN))
    with running(served) as model_url:
        connected = run(other_server, "annotate", "connect-model", "--project", name, "--url",
                        model_url, "--token-file", tmp_path / "token")
        version = served.state.batcher.model.version
        assert version in connected
        fresh = dict(rows[0], student_answer="A new answer, no verdict yet.")
        with (tmp_path / "new.csv").open("w", encoding="utf-8", newline="") as fh:
            out = csv.writer(fh)
            out.writerow(["question_id", "question", "reference_answer", "student_answer"])
            out.writerow([fresh["question_id"], fresh["question"], fresh["reference_answer"],
                          fresh["student_answer"]])
        run(other_server, "gather", "new.csv", "-o", "new.jsonl")
        run(other_server, "annotate", "push", "new.jsonl", "--project", name)
        project = plain(api.sdk.projects.get(project["id"]))
        assert 'name="model_hint"' in project["label_config"]
        assert [b["url"] for b in plain(api.sdk.ml.list(project=project["id"]))] == [model_url]
        _, session = teacher(api, f"t-{uuid.uuid4().hex[:6]}@school.test")
        opened = session.get(f"/api/projects/{project['id']}/next")
        assert opened.status_code == 200, opened.text
        task = opened.json()
        assert task["data"]["student_answer"] == fresh["student_answer"]
        assert [p["model_version"] for p in task["predictions"]] == [version]
        assert task["predictions"][0]["result"][0]["value"]["text"][0].startswith("model: ")
