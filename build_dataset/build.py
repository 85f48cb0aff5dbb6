"""From collected judgements to a dataset directory: aggregate, measure agreement, list
disagreements, assign stable splits, write. Plain functions; the Click command is a shell."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from asag.build_dataset import aggregate as agg
from asag.build_dataset import splits
from asag.build_dataset.agreement import agreement, gaps
from asag.build_dataset.card import render_card
from asag.build_dataset.inputs import Collected
from asag.build_dataset.output import (
    FORMAT_VERSION,
    check_rows,
    features,
    fingerprint,
    split_table,
    staged_directory,
    write_dataset,
)
from asag.dataset_layout import MANIFEST
from asag.errors import InputError
from asag.records import atomic_writer
from asag.scale import Scale

DISAGREEMENTS = "disagreements.csv"


@dataclass
class Options:
    policy: str = "median"
    fallback: str = "median"
    min_annotators: int = 1
    max_gap: float = 1.0
    split_by: str = "answer"  # or "question"
    seed: int = 0
    ratios: tuple = (0.8, 0.1, 0.1)
    carve_validation: float | None = None  # None: 0.1 unless the input has a validation split
    resplit: bool = False


def split_settings(opts: Options, explicit: list, carve: float) -> dict:
    return {
        "method": opts.split_by,
        "seed": opts.seed,
        "ratios": dict(zip(splits.HASHED, opts.ratios, strict=True)),
        "hash": "blake2b-64(f'{seed}\\x1f{key}') / 2**64 < cumulative ratio; key = "
                + ("answer id" if opts.split_by == "answer" else "question id"),
        "explicit": sorted(set(explicit)),
        "carve_validation": carve,
    }


def guard_resplit(output: Path, split: dict, resplit: bool) -> None:
    """Rebuilding with other split settings would move answers across splits: refuse."""
    path = output / MANIFEST
    if not output.exists():
        return
    if not path.is_file():
        if any(output.iterdir()):
            raise InputError("exists and is not an asag dataset directory", file=str(output),
                             fix="choose another -o directory")
        return
    try:
        old = json.loads(path.read_text(encoding="utf-8")).get("split", {})
    except json.JSONDecodeError:
        return
    keys = ("method", "seed", "ratios", "carve_validation")
    changed = [k for k in keys if old.get(k) != split.get(k)]
    if changed and not resplit:
        was = ", ".join(f"{k}={old.get(k)}" for k in changed)
        raise InputError(f"the existing dataset was split with {was}; rebuilding with other "
                         "split settings would move answers between splits", file=str(output),
                         fix="use the same settings, or pass --resplit to accept a new split")


def _label_counts(scores: np.ndarray, scale: Scale) -> dict:
    if scale.is_numeric:  # bin to the nearest scale step
        keys = [str(v) for v in scale.values]
        pos = scale.nearest_index(scores)
    else:
        keys, pos = list(scale.labels), scores.astype(np.int64)
    n = np.bincount(pos, minlength=len(keys))
    return {k: int(c) for k, c in zip(keys, n, strict=True)}


def _disagreement_writer(rows, items, gap, scale, v, raw_csv: bool = False):
    """A CSV of the flagged answers for review: one column per teacher, then the texts
    (spreadsheet-safe unless `raw_csv`: teachers open it in Excel)."""
    import pandas as pd

    from asag.tables import safe_frame

    def write(path: Path) -> None:
        shown = np.asarray(scale.values, dtype=object)
        mine = np.isin(v.item, rows)
        wide = pd.DataFrame({"item": v.item[mine], "annotator": v.annotator[mine],
                             "score": shown[v.idx[mine]]}).pivot(
            index="item", columns="annotator", values="score").reindex(rows)
        frame = pd.DataFrame({
            "id": items["id"][rows],
            "question_id": items["question_id"][rows],
            "gap": gap[rows],
            **{f"score_{a}": wide[a].to_numpy() for a in wide.columns},
            "question": items["question"][rows],
            "reference_answer": items["reference_answer"][rows],
            "student_answer": items["student_answer"][rows],
        })
        with atomic_writer(path) as fh:
            safe_frame(frame, raw=raw_csv).to_csv(fh, index=False)

    return write


@dataclass
class Votes:
    """Votes ordered by (answer, teacher name): answer i's scores are the slice
    starts[i] : starts[i] + counts[i] of item / annotator / code / idx / value."""

    item: np.ndarray
    annotator: np.ndarray
    code: np.ndarray  # annotator as an integer, in name order
    idx: np.ndarray
    gt: np.ndarray
    value: np.ndarray  # the score on the scale (class index on label scales)
    counts: np.ndarray
    starts: np.ndarray

    @classmethod
    def of(cls, votes: dict, n_items: int, scale: Scale) -> Votes:
        import pandas as pd

        code = pd.factorize(votes["annotator"], sort=True)[0]
        order = np.lexsort((code, votes["item"]))
        item, idx = votes["item"][order], votes["idx"][order].astype(np.int64)
        counts = np.bincount(item, minlength=n_items)
        value = scale.at(idx) if scale.is_numeric else idx.astype(np.float64)
        return cls(item, votes["annotator"][order], code[order], idx, votes["gt"][order], value,
                   counts, np.concatenate([[0], np.cumsum(counts)[:-1]]))


def _assign(items: dict, kept: np.ndarray, opts: Options, output: Path):
    """Split name per kept answer, and the split settings for the manifest."""
    explicit = [s for s in items["split"] if s is not None]
    carve = opts.carve_validation
    if carve is None:
        carve = 0.0 if (not explicit or "validation" in explicit) else 0.1
    info = split_settings(opts, explicit, carve)
    guard_resplit(Path(output), info, opts.resplit)
    key = items["id"] if opts.split_by == "answer" else items["question_id"]
    return splits.resolve(key[kept], items["split"][kept], opts.seed, opts.ratios, carve), info


def _counts(data: Collected, tables: dict, v: Votes, keep, ties, flagged, labels) -> dict:
    return {
        "splits": {name: t.num_rows for name, t in tables.items()},
        "answers": int(keep.sum()),
        "annotations": int(v.counts[keep].sum()),
        "records": data.stats.get("records", 0),
        "skipped_annotations": data.stats.get("skipped", 0),
        "superseded_annotations": data.stats.get("superseded", 0),
        "answers_without_scores": int((v.counts == 0).sum()),
        "answers_below_min_annotators": int(((v.counts > 0) & ~keep).sum()),
        "majority_ties": ties,
        "disagreements": int(len(flagged)),
        "labels": labels,
    }


def build(data: Collected, output: Path, opts: Options,
          disagreements: Path | None = None, *, raw_csv: bool = False) -> dict:
    """Build the dataset at `output`; returns the manifest."""
    scale = data.scale
    try:
        agg.check_policy(opts.policy, opts.fallback, scale)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    items = {c: np.asarray(col, dtype=object) for c, col in data.items.items()}
    n_items = len(items["id"])
    v = Votes.of(data.votes, n_items, scale)
    score, ties = agg.aggregate(v.item, v.idx, v.gt, n_items, scale, opts.policy, opts.fallback)
    metric = "interval" if scale.is_numeric else "ordinal"
    agree = agreement(v.item, v.code, v.idx, items["question_id"], len(scale.values), metric)
    low, high = gaps(v.item, v.idx, n_items)
    gap = scale.gap(low, high)
    flagged = np.flatnonzero((v.counts >= 2) & scale.too_far_apart(low, high, opts.max_gap))
    flagged = flagged[np.argsort(items["id"][flagged], kind="stable")]

    keep = v.counts >= max(opts.min_annotators, 1)
    kept = np.flatnonzero(keep)
    if not len(kept):
        raise InputError(f"no answer has {opts.min_annotators} or more scores",
                         fix="lower --min-annotators, or collect more labels")
    assigned, split_info = _assign(items, kept, opts, output)
    feats = features(scale)
    out_score = score.astype(np.float32) if scale.is_numeric else score.astype(np.int64)
    tables, labels = {}, {}
    for name in _split_order(set(assigned)):
        rows = kept[assigned == name]
        rows = rows[np.argsort(items["id"][rows], kind="stable")]
        tables[name] = split_table(rows, items, out_score, v.counts, v.starts,
                                   v.value.astype(np.float32), feats)
        check_rows(tables[name], name)
        labels[name] = _label_counts(score[rows], scale)

    aggregation = {"policy": opts.policy, "min_annotators": opts.min_annotators,
                   "skipped_excluded": True, "majority_ties": "lower score"}
    if opts.policy == "adjudicated":
        aggregation["fallback"] = opts.fallback
    settings = {"aggregation": aggregation, "split": split_info}
    manifest = {
        "format_version": FORMAT_VERSION,
        "fingerprint": fingerprint(tables, scale, settings),
        "scale": scale.spec,
        **settings,
        "counts": _counts(data, tables, v, keep, ties, flagged, labels),
        "inputs": data.inputs,
        "agreement": {**agree, "max_gap": opts.max_gap},
        "features": {c: str(t) for c, t in feats.items()},
    }
    if data.stats.get("model_hints"):
        manifest["model_hints"] = data.stats["model_hints"]
    write = _disagreement_writer(flagged, items, gap, scale, v, raw_csv)
    with staged_directory(Path(output)) as staged:
        extra = {DISAGREEMENTS: write} if disagreements is None else {}
        write_dataset(staged, tables, feats, manifest, render_card(manifest, feats), extra)
    if disagreements is not None:
        write(Path(disagreements))
    return manifest


def _split_order(names: set) -> list:
    known = [n for n in splits.HASHED if n in names]
    return known + sorted(names - set(known))

