"""`asag train` with a tiny BERT built from a config: what it saves, that it learns, and how
it treats bad input, re-runs, resumption and retraining against a previous model."""
# ruff: noqa: F811  (pytest fixtures imported from tests/model_fixtures.py)

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.model_fixtures import (  # noqa: F401  (fixtures)
    TINY_TRAIN,
    numeric_dataset,
    run_cli,
    tiny_base,
    trained_on_fingerprint,
    trained_scorer,
    yes_no_dataset,
    yes_no_dir,
)

QUICK = ["--max-steps", "6", "--eval-steps", "3", "--batch-size", "8", "--learning-rate", "1e-3",
         "--logging-steps", "1000"]


def test_trained_directory_is_a_plain_hf_model_with_scorer_manifest_and_card(trained_scorer):
    names = {p.name for p in trained_scorer.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "asag_scorer.json",
            "README.md"} <= names
    # nothing pickled, no leftovers of the run
    assert not [n for n in names if n.endswith((".bin", ".pt", ".pth", ".pkl"))]
    assert "checkpoints" not in names and ".staging" not in names
    manifest = json.loads((trained_scorer / "asag_scorer.json").read_text())
    assert manifest["scale"] == "incorrect,correct"
    assert manifest["task"] == "classification"
    assert "[SEP]" in manifest["template"]
    assert 8 <= manifest["max_length"] <= 128
    fingerprint = trained_on_fingerprint(trained_scorer)
    assert manifest["dataset"]["fingerprint"] == fingerprint
    assert set(manifest["metrics"]) == {"validation", "test"}
    card = (trained_scorer / "README.md").read_text()
    assert card.startswith("---\n") and fingerprint in card and "Scorer.load" in card


def test_tiny_model_learns_the_rule_in_the_data(trained_scorer):
    manifest = json.loads((trained_scorer / "asag_scorer.json").read_text())
    assert manifest["metrics"]["test"]["accuracy"] >= 0.9
    assert manifest["metrics"]["test"]["macro_f1"] >= 0.9


def test_saved_model_loads_with_transformers_from_safetensors(trained_scorer):
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(trained_scorer,
                                                               use_safetensors=True)
    assert model.config.id2label == {0: "incorrect", 1: "correct"}


def test_rerun_refuses_to_overwrite_a_finished_scorer(trained_scorer, yes_no_dir):
    result = run_cli("train", yes_no_dir, "-o", trained_scorer)
    assert result.exit_code == 1
    assert "already holds a trained scorer" in result.output and "--overwrite" in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--learning-rate", "-1", "'--learning-rate'"),
        ("--head-learning-rate", "0", "'--head-learning-rate'"),
        ("--template", "{question} {foo} [SEP] {student_answer}", "unknown field {foo}"),
        ("--template", "{question} [SEP] {reference_answer}", "must contain {student_answer}"),
        ("--warmup-ratio", "1.5", "'--warmup-ratio'"),
        ("--max-length", "4", "too short"),
    ],
)
def test_bad_training_argument_is_a_one_line_usage_error(tmp_path, yes_no_dir, option, value,
                                                         message):
    result = run_cli("train", yes_no_dir, "-o", tmp_path / "m", option, value)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "m").exists()


def test_a_folder_that_is_no_dataset_is_a_one_line_error(tmp_path, tiny_base):
    (tmp_path / "empty").mkdir()
    result = run_cli("train", tmp_path / "empty", "-o", tmp_path / "m", "--base-model", tiny_base)
    assert result.exit_code == 1
    assert "not an asag dataset directory" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_unloadable_base_model_is_a_one_line_error(tmp_path, yes_no_dir):
    result = run_cli("train", yes_no_dir, "-o", tmp_path / "m",
                     "--base-model", str(tmp_path / "no-such-model"))
    assert result.exit_code == 1
    assert "could not be loaded offline" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_numeric_scale_trains_a_regressor_whose_scores_stay_on_the_scale(tmp_path, tiny_base):
    from asag.train import Scorer

    data = numeric_dataset(tmp_path / "data")  # no validation split: carved from train
    result = run_cli("-q", "train", data, "-o", tmp_path / "m", "--base-model", tiny_base,
                     *QUICK)
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "m" / "asag_scorer.json").read_text())
    assert manifest["task"] == "regression" and manifest["scale"] == "0-5"
    assert "of train" in manifest["dataset"]["validation_source"]
    assert {"rmse", "mae", "qwk"} <= set(manifest["metrics"]["test"])
    scorer = Scorer.load(tmp_path / "m")
    assert scorer.model.config.num_labels == 1
    for p in scorer.score_many([("q", "r", "yes"), ("q", "r", "no " * 30)]):
        assert 0 <= p.score <= 5 and p.step in (0, 1, 2, 3, 4, 5) and p.probabilities is None


