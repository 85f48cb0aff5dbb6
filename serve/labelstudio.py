"""Label Studio's ML backend protocol, the parts that are not HTTP: which project a request
is for (its scale and the control that holds the score, read from its labelling config),
the answer rows inside its tasks, the predictions sent back, and the count of new
annotations the webhook reports, which says when a retrain is due.

Label Studio calls `GET /health`, `POST /setup` (project, schema = labelling config) when a
backend is connected or checked, `POST /predict` ({"tasks": [...], "label_config": ...} ->
{"results": [one prediction per task]}) when a teacher opens a task without predictions or
"Retrieve predictions" runs on selected tasks (all of them in one request), and
`POST /webhook` on project events (annotations created, ...)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field

from asag.annotate.project import TASK_FIELDS
from asag.errors import AsagError
from asag.hints import HINT_FROM, SCORE_FROM

TEXT_FIELDS = tuple(f for f in TASK_FIELDS if f not in ("answer_id", "question_id"))
SCORE_TAGS = ("Choices", "Number", "Rating")  # the controls a score can be predicted into
# the events the reference ML backend answers 201 (label_studio_ml/api.py), and the bulk
# forms Label Studio sends too (a deletion is always ANNOTATIONS_DELETED); others: 200
HANDLED_EVENTS = ("ANNOTATION_CREATED", "ANNOTATION_UPDATED", "ANNOTATION_DELETED",
                  "START_TRAINING", "ANNOTATIONS_CREATED", "ANNOTATIONS_DELETED")


class ProtocolError(AsagError):
    """A request Label Studio (or anyone) sent that cannot be answered: status and one line."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Target:
    """Where a project takes its prediction: the scale, the score control (`tag` in lower
    case, as Label Studio's prediction check wants the region's type) and whether the
    config has asag's read-only hint box (then the hint fills it, nothing is pre-selected)."""

    scale: object
    tag: str = "choices"
    name: str = SCORE_FROM
    to_name: str = "student_answer"
    hint: bool = True
    language: str = "en"


def project_target(label_config: str | None, scorer_scale) -> Target:
    """The project's Target, refused in one line (422) when the config has no score control
    or scores on another scale than the model: a model that scores 0-5 must not fill a
    project scored correct/incorrect. No config (an application's own call): the hint box."""
    from asag.annotate.project import scale_of
    from asag.annotate.screen import settings_of

    if not label_config:
        return Target(scorer_scale)
    try:
        root = ET.fromstring(label_config)
    except ET.ParseError as exc:
        raise ProtocolError(422, f"the project's labelling config is not valid XML ({exc})"
                            ) from None
    controls = [e for e in root.iter() if e.tag in SCORE_TAGS]
    control = next((e for e in controls if e.get("name") == SCORE_FROM), None)
    if control is None and len(controls) == 1:
        control = controls[0]
    if control is not None and control.tag != "Choices":
        scale = _scale_of_control(control)
    else:
        scale = scale_of(label_config)  # asag's marker, else the score choices' values
    if scale is not None and not scale.same_as(scorer_scale):
        raise ProtocolError(422, f"the project scores on '{scale.spec}' but this model on "
                                 f"'{scorer_scale.spec}'; serve a model trained on this "
                                 "project's scores")
    if control is None or scale is None or not control.get("toName"):
        raise ProtocolError(422, "not an asag project: its labelling config has no score "
                                 "control (<Choices name=\"score\"> with the scale's values, or "
                                 "one <Number>/<Rating>); connect the model to a project made "
                                 "by `asag annotate push`")
    hint = any(e.tag == "TextArea" and e.get("name") == HINT_FROM for e in root.iter())
    language = settings_of(label_config).get("language") or "en"
    return Target(scale, control.tag.lower(), control.get("name"),
                  control.get("toName").split(",")[0], hint, language)


def _scale_of_control(control):
    """<Number min max step> -> 'min-max step s'; <Rating maxRating> -> '1-N' (its stars)."""
    from asag.scale import Scale

    try:
        if control.tag == "Rating":
            return Scale.parse(f"1-{int(control.get('maxRating', '5'))}")
        low, high = control.get("min"), control.get("max")
        if low is None or high is None:
            return None
        step = control.get("step") or "1"
        return Scale.parse(f"{low}-{high}" + ("" if float(step) == 1 else f" step {step}"))
    except ValueError:  # a ScaleError is one
        return None


def task_row(n: int, task) -> dict | str:
    """The answer of a task as a row for the scorer, or why it cannot be scored (one line
    naming the task): text fields missing, or a text the scorer cannot read
    (train.scorer.unscorable: a blank answer, a lone surrogate)."""
    from asag.train.scorer import unscorable

    name = f"task {task.id}" if task.id is not None else f"tasks[{n}]"
    data = task.data
    missing = [f for f in TEXT_FIELDS if not isinstance(data.get(f), str)]
    if missing:
        return (f"{name}: data lacks the text field(s) {', '.join(missing)} (tasks made by "
                "`asag annotate push` have them)")
    row = {f: data[f] for f in TEXT_FIELDS}
    problem = unscorable(row)
    if problem:
        return f"{name}: data.{problem}"
    # the question and answer ids let a scorer with a graded-answer memory find the
    # question's graded answers, and never consult this answer's own scores
    row.update({"question_id": data.get("question_id"), "id": data.get("answer_id")})
    return row


def prediction(target: Target, output, version: str) -> dict:
    """One task's Label Studio prediction: the hint (asag.hints.task_prediction,
    the same as push's pre-annotations) where the project has the hint box, else the score
    as a region of its own score control, which Label Studio's prediction check accepts."""
    from asag.hints import certainty, task_prediction

    if target.hint:
        return task_prediction(target.scale, output, model_version=version,
                               confidence_words=target.language)
    value = target.scale.coerce(output.step if output.step is not None else output.score)
    key = {"choices": "choices", "number": "number", "rating": "rating"}[target.tag]
    shown = [str(value)] if target.tag == "choices" else (
        int(value) if target.tag == "rating" else value)
    return {"model_version": version, "score": float(certainty(target.scale, output)),
            "result": [{"from_name": target.name, "to_name": target.to_name,
                        "type": target.tag, "value": {key: shown}}]}


def no_prediction(version: str, reason: str) -> dict:
    """The place of a task that cannot be scored: Label Studio wants one result per task, and
    an empty result stores nothing on the screen; `error` says why (Label Studio ignores it)."""
    return {"model_version": version, "score": 0.0, "result": [], "error": reason}


@dataclass
class AnnotationCounter:
    """New annotations reported by the webhook since the model was loaded."""

    retrain_after: int | None = None
    count: int = 0
    by_project: dict[str, int] = field(default_factory=dict)

    def add(self, event: Mapping) -> int:
        """Count an event's new annotations (0 for other events); returns how many."""
        action = event.get("action")
        if action not in ("ANNOTATION_CREATED", "ANNOTATIONS_CREATED"):
            return 0
        annotation = event.get("annotation")
        new = len(annotation) if isinstance(annotation, list) else 1
        project = event.get("project")
        key = str(project.get("id") if isinstance(project, Mapping) else project)
        self.by_project[key] = self.by_project.get(key, 0) + new
        self.count += new
        return new

    @property
    def retrain_due(self) -> bool:
        return bool(self.retrain_after) and self.count >= self.retrain_after

    def reset(self) -> None:
        self.count, self.by_project = 0, {}

    def to_dict(self) -> dict:
        return {"new_annotations": self.count, "by_project": self.by_project,
                "retrain_after": self.retrain_after, "retrain_due": self.retrain_due}
