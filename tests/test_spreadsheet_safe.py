"""CSV outputs with students' text are safe to open in a spreadsheet: a cell that would run as
a formula gets a leading ' (OWASP), numbers stay numbers, --raw-csv writes text exactly, and
JSONL keeps text exactly."""
# ruff: noqa: F811  (pytest fixtures imported from tests/model_fixtures.py)

from __future__ import annotations

import csv
import json

import pytest
from click.testing import CliRunner

from asag.cli import cli
from asag.tables import spreadsheet_safe
from tests.model_fixtures import tiny_base, trained_scorer, yes_no_dir  # noqa: F401

ATTACKS = ["=1+1", "+cmd|' /C calc'!A0", "@SUM(1+1)", '=HYPERLINK("http://x.example","y")',
           "-2+3", "\t=1+1"]


@pytest.mark.parametrize("text", [*ATTACKS, "\r=1+1"])
def test_formula_leading_text_gets_a_quote(text):
    assert spreadsheet_safe(text) == "'" + text


@pytest.mark.parametrize("value", ["-2", "+3.5", "-1e3", "plain text", "a=1", "", 0.5, -3, None])
def test_numbers_and_ordinary_text_are_unchanged(value):
    assert spreadsheet_safe(value) == value


def _source(path):
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["question", "reference_answer", "student_answer", "points"])
        for text in ATTACKS:
            w.writerow(["=cmd()", "ref", text, "-1"])
    return path


def _cells(path, column, delimiter=","):
    with path.open(encoding="utf-8", newline="") as fh:
        return [row[column] for row in csv.DictReader(fh, delimiter=delimiter)]


@pytest.mark.parametrize("suffix", [".csv", ".tsv"])
def test_score_output_neutralises_formulas_by_default(tmp_path, trained_scorer, suffix):
    out = tmp_path / f"scored{suffix}"
    source = _source(tmp_path / "a.csv")
    result = CliRunner().invoke(cli, ["score", str(trained_scorer), str(source), "-o", str(out)])
    assert result.exit_code == 0, result.output
    sep = "\t" if suffix == ".tsv" else ","
    assert _cells(out, "student_answer", sep) == ["'" + t for t in ATTACKS]
    assert set(_cells(out, "question", sep)) == {"'=cmd()"}
    assert set(_cells(out, "points", sep)) == {"-1"}  # a number is not a formula
    assert all(float(c) >= 0 for c in _cells(out, "confidence", sep))


def test_raw_csv_and_jsonl_keep_the_text_exactly(tmp_path, trained_scorer):
    source = _source(tmp_path / "a.csv")
    raw = tmp_path / "raw.csv"
    result = CliRunner().invoke(cli, ["score", str(trained_scorer), str(source), "-o", str(raw),
                                      "--raw-csv"])
    assert result.exit_code == 0, result.output
    assert _cells(raw, "student_answer") == ATTACKS
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(cli, ["score", str(trained_scorer), str(source), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert [json.loads(x)["student_answer"] for x in out.read_text().splitlines()] == ATTACKS


def test_disagreements_csv_neutralises_formulas_unless_raw(tmp_path):
    table = tmp_path / "grades.csv"
    with table.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "question", "reference_answer", "student_answer", "t1", "t2"])
        for i, text in enumerate(ATTACKS[:5]):  # (build-dataset trims leading whitespace)
            w.writerow([f"a{i}", f"q{i}", "ref", text, "0", "5"])
    for extra, expected in (([], ["'" + t for t in ATTACKS[:5]]), (["--raw-csv"], ATTACKS[:5])):
        out = tmp_path / f"ds{len(extra)}"
        result = CliRunner().invoke(cli, ["build-dataset", str(table), "--score-cols", "t1,t2",
                                          "--scale", "0-5", "-o", str(out), *extra])
        assert result.exit_code == 0, result.output
        assert sorted(_cells(out / "disagreements.csv", "student_answer")) == sorted(expected)
        assert set(_cells(out / "disagreements.csv", "gap")) == {"5.0"}
