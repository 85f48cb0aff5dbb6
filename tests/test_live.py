"""The live loop behind `asag serve`'s webhook (serve/live.py), over real HTTP with a real tiny
scorer: a teacher's score reaches the memory and the next hint of the same question, survives
a restart through the journal, leaves with a deleted annotation; a due retrain runs in the
background and swaps the model in while requests go on."""
# ruff: noqa: F811  (pytest fixtures imported from tests/model_fixtures.py)

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.model_fixtures import (  # noqa: F401  (fixtures)
    tiny_base,
    trained_scorer,
    yes_no_dir,
)
from tests.serve_helpers import point, running, versioned_copy

QUESTION = {"question_id": "q-live", "question": "why does the magnet move?",
            "reference_answer": "because the force pulls it"}
A = {**QUESTION, "answer_id": "A", "student_answer": "yes the sun moves it"}
B = {**QUESTION, "answer_id": "B", "student_answer": "yes the sun moves it up"}


def annotation_event(action: str, annotation_id: int, data: dict, label: str | None, *,
                     task_id: int = 1, project: int = 7, **extra) -> dict:
    """What Label Studio posts for a saved annotation: the annotation, its task, the project."""
    result = [] if label is None else [{"from_name": "score", "to_name": "student_answer",
                                        "type": "choices", "value": {"choices": [label]}}]
    return {"action": action, "project": {"id": project},
            "annotation": {"id": annotation_id, "task": task_id, "result": result,
                           "completed_by": 1, "updated_at": f"2026-01-01T00:00:0{annotation_id}",
                           **extra},
            "task": {"id": task_id, "data": data}}


@pytest.fixture(scope="module")
def loaded(trained_scorer):
    from asag.serve.batcher import load_model

    return load_model(trained_scorer)


def serve(loaded, journal: Path, **settings):
    """An app serving the loaded scorer; its directory (where the prequential checks go) is a
    copy beside the journal, so no test writes into the session's scorer."""
    from asag.serve.app import Settings, create_app

    model_dir = versioned_copy(loaded.path, journal.parent, "model")
    return create_app(Settings(model_dir=model_dir, journal=journal, **settings), loaded)


def hint(url: str, data: dict) -> tuple[str, float, str]:
    """(the hint's score, its certainty, the model version) from /predict, as Label Studio
    asks for a task."""
    reply = httpx.post(f"{url}/predict", json={"tasks": [{"id": 2, "data": data}]}, timeout=120)
    assert reply.status_code == 200, reply.text
    prediction = reply.json()["results"][0]
    return (prediction["result"][0]["value"]["model_score"], prediction["score"],
            prediction["model_version"])


def post(url: str, event: dict) -> dict:
    reply = httpx.post(f"{url}/webhook", json=event, timeout=60)
    assert reply.status_code < 300, reply.text
    return reply.json()


def settled(app) -> None:
    """Wait until the webhook's scores are in the served memory (the update runs in the
    background of the server's own event loop)."""
    live = app.state.live
    deadline = time.monotonic() + 120
    while live.busy:
        assert time.monotonic() < deadline, "the live memory was not updated"
        time.sleep(0.02)


def test_a_teachers_score_changes_the_hint_of_a_near_identical_answer_and_the_version(
        loaded, tmp_path):
    app = serve(loaded, tmp_path / "journal.jsonl")
    with running(app) as url:
        before, _, v0 = hint(url, B)
        opposite = "incorrect" if before == "correct" else "correct"
        answer = post(url, annotation_event("ANNOTATION_CREATED", 1, A, opposite))
        assert answer["live"]["changes"] == 1 and answer["new_annotations"] == 1
        settled(app)
        after, _, v1 = hint(url, B)
        assert (after, v1) == (opposite, f"{v0}+1")
        # Label Studio's check of the backend now reports the new version: it asks again
        assert httpx.post(f"{url}/setup", json={}).json()["model_version"] == v1


def test_a_restart_replays_the_journal_and_loses_no_learned_score(loaded, tmp_path):
    journal = tmp_path / "journal.jsonl"
    app = serve(loaded, journal)
    with running(app) as url:
        before, _, v0 = hint(url, B)
        opposite = "incorrect" if before == "correct" else "correct"
        post(url, annotation_event("ANNOTATION_CREATED", 1, A, opposite))
        settled(app)
        learned = hint(url, B)

    restarted = serve(loaded, journal)  # a new server process would read the same file
    with running(restarted) as url:
        assert hint(url, B) == learned
        assert learned[2] == f"{v0}+1"


