"""`asag build-dataset`: annotation records and labelled tables into a dataset directory
that train / evaluate read through asag.dataset_layout."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from test_build_dataset_helpers import (
    annotation,
    build_ok,
    manifest,
    raw_answer,
    run,
    three_teachers,
    write_jsonl,
)

from asag.build_dataset.aggregate import aggregate
from asag.cli import cli
from asag.dataset_layout import MANIFEST_KEYS, load_dataset_dir
from asag.scale import Scale


def test_annotations_become_a_dataset_loadable_from_disk_and_parquet(tmp_path):
    from datasets import load_dataset

    items, ann = three_teachers(tmp_path)
    out = tmp_path / "ds"
    build_ok(ann, "--items", items, "-o", out)
    dsd, man = load_dataset_dir(out)
    assert set(MANIFEST_KEYS) <= set(man)
    assert sum(len(ds) for ds in dsd.values()) == 30
    row = dsd["train"][0]
    assert row["num_annotators"] == 3 and len(row["annotator_scores"]) == 3
    assert dsd["train"].features["score"].dtype == "float32"
    files = {s: str(out / "parquet" / f"{s}.parquet") for s in dsd}
    parquet = load_dataset("parquet", data_files=files, cache_dir=str(tmp_path / "cache"))
    assert {s: len(d) for s, d in parquet.items()} == {s: len(d) for s, d in dsd.items()}
    by_card = load_dataset(str(out), cache_dir=str(tmp_path / "cache"))  # the card's configs
    assert {s: len(d) for s, d in by_card.items()} == {s: len(d) for s, d in dsd.items()}
    card = (out / "README.md").read_text(encoding="utf-8")
    assert card.startswith("---\n") and "dataset_info:" in card and man["fingerprint"] in card
    assert man["aggregation"]["policy"] == "median" and man["scale"] == "0-5"
    assert man["inputs"][0]["role"] == "items" and len(man["inputs"][1]["sha256"]) == 64


def test_label_scale_scores_are_class_labels_worst_first(tmp_path):
    from datasets import load_dataset

    labels = "incorrect,partially_correct,correct"
    items = write_jsonl(tmp_path / "raw.jsonl", [raw_answer(i) for i in range(4)])
    ann = write_jsonl(tmp_path / "ann.jsonl", [
        annotation(f"a{i:04d}", t, ["incorrect", "correct", "partially_correct", "correct"][i],
                   labels) for i in range(4) for t in ("t1", "t2")])
    out = tmp_path / "ds"
    build_ok(ann, "--items", items, "-o", out, "--ratios", "1,0,0")
    dsd, _ = load_dataset_dir(out)
    feature = dsd["train"].features["score"]
    assert feature.names == ["incorrect", "partially_correct", "correct"]
    by_id = {r["id"]: r for r in dsd["train"]}
    assert by_id["a0002"]["score"] == 1 and by_id["a0002"]["annotator_scores"] == [1.0, 1.0]
    parquet = load_dataset("parquet", data_files=str(out / "parquet" / "train.parquet"),
                           cache_dir=str(tmp_path / "cache"))
    assert parquet["train"].features["score"].names == feature.names


@pytest.mark.parametrize(("policy", "expected"), [
    ("mean", [2.0, 3.0, 1.0]), ("median", [1.0, 3.0, 0.5]), ("majority", [1.0, 3.0, 0.0]),
])
def test_policies_on_a_numeric_scale(policy, expected):
    # answer 0 got 1, 1, 4; answer 1 got 3 alone; answer 2 got 0, 0, 1, 3
    item = np.array([0, 0, 0, 1, 2, 2, 2, 2])
    idx = np.array([1, 1, 4, 3, 0, 0, 1, 3])
    score, _ = aggregate(item, idx, np.zeros(8, bool), 3, Scale.parse("0-5"), policy)
    assert score.tolist() == expected


def test_majority_tie_goes_to_the_lower_score_and_is_counted():
    score, ties = aggregate(np.array([0, 0]), np.array([4, 2]), np.zeros(2, bool), 1,
                            Scale.parse("0-10 step 0.5"), "majority")
    assert score.tolist() == [1.0] and ties == 1


def test_adjudicated_ground_truth_wins_else_fallback():
    item = np.array([0, 0, 0, 1, 1, 1])
    idx = np.array([1, 1, 4, 1, 2, 2])
    gt = np.array([False, False, True, False, False, False])
    score, _ = aggregate(item, idx, gt, 2, Scale.parse("0-5"), "adjudicated", "median")
    assert score.tolist() == [4.0, 2.0]


def test_median_of_labels_takes_the_lower_middle_and_mean_is_refused(tmp_path):
    scale = Scale.parse("bad,ok,good")
    score, _ = aggregate(np.array([0, 0]), np.array([0, 2]), np.zeros(2, bool), 1, scale,
                         "median")
    assert score.tolist() == [0.0]
    with pytest.raises(ValueError, match="median or majority"):
        aggregate(np.array([0]), np.array([0]), np.zeros(1, bool), 1, scale, "mean")


def test_adjudicated_policy_uses_ground_truth_records_end_to_end(tmp_path):
    items = write_jsonl(tmp_path / "raw.jsonl", [raw_answer(0)])
    ann = write_jsonl(tmp_path / "ann.jsonl", [
        annotation("a0000", "t1", 1), annotation("a0000", "t2", 1),
        annotation("a0000", "rev", 5, ground_truth=True)])
    out = tmp_path / "ds"
    build_ok(ann, "--items", items, "-o", out, "--policy", "adjudicated", "--ratios", "1,0,0")
    dsd, man = load_dataset_dir(out)
    assert dsd["train"][0]["score"] == 5.0
    assert man["aggregation"] == {**man["aggregation"], "policy": "adjudicated",
                                  "fallback": "median"}


def test_skipped_excluded_min_annotators_and_later_judgement_wins(tmp_path):
    items = write_jsonl(tmp_path / "raw.jsonl", [raw_answer(i) for i in range(3)])
    ann = write_jsonl(tmp_path / "ann.jsonl", [
        annotation("a0000", "t1", 2), annotation("a0000", "t2", 2),
        annotation("a0001", "t1", 4), annotation("a0001", "t2", None, skipped=True),
        annotation("a0002", "t1", 0), annotation("a0002", "t2", 1),
        annotation("a0002", "t2", 3),  # t2 changed their mind: the later record counts
    ])
    out = tmp_path / "ds"
    build_ok(ann, "--items", items, "-o", out, "--min-annotators", "2", "--ratios", "1,0,0")
    dsd, man = load_dataset_dir(out)
    rows = {r["id"]: r for r in dsd["train"]}
    assert set(rows) == {"a0000", "a0002"}
    assert rows["a0002"]["annotator_scores"] == [0.0, 3.0]
    counts = man["counts"]
    assert counts["answers_below_min_annotators"] == 1
    assert counts["skipped_annotations"] == 1 and counts["superseded_annotations"] == 1


def test_same_input_gives_byte_identical_parquet_and_fingerprint(tmp_path):
    items, ann = three_teachers(tmp_path)
    build_ok(ann, "--items", items, "-o", tmp_path / "one")
    build_ok(ann, "--items", items, "-o", tmp_path / "two")
    assert manifest(tmp_path / "one")["fingerprint"] == manifest(tmp_path / "two")["fingerprint"]
    for part in (tmp_path / "one" / "parquet").iterdir():
        assert part.read_bytes() == (tmp_path / "two" / "parquet" / part.name).read_bytes()


def test_changed_score_changes_the_fingerprint(tmp_path):
    items, ann = three_teachers(tmp_path)
    build_ok(ann, "--items", items, "-o", tmp_path / "one")
    lines = ann.read_text().splitlines()
    lines[0] = lines[0].replace('"score": 0', '"score": 5')
    ann.write_text("\n".join(lines) + "\n")
    build_ok(ann, "--items", items, "-o", tmp_path / "two")
    assert manifest(tmp_path / "one")["fingerprint"] != manifest(tmp_path / "two")["fingerprint"]


def test_agreement_and_disagreements_are_reported(tmp_path):
    items, ann = three_teachers(tmp_path)
    out = tmp_path / "ds"
    build_ok(ann, "--items", items, "-o", out, "--max-gap", "0")
    agree = manifest(out)["agreement"]
    assert agree["overall"]["exact"] == pytest.approx(1 / 3, abs=1e-6)  # t1 = t2 only
    assert agree["overall"]["adjacent"] == 1.0
    assert set(agree["per_question"]) == {f"q{q}" for q in range(5)}
    lines = (out / "disagreements.csv").read_text().splitlines()
    assert lines[0].startswith("id,question_id,gap,score_t1,score_t2,score_t3,question")
    assert len(lines) == 31
    build_ok(ann, "--items", items, "-o", out, "--max-gap", "1")
    assert len((out / "disagreements.csv").read_text().splitlines()) == 1


def test_split_by_question_keeps_each_question_in_one_split(tmp_path):
    items = write_jsonl(tmp_path / "raw.jsonl", [raw_answer(i, i % 20) for i in range(200)])
    ann = write_jsonl(tmp_path / "ann.jsonl", [annotation(f"a{i:04d}", "t1", i % 6)
                                               for i in range(200)])
    out = tmp_path / "ds"
    build_ok(ann, "--items", items, "-o", out, "--split-by", "question", "--ratios", ".6,.2,.2")
    dsd, man = load_dataset_dir(out)
    questions = {s: set(ds["question_id"]) for s, ds in dsd.items()}
    assert len(questions) == 3
    assert not questions["train"] & questions["test"]
    assert man["split"]["method"] == "question"


def test_explicit_split_in_raw_answers_is_honoured(tmp_path):
    items = write_jsonl(tmp_path / "raw.jsonl", [
        raw_answer(i, split="test" if i < 5 else None) for i in range(40)])
    ann = write_jsonl(tmp_path / "ann.jsonl", [annotation(f"a{i:04d}", "t1", 3)
                                               for i in range(40)])
    out = tmp_path / "ds"
    build_ok(ann, "--items", items, "-o", out, "--ratios", "1,0,0")
    dsd, man = load_dataset_dir(out)
    assert sorted(dsd["test"]["id"]) == [f"a{i:04d}" for i in range(5)]
    assert len(dsd["train"]) == 35 and man["split"]["explicit"] == ["test"]


def test_rebuilding_with_another_seed_needs_resplit(tmp_path):
    items, ann = three_teachers(tmp_path)
    out = tmp_path / "ds"
    build_ok(ann, "--items", items, "-o", out)
    result = run(ann, "--items", items, "-o", out, "--seed", "7")
    assert result.exit_code != 0 and "--resplit" in result.output
    assert len(result.output.strip().splitlines()) == 1
    build_ok(ann, "--items", items, "-o", out, "--seed", "7", "--resplit")
    assert manifest(out)["split"]["seed"] == 7


@pytest.mark.parametrize(("records", "line", "message"), [
    ([annotation("nope", "t1", 3)], 1, "unknown answer id 'nope'"),
    ([annotation("a0000", "t1", 3), annotation("a0000", "t2", 9)], 2, "9 is outside"),
    ([annotation("a0000", "t1", 3), annotation("a0000", "t2", 2, "0-10")], 2, "mixed scales"),
    ([annotation("a0000", "t1", None, skipped=True)], None, "empty input"),
    ([annotation("a0000", "t1", 3, None)], None, "no scale"),
    ([annotation("a0000", "t1", 3, "0-5x")], 1, "column 'scale': '0-5x' is not a scale spec"),
])
def test_bad_annotations_are_one_line_errors(tmp_path, records, line, message):
    items = write_jsonl(tmp_path / "raw.jsonl", [raw_answer(0)])
    ann = write_jsonl(tmp_path / "ann.jsonl", records)
    result = run(ann, "--items", items, "-o", tmp_path / "ds")
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
    assert lines[0].startswith(f"Error: {ann}" + (f":{line}:" if line else ""))
    assert not (tmp_path / "ds").exists()


def test_off_scale_score_names_file_line_and_fix(tmp_path):
    items = write_jsonl(tmp_path / "raw.jsonl", [raw_answer(0)])
    ann = write_jsonl(tmp_path / "ann.jsonl", [annotation("a0000", "t1", 3),
                                               annotation("a0000", "t2", 9)])
    result = run(ann, "--items", items, "-o", tmp_path / "ds")
    assert result.output.strip().splitlines() == [
        f"Error: {ann}:2: column 'score': score off the scale: 9 is outside the scale 0-5; give "
        "a value of the scale 0-5, or fix --scale"]


@pytest.mark.parametrize("which", ["items", "annotations"])
def test_corrupt_jsonl_line_names_file_and_line(tmp_path, which):
    items = write_jsonl(tmp_path / "raw.jsonl", [raw_answer(0), raw_answer(1)])
    ann = write_jsonl(tmp_path / "ann.jsonl", [annotation("a0000", "t1", 3),
                                               annotation("a0001", "t1", 2)])
    broken = items if which == "items" else ann
    broken.write_text(broken.read_text() + "\n{\"truncated\": \n")
    result = run(ann, "--items", items, "-o", tmp_path / "ds")
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {broken}:4: not valid JSON")


def test_bulk_and_line_by_line_readers_give_the_same_dataset(tmp_path):
    items, ann = three_teachers(tmp_path)
    build_ok(ann, "--items", items, "-o", tmp_path / "bulk")
    # a byte-order mark sends both files down the exact, line-by-line path
    for path in (items, ann):
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    build_ok(ann, "--items", items, "-o", tmp_path / "exact")
    assert manifest(tmp_path / "bulk")["fingerprint"] == manifest(tmp_path / "exact")["fingerprint"]


def test_table_with_a_score_column_per_teacher_and_file_splits(tmp_path):
    header = "answer_id,question_id,question,reference_answer,student_answer,t1,t2\n"
    train = tmp_path / "grades.csv"
    train.write_text(header + "".join(f"x{i},q{i % 3},Q?,R,ans {i},{i % 4},{(i + 1) % 4}\n"
                                      for i in range(20)))
    test = tmp_path / "later.csv"
    test.write_text(header + "y1,q9,Q?,R,ans,2,\n")
    out = tmp_path / "ds"
    build_ok(f"{train}:train", f"{test}:test", "--score-cols", "t1,t2", "--scale", "0-3",
             "-o", out, "--carve-validation", "0")
    dsd, man = load_dataset_dir(out)
    assert len(dsd["train"]) == 20 and dsd["test"][0]["num_annotators"] == 1
    assert man["counts"]["skipped_annotations"] == 1
    assert man["agreement"]["overall"]["answers"] == 20


def test_table_with_a_row_per_teacher(tmp_path):
    table = tmp_path / "long.csv"
    table.write_text("id,teacher,grade,question,student_answer\n"
                     "a,ann,correct,Q,x\na,bob,incorrect,Q,x\nb,ann,correct,Q,y\n")
    out = tmp_path / "ds"
    build_ok(table, "--annotator-col", "teacher", "--score-col", "grade",
             "--scale", "incorrect,correct", "-o", out, "--ratios", "1,0,0")
    rows = {r["id"]: r for r in load_dataset_dir(out)[0]["train"]}
    assert rows["a"]["annotator_scores"] == [1.0, 0.0] and rows["a"]["score"] == 0


def test_table_errors_name_file_line_and_column(tmp_path):
    table = tmp_path / "g.csv"
    table.write_text("id,student_answer,t1\na,x,1\na,y,2\n")
    result = run(table, "--score-cols", "t1", "--scale", "0-3", "-o", tmp_path / "ds")
    assert f"{table}:3: duplicate answer id 'a' (first at {table}:2)" in result.output
    table.write_text("id,student_answer,t1\na,x,7\n")
    result = run(table, "--score-cols", "t1", "--scale", "0-3", "-o", tmp_path / "ds")
    assert f"{table}:2: column 't1': score off the scale" in result.output
    result = run(table, "--score-cols", "t9", "--scale", "0-3", "-o", tmp_path / "ds")
    assert "no column 't9'" in result.output and "--score-cols" in result.output


def test_scientsbank_builds_with_its_official_splits(tmp_path, scientsbank):
    from datasets import load_dataset

    out = tmp_path / "sb3"
    build_ok(*sorted(scientsbank.glob("3way_*.csv")), "--split-from-filename",
             "--score-cols", "label", "--scale", "incorrect,contradictory,correct", "-o", out)
    dsd, man = load_dataset_dir(out)
    sizes = {s: len(d) for s, d in dsd.items()}
    assert sizes["train"] + sizes["validation"] == 4969
    assert (sizes["test_ua"], sizes["test_uq"], sizes["test_ud"]) == (540, 733, 4562)
    assert dsd["train"].features["score"].names == ["incorrect", "contradictory", "correct"]
    assert man["split"]["explicit"] == ["test_ua", "test_ud", "test_uq", "train"]
    assert man["split"]["carve_validation"] == 0.1
    assert sum(man["counts"]["labels"]["test_ua"].values()) == 540
    parquet = load_dataset("parquet", data_files={s: str(out / "parquet" / f"{s}.parquet")
                                                  for s in sizes}, cache_dir=str(tmp_path / "c"))
    assert {s: len(d) for s, d in parquet.items()} == sizes
    result = run("--check", out)
    assert result.exit_code == 0, result.output
    assert "questions in both train and test_ua: 135" in result.output


def test_check_flags_answers_in_two_splits_and_edits(tmp_path):
    from datasets import DatasetDict

    items, ann = three_teachers(tmp_path)
    out = tmp_path / "ds"
    build_ok(ann, "--items", items, "-o", out)
    assert run("--check", out).exit_code == 0
    dsd, _ = load_dataset_dir(out)
    leaked = DatasetDict({**{s: d for s, d in dsd.items() if s != "test"},
                          "test": dsd["train"].select([0])})
    leaked.save_to_disk(str(tmp_path / "tmp"))
    for part in (tmp_path / "tmp").iterdir():
        target = out / part.name
        if target.is_dir():
            import shutil

            shutil.rmtree(target)
        part.rename(target)
    result = run("--check", out)
    assert result.exit_code == 1
    assert "answers are in both train and test" in result.output
    assert "does not match the manifest's fingerprint" in result.output


def test_command_module_imports_no_heavy_libraries():
    code = ("import sys, asag.build_dataset.cli; "
            "print(sorted(m for m in ('pandas', 'datasets', 'numpy', 'sklearn', 'pyarrow') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert json.loads(out.replace("'", '"')) == []


def test_no_answer_with_enough_scores_is_an_error(tmp_path):
    items, ann = three_teachers(tmp_path, n=3)
    result = run(ann, "--items", items, "-o", tmp_path / "ds", "--min-annotators", "4")
    assert result.exit_code == 1 and "no answer has 4 or more scores" in result.output


@pytest.mark.parametrize("change", [{"foo": 1}, {"annotator": ""}, {"skipped": "no"}])
def test_records_off_the_schema_name_their_line(tmp_path, change):
    items = write_jsonl(tmp_path / "raw.jsonl", [raw_answer(0)])
    ann = write_jsonl(tmp_path / "ann.jsonl", [annotation("a0000", "t1", 3),
                                               {**annotation("a0000", "t2", 3), **change}])
    result = run(ann, "--items", items, "-o", tmp_path / "ds")
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {ann}:2: does not match schemas/annotation")


def test_table_split_column_and_split_from_filename(tmp_path):
    table = tmp_path / "course_dev.csv"
    table.write_text("id,student_answer,t1,split\na,x,1,test\nb,y,2,\nc,z,0,\n")
    out = tmp_path / "ds"
    build_ok(table, "--split-from-filename", "--score-cols", "t1", "--scale", "0-3", "-o", out)
    dsd, _ = load_dataset_dir(out)
    assert dsd["test"]["id"] == ["a"] and sorted(dsd["validation"]["id"]) == ["b", "c"]
    bad = tmp_path / "answers.csv"
    bad.write_text(table.read_text())
    result = run(bad, "--split-from-filename", "--score-cols", "t1", "--scale", "0-3", "-o", out)
    assert "no split in the file name" in result.output and f"{bad}:SPLIT" in result.output


def test_a_crash_while_writing_keeps_the_previous_dataset(tmp_path, monkeypatch):
    from asag.build_dataset import output

    items, ann = three_teachers(tmp_path)
    out = tmp_path / "ds"
    build_ok(ann, "--items", items, "-o", out)
    before = manifest(out)["fingerprint"]

    def crash(table, path):
        raise OSError("disk full")

    monkeypatch.setattr(output, "write_parquet", crash)
    ann.write_text(ann.read_text().replace('"score": 0', '"score": 5'))
    assert run(ann, "--items", items, "-o", out).exit_code != 0
    assert manifest(out)["fingerprint"] == before
    assert load_dataset_dir(out)[0]["train"].num_rows > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ann.jsonl", "ds", "raw.jsonl"]


def test_refuses_to_overwrite_a_directory_that_is_not_a_dataset(tmp_path):
    items, ann = three_teachers(tmp_path)
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "notes.txt").write_text("keep me")
    result = run(ann, "--items", items, "-o", tmp_path / "precious")
    assert result.exit_code == 1 and "is not an asag dataset directory" in result.output
    assert (tmp_path / "precious" / "notes.txt").read_text() == "keep me"


@pytest.mark.parametrize("bulk", [True, False])
def test_card_and_summary_say_how_often_teachers_kept_the_models_hint(tmp_path, bulk):
    items = write_jsonl(tmp_path / "raw.jsonl", [raw_answer(i) for i in range(6)])
    hints = [(4, 0.9), (2, 0.9), (3, 0.6), (1, 0.2), (5, 0.1), (0, None)]
    records = [dict(annotation(f"a{i:04d}", "t1", score),
                    prediction={"model_version": "m@1", "score": hint, "confidence": conf})
               for i, (score, (hint, conf)) in enumerate(zip([4, 3, 3, 1, 2, 0], hints,
                                                                strict=True))]
    records.append(annotation("a0000", "t2", 4))  # no hint shown: not counted
    ann = write_jsonl(tmp_path / "ann.jsonl", records)
    if not bulk:  # a byte-order mark sends the file down the exact, line-by-line path
        ann.write_bytes(b"\xef\xbb\xbf" + ann.read_bytes())
    out = tmp_path / "ds"
    result = CliRunner().invoke(cli, ["build-dataset", str(ann), "--items", str(items),
                                      "-o", str(out)])
    assert result.exit_code == 0, result.output
    hints_seen = manifest(out)["model_hints"]
    assert (hints_seen["shown"], hints_seen["kept"]) == (6, 4)
    assert hints_seen["by_band"] == {
        "sure": {"shown": 2, "kept": 1, "rate": 0.5},
        "fairly_sure": {"shown": 1, "kept": 1, "rate": 1.0},
        "unsure": {"shown": 2, "kept": 1, "rate": 0.5},
        "no confidence": {"shown": 1, "kept": 1, "rate": 1.0}}
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "| sure | 2 | 1 | 0.500 |" in card and "kept it 4 times" in card
    assert "kept the model's hinted score in 4 of 6 scores" in result.output
