"""Every student's answer is kept: a student column through gather (never to Label Studio),
two students with the same text are two answers, and a labelled table without ids builds a
dataset whatever students repeat each other."""

from __future__ import annotations

import csv
import json
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner
from ls_server import ls_server, teacher  # noqa: F401

from asag.cli import cli

# Moodle's "Responses" quiz report: identity columns, then Response N per question
MOODLE = ("Last name,First name,Email address,State,Response 1,Right answer 1,Question 1\n"
          "Kiss,Anna,anna@school.test,Finished,Ice is less dense,Less dense,Why does ice float?\n"
          "Nagy,Bela,bela@school.test,Finished,Ice is less dense,Less dense,Why does ice float?\n"
          "Kiss,Anna,anna@school.test,Finished,Ice is less dense,Less dense,Why does ice float?\n")


def run(*args, env=None):
    return CliRunner().invoke(cli, [str(a) for a in args], env=env, catch_exceptions=False)


def ok(*args, env=None):
    result = run(*args, env=env)
    assert result.exit_code == 0, result.output
    return result


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_moodle_report_keeps_two_students_with_the_same_text_and_drops_a_repeated_row(tmp_path):
    (tmp_path / "moodle.csv").write_text(MOODLE, encoding="utf-8")
    result = ok("gather", tmp_path / "moodle.csv", "-o", tmp_path / "raw.jsonl")
    recs = records(tmp_path / "raw.jsonl")
    assert [r["student"] for r in recs] == ["anna@school.test", "bela@school.test"]
    assert len({r["id"] for r in recs}) == 2
    assert "1 exact duplicates dropped" in result.output
    assert "students from column 'Email address'" in result.output


@pytest.mark.parametrize("header", ["Email Address", "Username", "student_id", "student",
                                   "user", "email"])
def test_student_column_is_found_by_name(tmp_path, header):
    (tmp_path / "forms.csv").write_text(
        f"Timestamp,{header},question,reference_answer,student_answer\n"
        "2026/01/05,s1,Q?,R,same\n2026/01/05,s2,Q?,R,same\n", encoding="utf-8")
    ok("gather", tmp_path / "forms.csv", "-o", tmp_path / "raw.jsonl")
    assert [r["student"] for r in records(tmp_path / "raw.jsonl")] == ["s1", "s2"]


def test_student_ids_are_stable_whatever_the_row_order_and_differ_from_anonymous_ids(tmp_path):
    rows = ["s1,Q?,R,same", "s2,Q?,R,same", "s1,Q?,R,other"]
    head = "Login,question,reference_answer,student_answer\n"
    (tmp_path / "a.csv").write_text(head + "\n".join(rows) + "\n", encoding="utf-8")
    (tmp_path / "b.csv").write_text(head + "\n".join(reversed(rows)) + "\n", encoding="utf-8")
    ok("gather", tmp_path / "a.csv", "-o", tmp_path / "a.jsonl", "--student-col", "Login")
    ok("gather", tmp_path / "b.csv", "-o", tmp_path / "b.jsonl", "--student-col", "login")
    a = {(r["student"], r["student_answer"]): r["id"] for r in records(tmp_path / "a.jsonl")}
    b = {(r["student"], r["student_answer"]): r["id"] for r in records(tmp_path / "b.jsonl")}
    assert a == b and len(set(a.values())) == 3

    ok("gather", tmp_path / "a.csv", "-o", tmp_path / "anon.jsonl")  # 'Login' is no alias
    anon = records(tmp_path / "anon.jsonl")
    assert len(anon) == 2 and all("student" not in r for r in anon)
    assert not {r["id"] for r in anon} & set(a.values())


def test_no_student_keeps_the_ids_of_a_table_without_one(tmp_path):
    (tmp_path / "s.csv").write_text("student,question,reference_answer,student_answer\n"
                                    "s1,Q?,R,same\ns2,Q?,R,same\n", encoding="utf-8")
    (tmp_path / "plain.csv").write_text("question,reference_answer,student_answer\nQ?,R,same\n",
                                        encoding="utf-8")
    ok("gather", tmp_path / "s.csv", "-o", tmp_path / "s.jsonl", "--no-student")
    ok("gather", tmp_path / "plain.csv", "-o", tmp_path / "plain.jsonl")
    assert records(tmp_path / "s.jsonl") == [
        {**r, "source": {**r["source"], "file": str(tmp_path / "s.csv")}}
        for r in records(tmp_path / "plain.jsonl")]


def test_unknown_student_column_is_a_one_line_error(tmp_path):
    (tmp_path / "s.csv").write_text("question,reference_answer,student_answer\nQ?,R,A\n",
                                    encoding="utf-8")
    result = run("gather", tmp_path / "s.csv", "-o", tmp_path / "s.jsonl",
                 "--student-col", "Login")
    assert result.exit_code == 1
    assert result.output == (f"Error: {tmp_path / 's.csv'}: no column 'Login' (given with "
                             "--student-col); columns found: question, reference_answer, "
                             "student_answer; pass one of them to --student-col\n")


