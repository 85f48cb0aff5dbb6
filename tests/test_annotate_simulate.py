"""`annotate simulate` and `annotate push --predictions-from` against the real server:
simulated teachers are distinct Label Studio accounts whose scores come back from pull under
their own ids; a re-run or a --limit scores no more than asked; a model's scores arrive as
predictions imported in labelling order, and pull reports the prediction a teacher saw."""

from __future__ import annotations

import csv
import uuid

import pytest
from click.testing import CliRunner
from ls_server import ls_server, ls_server_each_database  # noqa: F401

from asag.annotate import project as projects
from asag.annotate.connection import every
from asag.annotate.predictions import labelling_order
from asag.annotate.simulate import (
    annotation_body,
    ensure_teacher,
    miscounted_tasks,
    teacher_email,
)
from asag.cli import cli
from asag.hints import certainty
from asag.records import ANNOTATION, read_jsonl
from asag.scale import Scale
from asag.train.scorer import Prediction
from tests.model_fixtures import (  # noqa: F401  (fixtures)
    tiny_base,
    trained_scorer,
    yes_no_dir,
    yes_no_rows,
)

pytestmark = pytest.mark.labelstudio
HEADER = ["question_id", "question", "reference_answer", "student_answer", "teacher_a",
          "teacher_b"]


