"""`asag score` interrupted with SIGINT at random points, resumed, and compared byte for byte
with an uninterrupted run of the same answers.

    .venv/bin/python benchmarks/bench_score_resume.py --rows 50000 --interrupts 3
    .venv/bin/python benchmarks/bench_score_resume.py --model models/v1 --input answers.csv

Without --model it trains the tests' tiny 2-layer BERT (tests/model_fixtures.py) for a few
seconds; without --input it writes --rows generated answers."""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def tiny_scorer(root: Path) -> Path:
    sys.path.insert(0, str(REPO))
    from tests.model_fixtures import TINY_TRAIN, build_tiny_base, run_cli, yes_no_dataset

    base = build_tiny_base(root / "base")
    data = yes_no_dataset(root / "data")
    result = run_cli("-q", "train", data, "-o", root / "model", "--base-model", base, *TINY_TRAIN)
    if result.exit_code != 0:
        sys.exit(result.output)
    return root / "model"


def answers(path: Path, rows: int) -> Path:
    sys.path.insert(0, str(REPO))
    from tests.model_fixtures import yes_no_rows

    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "question", "reference_answer", "student_answer"])
        for i, r in enumerate(yes_no_rows(rows, seed=1)):
            w.writerow([i, r["question"], r["reference_answer"], r["student_answer"]])
    return path


def score(model, source, out, *extra):
    return subprocess.Popen([sys.executable, "-m", "asag", "score", str(model), str(source),
                             "-o", str(out), *extra], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "ASAG_PROGRESS_SECONDS": "3600"},
                            # a shell's background job inherits SIGINT ignored: undo that
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path)
    parser.add_argument("--input", type=Path)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--interrupts", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = args.model or tiny_scorer(tmp)
        source = args.input or answers(tmp / "answers.csv", args.rows)
        whole = tmp / "whole.csv"
        t0 = time.time()
        proc = score(model, source, whole)
        err = proc.communicate()[1]
        if proc.returncode:
            sys.exit(err)
        full_s = time.time() - t0
        out, state, kept = tmp / "scored.csv", tmp / "scored.csv.partial.json", []
        for _ in range(args.interrupts):
            proc = score(model, source, out, *(["--resume"] if state.exists() else []))
            time.sleep(rng.uniform(0.2, 0.9) * full_s / args.interrupts)
            proc.send_signal(signal.SIGINT)
            err = proc.communicate()[1]
            done = json.loads(state.read_text())["done"] if state.exists() else 0
            kept.append({"exit": proc.returncode, "rows_kept": done,
                         "message": err.strip().splitlines()[-1] if err.strip() else ""})
        t0 = time.time()
        proc = score(model, source, out, "--resume")
        err = proc.communicate()[1]
        resumed_s = time.time() - t0
        same = proc.returncode == 0 and out.read_bytes() == whole.read_bytes()
        print(json.dumps({"rows": sum(1 for _ in source.open(encoding="utf-8")) - 1,
                          "uninterrupted_s": round(full_s, 1), "interrupts": kept,
                          "final_resume_s": round(resumed_s, 1),
                          "final_summary": err.strip().splitlines()[-1],
                          "identical": same}, indent=1))
        sys.exit(0 if same else 1)


if __name__ == "__main__":
    main()
