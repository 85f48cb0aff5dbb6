"""Benchmark: 1,000,000 synthetic annotation records (333,334 answers x 3 teachers, 1,000
questions, scale 0-5, ~3% skipped) built into a dataset by `asag build-dataset`, next to the
same aggregation written as a per-row Python loop (the baseline), in the same run.

    .venv/bin/python benchmarks/bench_build_dataset.py [--records 1000000] [--keep DIR]

Prints a Markdown table; the end-to-end build runs in a child process so its peak RSS is
its own (ru_maxrss of the child)."""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TEACHERS = ("t1", "t2", "t3")


def make_inputs(directory: Path, n_records: int, seed: int = 7) -> tuple[Path, Path]:
    """Raw answers and annotation records as `asag gather` / `asag annotate pull` write them."""
    rng = random.Random(seed)
    n_answers = -(-n_records // len(TEACHERS))
    items, annotations = directory / "raw.jsonl", directory / "annotations.jsonl"
    written = 0
    with items.open("w") as raw, annotations.open("w") as ann:
        for a in range(n_answers):
            q = a % 1000
            answer_id = f"a{a:07d}"
            raw.write(json.dumps({
                "id": answer_id, "question_id": f"q{q:04d}",
                "question": f"Question {q}: why does the moon have phases?",
                "reference_answer": "Because we see different parts of its lit half.",
                "student_answer": f"Student answer number {a} about the lit half.",
                "source": {"file": "export.csv", "line": a + 2}}) + "\n")
            truth = rng.randint(0, 5)
            for t, teacher in enumerate(TEACHERS):
                if written == n_records:
                    break
                skipped = rng.random() < 0.03
                score = None if skipped else min(5, max(0, truth + rng.choice((-1, 0, 0, 0, 1))))
                ann.write(json.dumps({
                    "answer_id": answer_id, "question_id": f"q{q:04d}", "task_id": a + 1,
                    "annotation_id": 3 * a + t, "project_id": 1, "annotator": teacher,
                    "score": score, "scale": "0-5", "comment": None,
                    "created_at": "2026-11-29T10:00:00Z", "updated_at": None, "lead_time": 12.5,
                    "skipped": skipped, "ground_truth": False, "prediction": None}) + "\n")
                written += 1
    return items, annotations


def loop_baseline(annotations: Path) -> tuple[float, dict]:
    """The same median aggregation, one record at a time in plain Python."""
    start = time.perf_counter()
    scores: dict[str, list[float]] = {}
    with annotations.open() as fh:
        for line in fh:
            rec = json.loads(line)
            if rec["skipped"] or rec["score"] is None:
                continue
            scores.setdefault(rec["answer_id"], []).append(float(rec["score"]))
    result = {a: statistics.median(s) for a, s in scores.items()}
    return time.perf_counter() - start, result


def vectorised_aggregation(annotations: Path) -> tuple[float, dict]:
    """The same median as build-dataset reads and aggregates: pyarrow + numpy."""
    import numpy as np
    import pandas as pd

    from asag.build_dataset.aggregate import aggregate
    from asag.build_dataset.jsonl_fast import read_table
    from asag.records import schema
    from asag.scale import Scale

    start = time.perf_counter()
    table = read_table(annotations, schema("annotation")).to_pandas()
    table = table[~table["skipped"] & table["score"].notna()]
    codes, ids = pd.factorize(table["answer_id"])
    scale = Scale.parse("0-5")
    score, _ = aggregate(codes, table["score"].to_numpy(np.int64), np.zeros(len(codes), bool),
                         len(ids), scale, "median")
    elapsed = time.perf_counter() - start
    return elapsed, dict(zip(ids, score.tolist(), strict=True))


def build_in_child(items: Path, annotations: Path, out: Path) -> tuple[float, float, float]:
    """(seconds importing pandas/pyarrow/datasets/scikit-learn, seconds of the command after
    that, peak RSS in GiB) of `asag build-dataset` in a fresh process."""
    code = (
        "import time\n"
        "t = time.perf_counter()\n"
        "import pandas, pyarrow.json, datasets, sklearn.metrics\n"
        "t_imports = time.perf_counter() - t\n"
        "from click.testing import CliRunner\n"
        "from asag.cli import cli\n"
        "t = time.perf_counter()\n"
        f"r = CliRunner().invoke(cli, ['--quiet', 'build-dataset', {str(annotations)!r}, "
        f"'--items', {str(items)!r}, '-o', {str(out)!r}])\n"
        "assert r.exit_code == 0, r.output\n"
        "print(t_imports, time.perf_counter() - t)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)
    if proc.returncode:
        sys.exit(proc.stdout + proc.stderr)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    imports, command = map(float, proc.stdout.strip().splitlines()[-1].split())
    return imports, command, peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, default=None, help="keep inputs/output here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        items, annotations = make_inputs(work, args.records)
        print(f"generated {args.records:,} records in {time.perf_counter() - t:.1f} s "
              f"({annotations.stat().st_size / 2**20:.0f} MiB)", file=sys.stderr)
        imports_s, command_s, peak_gib = build_in_child(items, annotations, work / "dataset")
        build_s = imports_s + command_s
        loop_s, loop_result = loop_baseline(annotations)
        vec_s, vec_result = vectorised_aggregation(annotations)
        assert loop_result == vec_result, "vectorised and loop aggregation disagree"
    load = os.getloadavg()
    rows = [
        ("baseline: median as a per-row Python loop (json.loads + dict + statistics.median)",
         loop_s, "1.00x", ""),
        ("median as build-dataset does it (pyarrow JSON read + numpy)", vec_s,
         f"{loop_s / vec_s:.2f}x faster", ""),
        ("`asag build-dataset` end to end in a fresh process (imports, read + schema checks, "
         "aggregate, agreement overall + per question, splits, disagreements, save_to_disk, "
         "Parquet, card, manifest)", build_s, f"{build_s / loop_s:.2f}x the loop's time",
         f"{peak_gib:.2f} GiB"),
        ("  of which: importing pandas, pyarrow, datasets, scikit-learn", imports_s, "", ""),
        ("  of which: the command itself", command_s, f"{command_s / loop_s:.2f}x the loop's "
         "time", ""),
    ]
    print("| step | time (s) | vs. loop baseline | peak RSS |\n|---|---|---|---|")
    for name, seconds, ratio, rss in rows:
        print(f"| {name} | {seconds:.2f} | {ratio} | {rss} |")
    print(f"\n{args.records:,} records; load average {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f}")


if __name__ == "__main__":
    main()
