"""Label Studio's ML backend protocol, the parts that are not HTTP: which scale a project
scores on, the answer rows inside its tasks, the predictions sent back (built by
`asag.annotate.predictions.task_prediction`, the same as push's pre-annotations), and the
count of new annotations the webhook reports, which says when a retrain is due.

Label Studio calls `GET /health`, `POST /setup` (project, schema = labelling config) when a
backend is connected or checked, `POST /predict` ({"tasks": [...], "label_config": ...} ->
{"results": [one prediction per task]}) when a teacher opens a task without predictions,
and `POST /webhook` on project events (annotations created, ...)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from asag.annotate.project import TASK_FIELDS

TEXT_FIELDS = tuple(f for f in TASK_FIELDS if f not in ("answer_id", "question_id"))


class ProtocolError(Exception):
    """A request Label Studio (or anyone) sent that cannot be answered: status and one line."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def check_scale(label_config: str | None, scorer_scale):
    """The project's scale (from its labelling config) must be the scorer's: a model that
    scores 0-5 must not fill a project scored correct/incorrect."""
    from asag.annotate.project import scale_of

    if not label_config:
        return scorer_scale
    scale = scale_of(label_config)
    if scale is None:
        raise ProtocolError(422, "the project's labelling config has no asag score choices; "
                                 "connect the model to a project made by `asag annotate push`")
    if scale.spec != scorer_scale.spec:
        raise ProtocolError(422, f"the project scores on '{scale.spec}' but this model on "
                                 f"'{scorer_scale.spec}'; serve a model trained on this "
                                 "project's scores")
    return scale


def task_rows(tasks: list) -> list[dict]:
    """The answer of each task, as a row for the scorer; a task without the text fields that
    `asag annotate push` puts in its data is refused, naming the task."""
    rows = []
    for n, task in enumerate(tasks):
        data = task.data
        missing = [f for f in TEXT_FIELDS if not isinstance(data.get(f), str)]
        if missing:
            name = f"task {task.id}" if task.id is not None else f"tasks[{n}]"
            raise ProtocolError(422, f"{name}: data lacks the text field(s) {', '.join(missing)}"
                                     " (tasks made by `asag annotate push` have them)")
        row = {f: data[f] for f in TEXT_FIELDS}
        # the question and answer ids let a scorer with a graded-answer memory find the
        # question's graded answers, and never consult this answer's own scores
        row.update({"question_id": data.get("question_id"), "id": data.get("answer_id")})
        rows.append(row)
    return rows


def predictions(scale, outputs: list, version: str, label_config: str | None = None
                ) -> list[dict]:
    """Label Studio predictions worded in the project's screen language."""
    from asag.annotate.predictions import task_prediction
    from asag.annotate.screen import settings_of

    language = settings_of(label_config or "").get("language") or "en"
    return [task_prediction(scale, p, model_version=version, confidence_words=language)
            for p in outputs]


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
