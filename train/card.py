"""The model card (README.md) saved with every scorer: what it scores, on which data, how
well, and the three lines that load it; written through huggingface_hub's ModelCard."""

from __future__ import annotations

from asag.scale import Scale


def model_card(manifest: dict, comparison: dict | None = None) -> str:
    from asag.train.evaluation import comparison_table, metrics_table

    scale = Scale.parse(manifest["scale"])
    ds = manifest["dataset"]
    metrics = {k: v for k, v in manifest.get("metrics", {}).items() if v}
    from huggingface_hub import ModelCard, ModelCardData

    header = ModelCardData(
        library_name="transformers",
        pipeline_tag="text-classification",
        base_model=manifest["base_model"],
        tags=["asag", "short-answer-grading", "cross-encoder"],
    )
    kind = ("regression onto the scale (outputs clipped to it)" if scale.is_numeric
            else "classification into " + ", ".join(f"`{x}`" for x in scale.labels))
    lines = [
        "# Short-answer scorer", "",
        f"A cross-encoder fine-tuned from `{manifest['base_model']}` that scores a student's "
        f"answer against the question and the reference answer: {kind}. Scale `{scale.spec}`.",
        "",
        f"- Input template: `{manifest['template']}` (`[SEP]` splits the two segments), "
        f"max_length {manifest['max_length']} tokens.",
        f"- Dataset fingerprint `{ds.get('fingerprint')}`: train {ds['counts']['train']}, "
        f"validation {ds['counts']['validation']} ({ds.get('validation_source')}), "
        f"test {ds['counts']['test']}.",
        f"- Training: {manifest['training']['steps']} steps, "
        f"{manifest['training']['epochs_run']} epochs, {manifest['training']['seconds']} s, "
        f"{manifest['training']['processes']} process(es); best model kept on validation.",
        "",
        "## Metrics", "",
        metrics_table(metrics) if metrics else "No evaluation split.",
        "",
    ]
    if comparison:
        lines += [f"## Against the previous model `{comparison['previous_model']}` "
                  f"(same test split, n={comparison['n']})", "", comparison_table(comparison), ""]
    lines += [
        "## Use", "",
        "```python",
        "from asag.train import Scorer",
        "scorer = Scorer.load(\"path/to/this/directory\")",
        "scorer.score(question, reference_answer, student_answer)",
        "```", "",
        "or `asag score THIS_DIR answers.csv -o scored.csv`. The directory is also a plain "
        "Hugging Face model (`AutoModelForSequenceClassification`); `asag_scorer.json` holds the "
        "scale and template needed to read its outputs.", "",
        "## Limits", "",
        "Trained on the answers of one dataset; check it on your own questions (asag evaluate) "
        "before trusting its scores, and keep a teacher in the loop for grades that matter.",
    ]
    return str(ModelCard(f"---\n{header.to_yaml()}\n---\n\n" + "\n".join(lines) + "\n"))
