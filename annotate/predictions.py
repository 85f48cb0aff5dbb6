"""`annotate push --predictions-from MODEL_DIR`: a trained scorer's scores as Label Studio
predictions (pre-annotations teachers see and correct), the least certain answers first.

Certainty: on label scales the top class probability. On numeric scales the regressor gives
one number, so certainty is how close it lies to a step of the scale: 1 on a step, 0 half-way
between two steps (where the rounding a teacher sees could go either way). Answers are imported
in ascending certainty, so teachers working through the labelling stream in order score first
the answers the model is least sure of."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import click

from asag.annotate.push import prediction_payload
from asag.scale import Scale

CHUNK = 512  # answers scored per progress-bar step


def model_version(model_dir: Path, manifest: dict) -> str:
    """The model directory's name plus a short hash of its manifest (dataset fingerprint,
    training settings and run, metrics), so a retraining into the same folder is told apart."""
    digest = hashlib.sha256(json.dumps(manifest, sort_keys=True, default=str).encode())
    return f"{Path(model_dir).resolve().name}@{digest.hexdigest()[:8]}"


def certainty(scale: Scale, prediction) -> float:
    """Top probability (label scales) or closeness of the output to the nearest step."""
    if prediction.confidence is not None:
        return float(prediction.confidence)
    step = scale.step or 1
    distance = abs(float(prediction.score) - float(prediction.step))
    return round(max(0.0, 1.0 - 2.0 * distance / step), 6)


def task_prediction(scale: Scale, prediction, *, model_version: str,
                    confidence_words=None) -> dict:
    """The one place a scorer's `Prediction` becomes the Label Studio prediction a teacher
    sees (push's pre-annotations and `asag serve`'s ML backend both call it).
    `confidence_words` is reserved for wording the certainty on the teacher's screen."""
    value = prediction.step if prediction.step is not None else prediction.score
    return prediction_payload(scale, value, model_version=model_version,
                              confidence=certainty(scale, prediction))


def predictor(model_dir: Path, scale: Scale, *, batch_size: int = 32):
    """A `push_records(predict=...)` callback: scores the answers about to be imported and
    returns them least certain first, with their predictions by answer id."""
    from asag.console import progress
    from asag.train import Scorer

    scorer = Scorer.load(model_dir)
    if scorer.scale.spec != scale.spec:
        raise click.ClickException(
            f"--predictions-from {model_dir} scores on the scale '{scorer.scale.spec}' but the "
            f"project on '{scale.spec}'; use a model trained on this project's scores")
    version = model_version(model_dir, scorer.manifest)

    def predict(records: list[dict]) -> tuple[list[dict], dict[str, dict]]:
        if not records:
            return records, {}
        chunks = [records[i:i + CHUNK] for i in range(0, len(records), CHUNK)]
        outputs = []
        for chunk in progress(chunks, length=len(chunks),
                              label=f"scoring {len(records):,} answers for pre-annotation"):
            outputs += scorer.score_many(chunk, batch_size=batch_size)
        sure = {r["id"]: certainty(scale, p) for r, p in zip(records, outputs, strict=True)}
        payloads = {r["id"]: task_prediction(scale, p, model_version=version)
                    for r, p in zip(records, outputs, strict=True)}
        ordered = sorted(records, key=lambda r: sure[r["id"]])  # stable: ties keep file order
        return ordered, payloads

    predict.model_version = version
    return predict
