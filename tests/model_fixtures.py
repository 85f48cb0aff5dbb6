"""Tiny real models and small dataset directories for the train / evaluate / score tests.

The base model is a 2-layer BERT built from a config with a WordPiece vocabulary written
here (no download, seconds to train); datasets follow asag/dataset_layout.py. Import the
fixtures explicitly: `from tests.model_fixtures import tiny_base, make_dataset_dir`."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

WORDS = (
    "the a is of to and in it because light water heat energy plant sun moves gets more less "
    "yes no correct wrong answer question reference student why what how does do not which "
    "electricity circuit battery bulb closed open magnet iron attracts force gravity pulls "
    "down up mass weight same different temperature rises falls".split()
)
YES_NO = {"yes": "correct", "no": "incorrect"}


def _vocab() -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz0123456789.,?!'-"
    return (["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted(set(WORDS))
            + list(letters) + [f"##{c}" for c in letters])


def build_tiny_base(path: Path, *, hidden: int = 64, layers: int = 2) -> Path:
    """A randomly initialised BERT (encoder only) with its tokenizer, saved as a model dir."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    path.mkdir(parents=True, exist_ok=True)
    vocab = {token: i for i, token in enumerate(_vocab())}
    tokenizer = BertTokenizerFast(vocab=vocab, do_lower_case=True, model_max_length=128)
    config = BertConfig(vocab_size=len(_vocab()), hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=2, intermediate_size=hidden * 2,
                        max_position_embeddings=128)
    import torch

    torch.manual_seed(0)
    BertModel(config).save_pretrained(str(path))
    tokenizer.save_pretrained(str(path))
    return path


# Session-wide cache: fixtures imported into several test modules are distinct fixture
# definitions to pytest, but should build (and train) only once per session.
_ONCE: dict[str, Path] = {}


def _once(key: str, make) -> Path:
    if key not in _ONCE or not _ONCE[key].exists():
        _ONCE[key] = make()
    return _ONCE[key]


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory) -> Path:
    return _once("tiny_base", lambda: build_tiny_base(tmp_path_factory.mktemp("tiny-bert")))


def yes_no_rows(n: int, seed: int = 0, questions: int = 4) -> list[dict]:
    """Answers whose label is learnable: 'yes ...' is correct, 'no ...' is incorrect."""
    rnd = random.Random(seed)
    rows = []
    for i in range(n):
        q = i % questions
        verdict = rnd.choice(["yes", "no"])
        filler = " ".join(rnd.choice(WORDS[:19]) for _ in range(rnd.randint(1, 12)))
        rows.append({
            "id": f"a{seed}-{i}",
            "question_id": f"q{q}",
            "question": f"why does the {WORDS[40 + q]} move?",
            "reference_answer": "because the force pulls it",
            "student_answer": f"{verdict} {filler}",
            "label": YES_NO[verdict],
        })
    return rows


def make_dataset_dir(path: Path, scale: str, splits: dict[str, list[dict]]) -> Path:
    """A built dataset, made as a course's would be: a table of the rows (with a `label` on
    label scales or a `score` on numeric ones) and a split column, through `asag
    build-dataset`. The table is written beside `path`."""
    import csv

    from asag.scale import Scale

    numeric = Scale.parse(scale).is_numeric
    table = path.with_name(path.name + ".table.csv")
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = ["id", "question_id", "question", "reference_answer", "student_answer"]
    with table.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow([*columns, "teacher", "split"])
        for name, rows in splits.items():
            for r in rows:
                out.writerow([*(r[c] for c in columns),
                              r["score"] if numeric else r["label"], name])
    result = run_cli("build-dataset", table, "--score-cols", "teacher", "--scale", scale,
                     "--id-col", "id", "--carve-validation", "0", "-o", path)
    assert result.exit_code == 0, result.output
    return path


def trained_on_fingerprint(scorer_dir: Path) -> str:
    """The fingerprint in the manifest of the dataset a scorer was trained on (read from
    the dataset, not from the scorer)."""
    dataset = json.loads((scorer_dir / "asag_scorer.json").read_text())["dataset"]["path"]
    return json.loads((Path(dataset) / "manifest.json").read_text())["fingerprint"]


def yes_no_dataset(path: Path, *, train: int = 160, validation: int = 40, test: int = 40,
                   extra: dict[str, int] | None = None) -> Path:
    splits = {"train": yes_no_rows(train, 1), "validation": yes_no_rows(validation, 2),
              "test": yes_no_rows(test, 3)}
    for name, n in (extra or {}).items():
        splits[name] = yes_no_rows(n, 10 + len(splits))
    return make_dataset_dir(path, "incorrect,correct", splits)


def numeric_dataset(path: Path, *, n: int = 120) -> Path:
    """0-5 scores: 'yes' answers score 4-5, 'no' answers 0-1."""
    def scored(rows):
        rnd = random.Random(len(rows))
        for r in rows:
            r["score"] = rnd.choice([4, 5]) if r["label"] == "correct" else rnd.choice([0, 1])
        return rows

    return make_dataset_dir(path, "0-5", {"train": scored(yes_no_rows(n, 4)),
                                          "test": scored(yes_no_rows(40, 5))})


# Settings under which the tiny BERT learns the yes/no rule in a few seconds. It sits on a
# plateau (validation accuracy ~0.57) for two or three epochs before it learns the rule, so
# early stopping stays off: with a patience of 2 it ended some runs on the plateau, depending
# on nothing more than the process's floating-point state.
TINY_TRAIN = ["--epochs", "8", "--learning-rate", "1e-3", "--batch-size", "8",
              "--early-stopping-patience", "0", "--logging-steps", "1000"]


def run_cli(*args: str):
    """Invoke `asag` in-process; the result carries exit_code and output (stdout + stderr)."""
    from click.testing import CliRunner

    from asag.cli import cli

    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="session")
def yes_no_dir(tmp_path_factory) -> Path:
    return _once("yes_no_dir", lambda: yes_no_dataset(tmp_path_factory.mktemp("yes-no") / "d"))


def _tiny_scorer(tmp_path_factory, key: str, base: Path, data: Path, *options: str) -> Path:
    """A tiny scorer trained once per session by the real `asag train` command."""

    def make() -> Path:
        out = tmp_path_factory.mktemp(key) / "model"
        result = run_cli("-q", "train", data, "-o", out, "--base-model", base, *TINY_TRAIN,
                         *options)
        assert result.exit_code == 0, result.output
        return out

    return _once(key, make)


@pytest.fixture(scope="session")
def trained_scorer(tmp_path_factory, tiny_base, yes_no_dir) -> Path:
    """The default recipe: cross-encoder, graded-answer memory and similarity heads."""
    return _tiny_scorer(tmp_path_factory, "trained_scorer", tiny_base, yes_no_dir)


@pytest.fixture(scope="session")
def plain_scorer(tmp_path_factory, tiny_base, yes_no_dir) -> Path:
    """The same tiny scorer without a graded-answer memory: the cross-encoder alone (what an
    ONNX export holds)."""
    return _tiny_scorer(tmp_path_factory, "plain_scorer", tiny_base, yes_no_dir,
                        "--no-graded-memory")
