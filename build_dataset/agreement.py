"""Agreement between teachers on answers scored two or more times: pairwise quadratic
weighted kappa (averaged over annotator pairs), Krippendorff's alpha (ordinal for label
scales, interval for numeric ones), exact and adjacent (within one scale step) agreement;
overall and per question.

Everything is computed from the pairs of judgements of one answer. Scores arrive as scale
indices (0 = lowest), so one step is a distance of 1; interval alpha and kappa do not change
under the linear map from index back to score. Overall kappas come from scikit-learn; the
thousands of per-question kappas use the same formula on batched confusion matrices
(tests prove them equal)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

METRICS = ("nominal", "ordinal", "interval")


def _delta2(metric: str, n_c: np.ndarray) -> np.ndarray:
    """Squared distance d2[g, c, k] between values c and k, for each group's marginals n_c."""
    k = n_c.shape[1]
    c = np.arange(k)
    if metric == "nominal":
        return np.broadcast_to((c[:, None] != c[None, :]).astype(float), (len(n_c), k, k))
    if metric == "interval":
        return np.broadcast_to(((c[:, None] - c[None, :]) ** 2).astype(float), (len(n_c), k, k))
    if metric == "ordinal":  # (n_lo + ... + n_hi - (n_lo + n_hi) / 2) ** 2
        cum = np.concatenate([np.zeros((len(n_c), 1)), np.cumsum(n_c, axis=1)], axis=1)
        lo, hi = np.minimum.outer(c, c), np.maximum.outer(c, c)
        return (cum[:, hi + 1] - cum[:, lo] - (n_c[:, lo] + n_c[:, hi]) / 2) ** 2
    raise ValueError(f"unknown metric {metric}; use one of {', '.join(METRICS)}")


def coincidences(group, a, b, weight, n_groups: int, n_values: int) -> np.ndarray:
    """Krippendorff's coincidence matrices o[g, c, k], one per group, from unordered pairs of
    values (a, b) within a unit, each weighted 1 / (m_u - 1)."""
    k = n_values
    o = np.bincount((np.asarray(group) * k + a) * k + b, weights=weight,
                    minlength=n_groups * k * k).reshape(n_groups, k, k)
    return o + o.transpose(0, 2, 1)


def alpha_from_coincidences(o: np.ndarray, metric: str) -> np.ndarray:
    """alpha = 1 - (n - 1) sum o_ck d2_ck / sum n_c n_k d2_ck (Krippendorff 2011), per group;
    NaN where undefined (fewer than two pairable values, or no variation at all)."""
    n_c = o.sum(axis=2)
    n = n_c.sum(axis=1)
    d2 = _delta2(metric, n_c)
    expected = np.einsum("gc,gk,gck->g", n_c, n_c, d2)
    observed = (o * d2).sum(axis=(1, 2))
    with np.errstate(all="ignore"):
        alpha = 1 - (n - 1) * observed / expected
    return np.where((n > 1) & (expected > 0), alpha, np.nan)


def qwk(a, b, n_values: int) -> float:
    """Quadratic weighted kappa of two raters over the whole scale (NaN when undefined)."""
    from sklearn.metrics import cohen_kappa_score

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return float(cohen_kappa_score(a, b, labels=list(range(n_values)), weights="quadratic"))


def qwk_batched(group: np.ndarray, a: np.ndarray, b: np.ndarray, n_groups: int,
                n_values: int) -> np.ndarray:
    """Quadratic weighted kappa of many rater pairs at once (one confusion matrix per group);
    scikit-learn's formula, which costs milliseconds per call there."""
    k = n_values
    conf = np.bincount((group * k + a) * k + b, minlength=n_groups * k * k).reshape(n_groups, k, k)
    weights = (np.arange(k)[:, None] - np.arange(k)[None, :]) ** 2
    n = conf.sum(axis=(1, 2))
    with np.errstate(all="ignore"):
        expected = conf.sum(axis=2)[:, :, None] * conf.sum(axis=1)[:, None, :] / n[:, None, None]
        return 1 - (conf * weights).sum(axis=(1, 2)) / (expected * weights).sum(axis=(1, 2))


def annotator_pairs(item, annotator, idx) -> pd.DataFrame:
    """Every pair of annotators (integer codes, a < b) on the same answer, with their scores
    and the pair's coincidence weight 1 / (m - 1), m = the answer's number of scores."""
    v = pd.DataFrame({"item": item, "ann": annotator, "idx": idx})
    m = np.bincount(v["item"].to_numpy())
    v = v[m[v["item"].to_numpy()] >= 2]
    pairs = v.merge(v, on="item", suffixes=("_a", "_b"))
    pairs = pairs[pairs["ann_a"] < pairs["ann_b"]]
    pairs["weight"] = 1.0 / (m[pairs["item"].to_numpy()] - 1)
    return pairs.reset_index(drop=True)


def _round(x) -> float | None:
    return None if x is None or np.isnan(x) else round(float(x), 6)


def _mean_kappa(kappas: np.ndarray, sizes: np.ndarray) -> tuple[float | None, int]:
    """Mean over annotator pairs that shared two or more answers and have a defined kappa."""
    ok = (sizes >= 2) & ~np.isnan(kappas)
    return (float(kappas[ok].mean()) if ok.any() else None), int(ok.sum())


