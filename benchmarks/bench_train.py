"""Training and scoring speed of the default base model on SciEntsBank, in one run:

- training examples/s of `asag train` (dynamic padding, length grouping, max_length from the
  data) next to a plain `Trainer` baseline (fixed padding to 128, random batches), the same
  model, batch size, learning rate and number of steps;
- scoring answers/s of the Python API (length-sorted batches) in fp32 and int8, next to the
  training rate (goal: >= 10x).

    .venv/bin/python benchmarks/bench_train.py [--steps 60] [--dataset DIR]

DIR is a built SciEntsBank dataset (made here with `asag build-dataset` when absent)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "scientsbank"
SCALE = "incorrect,contradictory,correct"


def build(dataset: Path) -> None:
    if (dataset / "manifest.json").is_file():
        return
    files = [str(DATA / f"3way_{s}.csv") for s in ("train", "test_ua", "test_uq", "test_ud")]
    subprocess.run([sys.executable, "-m", "asag", "-q", "build-dataset", *files,
                    "--split-from-filename", "--score-cols", "label", "--scale", SCALE,
                    "-o", str(dataset)], check=True, cwd=ROOT)


def asag_train(dataset: Path, out: Path, steps: int, batch: int) -> dict:
    """`asag train` as a user runs it; the manifest records the training loop's rate."""
    started = time.time()
    subprocess.run([sys.executable, "-m", "asag", "-q", "train", str(dataset), "-o", str(out),
                    "--overwrite", "--max-steps", str(steps), "--eval-steps", str(10 * steps),
                    "--batch-size", str(batch)], check=True, cwd=ROOT)
    manifest = json.loads((out / "asag_scorer.json").read_text())
    return {"examples_per_second": manifest["training"]["examples_per_second"],
            "loop_seconds": manifest["training"]["train_loop_seconds"],
            "command_seconds": round(time.time() - started, 1),
            "max_length": manifest["max_length"]}


def baseline_train(dataset: Path, work: Path, steps: int, batch: int) -> dict:
    """The plain recipe: pad every example to 128 tokens, random batches."""
    from asag.train.training import default_base_model
    from datasets import load_from_disk
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        Trainer,
        TrainingArguments,
    )
    from transformers.utils import logging

    logging.set_verbosity_error()
    base = default_base_model()
    tok = AutoTokenizer.from_pretrained(base)
    model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=3)
    train = load_from_disk(str(dataset))["train"]
    enc = tok([f"{q} {r}" for q, r in zip(train["question"], train["reference_answer"],
                                          strict=True)],
              train["student_answer"], truncation=True, max_length=128, padding="max_length")
    from datasets import Dataset

    ds = Dataset.from_dict({**{k: enc[k] for k in enc}, "labels": train["score"]})
    args = TrainingArguments(output_dir=str(work / "baseline"), max_steps=steps,
                             per_device_train_batch_size=batch, learning_rate=5e-5,
                             save_strategy="no", eval_strategy="no", report_to="none",
                             use_cpu=True, disable_tqdm=True, logging_strategy="no", seed=42)
    out = Trainer(model=model, args=args, train_dataset=ds).train()
    return {"examples_per_second": round(out.metrics["train_samples_per_second"], 2),
            "loop_seconds": round(out.metrics["train_runtime"], 1), "max_length": 128}


def scoring(model_dir: Path, dataset: Path, quantize: bool) -> dict:
    from asag.train import Scorer
    from datasets import load_from_disk

    rows = [dict(r) for r in load_from_disk(str(dataset))["test_ua"]]
    scorer = Scorer.load(model_dir, quantize=quantize)
    scorer.score_many(rows[:32])  # warm-up
    started = time.time()
    scorer.score_many(rows, batch_size=32)
    seconds = time.time() - started
    return {"answers_per_second": round(len(rows) / seconds, 1), "answers": len(rows),
            "seconds": round(seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--dataset", type=Path, default=Path("/tmp/asag-bench/sb-3way"))
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/asag-bench"))
    opts = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    opts.workdir.mkdir(parents=True, exist_ok=True)
    build(opts.dataset)
    load_before = os.getloadavg()
    ours = asag_train(opts.dataset, opts.workdir / "model", opts.steps, opts.batch_size)
    base = baseline_train(opts.dataset, opts.workdir, opts.steps, opts.batch_size)
    fp32 = scoring(opts.workdir / "model", opts.dataset, quantize=False)
    int8 = scoring(opts.workdir / "model", opts.dataset, quantize=True)
    train_rate = ours["examples_per_second"]
    rows = [
        ("training: plain Trainer, fixed padding 128 (baseline)", base["examples_per_second"],
         "ex/s", 1.0),
        (f"training: asag train (dynamic padding, length grouping, max_length "
         f"{ours['max_length']})", train_rate, "ex/s", train_rate / base["examples_per_second"]),
        ("scoring: Scorer.score_many fp32, length-sorted", fp32["answers_per_second"],
         "answers/s", fp32["answers_per_second"] / train_rate),
        ("scoring: Scorer.score_many int8 (--int8)", int8["answers_per_second"], "answers/s",
         int8["answers_per_second"] / train_rate),
    ]
    print(f"{opts.steps} steps x batch {opts.batch_size}; load average before "
          f"{load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}")
    print("| what | rate | unit | ratio |")
    print("|---|---:|---|---:|")
    for what, rate, unit, ratio in rows:
        ref = "vs baseline" if unit == "ex/s" else "vs asag training ex/s"
        print(f"| {what} | {rate:.1f} | {unit} | {ratio:.2f}x {ref} |")
    (opts.workdir / "bench_train.json").write_text(json.dumps(
        {"asag": ours, "baseline": base, "fp32": fp32, "int8": int8,
         "load_before": load_before, "load_after": os.getloadavg()}, indent=2))


if __name__ == "__main__":
    main()
