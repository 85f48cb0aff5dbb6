"""The teacher's screen in a real headless Chromium (the OS package, driven by Selenium)
against the real Label Studio: six answers of the bundled sample pushed with the sample's
rubric and a tiny real 0-5 scorer's hints; a teacher logs in through the login form, opens
the labelling stream and scores them with the keys 0-5 and Ctrl+Enter (once pressing a key
twice, which deselects and makes submitting say so; once writing feedback, which Ctrl+Enter
keeps before the next Ctrl+Enter submits); `asag annotate pull` must return exactly those
scores and that feedback by that teacher. On every answer the question, reference,
answer, rubric and hint fit in 1400x1000 without scrolling, and no score is pre-selected.

Set ASAG_SCREENSHOTS=DIR to keep the screenshots (the README's come from here)."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner
from ls_server import ls_server  # noqa: F401

from asag.annotate import project as projects
from asag.annotate.connection import every
from asag.annotate.screen import WORDS
from asag.annotate.users import create_account
from asag.cli import cli
from asag.records import ANNOTATION, read_jsonl
from tests.model_fixtures import TINY_TRAIN, numeric_dataset, run_cli, tiny_base  # noqa: F401

pytestmark = pytest.mark.labelstudio
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
CHECKED = "return document.querySelectorAll('input[type=radio]:checked').length"
# bottom edge of the innermost element showing this text (0 when absent)
BOTTOM = """const xp = `//*[contains(text(), ${JSON.stringify(arguments[0])})]`;
const el = document.evaluate(xp, document, null, 9, null).singleNodeValue;
return el ? el.getBoundingClientRect().bottom : 0;"""
SAMPLE = Path(__file__).resolve().parents[1] / "examples"
FEEDBACK = "Good: name where the heat goes."


def run(server, *args, code: int = 0):
    result = CliRunner().invoke(cli, [str(a) for a in args], env=server.cli_env(),
                                catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture(scope="module")
def scorer_0_5(tmp_path_factory, tiny_base):  # noqa: F811
    """A tiny 0-5 scorer trained by `asag train` (seconds): its hints are real model output."""
    out = tmp_path_factory.mktemp("scorer-0-5") / "model"
    data = numeric_dataset(tmp_path_factory.mktemp("numeric") / "d")
    result = run_cli("-q", "train", data, "-o", out, "--base-model", tiny_base, *TINY_TRAIN)
    assert result.exit_code == 0, result.output
    return out


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
        ls_server, browser, scorer_0_5, tmp_path, monkeypatch):  # noqa: F811
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    monkeypatch.chdir(tmp_path)
    name = f"screen-{uuid.uuid4().hex[:6]}"
    run(ls_server, "gather", SAMPLE / "sample_answers.csv", "-o", "all.jsonl")
    lines = (tmp_path / "all.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    (tmp_path / "raw.jsonl").write_text("".join(lines[:6]), encoding="utf-8")  # phys-heat
    records = [r for _, r in read_jsonl(tmp_path / "raw.jsonl")]
    run(ls_server, "annotate", "push", "raw.jsonl", "--project", name, "--scale", "0-5",
        "--rubric", SAMPLE / "sample_rubric.yaml", "--predictions-from", scorer_0_5)
    api = ls_server.api()
    project = projects.find(api, name)
    tasks = every(api.sdk.tasks.list(project=project["id"], page_size=100, fields="all"))
    hints = {t["data"]["answer_id"]: t["predictions"][0]["result"][0]["value"]["text"][0]
             for t in tasks}
    assert all(h.startswith("model: ") for h in hints.values())

    email = _open_stream_as_new_teacher(browser, ls_server, project["id"])

    def shown_answer() -> str | None:
        """The answer on the screen once it is ready (its hint shown), else None."""
        page = browser.execute_script("return document.body.innerText") or ""
        on = [r for r in records if r["student_answer"] in page and hints[r["id"]] in page]
        return max(on, key=lambda r: len(r["student_answer"]))["id"] if on else None

    shots = Path(os.environ.get("ASAG_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    rubric_end = ("5 – Metal conducts heat away from the hand faster than wood; both are at "
                  "the same temperature.")
    expected: dict[str, int] = {}
    for key in range(6):
        answer_id = _wait(lambda: (lambda a: a if a and a not in expected else None)(
            shown_answer()), f"answer {key + 1} of 6 on the screen")
        if key == 0 and browser.find_elements(By.CSS_SELECTOR, "[class*=modal-holder]"):
            browser.save_screenshot(str(shots / "teacher-instructions.png"))
        _close_instructions(browser)
        record = next(r for r in records if r["id"] == answer_id)
        # question, reference, answer, rubric and hint on one screen, without scrolling
        for text in (record["question"], record["reference_answer"], record["student_answer"],
                     rubric_end, hints[answer_id]):
            assert 0 < browser.execute_script(BOTTOM, text) <= 1000, text
        assert browser.execute_script(CHECKED) == 0  # nothing pre-selected, hint or not
        if key == 0:
            browser.save_screenshot(str(shots / "teacher-screen.png"))
        ActionChains(browser).send_keys(str(key)).perform()
        _wait(lambda: browser.execute_script(CHECKED) == 1, f"key {key} to select a score")
        if key == 1:  # the same key again deselects (Label Studio toggles choices) ...
            ActionChains(browser).send_keys(str(key)).perform()
            _wait(lambda: browser.execute_script(CHECKED) == 0, "a second press to deselect")
            _submit(browser)  # ... and submitting then says why, in the screen's words
            _wait(lambda: WORDS["en"]["required"] in browser.execute_script(
                "return document.body.innerText"), "the message naming the missing score")
            _wait(lambda: _clicked(browser, "//button[normalize-space()='OK']"),
                  "the message's OK button to take the click")
            ActionChains(browser).send_keys(str(key)).perform()
            _wait(lambda: browser.execute_script(CHECKED) == 1, f"key {key} once more")
        if key == 2:  # feedback: Ctrl+Enter in the box keeps it and leaves the box, the next
            box = browser.find_element(By.CSS_SELECTOR, "input[name=comment]")  # submits
            box.click()
            box.send_keys(FEEDBACK)
            _submit(browser)
            _wait(lambda: not browser.find_elements(By.CSS_SELECTOR, "input[name=comment]"),
                  "Ctrl+Enter to keep the feedback")
            feedback_on = answer_id
        _submit(browser)
        expected[answer_id] = key
        task_id = _task_of(tasks, answer_id)
        _wait(lambda t=task_id: len(api.sdk.annotations.list(t)),
              f"the annotation of key {key} to be saved")

    run(ls_server, "annotate", "pull", "--project", name, "-o", "labels.jsonl")
    pulled = [r for _, r in read_jsonl(tmp_path / "labels.jsonl", ANNOTATION)]
    mine = {r["answer_id"]: r["score"] for r in pulled if r["annotator_email"] == email}
    assert mine == expected  # 0 wrong scores for the keys 0-5
    comments = {r["answer_id"]: r["comment"] for r in pulled}
    assert comments == {a: FEEDBACK if a == feedback_on else None for a in expected}
    assert len(pulled) == 6
    shown = {t["data"]["answer_id"]: t["predictions"][0] for t in tasks}
    for r in pulled:  # pull records the hint the teacher saw
        pred = shown[r["answer_id"]]
        assert r["prediction"] == {
            "model_version": project["model_version"],
            "score": int(pred["result"][0]["value"]["model_score"]),
            "confidence": pytest.approx(pred["score"])}


def test_on_a_half_point_scale_shift_digit_scores_the_half_point(
        ls_server, browser, tmp_path, monkeypatch):  # noqa: F811
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    monkeypatch.chdir(tmp_path)
    name = f"half-{uuid.uuid4().hex[:6]}"
    run(ls_server, "gather", SAMPLE / "sample_answers.csv", "-o", "all.jsonl")
    first = (tmp_path / "all.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)[0]
    (tmp_path / "raw.jsonl").write_text(first, encoding="utf-8")
    run(ls_server, "annotate", "push", "raw.jsonl", "--project", name, "--scale", "0-2 step 0.5")
    project = projects.find(ls_server.api(), name)
    email = _open_stream_as_new_teacher(browser, ls_server, project["id"])
    _wait(lambda: "⇧digit +0.5" in browser.execute_script("return document.body.innerText"),
          "the labelling screen")
    _close_instructions(browser)
    ActionChains(browser).key_down(Keys.SHIFT).send_keys("1").key_up(Keys.SHIFT).perform()
    label = ("return Array.from(document.querySelectorAll('input[type=radio]:checked'))"
             ".map(e => e.closest('label').textContent)")
    assert _wait(lambda: browser.execute_script(label), "Shift+1 to select a score")[0] \
        .startswith("1.5")
    ActionChains(browser).key_down(Keys.CONTROL).send_keys(Keys.ENTER) \
        .key_up(Keys.CONTROL).perform()
    _wait(lambda: ls_server.api().sdk.projects.get(project["id"]).total_annotations_number,
          "the annotation to be saved")
    run(ls_server, "annotate", "pull", "--project", name, "-o", "labels.jsonl")
    [record] = [r for _, r in read_jsonl(tmp_path / "labels.jsonl", ANNOTATION)]
    assert (record["annotator_email"], record["score"]) == (email, 1.5)


def _open_stream_as_new_teacher(browser, server, project_id: int) -> str:
    """A new teacher account logs in through the login form and opens the labelling stream."""
    from selenium.webdriver.common.by import By

    email = f"teacher-{uuid.uuid4().hex[:6]}@asag.local"
    _, password = create_account(server.api(), email)
    browser.get(f"{server.url}/user/login")
    browser.find_element(By.NAME, "email").send_keys(email)
    browser.find_element(By.NAME, "password").send_keys(password)
    browser.find_element(By.CSS_SELECTOR, "form [type=submit], form button").click()
    _wait(lambda: "/user/login" not in browser.current_url, "the login")
    browser.get(f"{server.url}/projects/{project_id}/data?labeling=1")
    return email


def _close_instructions(browser) -> None:
    """The project's instructions open before labelling; Escape closes them."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    if browser.find_elements(By.CSS_SELECTOR, "[class*=modal-holder]"):
        ActionChains(browser).send_keys(Keys.ESCAPE).perform()
        time.sleep(0.5)


def _clicked(browser, xpath: str) -> bool:
    """Click the element, or say it cannot take the click yet (a dialog still opening
    covers it: its own wrapper receives the click while the animation runs)."""
    from selenium.common.exceptions import (
        ElementClickInterceptedException,
        ElementNotInteractableException,
        NoSuchElementException,
    )
    from selenium.webdriver.common.by import By

    try:
        browser.find_element(By.XPATH, xpath).click()
    except (ElementClickInterceptedException, ElementNotInteractableException,
            NoSuchElementException):
        return False
    return True


def _submit(browser) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    ActionChains(browser).key_down(Keys.CONTROL).send_keys(Keys.ENTER) \
        .key_up(Keys.CONTROL).perform()


def _task_of(tasks: list[dict], answer_id: str) -> int:
    return next(t["id"] for t in tasks if t["data"]["answer_id"] == answer_id)