def run(server, *args, code: int = 0):
    result = CliRunner().invoke(cli, [str(a) for a in args], env=server.cli_env(),
                                catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


def write_table(path, rows):
    with path.open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(HEADER)
        out.writerows([r["question_id"], r["question"], r["reference_answer"],
                       r["student_answer"], r["teacher_a"], r["teacher_b"]] for r in rows)
    return path


def pulled(server, name, path):
    run(server, "annotate", "pull", "--project", name, "-o", path)
    return [r for _, r in read_jsonl(path, ANNOTATION)]


def test_simulated_teachers_are_two_accounts_and_limit_counts_earlier_scores(
        ls_server_each_database, tmp_path, monkeypatch):  # noqa: F811
    ls_server = ls_server_each_database  # noqa: F811 - SQLite and PostgreSQL
    monkeypatch.chdir(tmp_path)
    name = f"simulate-{uuid.uuid4().hex[:6]}"
    rows = [dict(r, teacher_a=i % 6, teacher_b=(i + 1) % 6)
            for i, r in enumerate(yes_no_rows(6, seed=21))]
    write_table(tmp_path / "answers.csv", rows)
    run(ls_server, "gather", "answers.csv", "-o", "raw.jsonl")
    run(ls_server, "annotate", "push", "raw.jsonl", "--project", name, "--scale", "0-5",
        "--annotations-per-answer", "2")
    simulate = ("annotate", "simulate", "--project", name, "--scores", "answers.csv",
                "--teacher-cols", "teacher_a,teacher_b")

    out = run(ls_server, *simulate, "--limit", "2")
    assert "SIMULATED" in out and "made 4 annotations" in out
    assert "made 0 annotations" in run(ls_server, *simulate, "--limit", "2")  # 2 done: no more
    assert len(pulled(ls_server, name, "labels.jsonl")) == 4
    out = run(ls_server, *simulate)
    assert "every task's counters match its annotations" in out  # posted one task at a time
    assert miscounted_tasks(ls_server.api(), projects.find(ls_server.api(), name)) == []
    records = pulled(ls_server, name, "labels.jsonl")

    assert len(records) == 12
    emails = {r["annotator"]: r["annotator_email"] for r in records}
    assert sorted(emails.values()) == [teacher_email("teacher_a"), teacher_email("teacher_b")]
    assert len(emails) == 2  # two distinct user ids
    ids = [r for _, r in read_jsonl(tmp_path / "raw.jsonl")]
    by_text = {r["id"]: r["student_answer"] for r in ids}
    want = {(r["student_answer"], teacher_email(c)): r[c]
            for r in rows for c in ("teacher_a", "teacher_b")}
    got = {(by_text[r["answer_id"]], r["annotator_email"]): r["score"] for r in records}
    assert got == want
    assert "made 0 annotations" in run(ls_server, *simulate)  # a re-run adds nothing

    missing = run(ls_server, "annotate", "simulate", "--project", name, "--scores",
                  "answers.csv", "--teacher-cols", "teacher_c", code=1)
    assert "answers.csv" in missing and "teacher_c" in missing
    assert len(missing.strip().splitlines()) == 1


def test_a_task_holding_one_teacher_twice_is_not_full_for_another(
        ls_server, tmp_path, monkeypatch):  # noqa: F811
    """Two runs saving one teacher's score at once leave it twice on a task until one
    settles; a third run planning meanwhile must not count that task as full (two
    annotations of two wanted) and score the next task instead, past its --limit."""
    monkeypatch.chdir(tmp_path)
    name = f"twice-{uuid.uuid4().hex[:6]}"
    rows = [dict(r, teacher_a=1, teacher_b=2) for r in yes_no_rows(3, seed=23)]
    write_table(tmp_path / "answers.csv", rows)
    run(ls_server, "gather", "answers.csv", "-o", "raw.jsonl")
    run(ls_server, "annotate", "push", "raw.jsonl", "--project", name, "--scale", "0-5",
        "--annotations-per-answer", "2")
    api = ls_server.api()
    project = projects.find(api, name)
    first = min(t["id"] for t in every(api.sdk.tasks.list(project=project["id"])))
    teacher_a, _ = ensure_teacher(api, teacher_email("teacher_a"))
    for _ in range(2):
        api.sdk.annotations.create(first, **annotation_body(Scale.parse("0-5"), 1,
                                                            teacher_a["id"], None))

    run(ls_server, "annotate", "simulate", "--project", name, "--scores", "answers.csv",
        "--teacher-cols", "teacher_b", "--limit", "1")
    by_b = [r["task_id"] for r in pulled(ls_server, name, "labels.jsonl")
            if r["annotator_email"] == teacher_email("teacher_b")]
    assert by_b == [first]


def test_push_with_predictions_imports_in_labelling_order_and_pull_reports_them(
        ls_server, trained_scorer, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.chdir(tmp_path)
    name = f"predict-{uuid.uuid4().hex[:6]}"
    rows = [dict(r, teacher_a=r["label"], teacher_b=r["label"])
            for r in yes_no_rows(10, seed=22)]
    for row in rows[-3:]:  # no verdict word: the tiny model, sure of the rest, cannot tell
        row["student_answer"] = row["student_answer"].split(" ", 1)[1]
    write_table(tmp_path / "answers.csv", rows)
    run(ls_server, "gather", "answers.csv", "-o", "raw.jsonl")
    out = run(ls_server, "annotate", "push", "raw.jsonl", "--project", name, "--scale",
              "incorrect,correct", "--predictions-from", trained_scorer)
    assert "10 created" in out and "the least certain and a random one alternately" in out

    api = ls_server.api()
    project = projects.find(api, name)
    version = project["model_version"]
    assert version.startswith(f"{trained_scorer.name}@")
    tasks = sorted(every(api.sdk.tasks.list(project=project["id"], fields="all", page_size=100)),
                   key=lambda t: t["id"])
    preds = [t["predictions"][0] for t in tasks]
    assert all(len(t["predictions"]) == 1 for t in tasks)
    assert {p["model_version"] for p in preds} == {version}
    confidences = [p["score"] for p in preds]
    assert confidences[0] == min(confidences) < max(confidences)  # the least certain first
    in_file = [r["id"] for _, r in read_jsonl(tmp_path / "raw.jsonl")]
    sure = {t["data"]["answer_id"]: p["score"] for t, p in zip(tasks, preds, strict=True)}
    want = [in_file[i] for i in labelling_order([sure[a] for a in in_file])]
    assert [t["data"]["answer_id"] for t in tasks] == want  # then a random one, alternately

    run(ls_server, "annotate", "simulate", "--project", name, "--scores", "answers.csv",
        "--teacher-cols", "teacher_a", "--limit", "3")
    records = sorted(pulled(ls_server, name, "labels.jsonl"), key=lambda r: r["task_id"])
    assert [r["task_id"] for r in records] == [t["id"] for t in tasks[:3]]  # in task order
    for record, task, pred in zip(records, tasks, preds, strict=False):
        shown = pred["result"][0]["value"]["model_score"]  # the hint box, not the choices
        assert pred["result"][0]["value"]["text"][0].startswith(f"model: {shown}, ")
        assert record["prediction"] == {"model_version": version, "score": shown,
                                        "confidence": pytest.approx(pred["score"])}
        assert record["answer_id"] == task["data"]["answer_id"]

    again = run(ls_server, "annotate", "push", "raw.jsonl", "--project", name,
                "--predictions-from", trained_scorer)
    assert "0 created, 10 already present" in again
    wrong = run(ls_server, "annotate", "push", "raw.jsonl", "--project", f"{name}-b",
                "--scale", "0-5", "--predictions-from", trained_scorer, code=1)
    assert "scale 'incorrect,correct'" in wrong and len(wrong.strip().splitlines()) == 1


def test_numeric_certainty_is_closeness_to_the_nearest_step():
    half = Scale.parse("0-10 step 0.5")
    assert certainty(half, Prediction(score=3.0, step=3.0)) == 1.0
    assert certainty(half, Prediction(score=3.25, step=3.5)) == 0.0  # half-way: a coin toss
    assert certainty(half, Prediction(score=3.1, step=3.0)) == pytest.approx(0.6)
    assert certainty(Scale.parse("0-5"), Prediction(score=4.4, step=4)) == pytest.approx(0.2)
    labels = Scale.parse("a,b")
    assert certainty(labels, Prediction(score="a", confidence=0.7)) == 0.7
