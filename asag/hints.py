"""What Label Studio gets of a scorer's prediction, and what comes back: the names of the
screen's controls a prediction fills, the confidence bands and their words, the hint text
("model: 3, unsure") and the prediction payload itself, whose `model_score` carries the score
on the project's scale for `annotate pull`.

One module low in the house, so every room that writes or reads a prediction uses the same
rules: `annotate push --predictions-from` and `asag serve`'s /predict write them (the same
hint on both), `annotate pull` reads them back, and build-dataset counts how often teachers
kept a hint by its band."""

from __future__ import annotations

from asag.scale import Scale

# the teacher's screen's controls (annotate/screen.py generates them)
SCORE_FROM = "score"  # <Choices name=...>
COMMENT_FROM = "comment"  # <TextArea name=...>
HINT_FROM = "model_hint"  # read-only <TextArea> a prediction fills with the model's hint
TEXT_TO = "student_answer"
LANGUAGES = ("en", "hu", "de")
# the hint's words, per language (the order of LANGUAGES)
_WORDS = {
    "model": ("model", "modell", "Modell"),
    "sure": ("sure", "biztos", "sicher"),
    "fairly_sure": ("fairly sure", "elég biztos", "ziemlich sicher"),
    "unsure": ("unsure", "bizonytalan", "unsicher"),
    "auto": ("auto-scored", "automatikusan pontozva", "automatisch bewertet"),
}
WORDS = {lang: {k: v[i] for k, v in _WORDS.items()} for i, lang in enumerate(LANGUAGES)}
# confidence bands (lower bounds), most certain first; shared by the hint and build-dataset
BANDS = ((0.8, "sure"), (0.5, "fairly_sure"), (0.0, "unsure"))


def confidence_band(confidence: float) -> str:
    """'sure' | 'fairly_sure' | 'unsure' for a confidence in [0, 1]."""
    return next(name for low, name in BANDS if float(confidence) >= low)


def confidence_in_words(confidence: float, language: str = "en") -> str:
    """The confidence as a teacher reads it ('unsure'), in the screen's language."""
    return WORDS[language][confidence_band(confidence)]


def hint_text(scale: Scale, score, confidence: float | None, language: str = "en",
              auto: bool | None = None) -> str:
    """'model: 3, unsure' (the confidence left out when the scorer gives none); ', auto-scored'
    added where the --max-error decision lets the scorer grade the answer on its own."""
    text = f"{WORDS[language]['model']}: {scale.coerce(score)}"
    if confidence is not None:
        text = f"{text}, {confidence_in_words(confidence, language)}"
    return f"{text}, {WORDS[language]['auto']}" if auto else text


def certainty(scale: Scale, prediction) -> float:
    """The calibrated confidence; uncalibrated scorers: the top probability (label scales) or
    the closeness of the output to the nearest step (numeric scales)."""
    if prediction.confidence is not None:
        return float(prediction.confidence)
    step = scale.step or 1
    distance = abs(float(prediction.score) - float(prediction.step))
    return round(max(0.0, 1.0 - 2.0 * distance / step), 6)


def task_prediction(scale: Scale, prediction, *, model_version: str, confidence_words: str = "en",
                    prefill: bool = False) -> dict:
    """A scorer's Prediction (train.scorer.Prediction: `step`/`score`, `confidence`) as the
    Label Studio prediction of one task. Its result fills the read-only hint box with "model:
    3, unsure" (`confidence_words`: the language of those words) and keeps the model's score
    in `value.model_score` for `annotate pull`; only with `prefill` does it also select the
    score choice. Its `score` is `certainty` (the calibrated confidence). Pure: push's
    pre-annotations and the ML backend's /predict both call it, so both show the same hint;
    the project's config needs the hint box for it (screen.update_project(..., hint=True))."""
    value = prediction.step if getattr(prediction, "step", None) is not None else prediction.score
    value = scale.coerce(value)
    sure = certainty(scale, prediction)
    hint = {"from_name": HINT_FROM, "to_name": TEXT_TO, "type": "textarea", "readonly": True,
            "value": {"text": [hint_text(scale, value, sure, confidence_words,
                                         getattr(prediction, "auto", None))],
                      "model_score": str(value)}}
    result = [hint]
    if prefill:
        result.append({"from_name": SCORE_FROM, "to_name": TEXT_TO, "type": "choices",
                       "value": {"choices": [str(value)]}})
    return {"model_version": model_version, "result": result, "score": float(sure)}


def predicted_score(prediction: dict, scale: Scale):
    """The model's score a stored prediction carries (hint box or score choice), or None."""
    for item in prediction.get("result") or []:
        value = item.get("value") or {}
        raw = value.get("model_score") if item.get("from_name") == HINT_FROM else (
            (value.get("choices") or [None])[0] if item.get("from_name") == SCORE_FROM else None)
        if raw is not None:
            try:
                return scale.coerce(raw)
            except ValueError:
                return None
    return None
