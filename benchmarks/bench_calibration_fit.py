"""How the confidence is fitted (issue 26, item 4): for each trained scorer and its
dataset, the confidence fitted on the validation carve in several ways (METHODS; the first is
the product's: the stacked heads cross-fitted in 5 folds, one temperature on their logits),
each measured on the carve (out of fold where the method cross-fits) and on test_ua (unseen
answers of the same questions): ECE, mean confidence against accuracy, and the share
auto-scored at `--max-error 0.05` (Learn then Test on the carve) with its realised error.
The scorer is not touched; the cross-encoder's outputs are computed once per split and kept
in --workdir.

    OMP_NUM_THREADS=2 nice -n 5 .venv/bin/python benchmarks/bench_calibration_fit.py \
        --pairs runs/saf/model:runs/saf/data,runs/sb3/model:runs/sb3/data --workdir runs/calfit
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np

SPLIT = "test_ua"


def ece(conf: np.ndarray, right: np.ndarray, bins: int = 10) -> float:
    which = np.clip(np.digitize(conf, np.linspace(0, 1, bins + 1)[1:-1]), 0, bins - 1)
    return float(sum(abs(conf[which == b].mean() - right[which == b].mean()) * (which == b).sum()
                     for b in range(bins) if (which == b).any()) / len(conf))


def figures(cal_conf, cal_right, conf, right) -> dict:
    """ECE / confidence / accuracy on the carve and on the split; auto-scoring at 5 %."""
    from asag.train.calibration import auto_threshold

    cut = auto_threshold(cal_conf, cal_right, 0.05)
    auto = conf >= cut
    return {"carve_ece": ece(cal_conf, cal_right), "carve_conf": float(cal_conf.mean()),
            "carve_acc": float(cal_right.mean()), "ece": ece(conf, right),
            "conf": float(conf.mean()), "acc": float(right.mean()), "auto": float(auto.mean()),
            "auto_error": float(1 - right[auto].mean()) if auto.any() else None}


def cached_outputs(scorer, rows: list[dict], path: Path) -> np.ndarray:
    if path.is_file():
        return np.load(path)
    out = scorer.cross_encoder_outputs(rows, batch_size=64)
    np.save(path, out)
    return out


def temperature(held_logits, y, _unused=None):
    from asag.train.calibration import fit_temperature, softmax

    t = fit_temperature(held_logits, y)
    p = softmax(held_logits / t)
    return p.max(axis=1), p.argmax(axis=1) == y, lambda out: softmax(out / t).max(axis=1)


def top_label(kind: str):
    """Temperature, then a second fit of P(right | top probability) on the carve."""
    def method(ctx):
        from sklearn.isotonic import IsotonicRegression
        from sklearn.linear_model import LogisticRegression

        conf, right, fn = temperature(ctx["oof5"], ctx["y"], None)
        logit = lambda c: np.log(np.clip(c, 1e-6, 1 - 1e-6) / np.clip(1 - c, 1e-6, 1))  # noqa: E731
        if kind == "isotonic":
            f = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1).fit(conf, right)
            return f.predict(conf), right, lambda out: f.predict(fn(out))
        f = LogisticRegression(C=100).fit(logit(conf)[:, None], right)
        return (f.predict_proba(logit(conf)[:, None])[:, 1], right,
                lambda out: f.predict_proba(logit(fn(out))[:, None])[:, 1])
    return method


def heads_c(c: float):
    """Heads refitted with logistic regression's C = c (1 is the product's), cross-fitted
    in 5 folds for the temperature; the test outputs from heads fitted on the whole carve."""
    def method(ctx):
        import sklearn.linear_model as lm

        from asag.train import memory as M
        from asag.train.calibration import out_of_fold

        plain = lm.LogisticRegression
        lm.LogisticRegression = lambda **kw: plain(**{**kw, "C": c})
        try:
            s = ctx["scorer"]
            held = out_of_fold(s.scale, s.consultant, s.consultant.memory, ctx["rows"],
                               ctx["ce"], folds=5)
            full, base, seen = ctx["features"]
            y = ctx["y"].astype(float)
            seen_head = M.Head.fit(s.scale, full[seen], y[seen])
            unseen_head = M.Head.fit(s.scale, base, y)
        finally:
            lm.LogisticRegression = plain
        ft, bt, st, ce_test = ctx["test_features"]
        ctx["test_out"] = M.apply_heads(s.scale, ce_test, ft, bt, st, seen_head, unseen_head)
        return temperature(held.outputs, ctx["y"], None)
    return method


def _no_temperature(ctx):
    from asag.train.calibration import softmax

    p = softmax(ctx["insample"])
    return p.max(axis=1), p.argmax(axis=1) == ctx["y"], lambda out: softmax(out).max(axis=1)


METHODS = {
    "5-fold cross-fitted heads, temperature (the product's)":
        lambda ctx: temperature(ctx["oof5"], ctx["y"], None),
    "10-fold cross-fitted heads, temperature": lambda ctx: temperature(ctx["oof10"], ctx["y"],
                                                                       None),
    "in-sample heads, temperature": lambda ctx: temperature(ctx["insample"], ctx["y"], None),
    "in-sample heads, no temperature": lambda ctx: _no_temperature(ctx),
    "temperature + top-label Platt": top_label("platt"),
    "temperature + top-label isotonic": top_label("isotonic"),
    "heads C=10, temperature": heads_c(10.0),
    "heads C=100, temperature": heads_c(100.0),
    "temperature fitted on test_ua itself (a bound, not a method)": lambda ctx: temperature(
        ctx["test_out"], ctx["y_test"]),
}


def run_pair(model: Path, data: Path, work: Path) -> dict:
    from asag.train import data as D
    from asag.train.args import TrainArgs
    from asag.train.scorer import Scorer
    from asag.train.training import _train_validation

    scorer = Scorer.load(model, threads=int(os.environ.get("OMP_NUM_THREADS", "2")))
    dsd, _, scale = D.load_for_training(data)
    saved = scorer.manifest.get("training_args") or {}
    carve = SimpleNamespace(**{k: saved.get(k, getattr(TrainArgs, k))
                               for k in ("validation_fraction", "seed")})
    _, held, _ = _train_validation(dsd, carve)
    rows = D.split_rows(dsd[SPLIT])
    tag = (scorer.manifest.get("files") or {}).get("model.safetensors", model.name)[:12]
    ce_held = cached_outputs(scorer, held, work / f"{tag}-carve.npy")
    ce_test = cached_outputs(scorer, rows, work / f"{tag}-{SPLIT}.npy")
    y_held = np.array([D.target(scale, r["score"]) for r in held], dtype=int)
    y_test = np.array([D.target(scale, r["score"]) for r in rows], dtype=int)
    from asag.train import memory as M
    from asag.train.calibration import out_of_fold

    con = scorer.consultant
    out_test, st, _ = con.consult(ce_test, rows)
    test_full, test_base, _ = M.features(scale, ce_test, rows, con.embedder, con.memory)
    features = M.features(scale, ce_held, held, con.embedder, con.memory)
    ctx = {"scorer": scorer, "rows": held, "y_test": y_test, "ce": ce_held, "y": y_held,
           "features": features,
           "test_features": (test_full, test_base, st, ce_test),
           "insample": M.apply_heads(scale, ce_held, *features, con.seen_head,
                                     con.unseen_head)}
    for folds in (5, 10):
        ctx[f"oof{folds}"] = out_of_fold(scale, con, con.memory, held, ce_held,
                                         folds=folds).outputs
    result = {"answers": {"carve": len(held), SPLIT: len(rows)}, "methods": {}}
    for name, method in METHODS.items():
        ctx["test_out"] = out_test
        conf_held, right_held, confidence = method(ctx)
        test_out = ctx["test_out"]
        right = test_out.argmax(axis=1) == y_test
        result["methods"][name] = figures(conf_held, right_held, confidence(test_out), right)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", required=True,
                        help="comma-separated MODEL:DATASET (label scales)")
    parser.add_argument("--workdir", type=Path, default=Path("runs/calfit"))
    opts = parser.parse_args()
    opts.workdir.mkdir(parents=True, exist_ok=True)
    results = {}
    lines = ["| scorer | confidence fitted by | carve ECE | carve conf / acc | test_ua ECE | "
             "test_ua conf / acc | auto at 5 % (error) |", "|---|---|---:|---:|---:|---:|---:|"]
    for pair in opts.pairs.split(","):
        model, data = (Path(p) for p in pair.split(":"))
        name = model.parent.name
        results[name] = run_pair(model, data, opts.workdir)
        for fit, r in results[name]["methods"].items():
            error = "–" if r["auto_error"] is None else f"{r['auto_error']:.3f}"
            lines.append(f"| {name} | {fit} | {r['carve_ece']:.3f} | {r['carve_conf']:.3f} / "
                         f"{r['carve_acc']:.3f} | {r['ece']:.3f} | {r['conf']:.3f} / "
                         f"{r['acc']:.3f} | {r['auto']:.1%} ({error}) |")
            print(lines[-1], flush=True)
    (opts.workdir / "calibration_fit.json").write_text(json.dumps(
        {"results": results, "load": os.getloadavg()}, indent=2))
    print("\n".join(lines))
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
