"""From collected judgements to a dataset directory: aggregate, measure agreement, list
disagreements, assign stable splits, write. Plain functions; the Click command is a shell."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from asag.build_dataset import aggregate as agg
from asag.build_dataset import splits
from asag.build_dataset.agreement import agreement, gaps
from asag.build_dataset.card import render_card
from asag.build_dataset.inputs import Collected
from asag.build_dataset.output import (
    FORMAT_VERSION,
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
        pos = np.rint((scores - scale.low) / scale.step).astype(np.int64)
    else:
        keys, pos = list(scale.labels), scores.astype(np.int64)
    n = np.bincount(pos, minlength=len(keys))
    return {k: int(c) for k, c in zip(keys, n, strict=True)}


def _disagreement_writer(rows, items, gap, scale, item, annotator, idx):
    """A CSV of the flagged answers for review: one column per teacher, then the texts."""
    import pandas as pd

    def write(path: Path) -> None:
        shown = np.asarray(scale.values, dtype=object)
        mine = np.isin(item, rows)
        wide = pd.DataFrame({"item": item[mine], "annotator": annotator[mine],
                             "score": shown[idx[mine]]}).pivot(
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
            frame.to_csv(fh, index=False)

    return write


def build(data: Collected, output: Path, opts: Options,
          disagreements: Path | None = None) -> dict:
    """Build the dataset at `output`; returns the manifest."""
    import pandas as pd

    scale = data.scale
    try:
        agg.check_policy(opts.policy, opts.fallback, scale)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    items = {c: np.asarray(v, dtype=object) for c, v in data.items.items()}
    n_items = len(items["id"])
    v = data.votes
    # votes ordered by (answer, annotator): each answer's teacher scores are a slice
    ann_code = pd.factorize(v["annotator"], sort=True)[0]
    order = np.lexsort((ann_code, v["item"]))
    item, idx, annotator = v["item"][order], v["idx"][order].astype(np.int64), v["annotator"][order]
    counts = np.bincount(item, minlength=n_items)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    values = (scale.low + idx * scale.step) if scale.is_numeric else idx.astype(np.float64)

    score, ties = agg.aggregate(item, idx, v["gt"][order], n_items, scale, opts.policy,
                                opts.fallback)
    keep = counts >= max(opts.min_annotators, 1)
    question = items["question_id"]
    metric = "interval" if scale.is_numeric else "ordinal"
    agree = agreement(item, ann_code[order], idx, question, len(scale.values), metric)

    low, high = gaps(item, idx, n_items)
    gap = (high - low) * (scale.step if scale.is_numeric else 1)
    flagged = np.flatnonzero((counts >= 2) & (gap > opts.max_gap + 1e-9))
    flagged = flagged[np.argsort(items["id"][flagged], kind="stable")]

    explicit = [s for s in items["split"] if s is not None]
    carve = opts.carve_validation
    if carve is None:
        carve = 0.0 if (not explicit or "validation" in explicit) else 0.1
    split_info = split_settings(opts, explicit, carve)
    guard_resplit(Path(output), split_info, opts.resplit)
    key = items["id"] if opts.split_by == "answer" else question
    kept = np.flatnonzero(keep)
    assigned = splits.resolve(key[kept], items["split"][kept], opts.seed, opts.ratios, carve)

    feats = features(scale)
    out_score = score.astype(np.float32) if scale.is_numeric else score.astype(np.int64)
    tables, label_counts = {}, {}
    for name in _split_order(set(assigned)):
        rows = kept[assigned == name]
        rows = rows[np.argsort(items["id"][rows], kind="stable")]
        tables[name] = split_table(rows, items, out_score, counts, starts,
                                   values.astype(np.float32), feats)
        label_counts[name] = _label_counts(score[rows], scale)

    aggregation = {"policy": opts.policy, "min_annotators": opts.min_annotators,
                   "skipped_excluded": True, "majority_ties": "lower score"}
    if opts.policy == "adjudicated":
        aggregation["fallback"] = opts.fallback
    settings = {"aggregation": aggregation, "split": split_info}
    manifest = {
        "format_version": FORMAT_VERSION,
        "fingerprint": fingerprint(tables, scale, settings),
        "scale": scale.spec,
        "aggregation": aggregation,
        "split": split_info,
        "counts": {
            "splits": {name: t.num_rows for name, t in tables.items()},
            "answers": int(len(kept)),
            "annotations": int(counts[kept].sum()),
            "records": data.stats.get("records", 0),
            "skipped_annotations": data.stats.get("skipped", 0),
            "superseded_annotations": data.stats.get("superseded", 0),
            "answers_without_scores": int((counts == 0).sum()),
            "answers_below_min_annotators": int(((counts > 0) & ~keep).sum()),
            "majority_ties": ties,
            "disagreements": int(len(flagged)),
            "labels": label_counts,
        },
        "inputs": data.inputs,
        "agreement": {**agree, "max_gap": opts.max_gap},
        "features": {c: str(t) for c, t in feats.items()},
    }
    card = render_card(manifest, feats)
    write = _disagreement_writer(flagged, items, gap, scale, item, annotator, idx)
    with staged_directory(Path(output)) as staged:
        extra = {DISAGREEMENTS: write} if disagreements is None else {}
        write_dataset(staged, tables, feats, manifest, card, extra)
    if disagreements is not None:
        write(Path(disagreements))
    return manifest


def _split_order(names: set) -> list:
    known = [n for n in splits.HASHED if n in names]
    return known + sorted(names - set(known))


def options_dict(opts: Options) -> dict:
    return asdict(opts)
