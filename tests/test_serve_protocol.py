"""`asag serve` hardened where Label Studio and busy applications lean on it: one bad answer
never fails another request, Label Studio's whole "Retrieve predictions" batch in one
/predict, predictions that fit the project's own labelling config, and the reference ML
backend's protocol (HumanSignal/label-studio-ml-backend, tests/test_api.py) replayed request
for request. The real app under uvicorn, real HTTP (httpx), a tiny real scorer."""
# ruff: noqa: F811  (pytest fixtures imported from tests/model_fixtures.py)

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import httpx
import pytest

from tests.model_fixtures import (  # noqa: F401  (fixtures)
    tiny_base,
    trained_scorer,
    yes_no_dir,
    yes_no_rows,
)
from tests.serve_helpers import items, running

ANSWER = {"question": "q?", "reference_answer": "r", "student_answer": "s"}
PROJECT = "1.1000000000"  # Label Studio's "{project id}.{created_at}"


@pytest.fixture(scope="module")
def served(trained_scorer):
    """A server without a token (the protocol as the reference backend runs it by default)."""
    from asag.serve.app import Settings, create_app

    app = create_app(Settings(model_dir=trained_scorer, max_batch=64))
    with running(app) as url:
        yield url, app


def config(hint: bool) -> str:
    from asag.annotate.project import label_config
    from asag.scale import Scale

    return label_config(Scale.parse("incorrect,correct"), "t", hint=hint)


def tasks_of(rows: list[dict], start: int = 0, **data) -> list[dict]:
    return [{"id": start + i, "data": {**r, "answer_id": r["id"], **data}}
            for i, r in enumerate(rows)]


def raw_body(answer: dict) -> bytes:
    """JSON with a lone surrogate escaped as JSON allows ("\\udc80"): valid JSON whose text
    no UTF-8 encoder (and no tokenizer) accepts."""
    return json.dumps([answer]).replace("SURROGATE", "\\udc80").encode()


# -- per-answer isolation --------------------------------------------------------------------

def test_one_untokenisable_answer_among_30_concurrent_requests_fails_only_its_own(served):
    url, _ = served
    good = items(yes_no_rows(30, seed=41))
    bad = raw_body({**ANSWER, "student_answer": "it is SURROGATE hot"})

    async def main():
        async with httpx.AsyncClient(base_url=url, timeout=120) as client:
            calls = [client.post("/score", json=[row]) for row in good]
            calls.insert(13, client.post("/score", content=bad,
                                         headers={"Content-Type": "application/json"}))
            return await asyncio.gather(*calls)

    replies = asyncio.run(main())
    assert [r.status_code for r in replies].count(200) == 30
    refused = replies[13]
    assert refused.status_code == 422
    assert refused.json()["error"].startswith(
        "answers[0].student_answer: is not valid Unicode text (a lone surrogate '\\udc80' at "
        "character 6)")
    labels = [r.json()["results"][0]["score"] for i, r in enumerate(replies) if i != 13]
    assert labels == [r["label"] for r in yes_no_rows(30, seed=41)]


def test_a_blank_answer_is_refused_with_its_index_as_gather_refuses_it(served):
    url, _ = served
    body = [ANSWER, ANSWER, ANSWER, {**ANSWER, "student_answer": " \n\t "}]
    reply = httpx.post(f"{url}/score", json=body, timeout=60)
    assert reply.status_code == 422
    assert reply.json()["error"] == (
        "answers[3].student_answer: is blank; send the student's answer (asag gather refuses "
        "blank answers too)")


def test_a_merged_batch_that_fails_is_rescored_request_by_request():
    """Unit test, fake scorer that fails on one answer: the 30 requests batched with it get
    their results; only the request that holds it fails."""
    from asag.serve.batcher import Batcher, LoadedModel

    class Fussy:
        def predict(self, rows, batch_size):
            if any(row["student_answer"] == "poison" for row in rows):
                raise TypeError("TextInputSequence must be str")
            return [row["student_answer"].upper() for row in rows]

    batcher = Batcher(LoadedModel(Fussy(), "v", Path(".")), max_batch=64, max_wait=0.5)

    async def main():
        await batcher.start()
        try:
            answers = [f"a{i}" for i in range(30)]
            answers.insert(7, "poison")
            return await asyncio.gather(
                *(batcher.score([{"student_answer": a}]) for a in answers),
                return_exceptions=True)
        finally:
            await batcher.stop()

    results = asyncio.run(main())
    failed = [i for i, r in enumerate(results) if isinstance(r, Exception)]
    assert failed == [7]
    assert isinstance(results[7], TypeError)
    assert [r[0][0] for i, r in enumerate(results) if i != 7] == [f"A{i}" for i in range(30)]
    assert batcher.answers == 30


# -- /predict: the whole batch, per-task isolation, the project's own config --------------------