def test_same_seed_same_model_and_previous_model_reported_side_by_side(tmp_path, tiny_base,
                                                                       yes_no_dir):
    first = run_cli("-q", "train", yes_no_dir, "-o", tmp_path / "v1", "--base-model", tiny_base,
                    *QUICK)
    assert first.exit_code == 0, first.output
    second = run_cli("-q", "train", yes_no_dir, "-o", tmp_path / "v2", "--base-model", tiny_base,
                     *QUICK, "--previous", tmp_path / "v1")
    assert second.exit_code == 0, second.output
    from safetensors.numpy import load_file

    a = load_file(tmp_path / "v1" / "model.safetensors")
    b = load_file(tmp_path / "v2" / "model.safetensors")
    assert all((a[k] == b[k]).all() for k in a)  # seeded: reproducible
    comparison = json.loads((tmp_path / "v2" / "comparison.json").read_text())
    rows = {r["metric"]: r for r in comparison["metrics"]}
    assert rows["accuracy"]["previous"] == rows["accuracy"]["new"]
    assert rows["accuracy"]["change"] == 0
    assert "previous" in second.output and "| accuracy |" in second.output
    assert "Against the previous model" in (tmp_path / "v2" / "README.md").read_text()


def test_previous_model_on_another_scale_is_refused(tmp_path, trained_scorer, tiny_base):
    data = numeric_dataset(tmp_path / "data")
    result = run_cli("train", data, "-o", tmp_path / "m", "--base-model", tiny_base,
                     "--previous", trained_scorer)
    assert result.exit_code == 1
    assert "scores on 'incorrect,correct'" in result.output


def test_resume_continues_an_interrupted_run_from_its_last_checkpoint(tmp_path, tiny_base,
                                                                      yes_no_dir):
    out = tmp_path / "m"
    first = run_cli("-q", "train", yes_no_dir, "-o", out, "--base-model", tiny_base, *QUICK,
                    "--keep-checkpoints")
    assert first.exit_code == 0, first.output
    assert (out / "checkpoints" / "checkpoint-6").is_dir()
    (out / "asag_scorer.json").unlink()  # as if the run had died before finishing
    refused = run_cli("train", yes_no_dir, "-o", out, "--base-model", tiny_base, *QUICK)
    assert refused.exit_code == 1 and "--resume" in refused.output
    resumed = run_cli("-q", "train", yes_no_dir, "-o", out, "--base-model", tiny_base,
                      *QUICK[2:], "--max-steps", "9", "--resume")
    assert resumed.exit_code == 0, resumed.output
    manifest = json.loads((out / "asag_scorer.json").read_text())
    assert manifest["training"]["steps"] == 9
    assert not (out / "checkpoints").exists()


def test_resume_without_checkpoint_is_a_one_line_error(tmp_path, tiny_base, yes_no_dir):
    result = run_cli("train", yes_no_dir, "-o", tmp_path / "m", "--base-model", tiny_base,
                     "--resume")
    assert result.exit_code == 1
    assert "no checkpoint" in result.output


def test_train_help_does_not_import_torch():
    import subprocess
    import sys

    code = ("import sys; from asag.cli import cli; from click.testing import CliRunner; "
            "r = CliRunner().invoke(cli, ['train', '--help']); assert r.exit_code == 0; "
            "import asag.train; print(sorted(m for m in ('torch', 'transformers', 'datasets') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_training_args_dataclass_validates_and_round_trips():
    from asag.train import TrainArgs
    from asag.train.args import ArgumentError

    args = TrainArgs(epochs=2, learning_rate=3e-5)
    assert TrainArgs.from_dict(args.to_dict()) == args
    with pytest.raises(ArgumentError, match="--batch-size"):
        TrainArgs(batch_size=0)
    with pytest.raises(ArgumentError, match="--precision"):
        TrainArgs(precision="fp8")
    assert TrainArgs(threads=3).cpu_threads(processes=2) == 3
    assert TrainArgs().cpu_threads(processes=64) == 1


def test_epochs_adapt_to_the_data_size_unless_given():
    from asag.train import TrainArgs
    from asag.train.args import MAX_EPOCHS, MIN_EPOCHS, MIN_STEPS

    args = TrainArgs()  # batch 16
    assert args.epochs_for(4459) == MIN_EPOCHS  # 279 steps an epoch: the floor
    assert args.epochs_for(1000) == 13  # 63 steps an epoch: 800 steps in 13 epochs
    assert args.epochs_for(1000) * 63 >= MIN_STEPS > (args.epochs_for(1000) - 1) * 63
    assert args.epochs_for(40) == MAX_EPOCHS  # 3 steps an epoch: capped
    assert args.epochs_for(4000, processes=4) == 13  # 63 steps an epoch across 4 processes
    assert TrainArgs(epochs=2).epochs_for(40) == 2.0


def test_auto_precision_is_bf16_only_where_the_cpu_has_native_bf16(monkeypatch):
    import torch

    from asag.train import TrainArgs

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for flag in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        monkeypatch.setattr(torch.cpu, flag, lambda: False, raising=False)
    assert TrainArgs().resolved_precision() == "fp32"  # emulated bf16 would be slower
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True, raising=False)
    assert TrainArgs().resolved_precision() == "bf16"
    assert TrainArgs(precision="fp32").resolved_precision() == "fp32"  # the user's choice