def agreement(item, annotator, idx, question: np.ndarray, n_values: int, metric: str) -> dict:
    """Overall and per-question figures for votes (item positions, integer annotator codes,
    scale indices) on items whose question ids are `question[item]`."""
    pairs = annotator_pairs(item, annotator, idx)
    n_scores = np.bincount(item, minlength=len(question))
    if pairs.empty:
        return {"overall": _figures(0, 0, 0, 0, 0, np.nan, (None, 0), metric),
                "per_question": {}}
    a, b = pairs["idx_a"].to_numpy(), pairs["idx_b"].to_numpy()
    q_codes, q_names = pd.factorize(question[pairs["item"].to_numpy()], sort=True)
    n_q = len(q_names)
    o = coincidences(q_codes, a, b, pairs["weight"].to_numpy(), n_q, n_values)
    alpha_q = alpha_from_coincidences(o, metric)
    alpha_all = alpha_from_coincidences(o.sum(axis=0, keepdims=True), metric)[0]
    diff = np.abs(a - b)
    exact_q = np.bincount(q_codes, weights=diff == 0, minlength=n_q)
    near_q = np.bincount(q_codes, weights=diff <= 1, minlength=n_q)
    pairs_q = np.bincount(q_codes, minlength=n_q)
    multi = np.unique(pairs["item"].to_numpy())
    answers_q = np.bincount(pd.Index(q_names).get_indexer(question[multi]), minlength=n_q)
    scores_q = np.bincount(pd.Index(q_names).get_indexer(question[multi]),
                           weights=n_scores[multi], minlength=n_q)
    # kappa per annotator pair: scikit-learn overall, batched per question
    ann_pair = pairs["ann_a"].to_numpy() * (int(annotator.max()) + 1) + pairs["ann_b"].to_numpy()
    overall_groups = pd.Series(np.arange(len(pairs))).groupby(ann_pair).indices.values()
    overall_k = np.array([qwk(a[ix], b[ix], n_values) for ix in overall_groups])
    sizes = np.array([len(ix) for ix in overall_groups])
    overall = _figures(len(multi), n_scores[multi].sum(), pairs_q.sum(), exact_q.sum(),
                       near_q.sum(), alpha_all, _mean_kappa(overall_k, sizes), metric)
    g_codes, g_keys = pd.factorize(q_codes.astype(np.int64) * (int(ann_pair.max()) + 1) + ann_pair)
    kappas = qwk_batched(g_codes, a, b, len(g_keys), n_values)
    sizes = np.bincount(g_codes)
    g_question = g_keys // (int(ann_pair.max()) + 1)
    order = np.argsort(g_question, kind="stable")
    bounds = np.searchsorted(g_question[order], np.arange(n_q + 1))
    per_question = {}
    for q in range(n_q):
        mine = order[bounds[q]:bounds[q + 1]]
        per_question[str(q_names[q])] = _figures(
            answers_q[q], scores_q[q], pairs_q[q], exact_q[q], near_q[q], alpha_q[q],
            _mean_kappa(kappas[mine], sizes[mine]), metric)
    return {"overall": overall, "per_question": per_question}


def _figures(answers, annotations, total, exact, near, alpha, kappa, metric) -> dict:
    return {
        "answers": int(answers),
        "annotations": int(annotations),
        "pairs": int(total),
        "qwk": _round(kappa[0]),
        "qwk_annotator_pairs": kappa[1],
        "alpha": _round(alpha),
        "alpha_metric": metric,
        "exact": _round(exact / total) if total else None,
        "adjacent": _round(near / total) if total else None,
    }


def gaps(item: np.ndarray, idx: np.ndarray, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """Per item: (lowest, highest) index given by its annotators (-1 where unscored)."""
    low = np.full(n_items, np.iinfo(np.int64).max)
    high = np.full(n_items, -1)
    np.minimum.at(low, item, idx)
    np.maximum.at(high, item, idx)
    low[high < 0] = -1
    return low, high


def model_hints(shown: list[tuple], scale) -> dict:
    """How often teachers kept the model's score they were shown (annotate pull's
    `prediction`), overall and by the confidence band the hint named (asag.hints.BANDS)."""
    from asag.hints import BANDS, confidence_band

    bands = {name: {"shown": 0, "kept": 0} for _, name in BANDS}
    bands["no confidence"] = {"shown": 0, "kept": 0}
    for score, hint in shown:
        if hint.get("score") is None:
            continue
        conf = hint.get("confidence")
        band = bands[confidence_band(conf) if conf is not None else "no confidence"]
        band["shown"] += 1
        try:
            band["kept"] += int(scale.coerce(score) == scale.coerce(hint["score"]))
        except ValueError:
            pass
    for band in bands.values():
        band["rate"] = round(band["kept"] / band["shown"], 4) if band["shown"] else None
    total = sum(b["shown"] for b in bands.values())
    kept = sum(b["kept"] for b in bands.values())
    return {"shown": total, "kept": kept, "rate": round(kept / total, 4) if total else None,
            "by_band": {k: b for k, b in bands.items() if b["shown"]}}
