"""Shared builders for the build-dataset tests: raw answers and annotation records written
the way `asag gather` and `asag annotate pull` write them (no tests here)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from asag.cli import cli


def raw_answer(i: int, question: int = 0, split: str | None = None) -> dict:
    rec = {"id": f"a{i:04d}", "question_id": f"q{question}", "question": f"Question {question}?",
           "reference_answer": "The reference.", "student_answer": f"Answer {i}.",
           "source": {"file": "export.csv", "line": i + 2}}
    if split is not None:
        rec["split"] = split
    return rec


def annotation(answer: str, annotator: str, score, scale: str | None = "0-5", *,
               skipped: bool = False, ground_truth: bool = False) -> dict:
    return {"answer_id": answer, "annotator": annotator, "score": None if skipped else score,
            "scale": scale, "skipped": skipped, "ground_truth": ground_truth}


def write_jsonl(path: Path, records) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def run(*args: str):
    """Invoke `asag build-dataset ARGS` through the real command root."""
    return CliRunner().invoke(cli, ["--quiet", "build-dataset", *map(str, args)])


def build_ok(*args):
    result = run(*args)
    assert result.exit_code == 0, result.output
    return result


def manifest(directory: Path) -> dict:
    return json.loads((directory / "manifest.json").read_text(encoding="utf-8"))


def three_teachers(tmp_path: Path, n: int = 30, questions: int = 5, scale: str = "0-5"):
    """n answers over `questions` questions, each scored by t1, t2 and t3 (t3 one step up)."""
    items = write_jsonl(tmp_path / "raw.jsonl", [raw_answer(i, i % questions) for i in range(n)])
    records = []
    for i in range(n):
        base = i % 5
        records += [annotation(f"a{i:04d}", "t1", base, scale),
                    annotation(f"a{i:04d}", "t2", base, scale),
                    annotation(f"a{i:04d}", "t3", base + 1, scale)]
    return items, write_jsonl(tmp_path / "ann.jsonl", records)
