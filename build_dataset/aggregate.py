"""Several teachers' scores of one answer -> one training target, under a named policy.

Votes are scale indices (0 = lowest). On numeric scales the result is a score on the scale
(mean and median may fall between steps: a regression target); on label scales it is a class
index, so `mean` is refused and `median` takes the lower middle vote. `majority` breaks ties
toward the lower score (the cautious grade) and counts them. `adjudicated` takes the
ground-truth (reviewer) votes where an answer has any, else the fallback policy."""

from __future__ import annotations

import numpy as np

from asag.scale import Scale


def check_policy(policy: str, fallback: str, scale: Scale) -> None:
    used = {policy} | ({fallback} if policy == "adjudicated" else set())
    if "mean" in used and not scale.is_numeric:
        raise ValueError(
            f"the mean of labels is not a label (scale {scale.spec}); "
            "use --policy median or majority"
        )


def _grouped(item: np.ndarray, idx: np.ndarray, n_items: int):
    """Votes sorted by (item, idx) with each item's start offset and vote count."""
    order = np.lexsort((idx, item))
    counts = np.bincount(item, minlength=n_items)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return idx[order], starts, counts


def _mean(item, idx, n_items, scale):
    counts = np.bincount(item, minlength=n_items)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.bincount(item, weights=scale.at(idx), minlength=n_items) / counts, 0


def _median(item, idx, n_items, scale):
    s, starts, counts = _grouped(item, idx, n_items)
    has = counts > 0
    lo = np.where(has, starts + (counts - 1) // 2, 0)
    hi = np.where(has, starts + counts // 2, 0)
    if scale.is_numeric:
        out = (scale.at(s[lo]) + scale.at(s[hi])) / 2
    else:
        out = s[lo].astype(np.float64)
    return np.where(has, out, np.nan), 0


def _majority(item, idx, n_items, scale):
    k = len(scale.values)
    keys, n = np.unique(item.astype(np.int64) * k + idx, return_counts=True)
    key_item, key_idx = keys // k, keys % k
    best = np.zeros(n_items, dtype=np.int64)
    np.maximum.at(best, key_item, n)
    winners = n == best[key_item]
    first = np.unique(key_item[winners], return_index=True)[1]  # lowest idx among the tied
    ties = int((np.bincount(key_item[winners], minlength=n_items) > 1).sum())
    out = np.full(n_items, np.nan)
    out[key_item[winners][first]] = key_idx[winners][first]
    if scale.is_numeric:
        out = scale.at(out)
    return out, ties


_POLICY = {"mean": _mean, "median": _median, "majority": _majority}


def aggregate(item, idx, gt, n_items: int, scale: Scale, policy: str, fallback: str = "median"):
    """(score per item — NaN where unscored — , number of majority ties)."""
    item = np.asarray(item, dtype=np.int64)
    idx = np.asarray(idx, dtype=np.int64)
    check_policy(policy, fallback, scale)
    if policy != "adjudicated":
        return _POLICY[policy](item, idx, n_items, scale)
    gt = np.asarray(gt, dtype=bool)
    out, ties = _POLICY[fallback](item, idx, n_items, scale)
    reviewed, reviewed_ties = _majority(item[gt], idx[gt], n_items, scale)
    has_review = ~np.isnan(reviewed)
    out[has_review] = reviewed[has_review]
    return out, ties + reviewed_ties
