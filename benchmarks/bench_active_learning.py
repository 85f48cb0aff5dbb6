"""Does least-certain-first save a teacher labels? A simulation on SciEntsBank (issue 12).

Start from a few scored answers per question of the training split; in rounds: fit the scorer
on the answers scored so far, order the unscored pool by a strategy, reveal the true labels of
the next batch (as a teacher working through the queue would), and measure test_ua.

The scorer in the rounds is the cheaper half of the default one, so that 2 cores finish in
minutes: the frozen sentence model (all-MiniLM-L6-v2) + the graded-answer memory + the stacked
heads of train/memory.py, without fine-tuning the cross-encoder (its output is left out). The
heads are fitted on the scored answers themselves, each one's memory features leaving it out.
Its confidence is the calibrated one of train/calibration.py (temperature-scaled top
probability; temperature scaling keeps the order of the answers).

Strategies: random (the baseline); least certain first (the lowest confidence); least certain
per question (round-robin over questions, each question's least certain answer first: the
uncertainty spread across questions, a cheap form of diversity); half least certain, half
random (each batch alternates the least certain answer left with a random one: a hedge when
the model's uncertainty is poor early on, and a random half keeps the labels representative).

    nice -n 15 .venv/bin/python benchmarks/bench_active_learning.py --variants 2way,3way \
        --seeds 3 --workdir /tmp/bench-al

Prints a markdown table; writes results.json and active_learning.png in --workdir."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_quality import DATA, SCALES, load  # noqa: E402

BUDGETS = (0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0)  # share of the pool labelled
START_PER_QUESTION = 2
PRIMARY = {"3way": "macro_f1", "2way": "weighted_f1"}
STRATEGIES = ("random", "least certain first", "least certain per question",
              "half least certain, half random")


class CachedEmbedder:
    """The frozen sentence model with every text embedded once for the whole simulation."""

    def __init__(self, embedder, texts: list[str]) -> None:
        distinct = sorted(set(texts))
        vectors = embedder.encode(distinct)
        self.where = {t: i for i, t in enumerate(distinct)}
        self.vectors = vectors

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.vectors[[self.where[t] for t in texts]]


def rows_of(variant: str, split: str) -> list[dict]:
    return [{"id": r["answer_id"], "question_id": r["question_id"], "question": r["question"],
             "reference_answer": r["reference_answer"], "student_answer": r["student_answer"],
             "score": r["label"]} for r in load(DATA / f"{variant}_{split}.csv")]


class CheapScorer:
    """Memory + heads (no cross-encoder) fitted on the labelled answers."""

    def __init__(self, scale, embedder, labelled: list[dict]) -> None:
        from asag.train import memory as M
        from asag.train.calibration import fit_temperature
        from asag.train.data import target

        self.scale, self.embedder = scale, embedder
        self.memory = M.Memory.build(labelled, embedder, scale)
        full, base, seen = self._features(labelled)
        y = np.array([target(scale, r["score"]) for r in labelled], dtype=np.float64)
        self.heads = (M.Head.fit(scale, full[seen], y[seen]), M.Head.fit(scale, base, y))
        self.temperature = fit_temperature(self._logits(full, base, seen), y)

    def _features(self, rows):
        from asag.train import memory as M

        zeros = np.zeros((len(rows), len(self.scale.labels)), np.float32)
        return M.features(self.scale, zeros, rows, self.embedder, self.memory)

    def _logits(self, full, base, seen):
        from asag.train import memory as M

        return M.apply_heads(self.scale, np.zeros((len(full), len(self.scale.labels))), full,
                             base, seen, *self.heads)

    def predict(self, rows: list[dict]) -> tuple[np.ndarray, np.ndarray]:
        """(class index, calibrated confidence) per row."""
        from asag.train.calibration import softmax

        p = softmax(self._logits(*self._features(rows)) / self.temperature)
        return p.argmax(axis=1), p.max(axis=1)


def quality(variant: str, scorer: CheapScorer, test: list[dict]) -> float:
    from asag.train import metrics as M
    from asag.train.data import target

    predicted, _ = scorer.predict(test)
    truth = [target(scorer.scale, r["score"]) for r in test]
    return M.compute(scorer.scale, truth, predicted)[PRIMARY[variant]]


def order(strategy: str, pool: list[dict], confidence: np.ndarray, rng) -> list[int]:
    if strategy == "random":
        return list(rng.permutation(len(pool)))
    ranked = list(np.argsort(confidence, kind="stable"))
    if strategy == "least certain first":
        return ranked
    if strategy == "half least certain, half random":  # push --predictions-from's order
        from asag.annotate.predictions import labelling_order

        return labelling_order(list(confidence), seed=int(rng.integers(2**31)))
    queues: dict[str, list[int]] = {}
    for i in ranked:  # each question's answers, least certain first
        queues.setdefault(pool[i]["question_id"], []).append(i)
    heads = sorted(queues, key=lambda q: confidence[queues[q][0]])
    out, depth = [], 0
    while len(out) < len(pool):
        out += [queues[q][depth] for q in heads if depth < len(queues[q])]
        depth += 1
    return out


def simulate(variant: str, strategy: str, seed: int, train: list[dict], test: list[dict],
             scale, embedder) -> list[dict]:
    rng = np.random.default_rng(seed)
    by_question: dict[str, list[int]] = {}
    for i, r in enumerate(train):
        by_question.setdefault(r["question_id"], []).append(i)
    labelled = {int(i) for q in sorted(by_question) for i in rng.choice(
        by_question[q], min(START_PER_QUESTION, len(by_question[q])), replace=False)}
    points = []
    shares = [len(labelled) / len(train), *BUDGETS]
    for k in range(len(shares)):
        scorer = CheapScorer(scale, embedder, [train[i] for i in sorted(labelled)])
        points.append({"labels": len(labelled), "share": round(len(labelled) / len(train), 4),
                       "quality": quality(variant, scorer, test)})
        if k + 1 == len(shares):
            break
        pool = [i for i in range(len(train)) if i not in labelled]
        _, confidence = scorer.predict([train[i] for i in pool])
        ranked = order(strategy, [train[i] for i in pool], confidence, rng)
        labelled |= {pool[j] for j in ranked[:round(shares[k + 1] * len(train)) - len(labelled)]}
    return points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default="2way,3way")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench-al"))
    opts = parser.parse_args()

    from asag.scale import Scale
    from asag.train.memory import Embedder, _text
    from asag.train.training import default_base_model

    started = time.time()
    opts.workdir.mkdir(parents=True, exist_ok=True)
    base = Embedder.load(default_base_model())
    results = {}
    variants = opts.variants.split(",")
    splits = {v: (rows_of(v, "train"), rows_of(v, "test_ua")) for v in variants}
    embedder = CachedEmbedder(base, [  # the variants share their answers: embedded once
        _text(r[k]) for train, test in splits.values() for r in train + test
        for k in ("student_answer", "reference_answer")])
    for variant in variants:
        scale = Scale.parse(SCALES[variant])
        train, test = splits[variant]
        full = quality(variant, CheapScorer(scale, embedder, train), test)
        results[variant] = {"full_data": full, "metric": PRIMARY[variant], "curves": {}}
        for strategy in STRATEGIES:
            runs = [simulate(variant, strategy, seed, train, test, scale, embedder)
                    for seed in range(opts.seeds)]
            results[variant]["curves"][strategy] = runs
            print(f"{variant} {strategy}: " + ", ".join(
                f"{p['share']:.0%} {np.mean([r[k]['quality'] for r in runs]):.3f}"
                for k, p in enumerate(runs[0])), flush=True)
        (opts.workdir / "results.json").write_text(json.dumps(results, indent=2))
    results["seconds"] = round(time.time() - started, 1)
    (opts.workdir / "results.json").write_text(json.dumps(results, indent=2))
    print(table(results))
    plot(results, opts.workdir / "active_learning.png")
    print(f"{results['seconds']} s")


def table(results: dict) -> str:
    lines = []
    for variant, r in results.items():
        if variant == "seconds":
            continue
        curves = r["curves"]
        shares = [p["share"] for p in next(iter(curves.values()))[0]]
        lines += [f"\n{variant} test_ua {r['metric']} (mean over seeds; full data "
                  f"{r['full_data']:.3f})", "",
                  "| labels | " + " | ".join(curves) + " |",
                  "|---:|" + "---:|" * len(curves)]
        for k, share in enumerate(shares):
            cells = [f"{np.mean([run[k]['quality'] for run in runs]):.3f}"
                     for runs in curves.values()]
            lines.append(f"| {share:.0%} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    variants = [v for v in results if v != "seconds"]
    fig, axes = plt.subplots(1, len(variants), figsize=(5.5 * len(variants), 4.2), squeeze=False)
    for ax, variant in zip(axes[0], variants, strict=True):
        r = results[variant]
        for strategy, runs in r["curves"].items():
            shares = [p["share"] * 100 for p in runs[0]]
            ax.plot(shares, [np.mean([run[k]["quality"] for run in runs])
                             for k in range(len(shares))], "o-", label=strategy, markersize=3)
        ax.axhline(r["full_data"], color="grey", linestyle="--", label="all labels")
        ax.set_xlabel("% of the training answers labelled")
        ax.set_ylabel(f"test_ua {r['metric']}")
        ax.set_title(f"SciEntsBank {variant}: memory + heads, no fine-tuning")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
