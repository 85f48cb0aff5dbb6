"""Quality of `asag train` with the default base model on SciEntsBank (SemEval-2013 Task 7):
trained on train (10% carved off for validation), scored on test_ua / test_uq / test_ud,
3-way and 2-way; accuracy, macro-F1, weighted-F1 and wall time, beside the majority-class
floor (measured here, from the train labels) and the published figures.

    .venv/bin/python benchmarks/bench_quality.py [--variants 3way,2way] [--epochs 3]
        [--train-args "--learning-rate 1e-4 --template {reference_answer}[SEP]{student_answer}"]

(BENCHMARKS.md has the commands behind its table.)

Each variant runs the real commands (build-dataset, train, evaluate) as subprocesses, so
the wall times are what a user sees. 2-way figures are also derived from the 3-way model
(correct vs the rest), which costs no second training."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "scientsbank"
ASAG = [sys.executable, "-m", "asag", "-q"]
SPLITS = ("test_ua", "test_uq", "test_ud")
SCALES = {"3way": "incorrect,contradictory,correct", "2way": "incorrect,correct"}
# SemEval-2013 SciEntsBank, weighted F1 (Riordan et al. 2017 cite 0.773 as the state of the art
# on 2-way unseen answers; their LSTM reached 0.712).
PUBLISHED = {("2way", "test_ua"): "LSTM 0.712; SOTA 0.773 (weighted-F1)"}


def load(path: Path) -> list[dict]:
    import csv

    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def majority(variant: str) -> dict:
    """The floor: always predict train's most frequent label."""
    from sklearn.metrics import accuracy_score, f1_score

    top = Counter(r["label"] for r in load(DATA / f"{variant}_train.csv")).most_common(1)[0][0]
    out = {}
    for split in SPLITS:
        truth = [r["label"] for r in load(DATA / f"{variant}_{split}.csv")]
        pred = [top] * len(truth)
        out[split] = {"accuracy": accuracy_score(truth, pred),
                      "macro_f1": f1_score(truth, pred, average="macro", zero_division=0),
                      "weighted_f1": f1_score(truth, pred, average="weighted", zero_division=0)}
    return out


