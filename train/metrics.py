"""Agreement between predicted and teachers' scores, overall and per question.

Label scales are compared as class indices (accuracy, macro/weighted F1, quadratic weighted
kappa over the scale's order); numeric scales as values (RMSE, MAE, Pearson, Spearman) and,
snapped to the scale's steps, as ordinal classes (exact accuracy, QWK)."""

from __future__ import annotations

import math
from collections import defaultdict

from asag.scale import Scale

# The figure each kind of scale is judged by (early stopping, best model, summaries).
# QWK on numeric scales: what teachers' agreement is judged by, and it rewards using the whole
# scale, where RMSE on a few hundred answers prefers a model that predicts the mean.
PRIMARY = {"labels": ("macro_f1", True), "numeric": ("qwk", True)}


def primary_metric(scale: Scale) -> tuple[str, bool]:
    """(metric name, greater is better)."""
    return PRIMARY["numeric" if scale.is_numeric else "labels"]


def _clean(x: float) -> float | None:
    x = float(x)
    return None if math.isnan(x) or math.isinf(x) else round(x, 6)


def compute(scale: Scale, truth, predicted) -> dict:
    """Metrics of one set of predictions; truth/predicted are class indices on label scales,
    values on numeric ones."""
    import numpy as np
    from sklearn.metrics import accuracy_score, cohen_kappa_score, f1_score

    truth, predicted = list(truth), list(predicted)
    out: dict = {"n": len(truth)}
    if not truth:
        return out
    if scale.is_numeric:
        t, p = np.asarray(truth, dtype=float), np.asarray(predicted, dtype=float)
        out["rmse"] = _clean(np.sqrt(np.mean((t - p) ** 2)))
        out["mae"] = _clean(np.mean(np.abs(t - p)))
        out["pearson"] = _correlation(t, p, "pearson")
        out["spearman"] = _correlation(t, p, "spearman")
        ti, pi = scale.nearest_index(t).tolist(), scale.nearest_index(p).tolist()
        out["accuracy"] = _clean(accuracy_score(ti, pi))
        out["within_one_step"] = _clean(np.mean(np.abs(np.subtract(ti, pi)) <= 1))
        classes = list(range(len(scale.values)))
    else:
        ti, pi = [int(x) for x in truth], [int(x) for x in predicted]
        classes = list(range(len(scale.labels)))
        out["accuracy"] = _clean(accuracy_score(ti, pi))
        present = sorted(set(ti) | set(pi))
        out["macro_f1"] = _clean(f1_score(ti, pi, labels=present, average="macro", zero_division=0))
        out["weighted_f1"] = _clean(
            f1_score(ti, pi, labels=present, average="weighted", zero_division=0)
        )
    out["qwk"] = _kappa(cohen_kappa_score, ti, pi, classes)
    return out


def _kappa(fn, ti, pi, classes) -> float | None:
    if len(set(ti) | set(pi)) < 2:
        return None  # undefined when every score is the same
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _clean(fn(ti, pi, labels=classes, weights="quadratic"))


def _correlation(t, p, kind: str) -> float | None:
    import numpy as np
    from scipy import stats

    if len(t) < 2 or np.std(t) == 0 or np.std(p) == 0:
        return None
    r = stats.pearsonr(t, p)[0] if kind == "pearson" else stats.spearmanr(t, p)[0]
    return _clean(r)


def per_class(scale: Scale, truth, predicted) -> list[dict]:
    """Precision, recall, F1 and support of each label (label scales only)."""
    from sklearn.metrics import precision_recall_fscore_support

    classes = list(range(len(scale.labels)))
    p, r, f, s = precision_recall_fscore_support(
        [int(x) for x in truth], [int(x) for x in predicted], labels=classes, zero_division=0
    )
    return [
        {"label": scale.labels[i], "precision": _clean(p[i]), "recall": _clean(r[i]),
         "f1": _clean(f[i]), "support": int(s[i])}
        for i in classes
    ]


def per_question(scale: Scale, question_ids, truth, predicted) -> dict[str, dict]:
    groups: dict[str, tuple[list, list]] = defaultdict(lambda: ([], []))
    for q, t, p in zip(question_ids, truth, predicted, strict=True):
        groups[str(q)][0].append(t)
        groups[str(q)][1].append(p)
    return {q: compute(scale, t, p) for q, (t, p) in sorted(groups.items())}


def confusion(scale: Scale, truth, predicted) -> tuple[list[str], list[list[int]]]:
    """(class names, matrix[true][predicted]) on the scale's classes or steps."""
    import numpy as np

    if scale.is_numeric:
        names = [str(v) for v in scale.values]
        ti = scale.nearest_index(np.asarray(truth, dtype=float)).tolist()
        pi = scale.nearest_index(np.asarray(predicted, dtype=float)).tolist()
    else:
        names = list(scale.labels)
        ti, pi = [int(x) for x in truth], [int(x) for x in predicted]
    matrix = [[0] * len(names) for _ in names]
    for t, p in zip(ti, pi, strict=True):
        matrix[t][p] += 1
    return names, matrix
