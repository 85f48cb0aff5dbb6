"""How well a scorer's confidence holds on a split, against the teachers' scores: `asag
evaluate`'s calibration section and the calibration benchmarks. ECE and the reliability
diagram, empirical coverage of the conformal sets / intervals, risk-coverage (accuracy and
QWK on the most confident answers), and auto-scoring at a fixed error target. The
calibration itself is fitted in train/calibration.py."""

from __future__ import annotations

import math

import numpy as np

from asag.scale import Scale
from asag.train.calibration import Calibration

BINS = 10  # equal-width confidence bins of the reliability diagram / ECE
SHARES = (0.25, 0.5, 0.75, 1.0)  # risk-coverage: the most confident share of the answers
TARGET = 0.05  # the auto-scoring error target evaluate reports


def measure(scale: Scale, truth: list, predictions: list, calibration: Calibration | None
            ) -> dict | None:
    """ECE, reliability bins, empirical coverage of the sets / intervals, risk-coverage
    (accuracy, and QWK, on the most confident 25/50/75/100 %) and auto-scoring at TARGET,
    against the teachers' scores (`truth`: class indices or values). None without a
    confidence (an uncalibrated numeric scorer)."""
    from asag.train import metrics as M

    if not predictions or any(p.confidence is None for p in predictions):
        return None
    conf = np.array([p.confidence for p in predictions], dtype=np.float64)
    if scale.is_numeric:
        right = (scale.nearest_index(np.asarray(truth, dtype=np.float64))
                 == scale.nearest_index(np.array([p.score for p in predictions], dtype=np.float64)))
        predicted = [p.score for p in predictions]
    else:
        predicted = [p.index for p in predictions]
        right = np.array([int(t) == p for t, p in zip(truth, predicted, strict=True)])
    edges = np.linspace(0, 1, BINS + 1)
    which = np.clip(np.digitize(conf, edges[1:-1]), 0, BINS - 1)
    bins = [{"low": round(float(edges[b]), 2), "high": round(float(edges[b + 1]), 2),
             "n": int((which == b).sum()),
             "confidence": round(float(conf[which == b].mean()), 6) if (which == b).any() else None,
             "accuracy": round(float(right[which == b].mean()), 6) if (which == b).any() else None}
            for b in range(BINS)]
    ece = sum(b["n"] * abs(b["confidence"] - b["accuracy"]) for b in bins if b["n"]) / len(conf)
    order = np.argsort(-conf, kind="stable")
    curve = []
    for share in SHARES:
        top = order[:max(1, round(share * len(order)))]
        figures = M.compute(scale, [truth[i] for i in top], [predicted[i] for i in top])
        curve.append({"share": share, "n": len(top), "accuracy": figures.get("accuracy"),
                      "qwk": figures.get("qwk")})
    out = {"n": len(conf), "ece": round(float(ece), 6), "accuracy": round(float(right.mean()), 6),
           "mean_confidence": round(float(conf.mean()), 6), "reliability": bins,
           "risk_coverage": curve}
    if calibration is not None:
        out.update(_coverage(scale, truth, predictions, calibration.level))
        cut = calibration.threshold(TARGET)
        auto = conf >= cut
        out["auto_scoring"] = {
            "max_error": TARGET, "threshold": None if math.isinf(cut) else round(cut, 6),
            "auto": int(auto.sum()), "fraction": round(float(auto.mean()), 6),
            "realised_error": round(float(1 - right[auto].mean()), 6) if auto.any() else None}
    return out


def _coverage(scale: Scale, truth: list, predictions: list, level: float) -> dict:
    if scale.is_numeric:
        inside = [p.interval[0] - 1e-9 <= float(t) <= p.interval[1] + 1e-9
                  for t, p in zip(truth, predictions, strict=True)]
        size = {"mean_interval_width": round(float(np.mean(
            [p.interval[1] - p.interval[0] for p in predictions])), 6)}
    else:
        inside = [scale.labels[int(t)] in p.labels for t, p in zip(truth, predictions, strict=True)]
        size = {"mean_set_size": round(float(np.mean([len(p.labels) for p in predictions])), 6)}
    return {"level": level, "coverage": round(float(np.mean(inside)), 6), **size}


def reliability_png(path, report: dict, title: str) -> None:
    """The reliability diagram: accuracy per confidence bin against the diagonal."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bins = [b for b in report["reliability"] if b["n"]]
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfectly calibrated")
    centres = [(b["low"] + b["high"]) / 2 for b in bins]
    ax.bar(centres, [b["accuracy"] for b in bins], width=1 / BINS * 0.9, alpha=0.7,
           label="accuracy in the bin")
    ax.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], "o-", color="C1",
            label="accuracy at the bin's mean confidence")
    for x, b in zip(centres, bins, strict=True):  # a bin of 1 answer says little: show it
        ax.text(x, 0.02, f"n={b['n']}", ha="center", va="bottom", fontsize=6, rotation=90)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence")
    ax.set_ylabel("share scored as the teachers did")
    ax.set_title(f"{title}\nECE {report['ece']:.3f}, n {report['n']}")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def markdown(report: dict) -> list[str]:
    """Lines of evaluate's markdown report for one split."""
    lines = [f"Expected calibration error {report['ece']:.4f} (mean confidence "
             f"{report['mean_confidence']:.3f}, accuracy {report['accuracy']:.3f})."]
    if "coverage" in report:
        size = (f"mean set size {report['mean_set_size']:.2f}" if "mean_set_size" in report
                else f"mean interval width {report['mean_interval_width']:.2f}")
        lines.append(f"Conformal {'sets' if 'mean_set_size' in report else 'intervals'} at "
                     f"{report['level']:.0%}: empirical coverage {report['coverage']:.1%}, "
                     f"{size}.")
    auto = report.get("auto_scoring")
    if auto:
        error = "–" if auto["realised_error"] is None else f"{auto['realised_error']:.1%}"
        lines.append(f"Auto-scoring at a {auto['max_error']:.0%} error target: {auto['auto']} "
                     f"answers ({auto['fraction']:.1%}) auto-scored, realised error {error}.")
    lines += ["", "| most confident | n | accuracy | QWK |", "|---:|---:|---:|---:|"]
    lines += [f"| {c['share']:.0%} | {c['n']} | {_fmt(c['accuracy'])} | {_fmt(c['qwk'])} |"
              for c in report["risk_coverage"]]
    return lines


def _fmt(value) -> str:
    return "–" if value is None else f"{value:.4f}"
