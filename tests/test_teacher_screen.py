"""The teacher's screen in a real headless Chromium (the OS package, driven by Selenium)
against the real Label Studio: a teacher logs in through the login form, opens the labelling
stream and scores six answers with the keys 0-5 and Ctrl+Enter; `asag annotate pull` must
return exactly those scores by that teacher. On every answer the rubric and the model's hint
are visible and no score is pre-selected.

Set ASAG_SCREENSHOTS=DIR to keep the screenshots (the README's come from here)."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner
from ls_server import answer, ls_server, write_answers  # noqa: F401

from asag.annotate import project as projects
from asag.annotate import screen
from asag.annotate.predictions import task_prediction
from asag.annotate.users import create_account
from asag.cli import cli
from asag.records import ANNOTATION, read_jsonl
from asag.scale import Scale
from asag.train.scorer import Prediction

pytestmark = pytest.mark.labelstudio
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
CHECKED = "return document.querySelectorAll('input[type=radio]:checked').length"
RUBRIC = """instructions: Score what the student understood, not the spelling.
questions:
  q1:
    0: Nothing about density.
    1: Says ice is lighter, without saying why.
    2: Mentions density, but the wrong way round.
    3: Ice is less dense than water.
    4: Less dense, because of its open crystal structure.
    5: Less dense because hydrogen bonds hold the molecules in an open lattice.
"""


def run(server, *args, code: int = 0):
    result = CliRunner().invoke(cli, [str(a) for a in args], env=server.cli_env(),
                                catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture
def browser():
    if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
        pytest.skip(f"{CHROMIUM} / {CHROMEDRIVER} missing: scripts/setup.sh installs them "
                    "(apt-get install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium not installed")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM  # the OS browser: Selenium Manager downloads nothing
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--lang=en"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": 1400, "height": 1000, "deviceScaleFactor": 1, "mobile": False})
    yield driver
    driver.quit()


def _wait(condition, what: str, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_teacher_scores_with_the_digit_keys_and_pull_returns_exactly_those_scores(
        ls_server, browser, tmp_path, monkeypatch):  # noqa: F811
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    monkeypatch.chdir(tmp_path)
    name = f"screen-{uuid.uuid4().hex[:6]}"
    scale = Scale.parse("0-5")
    records = [answer(i, f"Student answer number {i}: ice is lighter.") for i in range(6)]
    write_answers(tmp_path / "raw.jsonl", records)
    (tmp_path / "rubric.yaml").write_text(RUBRIC, encoding="utf-8")
    run(ls_server, "annotate", "push", "raw.jsonl", "--project", name, "--scale", "0-5",
        "--rubric", "rubric.yaml")

    # the model's hints, as push --predictions-from attaches them (model: 3, sure)
    api = ls_server.api()
    project = projects.find(api, name)
    project, _ = screen.update_project(api, project, scale, hint=True)
    tasks = api.get("api/tasks", params={"project": project["id"], "page_size": 100})["tasks"]
    for task in tasks:
        pred = task_prediction(scale, Prediction(score=3.05, step=3), model_version="m@1")
        api.post("api/predictions/", {**pred, "task": task["id"]})
    api.patch(f"api/projects/{project['id']}/", {"model_version": "m@1"})

    email = f"teacher-{uuid.uuid4().hex[:6]}@asag.local"
    user, password = create_account(api, email)
    browser.get(f"{ls_server.url}/user/login")
    browser.find_element(By.NAME, "email").send_keys(email)
    browser.find_element(By.NAME, "password").send_keys(password)
    browser.find_element(By.CSS_SELECTOR, "form [type=submit], form button").click()
    _wait(lambda: "/user/login" not in browser.current_url, "the login")
    browser.get(f"{ls_server.url}/projects/{project['id']}/data?labeling=1")

    def text() -> str:
        return browser.execute_script("return document.body.innerText") or ""

    def shown_answer() -> str | None:
        page = text()
        if "Rubric" not in page or "model: 3, sure" not in page:  # the screen is not ready
            return None
        return next((r["id"] for r in records if r["student_answer"] in page), None)

    shots = Path(os.environ.get("ASAG_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    expected: dict[str, int] = {}
    for key in range(6):
        answer_id = _wait(lambda: (lambda a: a if a and a not in expected else None)(
            shown_answer()), f"answer {key + 1} of 6 on the screen")
        if browser.find_elements(By.CSS_SELECTOR, ".lsf-modal-holder, [class*=modal-holder]"):
            ActionChains(browser).send_keys(Keys.ESCAPE).perform()  # the instructions
            time.sleep(0.5)
        page = text()
        assert "Ice is less dense than water." in page and "3 – Ice is less dense" in page
        assert "model: 3, sure" in page
        assert browser.execute_script(CHECKED) == 0  # nothing pre-selected, hint or not
        if key == 0:
            browser.save_screenshot(str(shots / "teacher-screen.png"))
        ActionChains(browser).send_keys(str(key)).perform()
        _wait(lambda: browser.execute_script(CHECKED) == 1, f"key {key} to select a score")
        if key == 3:
            browser.save_screenshot(str(shots / "teacher-screen-key3.png"))
        ActionChains(browser).key_down(Keys.CONTROL).send_keys(Keys.ENTER) \
            .key_up(Keys.CONTROL).perform()
        expected[answer_id] = key
        task_id = _task_of(tasks, answer_id)
        _wait(lambda t=task_id: len(api.get(f"api/tasks/{t}/annotations/")),
              f"the annotation of key {key} to be saved")

    run(ls_server, "annotate", "pull", "--project", name, "-o", "labels.jsonl")
    pulled = [r for _, r in read_jsonl(tmp_path / "labels.jsonl", ANNOTATION)]
    mine = {r["answer_id"]: r["score"] for r in pulled if r["annotator_email"] == email}
    assert mine == expected  # 0 wrong scores for the keys 0-5
    assert len(pulled) == 6
    assert all(r["prediction"] == {"model_version": "m@1", "score": 3,
                                   "confidence": pytest.approx(0.9)} for r in pulled)


def _task_of(tasks: list[dict], answer_id: str) -> int:
    return next(t["id"] for t in tasks if t["data"]["answer_id"] == answer_id)
