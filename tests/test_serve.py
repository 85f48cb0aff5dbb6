"""`asag serve`: the real app under uvicorn on 127.0.0.1, real HTTP clients (httpx), a tiny
real scorer. Scores match the Python API, concurrent requests are batched, every bad request
is a 4xx JSON error that leaves the server alive, and a reload under load fails nothing."""
# ruff: noqa: F811  (pytest fixtures imported from tests/model_fixtures.py)

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.model_fixtures import (  # noqa: F401  (fixtures)
    tiny_base,
    trained_on_fingerprint,
    trained_scorer,
    yes_no_dir,
    yes_no_rows,
)
from tests.serve_helpers import items, point, running, versioned_copy

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def served(tmp_path_factory, trained_scorer):
    """A server with a token, serving `current` -> v1 (a symlink, re-pointed by tests)."""
    from asag.serve.app import Settings, create_app

    root = tmp_path_factory.mktemp("serve")
    current = point(root / "current", versioned_copy(trained_scorer, root, "v1"))
    app = create_app(Settings(model_dir=current, token=TOKEN, max_answers=500,
                              max_body=1_000_000, retrain_after=3))
    with running(app) as url:
        yield url, app, root


def test_score_matches_the_python_api_and_names_the_model_version(served, trained_scorer):
    from asag.train import Scorer

    url, _, _ = served
    rows = yes_no_rows(12, seed=21)
    body = [{**item, "id": f"x{i}"} for i, item in enumerate(items(rows))]
    reply = httpx.post(f"{url}/score", json=body, headers=AUTH, timeout=30)
    assert reply.status_code == 200, reply.text
    data = reply.json()
    assert data["model_version"].startswith("v1@")
    expected = Scorer.load(trained_scorer).score_many(items(rows))
    assert [r["id"] for r in data["results"]] == [f"x{i}" for i in range(12)]
    for got, want in zip(data["results"], expected, strict=True):
        assert got["score"] == want.score
        assert got["confidence"] == pytest.approx(want.confidence, abs=1e-4)
        assert set(got["probabilities"]) == {"incorrect", "correct"}


def test_model_reports_the_version_and_the_training_data(served, trained_scorer):
    url, _, _ = served
    info = httpx.get(f"{url}/model", headers=AUTH).json()
    assert info["model_version"].startswith("v1@")
    assert info["scale"] == "incorrect,correct"
    assert info["dataset_fingerprint"] == trained_on_fingerprint(trained_scorer)
    assert info["manifest"]["template"]
    assert httpx.get(f"{url}/docs").status_code == 200  # OpenAPI docs, no token needed
    assert "/score" in httpx.get(f"{url}/openapi.json").json()["paths"]


def test_concurrent_single_answer_requests_are_scored_in_shared_batches(served):
    url, app, _ = served
    rows = items(yes_no_rows(40, seed=22))
    before = app.state.batcher.batches

    async def main():
        async with httpx.AsyncClient(base_url=url, headers=AUTH, timeout=60) as client:
            return await asyncio.gather(*(client.post("/score", json=[r]) for r in rows))

    replies = asyncio.run(main())
    assert all(r.status_code == 200 for r in replies)
    batches = app.state.batcher.batches - before
    assert batches < len(rows) / 2, f"{len(rows)} requests took {batches} batches"
    labels = [r.json()["results"][0]["score"] for r in replies]
    assert labels == [r["label"] for r in yes_no_rows(40, seed=22)]


# -- the bad-request corpus ----------------------------------------------------------------

ANSWER = {"question": "q?", "reference_answer": "r", "student_answer": "s"}
CORPUS = {
    "malformed JSON": ("POST", "/score", {"content": b'[{"question": '}, 400, "not valid JSON"),
    "an object, not a list": ("POST", "/score", {"json": ANSWER}, 422,
                              "the body: must be a list"),
    "a number for a text": ("POST", "/score", {"json": [{**ANSWER, "question": 7}]}, 422,
                            "answers[0].question: must be a string"),
    "a missing field": ("POST", "/score", {"json": [{"question": "q", "student_answer": "s"}]},
                        422, "answers[0].reference_answer: is required"),
    "true for an id": ("POST", "/score", {"json": [{**ANSWER, "id": True}]}, 422,
                       "answers[0].id: must be a string or an integer"),
    "a blank answer": ("POST", "/score", {"json": [ANSWER, {**ANSWER, "student_answer": " \t"}]},
                       422, "answers[1].student_answer: is blank"),
    "a lone surrogate": ("POST", "/score", {"content": b'[{"question": "q", "reference_answer": '
                                            b'"r", "student_answer": "ok \\udc80"}]'}, 422,
                         "answers[0].student_answer: is not valid Unicode text"),
    "tasks not a list": ("POST", "/predict", {"json": {"tasks": {"id": 1}}}, 422,
                         "tasks: must be a list"),
    "a 10 MB body": ("POST", "/score", {"content": b"[" + b" " * 10_000_000 + b"]"}, 413,
                     "larger than"),
    "10,000 answers": ("POST", "/score", {"json": [ANSWER] * 10_000}, 413, "10,000 answers"),
    "form data": ("POST", "/score", {"data": {"a": "b"}}, 415, "application/json"),
    "no token": ("POST", "/score", {"json": [ANSWER], "headers": {}}, 401, "token"),
    "a wrong token": ("POST", "/score", {"json": [ANSWER], "headers": {
        "Authorization": "Bearer nope"}}, 401, "token"),
    "an unknown route": ("GET", "/scores", {}, 404, "no route GET /scores"),
    "a wrong method": ("GET", "/score", {}, 405, "not allowed"),
    "tasks without the answer text": ("POST", "/predict", {"json": {"tasks": [
        {"id": 5, "data": {"question": "q"}}]}}, 422, "task 5"),
    "a project on another scale": ("POST", "/setup", {"json": {
        "schema": '<!-- asag-scale: "0-5" --><View/>'}}, 422, "scores on '0-5'"),
}