def test_max_length_is_a_percentile_of_the_data_within_the_model():
    from asag.train.data import choose_max_length

    lengths = list(range(1, 101))
    assert choose_max_length(lengths, 99, 512) == 104  # 99 rounded up to a multiple of 8
    assert choose_max_length(lengths, 50, 512) == 56
    assert choose_max_length(lengths, 100, 64) == 64  # capped by the model
    assert choose_max_length([], 99, 512) == 128


def test_template_renders_segments_and_tolerates_missing_text():
    from asag.train.data import render

    first, second = render("Q: {question} R: {reference_answer} [SEP] {student_answer}",
                           [{"question": "Why?", "reference_answer": None,
                             "student_answer": " it  moves "}])
    assert first == ["Q: Why? R:"] and second == ["it moves"]
    single, none = render("{question} {student_answer}", [{"question": "a", "student_answer": "b",
                                                         "reference_answer": "c"}])
    assert single == ["a b"] and none is None


def test_dataset_path_and_fixture_contract(yes_no_dir: Path):
    from asag.dataset_layout import load_dataset_dir

    dsd, manifest = load_dataset_dir(yes_no_dir)
    assert set(dsd) == {"train", "validation", "test"}
    assert dsd["train"].features["score"].names == ["incorrect", "correct"]
    assert manifest["scale"] == "incorrect,correct"


def test_balanced_class_weights_favour_rare_classes_and_keep_the_loss_scale():
    import torch
    import torch.nn.functional as F

    from asag.train.training import _WeightedLoss

    loss = _WeightedLoss([0, 0, 0, 1], classes=3)  # class 2 never seen: weight stays finite
    assert loss.weights.tolist() == pytest.approx([2 / 3, 2, 2])
    # weights average 1 over train: on train's own labels with uniform logits it is plain CE
    logits, labels = torch.zeros(4, 3), torch.tensor([0, 0, 0, 1])
    assert float(loss({"logits": logits}, labels)) == pytest.approx(
        float(F.cross_entropy(logits, labels)))
    assert float(loss({"logits": logits}, labels, num_items_in_batch=8)) == pytest.approx(
        float(F.cross_entropy(logits, labels)) / 2)


def test_class_weights_option_trains_and_is_recorded(tmp_path, tiny_base, yes_no_dir):
    result = run_cli("train", yes_no_dir, "-o", tmp_path / "m", "--base-model", tiny_base,
                     *QUICK, "--class-weights", "balanced")
    assert result.exit_code == 0, result.output
    assert "class weights: incorrect" in result.output
    manifest = json.loads((tmp_path / "m" / "asag_scorer.json").read_text())
    assert manifest["training_args"]["class_weights"] == "balanced"
    bad = run_cli("train", yes_no_dir, "-o", tmp_path / "m2", "--class-weights", "inverse")
    assert bad.exit_code == 2 and "'--class-weights'" in bad.output


def test_classifier_head_trains_at_ten_times_the_body_rate_by_default(tmp_path, tiny_base):
    from transformers import AutoModelForSequenceClassification, TrainingArguments

    from asag.train.args import TrainArgs
    from asag.train.training import _trainer_class, head_parameter_names

    model = AutoModelForSequenceClassification.from_pretrained(tiny_base, num_labels=2)
    assert head_parameter_names(model) == {"bert.pooler.dense.weight", "bert.pooler.dense.bias",
                                           "classifier.weight", "classifier.bias"}
    args = TrainArgs(learning_rate=2e-5)
    trainer = _trainer_class()(model=model, args=TrainingArguments(
        output_dir=str(tmp_path), learning_rate=2e-5, use_cpu=True, report_to="none"))
    trainer.head_lr = args.head_lr(classification=True)
    groups = trainer.create_optimizer().param_groups
    head_ids = {id(p) for n, p in model.named_parameters() if n in head_parameter_names(model)}
    for group in groups:
        is_head = {id(p) in head_ids for p in group["params"]}
        assert len(is_head) == 1  # a group is all head or all body
        assert group["lr"] == pytest.approx(2e-4 if is_head.pop() else 2e-5)
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    assert args.head_lr(classification=False) == 2e-5  # regression heads: the body's rate
    assert TrainArgs(head_learning_rate=1e-3).head_lr(classification=False) == 1e-3