def test_predict_answers_label_studios_whole_batch_of_thousands_of_tasks(served):
    """"Retrieve predictions" sends every selected task at once: 3,000 tasks in a 4 MB body
    (over /score's 2 MB) get 3,000 results in order, scored in batches of --max-batch."""
    url, app = served
    rows = yes_no_rows(3000, seed=42)
    tasks = tasks_of(rows, rubric="x" * 1000)
    body = json.dumps({"tasks": tasks, "label_config": config(hint=False),
                       "project": PROJECT}).encode()
    assert len(body) > 3_000_000
    batches = app.state.batcher.batches
    reply = httpx.post(f"{url}/predict", content=body, timeout=600,
                       headers={"Content-Type": "application/json"})
    assert reply.status_code == 200, reply.text[:300]
    results = reply.json()["results"]
    assert len(results) == 3000
    assert [r["result"][0]["value"]["choices"] for r in results] == [[r["label"]] for r in rows]
    assert app.state.batcher.batches - batches >= 3000 // 64


def test_a_blank_task_gets_an_empty_result_and_the_others_their_predictions(served):
    url, _ = served
    rows = yes_no_rows(4, seed=43)
    tasks = tasks_of(rows, start=10)
    tasks[1]["data"]["student_answer"] = "   "
    reply = httpx.post(f"{url}/predict", json={"tasks": tasks, "label_config": config(False)},
                       timeout=60)
    assert reply.status_code == 200, reply.text
    results = reply.json()["results"]
    assert len(results) == 4
    assert results[1]["result"] == []
    assert results[1]["error"].startswith("task 11: data.student_answer: is blank")
    assert [r["result"][0]["value"]["choices"][0] for i, r in enumerate(results) if i != 1] \
        == [r["label"] for i, r in enumerate(rows) if i != 1]


@pytest.mark.parametrize("hint", [True, False], ids=["with the hint box", "without it"])
def test_predictions_pass_label_studios_check_against_the_projects_config(served, hint):
    """A project connected from Label Studio's own screen (no hint box) gets its score as a
    `choices` region on its score control; one with the hint box gets the hint, nothing
    pre-selected. Checked by the label-studio-sdk's own prediction validation."""
    from label_studio_sdk.label_interface import LabelInterface

    url, _ = served
    rows = yes_no_rows(6, seed=44)
    label_config = config(hint)
    reply = httpx.post(f"{url}/predict", json={"tasks": tasks_of(rows), "project": PROJECT,
                                               "label_config": label_config}, timeout=60)
    assert reply.status_code == 200, reply.text
    check = LabelInterface(label_config)
    for result, row in zip(reply.json()["results"], rows, strict=True):
        assert check.validate_prediction(result, return_errors=True) == []
        (region,) = result["result"]
        assert (region["from_name"], region["type"]) == (
            ("model_hint", "textarea") if hint else ("score", "choices"))
        shown = region["value"]["model_score"] if hint else region["value"]["choices"][0]
        assert shown == row["label"]


@pytest.mark.parametrize(("control", "value", "region"), [
    ('<Number name="points" toName="answer" min="0" max="5"/>', 3.0,
     {"type": "number", "value": {"number": 3.0}}),
    ('<Rating name="stars" toName="answer" maxRating="5"/>', 4.0,
     {"type": "rating", "value": {"rating": 4}}),
    ('<Choices name="score" toName="answer"><Choice value="1"/><Choice value="2"/>'
     '<Choice value="3"/></Choices>', 2.0, {"type": "choices", "value": {"choices": ["2"]}}),
], ids=["number", "rating", "choices"])
def test_a_numeric_score_fills_the_projects_number_rating_or_choices_control(
        control, value, region):
    """Unit test of the prediction's shape (a numeric scorer's Prediction), checked by the
    label-studio-sdk's validation."""
    from label_studio_sdk.label_interface import LabelInterface

    from asag.scale import Scale
    from asag.serve.labelstudio import prediction, project_target
    from asag.train.scorer import Prediction

    label_config = f'<View><Text name="answer" value="$student_answer"/>{control}</View>'
    spec = {"number": "0-5", "rating": "1-5", "choices": "1-3"}[region["type"]]
    target = project_target(label_config, Scale.parse(spec))
    made = prediction(target, Prediction(score=value + 0.2, step=value, confidence=0.8), "v@1")
    assert made["result"] == [{"from_name": re.search(r'name="(\w+)"', control)[1],
                               "to_name": "answer", **region}]
    assert made["score"] == 0.8 and made["model_version"] == "v@1"
    assert LabelInterface(label_config).validate_prediction(made, return_errors=True) == []