@pytest.mark.parametrize("case", list(CORPUS), ids=list(CORPUS))
def test_bad_request_gets_a_4xx_json_error_and_the_server_goes_on(served, case, caplog):
    url, _, _ = served
    method, path, kwargs, status, text = CORPUS[case]
    headers = kwargs.pop("headers", AUTH) if "headers" in kwargs else AUTH
    with caplog.at_level(logging.INFO):
        reply = httpx.request(method, f"{url}{path}", headers=headers, timeout=60,
                              **{k: v for k, v in kwargs.items() if k != "headers"})
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"].startswith("application/json")
    assert text in reply.json()["error"]
    assert "\n" not in reply.json()["error"]
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert httpx.get(f"{url}/health").json()["status"] == "UP"


def test_basic_auth_password_is_accepted_as_the_token(served):
    """Label Studio authenticates to ML backends with HTTP Basic."""
    url, _, _ = served
    reply = httpx.post(f"{url}/score", json=[ANSWER], auth=("labelstudio", TOKEN))
    assert reply.status_code == 200


# -- Label Studio's protocol without Label Studio (the real server: test_serve_labelstudio) ---

def test_predict_answers_one_label_studio_prediction_per_task(served):
    from asag.annotate.project import label_config
    from asag.scale import Scale

    url, _, _ = served
    rows = yes_no_rows(3, seed=23)
    tasks = [{"id": i, "data": {**r, "answer_id": r["id"]}} for i, r in enumerate(rows)]
    config = label_config(Scale.parse("incorrect,correct"), "t", hint=True)  # as connect-model
    setup = httpx.post(f"{url}/setup", json={"project": "1.1", "schema": config}, headers=AUTH)
    assert setup.json()["model_version"].startswith("v1@")
    reply = httpx.post(f"{url}/predict", json={"tasks": tasks, "label_config": config},
                       headers=AUTH, timeout=30).json()
    assert len(reply["results"]) == 3
    for prediction, row in zip(reply["results"], rows, strict=True):
        assert prediction["model_version"] == setup.json()["model_version"]
        hint = prediction["result"][0]  # the hint box: nothing pre-selected (issue 10)
        assert hint["value"]["model_score"] == row["label"]
        assert hint["value"]["text"][0].startswith(f"model: {row['label']}")
        assert all(r["type"] != "choices" for r in prediction["result"])
        assert 0.5 <= prediction["score"] <= 1


def test_webhook_counts_new_annotations_and_says_when_a_retrain_is_due(served):
    url, _, _ = served
    event = {"action": "ANNOTATION_CREATED", "project": {"id": 4}, "annotation": {"id": 1}}
    first = httpx.post(f"{url}/webhook", json=event, headers=AUTH).json()
    assert not first["retrain_due"]
    httpx.post(f"{url}/webhook", json={"action": "PROJECT_UPDATED"}, headers=AUTH)
    last = httpx.post(f"{url}/webhook", json={**event, "action": "ANNOTATIONS_CREATED",
                                              "annotation": [{"id": 2}, {"id": 3}]},
                      headers=AUTH).json()
    assert last["new_annotations"] >= 3 and last["retrain_due"]


# -- reloads --------------------------------------------------------------------------------

def test_reload_under_concurrent_load_fails_no_request(served, trained_scorer):
    url, _, root = served
    v2 = versioned_copy(trained_scorer, root, "v2")
    rows = items(yes_no_rows(8, seed=24))

    async def client_loop(client, stop, seen):
        while not stop.is_set():
            reply = await client.post("/score", json=rows[:2])
            seen.append((reply.status_code, reply.json().get("model_version")))

    async def main():
        stop, seen = asyncio.Event(), []
        async with httpx.AsyncClient(base_url=url, headers=AUTH, timeout=60) as client:
            clients = [asyncio.create_task(client_loop(client, stop, seen)) for _ in range(8)]
            await asyncio.sleep(0.5)
            point(root / "current", v2)
            reload = await client.post("/reload")
            after = len(seen)
            deadline = time.monotonic() + 30  # until the new model has answered (a loaded
            while time.monotonic() < deadline and not any(  # machine may take seconds)
                    v.startswith("v2@") for _, v in seen[after:]):
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.2)
            stop.set()
            await asyncio.gather(*clients)
            return reload, seen, after

    reload, seen, after = asyncio.run(main())
    point(root / "current", root / "v1")
    assert reload.status_code == 200, reload.text
    new = reload.json()["model_version"]
    assert new.startswith("v2@") and reload.json()["previous"].startswith("v1@")
    assert seen and all(status == 200 for status, _ in seen), "a request failed"
    versions = [v for _, v in seen]
    assert versions[0].startswith("v1@") and versions[-1] == new
    assert all(v == new for v in versions[after + 8:])  # once in-flight ones are done
    assert httpx.get(f"{url}/model", headers=AUTH).json()["model_version"] == new
    assert httpx.post(f"{url}/reload", headers=AUTH).json()["model_version"].startswith("v1@")


