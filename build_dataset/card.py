"""The dataset card (README.md): a Hugging Face YAML header (configs pointing at the
Parquet files, features, split sizes) and a short human account of how it was built."""

from __future__ import annotations

from asag.console import figure

_SIZES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
          (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M"))


def _size_category(n: int) -> str:
    return next((name for limit, name in _SIZES if n < limit), "n>10M")


def render_card(manifest: dict, feats) -> str:
    """The card as huggingface_hub's DatasetCard writes it; `datasets` fills in the features
    and split sizes (dataset_info) as push_to_hub would."""
    from datasets import DatasetInfo, SplitDict, SplitInfo
    from datasets.info import DatasetInfosDict
    from huggingface_hub import DatasetCard, DatasetCardData

    counts = manifest["counts"]
    agreement = manifest["agreement"]["overall"]
    data = DatasetCardData(
        pretty_name="Teacher-scored short answers",
        tags=["asag", "short-answer-grading", "education"],
        task_categories=["text-classification"],
        size_categories=[_size_category(counts["answers"])],
        configs=[{
            "config_name": "default",
            "data_files": [{"split": s, "path": f"parquet/{s}.parquet"}
                           for s in counts["splits"]],
        }],
        asag={
            "format_version": manifest["format_version"],
            "fingerprint": manifest["fingerprint"],
            "scale": manifest["scale"],
            "aggregation": manifest["aggregation"],
            "agreement": {k: agreement[k] for k in ("qwk", "alpha", "exact", "adjacent")},
        },
    )
    splits = SplitDict()
    for name, n in counts["splits"].items():
        splits.add(SplitInfo(name=name, num_examples=n))
    DatasetInfosDict({"default": DatasetInfo(features=feats, splits=splits)}
                     ).to_dataset_card_data(data)
    return str(DatasetCard(f"---\n{data.to_yaml()}\n---\n\n" + _body(manifest, feats)))


def _body(manifest: dict, feats) -> str:
    counts = manifest["counts"]
    agreement = manifest["agreement"]["overall"]
    split = manifest["split"]
    agg = manifest["aggregation"]
    lines = [
        "# Teacher-scored short answers",
        "",
        "Each row is a student's short answer to a question, with the reference answer, the "
        "teachers' scores (`annotator_scores`, in annotator order) and one aggregated `score`.",
        "Built by `asag build-dataset`; `manifest.json` holds the full record (inputs' sha256, "
        "counts, per-question agreement).",
        "",
        f"- **Scale**: `{manifest['scale']}` (score is "
        + ("a float on the scale)" if feats["score"].dtype == "float32"
           else "a class index, names lowest first)"),
        f"- **Aggregation**: `{agg['policy']}`"
        + (f" (fallback `{agg['fallback']}`)" if "fallback" in agg else "")
        + f"; skipped annotations excluded; answers with fewer than {agg['min_annotators']} "
        f"scores left out ({counts['answers_below_min_annotators']}).",
        f"- **Splits**: by {split['method']}, seed {split['seed']}, ratios "
        + ", ".join(f"{k} {v}" for k, v in split["ratios"].items())
        + (f"; explicit splits honoured ({', '.join(split['explicit'])}), "
           f"{split['carve_validation']} of explicit train carved into validation"
           if split["explicit"] else "")
        + ". A row's split is a pure function of (seed, key), so rebuilding after new labels "
        "never moves an answer.",
        f"- **Fingerprint**: `{manifest['fingerprint']}`",
        "",
        "| split | answers |",
        "|---|---|",
        *[f"| {s} | {n} |" for s, n in counts["splits"].items()],
        "",
        "## Agreement between teachers",
        "",
        f"On {agreement['answers']} answers scored by two or more teachers "
        f"({agreement['pairs']} teacher pairs):",
        "",
        "| QWK (pairwise mean) | Krippendorff's alpha "
        f"({agreement['alpha_metric']}) | exact | adjacent (±1 step) |",
        "|---|---|---|---|",
        f"| {figure(agreement['qwk'], 3)} | {figure(agreement['alpha'], 3)} | "
        f"{figure(agreement['exact'], 3)} | {figure(agreement['adjacent'], 3)} |",
        "",
        f"Answers whose teachers differ by more than {manifest['agreement']['max_gap']}: "
        f"{counts['disagreements']} (listed in `disagreements.csv`).",
        "",
        *_hint_lines(manifest.get("model_hints")),
        "## Loading",
        "",
        "```python",
        "from datasets import load_from_disk, load_dataset",
        "dsd = load_from_disk('THIS_DIR')",
        "dsd = load_dataset('parquet', data_files={'train': 'THIS_DIR/parquet/train.parquet'})",
        "```",
        "",
    ]
    return "\n".join(lines)


def _hint_lines(hints: dict | None) -> list[str]:
    """How often teachers kept the model's score they were shown, by confidence band."""
    if not hints or not hints["shown"]:
        return []
    return [
        "## Teachers and the model's hints",
        "",
        f"{hints['shown']} scores were given with the model's score shown as a hint; the "
        f"teacher kept it {hints['kept']} times ({figure(hints['rate'], 3)}).",
        "",
        "| model confidence | shown | kept | rate |",
        "|---|---|---|---|",
        *[f"| {band.replace('_', ' ')} | {b['shown']} | {b['kept']} | {figure(b['rate'], 3)} |"
          for band, b in hints["by_band"].items()],
        "",
    ]