def run(cmd: list[str], log) -> float:
    started = time.time()
    log.write(f"$ {' '.join(cmd)}\n")
    log.flush()
    subprocess.run(cmd, check=True, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    return time.time() - started


def collapse_to_2way(eval_dir: Path, splits) -> dict:
    """2-way metrics from a 3-way model's predictions: 'correct' vs everything else."""
    from sklearn.metrics import accuracy_score, f1_score

    out = {}
    for split in splits:
        rows = [json.loads(x) for x in (eval_dir / f"predictions-{split}.jsonl").open()]
        truth = [r["true_score"] == "correct" for r in rows]
        pred = [r["probabilities"]["correct"] > 0.5 for r in rows]
        out[split] = {"accuracy": accuracy_score(truth, pred),
                      "macro_f1": f1_score(truth, pred, average="macro"),
                      "weighted_f1": f1_score(truth, pred, average="weighted")}
    return out


def scorer_from_checkpoint(checkpoint: Path, data: Path, out: Path) -> None:
    """A scorer directory from an intermediate checkpoint of an `asag train` run (when the
    machine is too busy to let the run finish): the weights and tokenizer as they are, and
    the scorer manifest `asag train` would write (same template and max_length rule)."""
    import shutil

    from transformers import AutoConfig, AutoTokenizer

    from asag.train import data as D
    from asag.train.args import TrainArgs
    from asag.train.directory import MANIFEST

    out.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        shutil.copy2(checkpoint / name, out / name)
    args = TrainArgs()
    dsd, ds_manifest, scale = D.load_for_training(data)
    tok = AutoTokenizer.from_pretrained(str(out))
    rows = D.split_rows(dsd["train"])
    lengths = [len(x) for x in D.encode(tok, args.template, rows, None)["input_ids"]]
    cap = D.model_max_length(tok, AutoConfig.from_pretrained(str(out)))
    state = json.loads((checkpoint / "trainer_state.json").read_text())
    evals = [e for e in state["log_history"] if "eval_loss" in e]
    manifest = {"format_version": 1, "task": "classification", "scale": scale.spec,
                "template": args.template,
                "max_length": D.choose_max_length(lengths, args.length_percentile, cap),
                "base_model": "sentence-transformers/all-MiniLM-L6-v2",
                "dataset": {"fingerprint": ds_manifest.get("fingerprint")},
                "training": {"checkpoint": checkpoint.name, "epochs_run": state["epoch"],
                             "steps": state["global_step"]},
                "metrics": {"validation": evals[-1] if evals else {}}}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variants", default="3way,2way")
    parser.add_argument("--epochs", default="3")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/asag-quality"))
    parser.add_argument("--train-args", default="", help="extra `asag train` options")
    parser.add_argument("--from-checkpoint", type=Path, default=None,
                        help="evaluate this checkpoint of the (first) variant's run instead "
                             "of training to the end")
    parser.add_argument("--splits", default=",".join(SPLITS))
    opts = parser.parse_args()
    splits = opts.splits.split(",")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    opts.workdir.mkdir(parents=True, exist_ok=True)
    log = (opts.workdir / "log.txt").open("a", encoding="utf-8")
    results = {"load_before": os.getloadavg(), "variants": {}}
    for variant in opts.variants.split(","):
        data, model = opts.workdir / f"sb-{variant}", opts.workdir / f"model-{variant}"
        files = [str(DATA / f"{variant}_{s}.csv") for s in ("train", *SPLITS)]
        if not (data / "manifest.json").is_file():
            run([*ASAG, "build-dataset", *files, "--split-from-filename", "--score-cols",
                 "label", "--scale", SCALES[variant], "-o", str(data)], log)
        if opts.from_checkpoint:
            model = opts.workdir / f"model-{variant}-{opts.from_checkpoint.name}"
            scorer_from_checkpoint(opts.from_checkpoint, data, model)
            train_s = None
        else:
            train_s = run([*ASAG, "train", str(data), "-o", str(model), "--overwrite",
                           "--epochs", opts.epochs, *opts.train_args.split()], log)
        eval_s = run([*ASAG, "evaluate", str(model), str(data), *sum([["--split", s] for s in
                      splits], []), "-o", str(model / "eval")], log)
        metrics = json.loads((model / "eval" / "metrics.json").read_text())["splits"]
        manifest = json.loads((model / "asag_scorer.json").read_text())
        results["variants"][variant] = {
            "train_seconds": train_s and round(train_s, 1), "eval_seconds": round(eval_s, 1),
            "training": manifest["training"], "validation": manifest["metrics"]["validation"],
            "splits": {s: metrics[s]["overall"] for s in splits},
            "answers_per_second": {s: metrics[s]["answers_per_second"] for s in splits},
            "majority": majority(variant), "load_after": os.getloadavg(),
        }
        if variant == "3way":
            results["variants"]["2way-from-3way"] = {"splits": collapse_to_2way(model / "eval",
                                                                                splits),
                                                     "majority": majority("2way")}
        (opts.workdir / "results.json").write_text(json.dumps(results, indent=2))
        print(table(results), flush=True)
        if opts.from_checkpoint:
            break
    log.close()


def table(results: dict) -> str:
    lines = ["| variant | split | accuracy | macro-F1 | weighted-F1 | majority acc / w-F1 | "
             "train wall | evaluate wall | published |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for variant, r in results["variants"].items():
        for split in r["splits"]:
            m, floor = r["splits"][split], r["majority"][split]
            lines.append(
                f"| {variant} | {split} | {m['accuracy']:.3f} | {m['macro_f1']:.3f} | "
                f"{m['weighted_f1']:.3f} | {floor['accuracy']:.3f} / {floor['weighted_f1']:.3f} | "
                f"{_secs(r.get('train_seconds'))} | {_secs(r.get('eval_seconds'))} | "
                f"{PUBLISHED.get((variant.split('-')[0], split), '')} |")
    return "\n".join(lines)


def _secs(s) -> str:
    return "–" if s is None else f"{s / 60:.1f} min"


if __name__ == "__main__":
    main()
