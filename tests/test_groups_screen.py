"""The answer-group task in a real headless Chromium against the real Label Studio: the
teacher sees the answer, how many others it stands for and their texts, and a "score these
answers separately" checkbox (absent on a task of one answer); ticking it and scoring with a
key splits the group, so pull scores the shown answer only and the next push imports the
others on their own."""

from __future__ import annotations

import uuid

import pytest
from click.testing import CliRunner
from ls_server import answer, ls_server, write_answers  # noqa: F401

from asag.annotate import project as projects
from asag.annotate.connection import every
from asag.annotate.groups import WORDS
from asag.cli import cli
from asag.records import ANNOTATION, read_jsonl
from tests.test_teacher_screen import (  # noqa: F401
    CHECKED,
    _close_instructions,
    _open_stream_as_new_teacher,
    _wait,
    browser,
)

pytestmark = pytest.mark.labelstudio
DENSE = "Ice is less dense than liquid water, so it floats on top of the water."
SPLIT = WORDS["en"][1]


def run(server, *args):
    result = CliRunner().invoke(cli, [str(a) for a in args], env=server.cli_env(),
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_a_teacher_sees_the_group_and_splits_it_with_the_checkbox(
        ls_server, browser, tmp_path, monkeypatch):  # noqa: F811
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    monkeypatch.chdir(tmp_path)
    name = f"groups-screen-{uuid.uuid4().hex[:6]}"
    others = ["ice is less dense than liquid water so it floats on top of the water",
              "Ice is less dense than liquid water so it floats on top of the watr."]
    alone = "It floats because of the wind."
    write_answers(tmp_path / "answers.jsonl", [answer(0, DENSE), answer(1, others[0]),
                                               answer(2, others[1]), answer(3, alone)])
    run(ls_server, "annotate", "push", "answers.jsonl", "--project", name, "--scale", "0-5",
        "--groups")
    api = ls_server.api()
    project = projects.find(api, name)
    _open_stream_as_new_teacher(browser, ls_server, project["id"])

    def page() -> str:
        return browser.execute_script("return document.body.innerText") or ""

    scores = {}
    for _ in range(2):
        shown = _wait(lambda: next((t for t in (DENSE, alone) if t in page()
                                    and t not in scores), None), "a task on the screen")
        _close_instructions(browser)
        if shown == DENSE:
            text = page()
            assert "also applies to 2 other answer(s)" in text
            assert all(o in text for o in others)
            browser.find_element(By.XPATH, f"//label[contains(., {SPLIT[:30]!r})]").click()
            key = "3"
        else:
            assert SPLIT not in page()  # a task of one answer offers no split
            key = "1"
        ActionChains(browser).send_keys(key).perform()
        _wait(lambda: browser.execute_script(CHECKED) == 1, f"key {key} to select a score")
        ActionChains(browser).key_down(Keys.CONTROL).send_keys(Keys.ENTER) \
            .key_up(Keys.CONTROL).perform()
        scores[shown] = int(key)
        done = len(scores)
        _wait(lambda n=done: api.sdk.projects.get(project["id"]).total_annotations_number >= n,
              f"annotation {done} to be saved")

    run(ls_server, "annotate", "pull", "--project", name, "-o", "labels.jsonl")
    pulled = {r["answer_id"]: r for _, r in read_jsonl(tmp_path / "labels.jsonl", ANNOTATION)}
    assert {a: r["score"] for a, r in pulled.items()} == {"a00000": 3, "a00003": 1}
    assert "2 created, 2 already present" in run(ls_server, "annotate", "push",
                                                  "answers.jsonl", "--project", name)
    tasks = every(api.sdk.tasks.list(project=project["id"], page_size=100, fields="all"))
    assert sorted(t["data"]["answer_id"] for t in tasks) == [f"a0000{i}" for i in range(4)]
