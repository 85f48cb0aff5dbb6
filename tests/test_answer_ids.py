"""One answer-table layer: the same rows get the same answer ids and question ids whether
`asag gather`, `asag build-dataset`'s table input or `asag annotate simulate` reads them."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from asag.annotate.simulate import table_scores
from asag.cli import cli
from asag.scale import Scale

# Hungarian headers found by alias, a decomposed letter (NFC makes it one) and stray spaces
ROWS = [("Mi a vi\u0301z képlete?", "H2O", "  H2O, két hidrogén ", "4"),
        ("Mi a vi\u0301z képlete?", "H2O", "víz", "1"),
        ("Miért kék az ég?", "A szóródás miatt.", "Rayleigh-szórás", "5")]


def write_table(path, with_ids: bool):
    header = (["valasz_id"] if with_ids else []) + ["Kérdés", "Referencia", "Válasz", "t1"]
    lines = [",".join(header)]
    for i, row in enumerate(ROWS):
        cells = ([f" a{i} "] if with_ids else []) + [f'"{c}"' for c in row]
        lines.append(",".join(cells))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def ok(*args):
    result = CliRunner().invoke(cli, ["--quiet", *map(str, args)])
    assert result.exit_code == 0, result.output
    return result


@pytest.mark.parametrize("with_ids", [False, True], ids=["content-hash ids", "source ids"])
def test_the_same_rows_get_the_same_ids_through_every_path(tmp_path, with_ids):
    from datasets import load_from_disk

    table = write_table(tmp_path / "answers.csv", with_ids)
    if with_ids:  # 'valasz_id' is no alias: both commands are told where the id is
        ok("gather", table, "-o", tmp_path / "raw.jsonl", "--answer-id-col", "valasz_id")
    else:
        ok("gather", table, "-o", tmp_path / "raw.jsonl")
    gathered = [json.loads(line) for line in (tmp_path / "raw.jsonl").read_text().splitlines()]
    ids = {r["id"]: r["question_id"] for r in gathered}
    assert len(ids) == 3 and len(set(ids.values())) == 2
    if with_ids:
        assert sorted(ids) == ["a0", "a1", "a2"]

    extra = ["--id-col", "valasz_id"] if with_ids else []
    ok("build-dataset", table, "--score-cols", "t1", "--scale", "0-5", "--ratios", "1,0,0",
       "-o", tmp_path / "ds", *extra)
    rows = load_from_disk(str(tmp_path / "ds"))["train"]
    assert dict(zip(rows["id"], rows["question_id"], strict=True)) == ids
    by_id = {r["id"]: r for r in gathered}
    for row in rows:  # the same normalised texts too
        for field in ("question", "reference_answer", "student_answer"):
            assert row[field] == by_id[row["id"]][field]

    if not with_ids:  # simulate matches Label Studio's tasks by gather's default ids
        scores = table_scores(table, ["t1"], Scale.parse("0-5"))
        assert set(scores) == set(ids)


def test_question_ids_stay_those_gather_always_gave():
    """Datasets already built carry gather's ids: the hash may not change."""
    from asag.answers import answer_id, question_id

    assert question_id(None, "Why is the sky blue?") == "q13297e316503"
    assert question_id(" Q7 ", "ignored") == "Q7"
    assert answer_id(None, "q1", "ref", "ans") == answer_id("", "q1", "ref", "ans")