def test_a_reload_that_fails_keeps_the_old_model_serving(served, tmp_path):
    url, _, root = served
    broken = tmp_path / "broken"
    broken.mkdir()
    serving = httpx.get(f"{url}/health").json()["model_version"]
    point(root / "current", broken)
    try:
        reply = httpx.post(f"{url}/reload", headers=AUTH, timeout=30)
    finally:
        point(root / "current", root / "v1")
    assert reply.status_code == 409 and serving.startswith("v1@")
    assert reply.json()["error"] == (  # the AsagError's own line, not its type
        f"reload failed, still serving {serving}: {root / 'current'}: not an asag scorer "
        "directory (no asag_scorer.json); give the -o directory of a finished 'asag train'")
    assert httpx.post(f"{url}/score", json=[ANSWER], headers=AUTH).json()["model_version"] \
        .startswith("v1@")


def test_reload_over_http_needs_a_token(trained_scorer):
    from asag.serve.app import Settings, create_app

    with running(create_app(Settings(model_dir=trained_scorer))) as url:
        assert httpx.post(f"{url}/score", json=[ANSWER]).status_code == 200  # no token: open
        reply = httpx.post(f"{url}/reload")
    assert reply.status_code == 403 and "SIGHUP" in reply.json()["error"]


# -- the command ------------------------------------------------------------------------------

def test_asag_serve_command_reloads_on_sighup_and_stops_cleanly(tmp_path, trained_scorer):
    current = point(tmp_path / "current", versioned_copy(trained_scorer, tmp_path, "v1"))
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    asag = os.path.join(os.path.dirname(sys.executable), "asag")
    proc = subprocess.Popen([asag, "serve", str(current), "--port", "0", "--token-file",
                             str(token_file)], stderr=subprocess.PIPE, text=True)
    try:
        while "serving" not in (line := proc.stderr.readline()) and line:  # uvicorn's first
            pass
        assert "serving v1@" in line, line
        assert TOKEN not in line
        url = line.split(" on ")[1].split(" ")[0]
        assert url.startswith("http://127.0.0.1:")
        _wait(lambda: httpx.get(f"{url}/health").status_code == 200)
        point(current, versioned_copy(trained_scorer, tmp_path, "v2"))
        proc.send_signal(signal.SIGHUP)
        _wait(lambda: httpx.get(f"{url}/model", headers=AUTH).json()["model_version"]
              .startswith("v2@"))
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    # uvicorn shuts down gracefully, then re-raises the signal (exit status -15)
    assert proc.returncode in (0, -signal.SIGTERM) and "Finished server process" in err, err
    assert "Traceback" not in err and TOKEN not in err


def test_serve_refuses_a_busy_port_in_one_line(trained_scorer):
    from click.testing import CliRunner

    from asag.cli import cli
    from asag.serve.cli import bind

    sock = bind("127.0.0.1", 0)
    sock.listen()
    try:
        port = sock.getsockname()[1]
        result = CliRunner().invoke(cli, ["serve", str(trained_scorer), "--port", str(port)])
    finally:
        sock.close()
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.output
    assert len(result.output.strip().splitlines()) == 1


def _wait(check, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except (httpx.HTTPError, json.JSONDecodeError):
            pass
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_a_batch_keeps_gathering_while_requests_keep_coming():
    """Unit test, fake scorer: requests 40 ms apart with --max-wait-ms 200 share one batch,
    although the last comes 360 ms after the first (a window counted from the first request
    cut them in two); a pause longer than the window starts the next batch."""
    from asag.serve.batcher import Batcher, LoadedModel

    class Echo:
        def predict(self, rows, batch_size):
            return [row["student_answer"] for row in rows]

    batcher = Batcher(LoadedModel(Echo(), "v", Path(".")), max_wait=0.2)

    async def main():
        await batcher.start()
        try:
            calls = []
            for i in range(10):
                calls.append(asyncio.ensure_future(batcher.score([{"student_answer": i}])))
                await asyncio.sleep(0.04)
            await asyncio.sleep(1.0)
            calls.append(asyncio.ensure_future(batcher.score([{"student_answer": 10}])))
            return await asyncio.gather(*calls)
        finally:
            await batcher.stop()

    results = asyncio.run(main())
    assert [r[0] for r in results] == [[i] for i in range(11)]
    assert batcher.batches == 2, f"{batcher.batches} batches"
