"""The Python API another application uses (Scorer) and `asag score` on tables."""
# ruff: noqa: F811  (pytest fixtures imported from tests/model_fixtures.py)

from __future__ import annotations

import csv
import json
import shutil

import pytest

from tests.model_fixtures import (  # noqa: F401  (fixtures)
    run_cli,
    tiny_base,
    trained_scorer,
    yes_no_dir,
    yes_no_rows,
)


def test_three_line_python_api_scores_one_answer(trained_scorer):
    from asag.train import Scorer

    scorer = Scorer.load(trained_scorer)
    prediction = scorer.score("why does the battery move?", "because the force pulls it",
                              "yes it moves")
    assert prediction.score == "correct"
    assert set(prediction.probabilities) == {"incorrect", "correct"}
    assert sum(prediction.probabilities.values()) == pytest.approx(1, abs=1e-5)
    assert prediction.confidence == max(prediction.probabilities.values())
    assert prediction.to_dict()["score"] == "correct"


def test_score_many_keeps_input_order_whatever_the_batching(trained_scorer):
    from asag.train import Scorer

    scorer = Scorer.load(trained_scorer)
    rows = yes_no_rows(30, seed=7)
    items = [{k: r[k] for k in ("question", "reference_answer", "student_answer")} for r in rows]
    one_batch = scorer.score_many(items, batch_size=64)
    small_batches = scorer.score_many(items, batch_size=3)
    one_by_one = [scorer.score(r["question"], r["reference_answer"], r["student_answer"])
                  for r in rows]
    for a, b, c in zip(one_batch, small_batches, one_by_one, strict=True):
        assert a.score == b.score == c.score
        assert a.confidence == pytest.approx(b.confidence, abs=1e-4)
        assert a.confidence == pytest.approx(c.confidence, abs=1e-4)
    assert [p.score for p in one_batch] == [r["label"] for r in rows]  # the tiny model learnt
    assert scorer.score_many([]) == []


def test_int8_quantised_scorer_agrees_with_fp32(trained_scorer):
    from asag.train import Scorer

    items = [(r["question"], r["reference_answer"], r["student_answer"])
             for r in yes_no_rows(20, seed=8)]
    fp32 = Scorer.load(trained_scorer).score_many(items)
    int8 = Scorer.load(trained_scorer, quantize=True).score_many(items)
    agree = sum(a.score == b.score for a, b in zip(fp32, int8, strict=True))
    assert agree >= 18


def test_loading_refuses_a_directory_without_safetensors(tmp_path, trained_scorer):
    from asag.errors import InputError
    from asag.train import Scorer

    copy = tmp_path / "m"
    shutil.copytree(trained_scorer, copy)
    (copy / "model.safetensors").rename(copy / "pytorch_model.bin")
    with pytest.raises(InputError, match="safetensors only"):
        Scorer.load(copy)


def test_loading_a_plain_folder_names_the_problem(tmp_path):
    from asag.errors import InputError
    from asag.train import Scorer

    with pytest.raises(InputError, match="not an asag scorer directory"):
        Scorer.load(tmp_path)


def _write_csv(path, header, rows):
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


def test_score_command_returns_every_row_with_its_columns_and_predictions(tmp_path,
                                                                          trained_scorer):
    rows = yes_no_rows(12, seed=9)
    source = tmp_path / "answers.csv"
    header = ["Student", "Question", "Reference Answer", "Answer"]
    _write_csv(source, header, [[f"s{i}", r["question"], r["reference_answer"],
                                 r["student_answer"]] for i, r in enumerate(rows)])
    result = run_cli("score", trained_scorer, source, "-o", tmp_path / "scored.csv")
    assert result.exit_code == 0, result.output
    with (tmp_path / "scored.csv").open(encoding="utf-8") as fh:
        out = list(csv.DictReader(fh))
    assert list(out[0]) == [*header, "predicted_score", "confidence", "prob_incorrect",
                            "prob_correct", "set"]
    assert [o["Student"] for o in out] == [f"s{i}" for i in range(12)]
    assert [o["predicted_score"] for o in out] == [r["label"] for r in rows]
    assert all(float(o["prob_correct"]) + float(o["prob_incorrect"]) == pytest.approx(1, abs=1e-5)
               for o in out)
    assert "scored 12 answers" in result.output


def test_score_jsonl_in_and_out_with_named_columns(tmp_path, trained_scorer):
    source = tmp_path / "answers.jsonl"
    with source.open("w", encoding="utf-8") as fh:
        for r in yes_no_rows(5, seed=10):
            fh.write(json.dumps({"q": r["question"], "ref": r["reference_answer"],
                                 "resp": r["student_answer"], "extra": 1}) + "\n")
    result = run_cli("-q", "score", trained_scorer, source, "-o", tmp_path / "out.jsonl",
                     "--question-col", "q", "--reference-col", "ref", "--answer-col", "resp")
    assert result.exit_code == 0, result.output
    out = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert len(out) == 5 and out[0]["extra"] == "1" and out[0]["predicted_score"] in (
        "correct", "incorrect")
    assert result.output == ""  # --quiet


def test_score_without_an_answer_column_is_a_one_line_error(tmp_path, trained_scorer):
    source = tmp_path / "bad.csv"
    _write_csv(source, ["question", "reference_answer", "text"], [["q", "r", "a"]])
    result = run_cli("score", trained_scorer, source, "-o", tmp_path / "out.csv")
    assert result.exit_code == 1
    assert "missing required column(s) student_answer" in result.output
    assert "--answer-col COLUMN" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "out.csv").exists()


def test_score_refuses_an_unknown_output_format(tmp_path, trained_scorer):
    source = tmp_path / "a.csv"
    _write_csv(source, ["question", "reference_answer", "student_answer"], [["q", "r", "a"]])
    result = run_cli("score", trained_scorer, source, "-o", tmp_path / "out.parquet")
    assert result.exit_code == 1 and ".csv, .tsv or .jsonl" in result.output
