"""`asag evaluate`: a scorer against the teachers' scores of a dataset split, overall and per
question, written for people (markdown, confusion-matrix PNG) and for machines (JSON)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from asag.console import figure
from asag.errors import InputError
from asag.scale import Scale
from asag.train import data as D
from asag.train import metrics as M

# Metrics shown in tables, in this order, where the scale has them.
SHOWN = ("accuracy", "macro_f1", "weighted_f1", "qwk", "rmse", "mae", "pearson", "spearman",
         "within_one_step")
LOWER_IS_BETTER = {"rmse", "mae"}


def evaluate_rows(scorer, rows: list[dict], *, batch_size: int = 64, on_batch=None) -> dict:
    """Predictions and metrics of a scorer on dataset rows (with their `score`)."""
    scale: Scale = scorer.scale
    started = time.time()
    preds = scorer.predict(rows, batch_size=batch_size, on_batch=on_batch)
    seconds = time.time() - started
    if scale.is_numeric:
        truth, predicted = [float(r["score"]) for r in rows], [p.score for p in preds]
    else:
        truth = [D.target(scale, r["score"]) for r in rows]
        predicted = [p.index for p in preds]
    qids = [r.get("question_id", "") for r in rows]
    names, matrix = M.confusion(scale, truth, predicted)
    report = {
        "overall": M.compute(scale, truth, predicted),
        "per_question": M.per_question(scale, qids, truth, predicted),
        "confusion": {"labels": names, "matrix": matrix},
        "seconds": round(seconds, 2),
        "answers_per_second": round(len(rows) / seconds, 1) if seconds > 0 else None,
        "predictions": [
            {"id": r.get("id"), "question_id": r.get("question_id"),
             "true_score": D.value_of(scale, r["score"]),
             **{f"predicted_{k}" if k in ("score", "step") else k: v
                for k, v in p.to_dict().items()}}
            for r, p in zip(rows, preds, strict=True)
        ],
    }
    if not scale.is_numeric:
        report["per_class"] = M.per_class(scale, truth, predicted)
    from asag.train.reliability import measure

    calibration = measure(scale, truth, preds, scorer.calibration)
    if calibration is not None:
        report["calibration"] = calibration
    return report


def compare(old: dict, new: dict, scale: Scale, *, previous: str, fingerprint) -> dict:
    """The previous and the new model on the same test split, metric by metric."""
    rows = []
    for name in SHOWN:
        if name in new or name in old:
            a, b = old.get(name), new.get(name)
            change = None if a is None or b is None else round(b - a, 6)
            better = None
            if change is not None and change != 0:
                better = (change < 0) if name in LOWER_IS_BETTER else (change > 0)
            rows.append({"metric": name, "previous": a, "new": b, "change": change,
                         "improved": better})
    return {"previous_model": previous, "test_fingerprint": fingerprint, "n": new.get("n"),
            "scale": scale.spec, "metrics": rows}


def comparison_table(comparison: dict) -> str:
    lines = ["| metric | previous | new | change |", "|---|---:|---:|---:|"]
    for row in comparison["metrics"]:
        change = "" if row["change"] is None else f"{row['change']:+.4f}"
        cells = (row["metric"], figure(row["previous"]), figure(row["new"]), change)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def metrics_table(by_split: dict[str, dict], first: str = "split") -> str:
    """One row per split (or question), the metrics that apply as columns."""
    names = [m for m in SHOWN if any(m in o for o in by_split.values())]
    lines = [f"| {first} | n | " + " | ".join(names) + " |",
             "|---|---:|" + "---:|" * len(names)]
    for split, overall in by_split.items():
        cells = " | ".join(figure(overall.get(m)) for m in names)
        lines.append(f"| {split} | {overall.get('n', 0)} | {cells} |")
    return "\n".join(lines)


def confusion_png(path: Path, names: list[str], matrix: list[list[int]], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    size = max(4.0, 0.6 * len(names) + 2)
    fig, ax = plt.subplots(figsize=(size, size * 0.85))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(names)), labels=names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), labels=names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("teachers")
    ax.set_title(title)
    top = max((max(row) for row in matrix), default=0)
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            ax.text(j, i, str(count), ha="center", va="center",
                    color="white" if count > top / 2 else "black")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def markdown_report(model_dir: str, manifest: dict, dataset_dir: str, reports: dict) -> str:
    scale = Scale.parse(manifest["scale"])
    lines = [
        f"# Evaluation of `{model_dir}`",
        "",
        f"Dataset `{dataset_dir}`; scale `{scale.spec}`; "
        f"base model `{manifest.get('base_model')}`.",
        "",
        "## Overall",
        "",
        metrics_table({s: r["overall"] for s, r in reports.items()}),
    ]
    for split, report in reports.items():
        lines += ["", f"## {split}", "", f"![confusion matrix](confusion-{split}.png)", ""]
        if report.get("calibration"):
            from asag.train.reliability import markdown

            lines += ["### Confidence", "", f"![reliability diagram](reliability-{split}.png)",
                      "", *markdown(report["calibration"]), ""]
        if report.get("per_class"):
            lines += ["| label | precision | recall | F1 | support |", "|---|---:|---:|---:|---:|"]
            lines += [f"| {c['label']} | {figure(c['precision'])} | {figure(c['recall'])} | "
                      f"{figure(c['f1'])} | {c['support']} |" for c in report["per_class"]]
            lines.append("")
        lines += [f"### Per question ({len(report['per_question'])})", "",
                  metrics_table(report["per_question"], "question")]
    return "\n".join(lines) + "\n"


def evaluate(model_dir: str | Path, dataset_dir: str | Path, splits: list[str],
             out_dir: str | Path, *, batch_size: int = 64, quantize: bool = False) -> dict:
    """Evaluate on each split; writes metrics.json, report.md, confusion-<split>.png,
    reliability-<split>.png (calibrated scorers) and predictions-<split>.jsonl into out_dir.
    Returns {split: overall metrics}."""
    from asag.records import atomic_writer, write_jsonl
    from asag.train.progress import counter
    from asag.train.scorer import Scorer

    dsd, _, scale = D.load_for_training(dataset_dir)
    unknown = [s for s in splits if s not in dsd]
    if unknown:
        raise InputError(f"no split '{unknown[0]}'", file=str(dataset_dir),
                         fix=f"choose one of {', '.join(dsd)} with --split")
    scorer = Scorer.load(model_dir, quantize=quantize)
    if not scorer.scale.same_as(scale):
        raise InputError(f"the model scores on '{scorer.scale.spec}', the dataset on "
                         f"'{scale.spec}'", file=str(dataset_dir),
                         fix="evaluate on a dataset with the model's scale")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    reports = {}
    for split in splits:
        rows = D.split_rows(dsd[split])
        with counter(len(rows), f"scoring {split}") as advance:
            report = evaluate_rows(scorer, rows, batch_size=batch_size, on_batch=advance)
        write_jsonl(out / f"predictions-{split}.jsonl", report.pop("predictions"))
        confusion_png(out / f"confusion-{split}.png", report["confusion"]["labels"],
                      report["confusion"]["matrix"], f"{Path(model_dir).name} on {split}")
        if report.get("calibration"):
            from asag.train.reliability import reliability_png

            reliability_png(out / f"reliability-{split}.png", report["calibration"],
                            f"{Path(model_dir).name} on {split}")
        reports[split] = report
    with atomic_writer(out / "metrics.json") as fh:
        json.dump({"model": str(model_dir), "dataset": str(dataset_dir), "scale": scale.spec,
                   "splits": reports}, fh, indent=2, ensure_ascii=False)
    with atomic_writer(out / "report.md") as fh:
        fh.write(markdown_report(str(model_dir), scorer.manifest, str(dataset_dir), reports))
    return {s: r["overall"] for s, r in reports.items()}
