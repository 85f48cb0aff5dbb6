"""`annotate push --predictions-from MODEL_DIR`: a trained scorer's scores as Label Studio
predictions (a hint beside the score keys, see screen.py), in the order that saves labels.

Certainty: the scorer's calibrated confidence (train/calibration.py), the probability, fitted
on held-out scored answers, that the label or step it shows is the teachers' score, on label
and numeric scales alike. A scorer trained before calibration falls back to the top class
probability (label scales) or to how close its output lies to a step (numeric scales; `asag
calibrate` gives it the real one).

Order: the least certain answer left, then a random one, alternately (`labelling_order`).
On SciEntsBank (benchmarks/bench_active_learning.py, 10 seeds) that beat random order at
every budget from 10 % of the labels, while least certain first alone fell behind random
from 40 % on 3-way: early on the model's uncertainty points at outliers, and the random
half keeps the scored answers representative of the course."""

from __future__ import annotations

from pathlib import Path

from asag.errors import InputError
from asag.hints import certainty, task_prediction
from asag.scale import Scale

CHUNK = 512  # answers scored per progress-bar step


def labelling_order(certainty: list[float], seed: int = 0) -> list[int]:
    """Indices in the order teachers should score them: the least certain answer not yet
    placed, then a random one (seeded: a re-run gives the same order), alternately."""
    import random

    ranked = sorted(range(len(certainty)), key=certainty.__getitem__)  # stable for ties
    shuffled = random.Random(seed).sample(range(len(certainty)), len(certainty))
    placed: set[int] = set()
    order: list[int] = []
    for pair in zip(ranked, shuffled, strict=True):
        for i in pair:
            if i not in placed:
                placed.add(i)
                order.append(i)
    return order


def predictor(model_dir: Path, scale: Scale, *, batch_size: int = 32, language: str = "en",
              prefill: bool = False, max_error: float | None = None, tolerance: float = 0.0):
    """A `push_records(predict=...)` callback: scores the answers about to be imported and
    returns them in `labelling_order`, with their predictions by answer id
    (`task_prediction`: a hint in `language`, the score pre-selected only with `prefill`;
    with `max_error`, "auto-scored" on the answers `asag score --max-error` would
    auto-score)."""
    from asag.console import progress
    from asag.train import Scorer

    scorer = Scorer.load(model_dir)
    if not scorer.scale.same_as(scale):
        raise InputError(
            f"--predictions-from {model_dir} scores on the scale '{scorer.scale.spec}' but the "
            f"project on '{scale.spec}'; use a model trained on this project's scores")
    if max_error is not None:
        scorer.check_decision(tolerance)
    version = scorer.version

    def predict(records: list[dict]) -> tuple[list[dict], dict[str, dict]]:
        if not records:
            return records, {}
        chunks = [records[i:i + CHUNK] for i in range(0, len(records), CHUNK)]
        outputs = []
        for chunk in progress(chunks, length=len(chunks),
                              label=f"scoring {len(records):,} answers for pre-annotation"):
            outputs += scorer.predict(chunk, batch_size=batch_size, max_error=max_error,
                                      tolerance=tolerance)
        sure = [certainty(scale, p) for p in outputs]
        payloads = {
            r["id"]: task_prediction(scale, p, model_version=version, confidence_words=language,
                                     prefill=prefill)
            for r, p in zip(records, outputs, strict=True)
        }
        return [records[i] for i in labelling_order(sure)], payloads

    predict.model_version = version
    return predict
