"""`asag gather` on a large synthetic CSV, next to pandas.read_csv of the same file.

Each command runs in its own process (os.wait4 gives that process's own peak RSS), in the
same run, so the ratio holds on a noisy machine. Run alone: training or a Label Studio
server on the other core skews it (the load average is printed).

    .venv/bin/python benchmarks/bench_gather.py --rows 1000000
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORDS = ("water salt evaporate energy circuit battery magnet force gravity plant light "
         "cell heat melt freeze mass volume density sound vibration").split()


def make_csv(path: Path, rows: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    questions = [" ".join(rng.choices(WORDS, k=14)) + "?" for _ in range(1000)]
    references = [" ".join(rng.choices(WORDS, k=10)) + "." for _ in range(1000)]
    with path.open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["question_id", "question", "reference_answer", "student_answer", "score"])
        for i in range(rows):
            q = i % 1000
            answer = f"{' '.join(rng.choices(WORDS, k=rng.randint(3, 18)))} {i}"
            if i % 50 == 0:
                answer = "  Théy  " + answer  # some rows need whitespace / NFC work
            out.writerow([f"Q{q}", questions[q], references[q], answer, i % 6])


def measure(cmd: list[str]) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak RSS MiB) of one child process. CPU time is what a
    quiet machine's wall time would be; on a shared one the wall time also holds waiting."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{proc.stderr.read().decode()}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    asag = str(Path(sys.executable).with_name("asag"))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sizes = sorted({args.rows // 4, args.rows})
        for n in sizes:
            make_csv(tmp / f"in{n}.csv", n)
        print(f"load average before: {os.getloadavg()[0]:.2f} (2 cores)")
        print(f"{'rows':>9} | {'command':<26} | {'wall s':>7} | {'CPU s':>6} | "
              f"{'rows/CPU s':>10} | {'peak RSS MiB':>12} | {'CPU vs pandas':>13}")
        for n in sizes:
            src = tmp / f"in{n}.csv"
            pandas_cmd = [sys.executable, "-c",
                          f"import pandas; pandas.read_csv({str(src)!r}, dtype=str)"]
            gather_cmd = [asag, "--quiet", "gather", str(src), "-o", str(tmp / "raw.jsonl"),
                          "--scale", "0-5"]
            results = {}
            for name, cmd in (("pandas.read_csv (baseline)", pandas_cmd),
                              ("asag gather", gather_cmd)):
                runs = sorted(measure(cmd) for _ in range(args.repeat))
                results[name] = runs[len(runs) // 2]
            base = results["pandas.read_csv (baseline)"][1]
            for name, (wall, cpu, rss) in results.items():
                print(f"{n:>9,} | {name:<26} | {wall:>7.2f} | {cpu:>6.2f} | {n / cpu:>10,.0f} |"
                      f" {rss:>12,.0f} | {cpu / base:>12.2f}x")
        size = (tmp / f"in{args.rows}.csv").stat().st_size / 2**20
        print(f"load average after: {os.getloadavg()[0]:.2f}; input {size:.0f} MiB "
              f"at {args.rows:,} rows")


if __name__ == "__main__":
    main()
