"""Learning curves on SciEntsBank: `asag train` on 5-100 % of the training answers (sampled
per question, several seeds for the small fractions), scored on test_ua / test_uq / test_ud,
for the default scorer (cross-encoder + graded-answer memory + similarity heads) and the old
recipe (the cross-encoder alone, `--no-graded-memory`) in the same run, beside the majority
floor. Prints a table, writes results.json and learning_curve.png in --workdir; a re-run
skips the points already measured (the file is rewritten after each point).

    .venv/bin/python benchmarks/bench_learning_curve.py --variants 2way,3way \
        --fractions 0.05,0.1,0.25,0.5,1 --seeds 3 [--train-args "--epochs 2"]

Each point runs the real commands (build-dataset, train, evaluate) as subprocesses."""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_quality import (  # noqa: E402
    ASAG,
    DATA,
    SCALES,
    SPLITS,
    collapse_to_2way,
    load,
    majority,
    run,
)

# the old recipe: the previous defaults (the cross-encoder alone, question + reference in the
# first segment, 4 epochs at 5e-5)
OLD = ["--no-graded-memory", "--epochs", "4", "--learning-rate", "5e-5",
       "--template", "{question} {reference_answer} [SEP] {student_answer}"]
RECIPES = {"memory (default)": [], "cross-encoder only (old)": OLD}
DERIVED = "2way from 3way"  # 2-way figures of a 3-way model: correct vs the rest, no training
PRIMARY = {"3way": "macro_f1", "2way": "weighted_f1", DERIVED: "weighted_f1"}


