"""`asag gradebook`: one row per student answer with its final score and its source
(teachers under build-dataset's policy, auto at --max-error, needs_teacher), a summary per
question, spreadsheet-safe CSV / XLSX and JSONL."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from model_fixtures import (  # noqa: F401
    tiny_base,
    trained_scorer,
    yes_no_dir,
    yes_no_rows,
)

from asag.cli import cli

LABELS = "incorrect,correct"
FORMULA = "=HYPERLINK(\"http://evil.test\",\"click\")"


def run(*args):
    from click.testing import CliRunner

    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def ok(*args):
    result = run(*args)
    assert result.exit_code == 0, result.output
    return result


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def course(tmp_path) -> dict:
    """A course of 20 answers to 2 questions by 20 students, two of whom (s00, s01) wrote
    the same text; teachers scored the first 8 answers (answer 0 twice: t1 right, t2 not)."""
    rows = yes_no_rows(20, seed=7, questions=2)
    rows[1] = {**rows[1], "question_id": rows[0]["question_id"],
               "question": rows[0]["question"], "student_answer": rows[0]["student_answer"],
               "label": rows[0]["label"]}
    rows[5]["student_answer"] = FORMULA
    table = tmp_path / "answers.csv"
    with table.open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["Email Address", "question_id", "question", "reference_answer",
                      "student_answer"])
        for i, r in enumerate(rows):
            out.writerow([f"s{i:02d}@school.test", r["question_id"], r["question"],
                          r["reference_answer"], r["student_answer"]])
    ok("-q", "gather", table, "-o", tmp_path / "raw.jsonl")
    raw = jsonl(tmp_path / "raw.jsonl")
    assert len(raw) == 20
    other = "correct" if rows[0]["label"] == "incorrect" else "incorrect"
    votes = [(raw[0]["id"], "t2", other)]
    votes += [(r["id"], "t1", rows[i]["label"]) for i, r in enumerate(raw[:8])]
    ann = tmp_path / "annotations.jsonl"
    ann.write_text("".join(json.dumps({"answer_id": a, "annotator": t, "score": s,
                                       "skipped": False, "scale": LABELS}) + "\n"
                           for a, t, s in votes), encoding="utf-8")
    return {"raw": raw, "rows": rows, "annotations": ann, "items": tmp_path / "raw.jsonl",
            "dir": tmp_path}


def test_every_student_answer_is_a_row_with_its_teachers_score_or_open(course):
    out = course["dir"] / "grades.csv"
    result = ok("gradebook", course["annotations"], "--items", course["items"], "-o", out)
    with out.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["student"] for r in rows] == [f"s{i:02d}@school.test" for i in range(20)]
    assert [r["answer_id"] for r in rows] == [r["id"] for r in course["raw"]]
    # two students with the same text: two rows, two ids, each with its own grade
    assert rows[0]["student_answer"] == rows[1]["student_answer"]
    assert rows[0]["answer_id"] != rows[1]["answer_id"]
    assert [r["source"] for r in rows] == ["teachers"] * 8 + ["needs_teacher"] * 12
    # answer 0: t1 and t2 disagree; the median of two labels is the lower (build-dataset's)
    t1 = course["rows"][0]["label"]
    t2 = "correct" if t1 == "incorrect" else "incorrect"
    assert (rows[0]["score"], rows[0]["teacher_scores"], rows[0]["teachers"]) == (
        "incorrect", f"{t1}; {t2}", "2")
    assert [r["score"] for r in rows[1:8]] == [r["label"] for r in course["rows"][1:8]]
    assert all(r["score"] == r["confidence"] == r["model_score"] == "" for r in rows[8:])

    summary = list(csv.DictReader((course["dir"] / "grades.summary.csv").open(encoding="utf-8")))
    assert [(s["answers"], s["teachers"], s["auto"], s["needs_teacher"]) for s in summary] == [
        ("11", "5", "0", "6"), ("9", "3", "0", "6"), ("20", "8", "0", "12")]
    assert summary[-1]["question_id"] == "all"
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["question", "answers", "teachers", "auto", "open"]
    assert lines[-1].split() == ["all", "20", "8", "0", "12"]


def test_open_answers_take_the_scorers_auto_decision(course, trained_scorer):  # noqa: F811
    from asag.train.scorer import Scorer

    out = course["dir"] / "grades.jsonl"
    ok("gradebook", course["annotations"], "--items", course["items"], "--model",
       trained_scorer, "--max-error", "0.4", "-o", out)
    rows = jsonl(out)
    assert [r["source"] for r in rows[:8]] == ["teachers"] * 8  # teachers are never overruled
    assert all(r["model_score"] is None for r in rows[:8])
    expected = Scorer.load(trained_scorer).predict(
        [{k: r[k] for k in ("id", "question_id", "question", "reference_answer",
                            "student_answer")} for r in course["raw"][8:]], max_error=0.4)
    assert [r["source"] for r in rows[8:]] == [
        "auto" if p.auto else "needs_teacher" for p in expected]
    assert [r["model_score"] for r in rows[8:]] == [p.score for p in expected]
    assert [r["confidence"] for r in rows[8:]] == pytest.approx(
        [p.confidence for p in expected], abs=1e-4)
    auto = [r for r in rows if r["source"] == "auto"]
    assert auto and all(r["score"] == r["model_score"] for r in auto)
    assert all(r["score"] is None for r in rows if r["source"] == "needs_teacher")
    summary = jsonl(course["dir"] / "grades.summary.jsonl")
    assert summary[-1] == {"question_id": "all", "question": "", "answers": 20, "teachers": 8,
                           "auto": len(auto), "needs_teacher": 12 - len(auto)}


def test_csv_and_xlsx_cells_never_run_as_formulas_and_jsonl_keeps_the_text(course):
    from openpyxl import load_workbook

    args = (course["annotations"], "--items", course["items"])
    ok("-q", "gradebook", *args, "-o", course["dir"] / "g.csv")
    ok("-q", "gradebook", *args, "-o", course["dir"] / "g.xlsx")
    ok("-q", "gradebook", *args, "-o", course["dir"] / "g.jsonl")
    with (course["dir"] / "g.csv").open(encoding="utf-8", newline="") as fh:
        assert list(csv.DictReader(fh))[5]["student_answer"] == "'" + FORMULA
    sheet = load_workbook(course["dir"] / "g.xlsx").active
    cell = sheet.cell(row=7, column=5)  # header + 6th answer
    assert (cell.value, cell.data_type) == ("'" + FORMULA, "s")
    assert load_workbook(course["dir"] / "g.summary.xlsx").active.max_row == 4
    assert jsonl(course["dir"] / "g.jsonl")[5]["student_answer"] == FORMULA


def test_a_dataset_plus_a_scorer_grades_the_answers_it_lacks(tmp_path, yes_no_dir,  # noqa: F811
                                                             trained_scorer):  # noqa: F811
    """The dataset's scores count as the teachers'; answers not in it go to the scorer."""
    table = yes_no_dir.with_name(yes_no_dir.name + ".table.csv")
    ok("-q", "gather", table, "--answer-id-col", "id", "--split-col", "split",
       "-o", tmp_path / "known.jsonl")
    extra = tmp_path / "new.csv"
    with extra.open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["id", "question_id", "question", "reference_answer", "student_answer"])
        out.writerows([r[c] for c in ("id", "question_id", "question", "reference_answer",
                                      "student_answer")] for r in yes_no_rows(6, seed=99))
    ok("-q", "gather", table, extra, "--answer-id-col", "id", "-o", tmp_path / "all.jsonl")
    known = len(jsonl(tmp_path / "known.jsonl"))
    ok("-q", "gradebook", "--dataset", yes_no_dir, "--items", tmp_path / "all.jsonl",
       "--model", trained_scorer, "--max-error", "0.4", "-o", tmp_path / "g.jsonl")
    rows = jsonl(tmp_path / "g.jsonl")
    assert len(rows) == known + 6
    assert {r["source"] for r in rows[:known]} == {"teachers"}
    assert all(r["teacher_scores"] == [r["score"]] for r in rows[:known])
    assert {r["source"] for r in rows[known:]} <= {"auto", "needs_teacher"}
    assert all(r["model_score"] in ("correct", "incorrect") for r in rows[known:])


def test_without_annotations_every_answer_is_open_or_the_scorers(course):
    ok("-q", "gradebook", "--items", course["items"], "-o", course["dir"] / "g.jsonl")
    assert {r["source"] for r in jsonl(course["dir"] / "g.jsonl")} == {"needs_teacher"}


@pytest.mark.parametrize("args, message", [
    (["--max-error", "0.05"],
     "Error: --max-error needs --model (the scorer whose error it holds)"),
    (["-o", "grades.pdf"], "Error: grades.pdf: unknown output format; end it with .csv, .tsv, "
                           ".xlsx or .jsonl"),
    (["--policy", "mean"], "Error: the mean of labels is not a label (scale incorrect,correct); "
                           "use --policy median or majority"),
    (["--scale", "0-5"], "Error: {ann}:1: column 'scale': mixed scales: the records say "
                         "'incorrect,correct', --scale says '0-5'; drop --scale or give the "
                         "records' scale"),
])
def test_user_mistakes_are_one_line_errors(course, monkeypatch, args, message):
    monkeypatch.chdir(course["dir"])
    result = run("gradebook", course["annotations"], "--items", course["items"],
                 *(["-o", "g.csv"] if "-o" not in args else []), *args)
    assert result.exit_code != 0
    assert result.output.strip().splitlines()[-1] == message.format(ann=course["annotations"])
    assert not (course["dir"] / "g.csv").exists()


def test_a_scorer_on_another_scale_is_refused(course, trained_scorer, tmp_path):  # noqa: F811
    ann = tmp_path / "numeric.jsonl"
    ann.write_text(json.dumps({"answer_id": course["raw"][0]["id"], "annotator": "t1",
                               "score": 3, "skipped": False, "scale": "0-5"}) + "\n",
                   encoding="utf-8")
    result = run("gradebook", ann, "--items", course["items"], "--model", trained_scorer,
                 "-o", tmp_path / "g.csv")
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        f"Error: {trained_scorer}: the scorer scores on the scale "
                                     "'incorrect,correct', the teachers on '0-5'; give the "
                                     "scorer trained on this course's scale")


def test_ctrl_c_leaves_the_previous_gradebook_whole_and_says_so(course, monkeypatch):
    from asag import gradebook as gb

    out = course["dir"] / "g.csv"
    ok("-q", "gradebook", course["annotations"], "--items", course["items"], "-o", out)
    before = out.read_bytes()
    real = gb.write

    def write_then_interrupt(path, *args, **kwargs):
        real(path.with_name("partial-" + path.name), *args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(gb, "write", write_then_interrupt)
    result = run("gradebook", course["annotations"], "--items", course["items"], "-o", out)
    assert result.exit_code == 130
    assert result.output.strip().splitlines()[-1] == (
        f"Error: interrupted: {out} is as it was before this run (it is written only when "
        "complete); run the same command again")
    assert out.read_bytes() == before