def test_a_deleted_annotation_leaves_the_memory(loaded, tmp_path):
    app = serve(loaded, tmp_path / "journal.jsonl")
    with running(app) as url:
        before = hint(url, B)
        opposite = "incorrect" if before[0] == "correct" else "correct"
        post(url, annotation_event("ANNOTATION_CREATED", 1, A, opposite))
        settled(app)
        assert hint(url, B)[0] == opposite
        gone = post(url, {"action": "ANNOTATIONS_DELETED", "project": {"id": 7},
                          "annotations": [{"id": 1}]})
        assert gone["live"]["changes"] == 1
        settled(app)
        score, certainty, version = hint(url, B)
        assert (score, certainty) == before[:2] and version == f"{before[2]}+2"
        assert app.state.live.to_dict()["answers"] == 0


def test_an_updated_score_replaces_the_teachers_earlier_one(loaded, tmp_path):
    app = serve(loaded, tmp_path / "journal.jsonl")
    with running(app) as url:
        before = hint(url, B)[0]
        opposite = "incorrect" if before == "correct" else "correct"
        post(url, annotation_event("ANNOTATION_CREATED", 1, A, opposite))
        post(url, annotation_event("ANNOTATION_UPDATED", 1, A, before))
        settled(app)
        assert hint(url, B)[0] == before
        assert app.state.live.to_dict()["annotations"] == 1


def test_a_webhook_delivered_twice_changes_the_version_once(loaded, tmp_path):
    app = serve(loaded, tmp_path / "journal.jsonl")
    with running(app) as url:
        event = annotation_event("ANNOTATION_CREATED", 1, A, "correct")
        assert post(url, event)["live"]["changes"] == 1
        assert post(url, event)["live"]["changes"] == 0
        settled(app)
    assert len((tmp_path / "journal.jsonl").read_text().splitlines()) == 1


def test_events_without_an_asag_task_are_answered_and_learn_nothing(loaded, tmp_path):
    app = serve(loaded, tmp_path / "journal.jsonl")
    with running(app) as url:
        bare = post(url, {"action": "ANNOTATION_CREATED", "project": {"id": 4},
                          "annotation": {"id": 1}})
        assert bare["live"] == {"handled": True, "changes": 0,
                                "pending_version": loaded.version,
                                "ignored": "the event carries no task data"}
        foreign = post(url, annotation_event("ANNOTATION_CREATED", 2, {"text": "hi"}, "correct"))
        assert "not made by `asag annotate push`" in foreign["live"]["ignored"]
        assert post(url, {"action": "PROJECT_UPDATED"})["live"] == {"handled": False}


def test_several_teachers_are_aggregated_as_build_dataset_does():
    from asag.scale import Scale
    from asag.serve.live import aggregated

    labels = Scale.parse("incorrect,partially_correct,correct")
    assert aggregated(labels, [("correct", False), ("incorrect", False)]) == "incorrect"
    assert aggregated(labels, [("correct", False), ("correct", False),
                               ("incorrect", False)]) == "correct"
    assert aggregated(labels, [("correct", False), ("incorrect", True)]) == "incorrect"
    assert aggregated(Scale.parse("0-5"), [(4, False), (5, False)]) == 4.5


def test_a_torn_last_journal_line_is_dropped_and_a_damaged_one_named(tmp_path):
    from asag.errors import InputError
    from asag.serve.live import Journal

    journal = Journal(tmp_path / "j.jsonl")
    journal.append({"op": "delete", "project": 1, "annotations": [3]})
    journal.close()
    with (tmp_path / "j.jsonl").open("a") as fh:
        fh.write('{"op": "put", "rec')  # the crash came in the middle of a write
    assert len(journal.read()) == 1
    assert (tmp_path / "j.jsonl").read_text().count("\n") == 1  # cut back to whole lines

    (tmp_path / "j.jsonl").write_text('{"op": "delete"}\nnot json\n{"op": "delete"}\n')
    with pytest.raises(InputError) as caught:
        journal.read()
    assert caught.value.message.startswith(f"{tmp_path / 'j.jsonl'}:2: the live journal is "
                                           "damaged")


def test_serve_refuses_an_unwritable_journal_in_one_line(trained_scorer, tmp_path):
    from click.testing import CliRunner

    from asag.cli import cli

    blocker = tmp_path / "file"
    blocker.write_text("")
    result = CliRunner().invoke(cli, ["serve", str(trained_scorer), "--port", "0",
                                      "--journal", str(blocker / "journal.jsonl")])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: {blocker / 'journal.jsonl'}: cannot write the live journal (File "
        "exists); give a writable --journal PATH"]


