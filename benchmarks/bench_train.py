"""Training and scoring speed of the default base model on SciEntsBank, in one run:

- training examples/s of asag's input pipeline (length-grouped batches, dynamic padding,
  max_length from the data) against the plain recipe (random batches padded to 128 tokens),
  on the same model, alternating every few steps so a shared machine's load hits both alike;
  and the end-to-end rate `asag train` itself records;
- scoring answers/s of the Python API (length-sorted batches) in fp32 and int8, next to the
  training rate (goal: >= 10x).

    .venv/bin/python benchmarks/bench_train.py [--steps 30] [--rounds 4 --round-steps 5]

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
            "max_length": manifest["max_length"],
            "precision": manifest["training"].get("precision", "fp32")}


def interleaved(dataset: Path, max_length: int, rounds: int, steps: int, batch: int) -> dict:
    """The two input pipelines on one model, alternating every `steps` steps, so that other
    processes' load (this machine is shared) falls on both alike: asag's (length-grouped
    batches, dynamic padding, max_length from the data) against the plain recipe (random
    batches, every example padded/truncated to 128)."""
    import random

    import torch
    from datasets import load_from_disk
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.trainer_pt_utils import LengthGroupedSampler

    from asag.train.args import DEFAULT_TEMPLATE
    from asag.train.data import encode, split_rows
    from asag.train.training import _Collator, default_base_model

    base = default_base_model()
    tok = AutoTokenizer.from_pretrained(base)
    model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=3)
    opt = torch.optim.AdamW(model.parameters(), lr=5e-5)
    rows = split_rows(load_from_disk(str(dataset))["train"])
    labels = [int(r["score"]) for r in rows]
    ours = encode(tok, DEFAULT_TEMPLATE, rows, max_length)
    ours128 = encode(tok, DEFAULT_TEMPLATE, rows, 128)  # the baseline's truncation
    plain = tok(*[list(x) for x in zip(*[(f"{r['question']} {r['reference_answer']}",
                                          r["student_answer"]) for r in rows], strict=True)],
                truncation=True, max_length=128, padding="max_length")
    lengths = [len(x) for x in ours["input_ids"]]
    grouped = iter(list(LengthGroupedSampler(batch, lengths=lengths)))
    grouped128 = iter(list(LengthGroupedSampler(batch, lengths=[min(n, 128) for n in lengths],
                                                generator=torch.Generator().manual_seed(1))))
    grouped_bf16 = iter(list(LengthGroupedSampler(batch, lengths=lengths,
                                                  generator=torch.Generator().manual_seed(2))))
    shuffled = iter(random.Random(0).sample(range(len(rows)), len(rows)))
    collate = _Collator(tok)

    def batch_of(enc, order, pad):
        idx = [next(order) for _ in range(batch)]
        feats = [{k: enc[k][i] for k in enc} | {"labels": labels[i]} for i in idx]
        return collate(feats) if pad else {k: torch.tensor([f[k] for f in feats])
                                            for k in feats[0]}

    def run(enc, order, pad, bf16=False) -> float:
        """Steps in fp32, or in bf16 autocast as the Trainer runs them with bf16=True."""
        started = time.perf_counter()
        for _ in range(steps):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = model(**batch_of(enc, order, pad)).loss
            loss.backward()
            opt.step()
            opt.zero_grad()
        return time.perf_counter() - started

    model.train()
    run(ours, grouped, True)  # warm-up
    t_ours = t_plain = t_128 = t_bf16 = 0.0
    for _ in range(rounds):
        t_ours += run(ours, grouped, True)
        t_plain += run(plain, shuffled, False)
        t_128 += run(ours128, grouped128, True)
        t_bf16 += run(ours, grouped_bf16, True, bf16=True)
    n = rounds * steps * batch
    return {"asag_examples_per_second": round(n / t_ours, 2),
            "asag_bf16_examples_per_second": round(n / t_bf16, 2),
            "asag128_examples_per_second": round(n / t_128, 2),
            "plain_examples_per_second": round(n / t_plain, 2), "examples_each": n}


def scoring(model_dir: Path, dataset: Path, quantize: bool, answers: int) -> dict:
    from datasets import load_from_disk

    from asag.train import Scorer

    rows = [dict(r) for r in load_from_disk(str(dataset))["test_ua"]][:answers]
    scorer = Scorer.load(model_dir, quantize=quantize)
    scorer.score_many(rows[:32])  # warm-up
    started = time.time()
    scorer.score_many(rows, batch_size=32)
    seconds = time.time() - started
    return {"answers_per_second": round(len(rows) / seconds, 1), "answers": len(rows),
            "seconds": round(seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=30, help="asag train steps")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds")
    parser.add_argument("--round-steps", type=int, default=5)
    parser.add_argument("--answers", type=int, default=540, help="answers scored per mode")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--dataset", type=Path, default=Path("/tmp/asag-bench/sb-3way"))
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/asag-bench"))
    parser.add_argument("--reuse-model", action="store_true",
                        help="skip `asag train` when workdir/model exists")
    opts = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    from transformers.utils import logging

    logging.set_verbosity_error()
    opts.workdir.mkdir(parents=True, exist_ok=True)
    build(opts.dataset)
    load_before = os.getloadavg()
    model = opts.workdir / "model"
    if opts.reuse_model and (model / "asag_scorer.json").is_file():
        manifest = json.loads((model / "asag_scorer.json").read_text())
        ours = {"examples_per_second": None, "max_length": manifest["max_length"]}
    else:
        ours = asag_train(opts.dataset, model, opts.steps, opts.batch_size)
    pair = interleaved(opts.dataset, ours["max_length"], opts.rounds, opts.round_steps,
                       opts.batch_size)
    fp32 = scoring(model, opts.dataset, False, opts.answers)
    int8 = scoring(model, opts.dataset, True, opts.answers)
    plain, mine = pair["plain_examples_per_second"], pair["asag_examples_per_second"]
    rows = [
        ("training step, plain recipe: random batches padded to 128 (baseline)", plain,
         "ex/s", "1.00x"),
        (f"training step, asag: length-grouped, dynamic padding, max_length "
         f"{ours['max_length']} (the default)", mine, "ex/s", f"{mine / plain:.2f}x vs baseline"),
        ("training step, asag's pipeline with the baseline's truncation (128)",
         pair["asag128_examples_per_second"], "ex/s",
         f"{pair['asag128_examples_per_second'] / plain:.2f}x vs baseline"),
        ("training step, asag's pipeline in bf16 autocast (`--precision bf16`; what `auto` "
         "picks on a CPU with native bf16)", pair["asag_bf16_examples_per_second"], "ex/s",
         f"{pair['asag_bf16_examples_per_second'] / mine:.2f}x vs asag fp32"),
        *([(f"`asag train` end to end (Trainer loop, its own run, {ours['precision']})",
            ours["examples_per_second"],
            "ex/s", "")] if ours["examples_per_second"] else []),
        ("scoring: Scorer.score_many fp32, length-sorted", fp32["answers_per_second"],
         "answers/s", f"{fp32['answers_per_second'] / mine:.1f}x asag training ex/s"),
        ("scoring: Scorer.score_many int8 (--int8)", int8["answers_per_second"], "answers/s",
         f"{int8['answers_per_second'] / mine:.1f}x asag training ex/s"),
    ]
    print(f"interleaved: {opts.rounds} rounds x {opts.round_steps} steps x batch "
          f"{opts.batch_size} per pipeline; scoring {opts.answers} test_ua answers; load "
          f"average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}")
    print("| what | rate | unit | ratio |")
    print("|---|---:|---|---:|")
    for what, rate, unit, ratio in rows:
        print(f"| {what} | {rate:.1f} | {unit} | {ratio} |")
    (opts.workdir / "bench_train.json").write_text(json.dumps(
        {"asag_train": ours, "interleaved": pair, "fp32": fp32, "int8": int8,
         "load_before": load_before, "load_after": os.getloadavg()}, indent=2))


if __name__ == "__main__":
    main()