@pytest.mark.parametrize(("schema", "says"), [
    ("<View></View>", "not an asag project: its labelling config has no score control"),
    ('<View><Text name="t" value="$t"/><Choices name="score" toName="t"><Choice value="0"/>'
     '<Choice value="1"/><Choice value="2"/></Choices></View>', "scores on '0-2'"),
    ('<View><Rating name="r" toName="t" maxRating="10"/></View>', "scores on '1-10'"),
    ("<View><Choices", "not valid XML"),
], ids=["an empty config", "another scale", "a rating of 10", "broken XML"])
def test_setup_says_in_one_line_why_a_project_cannot_use_the_model(served, schema, says):
    url, _ = served
    reply = httpx.post(f"{url}/setup", json={"project": PROJECT, "schema": schema})
    assert reply.status_code == 422
    assert says in reply.json()["error"]
    assert "\n" not in reply.json()["error"]


# -- the reference backend's protocol tests, replayed ------------------------------------------

def test_health_and_root_answer_up_with_the_model_class(served):
    url, app = served
    for path in ("/health", "/"):
        reply = httpx.get(f"{url}{path}")
        assert reply.status_code == 200
        assert reply.json() == {"status": "UP", "model_class": "asag",
                                "model_version": app.state.batcher.model.version}


def test_metrics_and_versions_answer_200(served):
    url, app = served
    assert httpx.get(f"{url}/metrics").status_code == 200
    assert set(httpx.get(f"{url}/metrics").json()) >= {"batches", "answers", "annotations"}
    versions = httpx.get(f"{url}/versions")
    assert versions.status_code == 200
    assert versions.json()["versions"] == [app.state.batcher.model.version]


def test_setup_and_predict_take_the_reference_request_shapes(served):
    """The requests Label Studio sends (and the reference's tests replay): `project` as
    "id.timestamp", `extra_params`, `params.context`; replies `{"model_version"}` and
    `{"results": [...]}` with a score in [0, 1] and the version on each result."""
    url, _ = served
    setup = httpx.post(f"{url}/setup", json={"project": PROJECT, "schema": config(False),
                                             "extra_params": {}, "hostname": "http://ls",
                                             "access_token": "never-kept"})
    assert setup.status_code == 200
    version = setup.json()["model_version"]
    rows = yes_no_rows(2, seed=45)
    reply = httpx.post(f"{url}/predict", json={
        "tasks": tasks_of(rows), "model_version": version, "project": PROJECT,
        "label_config": config(False), "params": {"login": None, "password": None,
                                                   "context": {}}})
    assert reply.status_code == 200
    for result in reply.json()["results"]:
        assert result["model_version"] == version and 0 <= result["score"] <= 1
    assert httpx.post(f"{url}/predict", json={"tasks": {"id": 1}, "project": PROJECT,
                                              "label_config": "<View></View>"}
                      ).json()["error"] == "tasks: must be a list"


@pytest.mark.parametrize("action", ["ANNOTATION_CREATED", "ANNOTATION_UPDATED",
                                    "ANNOTATION_DELETED", "START_TRAINING",
                                    "ANNOTATIONS_CREATED", "ANNOTATIONS_DELETED"])
def test_webhook_answers_201_to_handled_events_and_calls_the_hooks(served, action):
    url, app = served
    seen = []
    app.state.event_hooks.append(lambda a, e: seen.append((a, e["project"]["id"])) or {"x": 1})
    try:
        reply = httpx.post(f"{url}/webhook", json={
            "action": action, "project": {"id": 1, "label_config": "<View></View>"}})
    finally:
        app.state.event_hooks.clear()
    assert reply.status_code == 201
    assert reply.json()["status"] == "ok" and reply.json()["x"] == 1
    assert seen == [(action, 1)]


def test_webhook_answers_200_to_other_events_without_calling_the_hooks(served):
    url, app = served
    seen = []
    app.state.event_hooks.append(lambda a, e: seen.append(a))
    try:
        reply = httpx.post(f"{url}/webhook", json={"action": "PROJECT_UPDATED",
                                                    "project": {"id": 1}})
    finally:
        app.state.event_hooks.clear()
    assert reply.status_code == 200 and reply.json()["status"] == "Unknown event"
    assert seen == []


# -- smaller -----------------------------------------------------------------------------------

def test_ids_come_back_with_their_own_type(served):
    url, _ = served
    reply = httpx.post(f"{url}/score", json=[{**ANSWER, "id": 7}, {**ANSWER, "id": "7"}])
    assert [r["id"] for r in reply.json()["results"]] == [7, "7"]


def test_docs_load_nothing_from_outside_the_server(served):
    """Offline: every script and stylesheet of /docs comes from this server."""
    url, _ = served
    page = httpx.get(f"{url}/docs")
    assert page.status_code == 200
    assert "http://" not in page.text and "https://" not in page.text.replace(
        "https://fastapi.tiangolo.com", "")
    for asset in re.findall(r'(?:src|href)="(/[^"]+)"', page.text):
        assert httpx.get(f"{url}{asset}").status_code == 200, asset
