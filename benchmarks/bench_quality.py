"""Quality of `asag train` with the default base model on SciEntsBank (SemEval-2013 Task 7):
trained on train (10% carved off for validation), scored on test_ua / test_uq / test_ud,
3-way and 2-way; accuracy, macro-F1, weighted-F1 and wall time, beside the majority-class
floor (measured here, from the train labels) and the published figures.

    .venv/bin/python benchmarks/bench_quality.py [--variants 3way,2way] [--epochs 3]

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


def collapse_to_2way(eval_dir: Path) -> dict:
    """2-way metrics from a 3-way model's predictions: 'correct' vs everything else."""
    from sklearn.metrics import accuracy_score, f1_score

    out = {}
    for split in SPLITS:
        rows = [json.loads(x) for x in (eval_dir / f"predictions-{split}.jsonl").open()]
        truth = [r["true_score"] == "correct" for r in rows]
        pred = [r["probabilities"]["correct"] > 0.5 for r in rows]
        out[split] = {"accuracy": accuracy_score(truth, pred),
                      "macro_f1": f1_score(truth, pred, average="macro"),
                      "weighted_f1": f1_score(truth, pred, average="weighted")}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variants", default="3way,2way")
    parser.add_argument("--epochs", default="3")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/asag-quality"))
    parser.add_argument("--train-args", default="", help="extra `asag train` options")
    opts = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    opts.workdir.mkdir(parents=True, exist_ok=True)
    log = (opts.workdir / "log.txt").open("a", encoding="utf-8")
    results = {"load_before": os.getloadavg(), "variants": {}}
    for variant in opts.variants.split(","):
        data, model = opts.workdir / f"sb-{variant}", opts.workdir / f"model-{variant}"
        files = [str(DATA / f"{variant}_{s}.csv") for s in ("train", *SPLITS)]
        run([*ASAG, "build-dataset", *files, "--split-from-filename", "--score-cols", "label",
             "--scale", SCALES[variant], "-o", str(data)], log)
        train_s = run([*ASAG, "train", str(data), "-o", str(model), "--overwrite",
                       "--epochs", opts.epochs, *opts.train_args.split()], log)
        eval_s = run([*ASAG, "evaluate", str(model), str(data), *sum([["--split", s] for s in
                      SPLITS], []), "-o", str(model / "eval")], log)
        metrics = json.loads((model / "eval" / "metrics.json").read_text())["splits"]
        manifest = json.loads((model / "asag_scorer.json").read_text())
        results["variants"][variant] = {
            "train_seconds": round(train_s, 1), "eval_seconds": round(eval_s, 1),
            "training": manifest["training"], "validation": manifest["metrics"]["validation"],
            "splits": {s: metrics[s]["overall"] for s in SPLITS},
            "answers_per_second": {s: metrics[s]["answers_per_second"] for s in SPLITS},
            "majority": majority(variant), "load_after": os.getloadavg(),
        }
        if variant == "3way":
            results["variants"]["2way-from-3way"] = {"splits": collapse_to_2way(model / "eval"),
                                                     "majority": majority("2way")}
        (opts.workdir / "results.json").write_text(json.dumps(results, indent=2))
        print(table(results), flush=True)
    log.close()


def table(results: dict) -> str:
    lines = ["| variant | split | accuracy | macro-F1 | weighted-F1 | majority acc / w-F1 | "
             "train wall | evaluate wall | published |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for variant, r in results["variants"].items():
        for split in SPLITS:
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