def test_a_due_retrain_runs_in_the_background_and_swaps_the_model_in(trained_scorer,
                                                                     tmp_path):
    from asag.serve.app import Settings, create_app

    current = point(tmp_path / "current", versioned_copy(trained_scorer, tmp_path, "v1"))
    versioned_copy(trained_scorer, tmp_path, "v2")
    release = tmp_path / "release"
    # the course's retrain (pull, build, train) stands in here: wait until told, then
    # re-point MODEL at the new version, as a deploy does
    script = tmp_path / "retrain.py"
    script.write_text(
        "import os, pathlib, time\n"
        f"release = pathlib.Path({str(release)!r})\n"
        "while not release.exists():\n    time.sleep(0.05)\n"
        "link = pathlib.Path(os.environ['ASAG_SERVE_MODEL'])\n"
        "tmp = link.with_name('current.new')\n"
        f"tmp.symlink_to({str(tmp_path / 'v2')!r}, target_is_directory=True)\n"
        "tmp.replace(link)\nprint('trained v2')\n")
    app = create_app(Settings(model_dir=current, journal=tmp_path / "j.jsonl", retrain_after=2,
                              retrain_command=f"{sys.executable} {script}"))
    with running(app) as url:
        v1 = httpx.get(f"{url}/health").json()["model_version"]
        post(url, annotation_event("ANNOTATION_CREATED", 1, A, "correct"))
        post(url, annotation_event("ANNOTATION_CREATED", 2, B, "correct", task_id=2))
        # the retrain is running: the service answers meanwhile
        assert httpx.get(f"{url}/model").json()["live"]["retrain"]["running"]
        assert hint(url, B)[2].startswith("v1@")
        release.touch()
        deadline = time.monotonic() + 300
        while httpx.get(f"{url}/model").json()["live"]["retrain"]["running"]:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        run = httpx.get(f"{url}/model").json()["live"]["retrain"]["runs"][-1]
        assert run["exit_code"] == 0 and run["last_line"] == "trained v2"
        version = httpx.get(f"{url}/health").json()["model_version"]
        assert version.startswith("v2@") and version.endswith("+2") and v1.startswith("v1@")
        # the journal's scores were put into the new model's memory too
        assert hint(url, B)[2] == version


def test_the_journal_holds_what_the_webhook_learned(loaded, tmp_path):
    app = serve(loaded, tmp_path / "journal.jsonl")
    with running(app) as url:
        post(url, annotation_event("ANNOTATION_CREATED", 1, A, "correct"))
        settled(app)
    [entry] = [json.loads(line) for line in (tmp_path / "journal.jsonl").read_text().splitlines()]
    assert entry["op"] == "put"
    assert {k: entry["record"][k] for k in ("answer_id", "question_id", "score", "project")} == {
        "answer_id": "A", "question_id": "q-live", "score": "correct", "project": 7}


def test_the_applier_coalesces_a_burst_of_scores():
    """A burst of webhook events costs at most two rebuilds of the memory, not one each."""
    from asag.serve.live import LiveLoop

    class Batcher:
        reloads = 0

        async def reload(self, load):
            Batcher.reloads += 1
            await asyncio.sleep(0.01)
            return None, type("M", (), {"version": "v"})()

    live = LiveLoop(None)
    live.base = object()

    async def main():
        batcher = Batcher()
        for _ in range(20):
            live._schedule(batcher)
        await live.settled()

    asyncio.run(main())
    assert Batcher.reloads == 1


def test_each_teachers_score_is_a_prequential_check_of_the_version_that_served(
        trained_scorer, tmp_path):
    pytest.importorskip("asag.train.checks")
    from asag.serve.app import Settings, create_app
    from asag.train.checks import Checks

    model = versioned_copy(trained_scorer, tmp_path, "m")
    app = create_app(Settings(model_dir=model, journal=tmp_path / "j.jsonl"))
    with running(app) as url:
        shown, confidence, version = hint(url, B)
        post(url, annotation_event("ANNOTATION_CREATED", 1, B, "correct"))
        settled(app)
        served = app.state.batcher.model  # VERSION+1: the check of VERSION counts for it
        assert served.version == f"{version}+1" and served.scorer.version == served.version
        assert len(served.scorer.checks()) == 1
    [check] = Checks(model).records()
    assert check["model_version"] == version and check["answer_id"] == "B"
    assert (check["predicted"], check["teacher_score"]) == (shown, "correct")
    assert check["confidence"] == pytest.approx(confidence, abs=1e-6)