def sample(variant: str, fraction: float, seed: int, out: Path) -> int:
    """`fraction` of each question's training answers (at least one), as a train CSV."""
    rows = load(DATA / f"{variant}_train.csv")
    by_question: dict[str, list[dict]] = {}
    for row in rows:
        by_question.setdefault(row["question_id"], []).append(row)
    rnd = random.Random(seed)
    kept = []
    for question in sorted(by_question):
        group = by_question[question]
        kept += rnd.sample(group, max(1, round(len(group) * fraction)))
    out.mkdir(parents=True, exist_ok=True)
    with (out / f"{variant}_train.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(kept)
    for split in SPLITS:
        link = out / f"{variant}_{split}.csv"
        if not link.exists():
            link.symlink_to(DATA / f"{variant}_{split}.csv")
    return len(kept)


def point(variant: str, fraction: float, seed: int, recipe: str, work: Path, train_args: list,
          log) -> dict:
    src = work / f"{variant}-{fraction:g}-s{seed}"
    n = sample(variant, fraction, seed, src / "csv")
    data, model = src / "data", src / f"model-{'old' if RECIPES[recipe] else 'new'}"
    build_s = 0.0
    if not (data / "manifest.json").is_file():
        build_s = run([*ASAG, "build-dataset", *[str(src / "csv" / f"{variant}_{s}.csv")
                                       for s in ("train", *SPLITS)],
             "--split-from-filename", "--score-cols", "label", "--scale", SCALES[variant],
             "--seed", str(seed), "-o", str(data)], log)
    train_s = run([*ASAG, "train", str(data), "-o", str(model), "--overwrite", "--seed",
                   str(seed), *RECIPES[recipe], *train_args], log)
    eval_s = run([*ASAG, "evaluate", str(model), str(data),
                  *sum([["--split", s] for s in SPLITS], []), "-o", str(model / "eval")], log)
    metrics = json.loads((model / "eval" / "metrics.json").read_text())["splits"]
    derived = collapse_to_2way(model / "eval", SPLITS) if variant == "3way" else None
    return {"variant": variant, "fraction": fraction, "seed": seed, "recipe": recipe,
            "derived_2way": derived,
            "train_answers": n, "train_seconds": round(train_s, 1),
            "build_seconds": round(build_s, 1), "evaluate_seconds": round(eval_s, 1),
            "splits": {s: metrics[s]["overall"] for s in SPLITS}, "load": os.getloadavg()}


def with_derived(points: list[dict]) -> list[dict]:
    """The points, plus a 2-way point for every 3-way one (its 'correct' vs the rest)."""
    return points + [{**p, "variant": DERIVED, "splits": p["derived_2way"]} for p in points
                     if p.get("derived_2way")]


def table(points: list[dict], floors: dict) -> str:
    lines = ["| variant | % of train | recipe | seeds | answers | UA | UQ | UD | train s "
             "| build+train+evaluate s |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    groups: dict[tuple, list[dict]] = {}
    for p in points:
        groups.setdefault((p["variant"], p["fraction"], p["recipe"]), []).append(p)
    for (variant, fraction, recipe), ps in sorted(groups.items()):
        metric = PRIMARY[variant]
        med = [statistics.median(p["splits"][s][metric] for p in ps) for s in SPLITS]
        lines.append(f"| {variant} ({metric}) | {fraction:.0%} | {recipe} | {len(ps)} | "
                     f"{statistics.median(p['train_answers'] for p in ps):.0f} | "
                     + " | ".join(f"{m:.3f}" for m in med)
                     + f" | {statistics.median(p['train_seconds'] for p in ps):.0f} | "
                     f"{statistics.median(_total(p) for p in ps):.0f} |")
    for variant, floor in floors.items():
        metric = PRIMARY[variant]
        lines.append(f"| {variant} ({metric}) | - | majority floor | - | - | "
                     + " | ".join(f"{floor[s][metric]:.3f}" for s in SPLITS) + " | - | - |")
    return "\n".join(lines)


def _total(p: dict) -> float:
    return p["train_seconds"] + p.get("build_seconds", 0) + p.get("evaluate_seconds", 0)


def plot(points: list[dict], floors: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    variants = sorted({p["variant"] for p in points})
    fig, axes = plt.subplots(len(variants), len(SPLITS), figsize=(4 * len(SPLITS),
                                                                  3.2 * len(variants)),
                             squeeze=False)
    for row, variant in enumerate(variants):
        metric = PRIMARY[variant]
        for col, split in enumerate(SPLITS):
            ax = axes[row][col]
            for recipe in RECIPES:
                ps = [p for p in points if p["variant"] == variant and p["recipe"] == recipe]
                xs = sorted({p["fraction"] for p in ps})
                ys = [statistics.median(p["splits"][split][metric] for p in ps
                                        if p["fraction"] == x) for x in xs]
                if xs:
                    ax.plot([100 * x for x in xs], ys, marker="o", label=recipe)
            ax.axhline(floors[variant][split][metric], color="grey", ls=":", label="majority")
            ax.set_xscale("log")
            ax.set_title(f"{variant} {split}")
            ax.set_xlabel("% of training answers")
            ax.set_ylabel(metric)
            ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variants", default="2way,3way")
    parser.add_argument("--fractions", default="0.05,0.1,0.25,0.5,1")
    parser.add_argument("--seeds", type=int, default=3,
                        help="seeds for fractions under 50 %%")
    parser.add_argument("--large-seeds", type=int, default=1,
                        help="seeds for the fractions of 50%% and more")
    parser.add_argument("--recipes", default=",".join(RECIPES))
    parser.add_argument("--train-args", default="", help="extra `asag train` options")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/asag-curve"))
    opts = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    opts.workdir.mkdir(parents=True, exist_ok=True)
    results = opts.workdir / "results.json"
    points = json.loads(results.read_text()) if results.is_file() else []
    for p in points:  # points measured before the 2-way figures were derived
        if p["variant"] == "3way" and not p.get("derived_2way"):
            old = RECIPES[p["recipe"]]
            model = opts.workdir / f"3way-{p['fraction']:g}-s{p['seed']}" / \
                f"model-{'old' if old else 'new'}"
            p["derived_2way"] = collapse_to_2way(model / "eval", SPLITS)
    done = {(p["variant"], p["fraction"], p["seed"], p["recipe"]) for p in points}
    log = (opts.workdir / "log.txt").open("a", encoding="utf-8")
    variants = opts.variants.split(",")
    floors = {v: majority(v) for v in variants}
    if "3way" in floors:
        floors[DERIVED] = majority("2way")
    for variant in variants:
        for fraction in (float(x) for x in opts.fractions.split(",")):
            for seed in range(opts.seeds if fraction < 0.5 else opts.large_seeds):
                for recipe in opts.recipes.split(","):
                    if (variant, fraction, seed, recipe) in done:
                        continue
                    started = time.time()
                    points.append(point(variant, fraction, seed, recipe, opts.workdir,
                                        opts.train_args.split(), log))
                    results.write_text(json.dumps(points, indent=1))
                    print(f"{variant} {fraction:.0%} seed {seed} {recipe}: "
                          f"{time.time() - started:.0f} s", flush=True)
    print(f"load average at the end: {os.getloadavg()}")
    print(table(with_derived(points), floors))
    plot(with_derived(points), floors, opts.workdir / "learning_curve.png")
    print(f"plot: {opts.workdir / 'learning_curve.png'}")


if __name__ == "__main__":
    main()
