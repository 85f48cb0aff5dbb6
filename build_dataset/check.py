"""`build-dataset --check DIR`: is a built dataset sound? Reports split sizes, label counts
per split, answers or questions shared between splits, questions with too few answers, and
whether the content still matches its fingerprint and its Parquet copies."""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import numpy as np

from asag.build_dataset.output import fingerprint
from asag.dataset_layout import PARQUET_DIR, dataset_scale, load_dataset_dir

# Hashed splits keep questions apart when split by question; explicit ones need not.
TRAINING = ("train", "validation")


def check_dataset(directory: Path, min_answers: int = 5) -> tuple[list[str], list[str]]:
    """(report lines, problems); no problems means the dataset is fit to train on."""
    import pyarrow.parquet as pq

    dsd, manifest = load_dataset_dir(directory)
    scale = dataset_scale(manifest)
    report, problems = [f"{directory}: scale {scale.spec}, fingerprint "
                        f"{manifest.get('fingerprint', '?')[:16]}"], []
    ids, questions = {}, {}
    names = scale.labels or None
    for name, ds in dsd.items():
        table = ds.data.table
        ids[name] = set(table.column("id").to_pylist())
        questions[name] = table.column("question_id").to_pylist()
        score = table.column("score").to_numpy()
        if names:
            labels = {names[i]: int(n) for i, n in enumerate(np.bincount(score, minlength=len(
                names)))}
        else:
            values, n = np.unique(score, return_counts=True)
            labels = {f"{v:g}": int(c) for v, c in zip(values, n, strict=True)}
        report.append(f"  {name}: {ds.num_rows} answers, {len(set(questions[name]))} questions; "
                      + ", ".join(f"{k} {v}" for k, v in labels.items()))
        parquet = Path(directory) / PARQUET_DIR / f"{name}.parquet"
        if not parquet.is_file():
            problems.append(f"{parquet} is missing")
        elif pq.ParquetFile(parquet).metadata.num_rows != ds.num_rows:
            problems.append(f"{parquet} has a different number of rows than {name}")
    for a, b in combinations(dsd, 2):
        shared = ids[a] & ids[b]
        if shared:
            problems.append(f"{len(shared)} answers are in both {a} and {b} "
                            f"(e.g. {sorted(shared)[0]})")
        if manifest.get("split", {}).get("method") == "question" and (a in TRAINING) != (
                b in TRAINING) and not ({a, b} & set(manifest["split"].get("explicit", []))):
            shared_q = set(questions[a]) & set(questions[b])
            if shared_q:
                problems.append(f"{len(shared_q)} questions are in both {a} and {b} although "
                                "the split is by question")
    for a, b in ((a, b) for a in TRAINING for b in dsd if b not in TRAINING and a in dsd):
        shared_q = set(questions[a]) & set(questions[b])
        report.append(f"  questions in both {a} and {b}: {len(shared_q)}")
    per_q: dict = {}
    for qs in questions.values():
        for q in qs:
            per_q[q] = per_q.get(q, 0) + 1
    few = sorted(q for q, n in per_q.items() if n < min_answers)
    report.append(f"  questions with fewer than {min_answers} answers: {len(few)}"
                  + (f" ({', '.join(few[:10])}{', ...' if len(few) > 10 else ''})" if few else ""))
    settings = {"aggregation": manifest.get("aggregation"), "split": manifest.get("split")}
    actual = fingerprint({n: ds.data.table for n, ds in dsd.items()}, scale, settings)
    if actual != manifest.get("fingerprint"):
        problems.append("the content does not match the manifest's fingerprint (changed after "
                        "it was built?)")
    return report, problems
