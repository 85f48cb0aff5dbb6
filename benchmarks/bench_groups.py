"""Answer groups (asag/groups.py) on real data: how much teachers' work they save and how
often they join answers whose gold scores differ, per data set and threshold.

Threshold 1.0 is the baseline: only answers identical after normalisation are joined.
Columns: answers; tasks (one per group); answers per task; the share of answers that are in
a group of two or more; mixed groups (groups of two or more whose members' gold scores
differ, over all such groups); wrong (answers that would get a score other than their gold
one because the representative's gold differs, over all answers: the error a group adds);
and the tasks saved against the exact-only baseline. The sample's gold is the pair of its
two teachers' scores.

    .venv/bin/python benchmarks/bench_groups.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import csv
import os
import time
from pathlib import Path

from asag.groups import DEFAULT_THRESHOLD, group_answers

THRESHOLDS = (1.0, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7)
ROOT = Path(__file__).resolve().parents[1]


def read(path: Path, gold) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as fh:
        return [{"id": f"{path.stem}:{n}", "question_id": row["question_id"],
                 "student_answer": row["student_answer"], "gold": gold(row)}
                for n, row in enumerate(csv.DictReader(fh))]


def data_sets(data: Path) -> dict[str, list[dict]]:
    sets = {}
    for name in ("3way_train", "3way_test_ua", "3way_test_uq"):
        sets[f"SciEntsBank {name} (3-way)"] = read(data / "scientsbank" / f"{name}.csv",
                                                   lambda r: r["label"])
    for name in ("train", "test_ua", "test_uq"):
        sets[f"SAF English {name} (points)"] = read(data / "saf-en" / f"{name}.csv",
                                                    lambda r: r["score"])
    sets["sample (two teachers, 0-5)"] = read(ROOT / "examples" / "sample_answers.csv",
                                             lambda r: (r["teacher_a"], r["teacher_b"]))
    return sets


def measure(rows: list[dict], threshold: float) -> dict:
    groups = group_answers(rows, threshold)
    big = [g for g in groups if len(g.members) > 1]
    mixed = sum(1 for g in big if len({m["gold"] for m in g.members}) > 1)
    wrong = sum(1 for g in big for m in g.others if m["gold"] != g.representative["gold"])
    return {"answers": len(rows), "tasks": len(groups),
            "grouped": sum(len(g.members) for g in big), "groups": len(big),
            "mixed": mixed, "wrong": wrong}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} (1 min); default threshold "
          f"{DEFAULT_THRESHOLD}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n")
    print("| data set | threshold | answers | tasks | answers/task | in groups | "
          "mixed groups | wrong | tasks saved vs exact | seconds |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, rows in data_sets(args.data).items():
        base = None
        for threshold in THRESHOLDS:
            start = time.perf_counter()
            m = measure(rows, threshold)
            took = time.perf_counter() - start
            base = base or m["tasks"]
            mixed = f"{m['mixed']}/{m['groups']} ({m['mixed'] / max(m['groups'], 1):.1%})"
            print(f"| {name} | {threshold:g} | {m['answers']:,} | {m['tasks']:,} | "
                  f"{m['answers'] / m['tasks']:.3f} | {m['grouped'] / m['answers']:.1%} | "
                  f"{mixed} | {m['wrong']} ({m['wrong'] / m['answers']:.2%}) | "
                  f"{1 - m['tasks'] / base:.1%} | {took:.2f} |")


if __name__ == "__main__":
    main()
