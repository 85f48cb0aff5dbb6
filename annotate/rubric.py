"""`annotate push --rubric FILE`: what each score level means, per question, shown to teachers
beside the score keys.

A rubric file is YAML or a table (CSV/TSV/Excel). YAML:

    instructions: Score what the student understood, not their spelling.   # optional
    # or one per screen language: instructions: {en: ..., hu: ...}
    questions:
      phys-heat:                  # a question id, or the question's text
        0: Nothing about heat conduction.
        3: Metal conducts heat away faster than wood.

A table has the columns `question` (id or text), `level` and `description`, one row per level.
The rubric travels in each task's data (`rubric`), so a changed rubric reaches the tasks
already imported by a PATCH of their data, without importing them again."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from asag.annotate.connection import Api, every
from asag.annotate.screen import RUBRIC_FIELD
from asag.errors import InputError
from asag.scale import Scale
from asag.tables import column_index, open_table

PAGE = 1000
COLUMNS = ("question", "level", "description")


@dataclass
class Rubric:
    questions: dict[str, dict] = field(default_factory=dict)  # id or text -> {level: text}
    instructions: str | dict | None = None  # one text, or language -> text

    def to_settings(self) -> dict:
        """JSON-safe, for the config's marker (screen.settings_of) so later pushes keep it."""
        return {"instructions": self.instructions or "",
                "rubric": {q: {str(k): v for k, v in levels.items()}
                           for q, levels in self.questions.items()}}

    @classmethod
    def from_settings(cls, settings: dict) -> Rubric:
        return cls(dict(settings.get("rubric") or {}), settings.get("instructions") or None)

    def text_for(self, record: dict) -> str:
        """The rubric of a record's question as lines 'level - description' ('' if none)."""
        levels = self.questions.get(str(record.get("question_id") or "")) \
            or self.questions.get(str(record.get("question") or "").strip())
        return "\n".join(f"{level} – {text}" for level, text in levels.items()) if levels else ""


def read_rubric(path: Path, scale: Scale) -> Rubric:
    """A rubric file checked against the scale (each level must be a value of it); levels are
    kept in the scale's order."""
    path = Path(path)
    if not path.is_file():
        raise InputError("no such file", file=str(path), fix="check --rubric")
    if path.suffix.lower() in (".yaml", ".yml"):
        rubric, where = _read_yaml(path)
    else:
        rubric, where = _read_table(path)
    for question, levels in rubric.questions.items():
        checked = {}
        for level, text in levels.items():
            try:
                value = scale.coerce(str(level).strip())
            except ValueError as exc:
                raise InputError(f"question '{question}': level {exc}", file=str(path),
                                 line=where.get((question, level)),
                                 fix=f"use the project's scale ({scale.spec})") from None
            checked[value] = " ".join(str(text or "").split())
        rubric.questions[question] = {v: checked[v] for v in scale.values if v in checked}
    return rubric


def _read_yaml(path: Path) -> tuple[Rubric, dict]:
    import yaml

    try:
        body = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError(f"not valid YAML ({getattr(exc, 'problem', exc)})", file=str(path),
                         line=mark.line + 1 if mark else None,
                         fix="see the README's rubric example") from None
    questions = body.get("questions") if isinstance(body, dict) else None
    if not isinstance(questions, dict) or not all(isinstance(v, dict)
                                                  for v in questions.values()):
        raise InputError("expected 'questions:' mapping each question id (or text) to its "
                         "levels (level: description)", file=str(path),
                         fix="see the README's rubric example")
    instructions = body.get("instructions")
    if isinstance(instructions, dict):  # one text per screen language (en, hu, de)
        instructions = {str(k): str(v).strip() for k, v in instructions.items() if v}
    elif instructions:
        instructions = str(instructions).strip()
    return Rubric({str(q).strip(): dict(levels) for q, levels in questions.items()},
                  instructions or None), {}


def _read_table(path: Path) -> tuple[Rubric, dict]:
    table = open_table(path)
    index = {}
    for name in COLUMNS:
        index[name] = column_index(table.columns, name)
        if index[name] is None:
            raise InputError(f"no column '{name}' (columns: {', '.join(table.columns)})",
                             file=str(path), fix="give the columns question, level, description")
    rubric, where = Rubric(), {}
    for line, cells in table.rows:
        question, level, text = (str(cells[index[c]] or "").strip() if index[c] < len(cells)
                                 else "" for c in COLUMNS)
        if not question and not level:
            continue
        if not question or not level:
            raise InputError("a row needs both a question and a level", file=str(path),
                             line=line, fix="fill in the row or delete it")
        rubric.questions.setdefault(question, {})[level] = text
        where[(question, level)] = line
    return rubric, where


def sync_tasks(api: Api, project_id: int, text_of) -> int:
    """PATCH the rubric of every task whose shown rubric differs from `text_of(task data)`
    (tasks imported before the rubric, or before it changed); returns how many changed."""
    changed = 0
    for task in every(api.sdk.tasks.list(project=project_id, fields="task_only",
                                         include="id,data", resolve_uri=False, page_size=PAGE)):
        data = task.get("data") or {}
        want = text_of(data)
        if data.get(RUBRIC_FIELD) != want:
            api.sdk.tasks.update(str(task["id"]), data={**data, RUBRIC_FIELD: want})
            changed += 1
    return changed


def prepare_screen(api: Api, project: dict, scale: Scale, records: list[dict], *, created: bool,
                   language: str, hint: bool, course: Rubric | None) -> tuple[dict, int]:
    """Before an import: the project's screen up to date (screen.update_project), each record
    given its question's rubric (the new one, else the one the project keeps), the tasks
    already imported given it too when it changed, the saved tabs made. Returns the project
    and how many earlier tasks were updated."""
    from asag.annotate import screen, views

    project, changed = screen.update_project(
        api, project, scale, language=language, hint=hint,
        course=course.to_settings() if course else None)
    course = Rubric.from_settings(screen.settings_of(project["label_config"]))
    for record in records:
        record[RUBRIC_FIELD] = course.text_for(record)
    updated = sync_tasks(api, project["id"], course.text_for) if changed and not created else 0
    views.ensure_views(api, project["id"])
    return project, updated

