"""Calibration and auto-scoring on SciEntsBank (issue 12): for each full-recipe scorer under
--models (scientsbank-2way/, scientsbank-3way/, each with its built dataset beside it as
<name>-data/), fit the calibration on the dataset's held-out validation answers (as
`asag calibrate` does, on a copy: the scorer is not touched), then on test_ua and test_uq:
ECE before (top softmax probability) and after calibration, empirical coverage and mean size
of the 90 % conformal sets, and auto-scoring at a 5 % error target (share auto-scored,
realised error among them). Prints a markdown table; writes calibration.json and the
reliability diagrams into --workdir.

The sets are class-conditional (one threshold per label); the table also gives the lowest
coverage of any one label, and the coverage that one marginal threshold (the sets before
session 7) gets from the same held-out answers.

    nice -n 15 .venv/bin/python benchmarks/bench_calibration.py --models /work/models \
        --workdir /tmp/bench-calibration
    # or scorers laid out as bench_learning_curve.py leaves them (<run>/model-new, <run>/data):
    .venv/bin/python benchmarks/bench_calibration.py --scorers /work/s6/full3/3way-1-s0/model-new
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

SPLITS = ("test_ua", "test_uq")


def measure_split(scorer, rows: list[dict]) -> dict:
    """Uncalibrated and calibrated figures from one pass of the model over the rows."""
    from asag.train import data as D
    from asag.train.reliability import TARGET, measure

    scale = scorer.scale
    ce = scorer.cross_encoder_outputs(rows, batch_size=64)
    out, seen, knn = (scorer.consultant.consult(ce, rows) if scorer.consultant is not None
                      else (ce, None, None))
    truth = [D.target(scale, r["score"]) if not scale.is_numeric else float(r["score"])
             for r in rows]
    before = measure(scale, truth, [scorer.prediction(o) for o in out], None)
    predictions = [scorer.prediction(o) for o in out]
    scorer.calibration.annotate(scale, predictions, out, ce, seen, knn, max_error=TARGET)
    after = measure(scale, truth, predictions, scorer.calibration)
    if not scale.is_numeric:
        after.update(per_label_coverage(scale, scorer.calibration, predictions, out, truth))
    return {"before": before, "after": after}


def per_label_coverage(scale, calibration, predictions, outputs, truth) -> dict:
    """Coverage per true label of the scorer's (class-conditional) sets, and of marginal sets
    from the same held-out answers."""
    import dataclasses

    import numpy as np

    y = np.asarray(truth, dtype=int)
    marginal = dataclasses.replace(calibration, score_labels=None)
    covered = {
        "per_label": np.array([scale.labels[c] in p.labels
                               for p, c in zip(predictions, y, strict=True)]),
        "marginal": marginal.sets(calibration.probabilities(outputs))[np.arange(len(y)), y]}
    out = {}
    for name, inside in covered.items():
        out[f"{name}_coverage"] = {int(c): round(float(inside[y == c].mean()), 6)
                                   for c in np.unique(y)}
        out[f"{name}_overall"] = round(float(inside.mean()), 6)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, default=Path("/work/models"))
    parser.add_argument("--variants", default="2way,3way")
    parser.add_argument("--scorers", default="",
                        help="comma-separated scorer dirs with their dataset at ../data "
                             "(bench_learning_curve.py's layout); replaces --models/--variants")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench-calibration"))
    opts = parser.parse_args()

    from asag.train import data as D
    from asag.train.calibration import recalibrate
    from asag.train.reliability import reliability_png
    from asag.train.scorer import Scorer

    opts.workdir.mkdir(parents=True, exist_ok=True)
    results, lines = {}, [
        "| variant | split | n | accuracy | ECE before | ECE after | set coverage (90 %) | "
        "lowest label | marginal (lowest label) | mean set size | auto-scored at 5 % | "
        "realised error |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    if opts.scorers:
        pairs = [(f"{Path(d).parent.parent.name}-{Path(d).parent.name}", Path(d),
                  Path(d).parent / "data")
                 for d in opts.scorers.split(",")]
    else:
        pairs = [(v, opts.models / f"scientsbank-{v}", opts.models / f"scientsbank-{v}-data")
                 for v in opts.variants.split(",")]
    for variant, source, data in pairs:
        if not (source / "asag_scorer.json").is_file():
            print(f"skipped {variant}: no scorer at {source}", file=sys.stderr)
            continue
        model = opts.workdir / variant
        shutil.rmtree(model, ignore_errors=True)
        shutil.copytree(source, model, ignore=shutil.ignore_patterns("eval", "checkpoints"))
        started = time.time()
        fitted = recalibrate(model, data)["fitted_on"]
        fit_seconds = round(time.time() - started, 1)
        scorer = Scorer.load(model)
        dsd, _, _ = D.load_for_training(data)
        results[variant] = {"fitted_on": fitted, "fit_seconds": fit_seconds,
                            "temperature": scorer.calibration.temperature,
                            "threshold_5pct": scorer.calibration.threshold(0.05)}
        for split in SPLITS:
            figures = measure_split(scorer, D.split_rows(dsd[split]))
            results[variant][split] = figures
            b, a = figures["before"], figures["after"]
            reliability_png(opts.workdir / f"reliability-{variant}-{split}.png", a,
                            f"SciEntsBank {variant} {split}")
            auto = a["auto_scoring"]
            error = "–" if auto["realised_error"] is None else f"{auto['realised_error']:.3f}"
            low = min(a.get("per_label_coverage", {0: float("nan")}).values())
            marginal = (f"{a['marginal_overall']:.3f} "
                        f"({min(a['marginal_coverage'].values()):.3f})"
                        if "marginal_overall" in a else "–")
            lines.append(f"| {variant} | {split} | {a['n']} | {a['accuracy']:.3f} | "
                         f"{b['ece']:.3f} | {a['ece']:.3f} | {a['coverage']:.3f} | {low:.3f} | "
                         f"{marginal} | {a['mean_set_size']:.2f} | {auto['fraction']:.1%} | "
                         f"{error} |")
            print(lines[-1], flush=True)
        (opts.workdir / "calibration.json").write_text(json.dumps(results, indent=2))
    print("\n".join(lines))
    for variant, r in results.items():
        print(f"{variant}: fitted on {r['fitted_on']['answers']} answers "
              f"({r['fitted_on']['split']}) in {r['fit_seconds']} s; temperature "
              f"{r['temperature']}; auto-scoring threshold at 5 %: {r['threshold_5pct']}")


if __name__ == "__main__":
    main()
