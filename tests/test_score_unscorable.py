"""`asag score` with answers the scorer cannot read: a blank answer (refused by `gather`
too) and a lone surrogate (valid JSON, "\\udc80", not encodable) are named by line and left
unscored; every other row is scored, and the output keeps every row in order."""
# ruff: noqa: F811  (pytest fixtures imported from tests/model_fixtures.py)

from __future__ import annotations

import json

from click.testing import CliRunner

from asag.cli import cli
from tests.model_fixtures import (  # noqa: F401  (fixtures)
    tiny_base,
    trained_scorer,
    yes_no_dir,
    yes_no_rows,
)


def test_a_bad_row_is_named_by_line_and_the_rest_are_scored(tmp_path, trained_scorer):
    rows = yes_no_rows(6, seed=51)
    lines = [json.dumps({k: r[k] for k in ("id", "question", "reference_answer",
                                           "student_answer")}) for r in rows]
    lines[1] = lines[1].replace(rows[1]["student_answer"], "hot \\udc80 air")
    lines[4] = lines[4].replace(rows[4]["student_answer"], "   ")
    source = tmp_path / "answers.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "scored.jsonl"

    result = CliRunner().invoke(cli, ["score", str(trained_scorer), str(source), "-o", str(out)])

    assert result.exit_code == 0, result.output
    assert (f"warning: 2 answers not scored (their score cells are empty): {source}: line 2: "
            "student_answer: is not valid Unicode text (a lone surrogate '\\udc80' at character "
            "4); send UTF-8 text; line 5: student_answer: is blank") in result.output
    scored = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [s["id"] for s in scored] == [r["id"] for r in rows]
    assert scored[1]["student_answer"] == "hot \udc80 air"  # written back as JSON escapes it
    assert [s["predicted_score"] for s in scored] == [
        None if i in (1, 4) else r["label"] for i, r in enumerate(rows)]