def test_build_dataset_gives_the_ids_gather_gives_when_the_table_names_students(tmp_path):
    from datasets import load_from_disk

    (tmp_path / "t.csv").write_text(
        "student_id,question,reference_answer,student_answer,t1\n"
        "s1,Q?,R,same,1\ns2,Q?,R,same,0\ns3,Q?,R,other,1\n", encoding="utf-8")
    ok("gather", tmp_path / "t.csv", "-o", tmp_path / "raw.jsonl")
    ok("build-dataset", tmp_path / "t.csv", "--score-cols", "t1", "--scale", "0-1",
       "--ratios", "1,0,0", "-o", tmp_path / "ds")
    built = load_from_disk(str(tmp_path / "ds"))["train"]
    assert sorted(built["id"]) == sorted(r["id"] for r in records(tmp_path / "raw.jsonl"))
    assert "student" not in built.column_names  # the dataset is shared: no identities


def _scientsbank_head_without_ids(scientsbank: Path, path: Path, n: int = 300) -> Path:
    with (scientsbank / "3way_train.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))[:n]
    columns = ["question_id", "question", "reference_answer", "student_answer", "label"]
    with path.open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(columns)
        out.writerows([r[c] for c in columns] for r in rows)
    return path


def test_scientsbank_head_without_answer_ids_builds_with_distinct_stable_ids(scientsbank,
                                                                             tmp_path):
    """Its first 300 rows hold identical answers of different students: each is an answer."""
    import pyarrow.parquet as pq

    table = _scientsbank_head_without_ids(scientsbank, tmp_path / "head.csv")

    def ids(name: str) -> list[str]:
        ok("-q", "build-dataset", table, "--score-cols", "label", "--scale",
           "incorrect,contradictory,correct", "-o", tmp_path / name)
        return sorted(i for p in (tmp_path / name / "parquet").glob("*.parquet")
                      for i in pq.read_table(p, columns=["id"]).column("id").to_pylist())

    first, again = ids("a"), ids("b")
    assert len(first) == len(set(first)) == 300
    assert first == again
    repeated = [i for i in first if "-" in i]
    assert repeated and all(i.rsplit("-", 1)[0] in first for i in repeated)
    # the first of each repeated text keeps the id gather gives it
    ok("gather", table, "-o", tmp_path / "raw.jsonl")
    assert {r["id"] for r in records(tmp_path / "raw.jsonl")} == {
        i for i in first if "-" not in i}


@pytest.mark.labelstudio
def test_teachers_grade_blind_and_the_gradebook_gives_each_student_a_row(
        ls_server, tmp_path, monkeypatch):  # noqa: F811
    """The student never reaches Label Studio; a teacher scores the two students' identical
    answers there (differently), and after a pull each student has their own grade."""
    from asag.annotate import project as projects
    from asag.annotate.connection import every

    monkeypatch.chdir(tmp_path)
    (tmp_path / "moodle.csv").write_text(MOODLE, encoding="utf-8")
    ok("gather", "moodle.csv", "-o", "raw.jsonl")
    name = f"blind-{uuid.uuid4().hex[:6]}"
    ok("annotate", "push", "raw.jsonl", "--project", name, "--scale", "0-5",
       env=ls_server.cli_env())
    api = ls_server.api()
    project = projects.find(api, name)
    tasks = every(api.sdk.tasks.list(project=project["id"], fields="all"))
    assert len(tasks) == 2  # two students, the same text: two answers
    assert {t["data"]["answer_id"] for t in tasks} == {r["id"] for r in records(
        tmp_path / "raw.jsonl")}
    dumped = json.dumps(tasks) + json.dumps(project)
    for secret in ("anna@school.test", "bela@school.test", "Kiss", "Nagy"):
        assert secret not in dumped

    user, session = teacher(api, f"t-{uuid.uuid4().hex[:6]}@school.test")
    given = {}
    while (nxt := session.get(f"/api/projects/{project['id']}/next")).status_code == 200:
        task = nxt.json()
        given[task["data"]["answer_id"]] = score = str(len(given) + 3)
        made = session.post(f"/api/tasks/{task['id']}/annotations/?project={project['id']}",
                            json={"lead_time": 5.0, "result": [
                                {"from_name": "score", "to_name": "student_answer",
                                 "type": "choices", "value": {"choices": [score]}}]})
        assert made.status_code == 201, made.text
    assert len(given) == 2
    ok("annotate", "pull", "--project", name, "-o", "labels.jsonl", env=ls_server.cli_env())
    ok("gradebook", "labels.jsonl", "--items", "raw.jsonl", "-o", "grades.jsonl")
    grades = records(tmp_path / "grades.jsonl")
    assert [(g["student"], g["source"], g["score"]) for g in grades] == [
        (r["student"], "teachers", int(given[r["id"]]))
        for r in records(tmp_path / "raw.jsonl")]
    assert grades[0]["student_answer"] == grades[1]["student_answer"]
    assert grades[0]["score"] != grades[1]["score"]
