"""The Label Studio project of a course: found by title, or created with a labelling config
generated from the scale (screen.py).

The scale is written into the config as a marker comment, so `pull` reads scores back on the
same scale without being told, and `push` refuses to mix scales in one project."""

from __future__ import annotations

import json
import re
import time
import unicodedata
import xml.etree.ElementTree as ET

from asag.annotate import screen
from asag.annotate.connection import Api, no_retry, plain
from asag.answers import TEXT_FIELDS
from asag.errors import LabelStudioError, OptionError
from asag.hints import SCORE_FROM
from asag.scale import Scale

TASK_FIELDS = ("answer_id", "question_id", *TEXT_FIELDS)
# what push and pull read of a project; asked for by name, the list is as fast as the detail
FIELDS = ("id,title,label_config,maximum_annotations,model_version,task_number,"
          "total_annotations_number,skipped_annotations_number")
_MARKER = re.compile(r"<!--\s*asag-scale:\s*(.*?)\s*-->")
# Label Studio's PROJECT_TITLE_MIN_LEN / MAX_LEN (core/settings/base.py); it strips the
# title's surrounding whitespace, so "   " would be stored as an untitled project
TITLE_LENGTH = (3, 50)


def check_title(title: str) -> str:
    """The project title as Label Studio will store it (surrounding whitespace removed), or
    one line saying why it cannot be one: checked before anything is created."""
    text = title.strip()
    low, high = TITLE_LENGTH
    if not text:
        problem = "a project title cannot be blank"
    elif any(unicodedata.category(c) in ("Cc", "Cs") for c in text):
        problem = f"{title!r} holds control characters"
    elif not low <= len(text) <= high:
        shown = text if len(text) <= high else text[:high - 10] + "…"
        problem = f"'{shown}' has {len(text)} characters"
    else:
        return text
    raise OptionError(problem, option="'--project'", fix=f"Label Studio takes titles of {low} "
                      f"to {high} characters, e.g. --project 'Physics 2026'")


def label_config(scale: Scale, title: str = "", **screen_settings) -> str:
    """The teacher's screen (screen.label_config: language, hint, ...) with the scale in a
    marker comment. The title is Label Studio's own heading, so the screen does not repeat it."""
    # a JSON string, with '--' (not allowed inside an XML comment) escaped as JSON allows
    marker = json.dumps(scale.spec, ensure_ascii=False).replace("--", "-\\u002d")
    config = f"<!-- asag-scale: {marker} -->\n" + screen.label_config(scale, **screen_settings)
    _check_round_trip(config, scale)
    return config


def _check_round_trip(config: str, scale: Scale) -> None:
    """The choices, parsed back, must be exactly the scale's values (escaping bugs fail here)."""
    root = ET.fromstring(config)
    values = [c.get("value") for c in root.iter("Choice")]
    if values != [str(v) for v in scale.values]:  # pragma: no cover - a bug, not user input
        raise AssertionError(f"labelling config does not round-trip: {values}")


def scale_of(config: str) -> Scale | None:
    """The scale recorded in a project's config by `label_config`; if the marker was lost
    (the config edited in Label Studio), the scale its score choices spell; else None."""
    match = _MARKER.search(config or "")
    if match:
        try:
            return Scale.parse(json.loads(match.group(1)))
        except ValueError:  # ScaleError is one
            pass
    return _scale_from_choices(config or "")


def _scale_from_choices(config: str) -> Scale | None:
    """Evenly spaced numbers -> a range ('0-10 step 0.5'); other values -> labels, in order."""
    try:
        root = ET.fromstring(config)
    except ET.ParseError:
        return None
    choices = next((c for c in root.iter("Choices") if c.get("name") == SCORE_FROM), None)
    values = [c.get("value") or "" for c in choices.iter("Choice")] if choices is not None else []
    if len(values) < 2:
        return None
    try:
        numbers = [float(v) for v in values]
        step = numbers[1] - numbers[0]
        if step > 0:
            candidate = Scale.parse(f"{values[0]}-{values[-1]} step {step:g}")
            if [str(v) for v in candidate.values] == values:
                return candidate
    except ValueError:  # ScaleError is one
        pass
    try:
        return Scale.parse(",".join(values))
    except ValueError:
        return None


def find(api: Api, title: str) -> dict | None:
    """The project with exactly this title; two of them is an error naming both ids (after
    a few seconds' grace: a concurrent first push deletes its own copy right away). Label
    Studio stores titles without surrounding whitespace, so they are looked up so."""
    from asag.annotate.races import titled

    title = title.strip()
    found = titled(api, title, FIELDS)
    for pause in (0.5, 1, 2, 4):
        if len(found) < 2:
            break
        time.sleep(pause)
        found = titled(api, title, FIELDS)
    if len(found) > 1:
        ids = ", ".join(str(p["id"]) for p in found)
        raise LabelStudioError(
            f"{len(found)} projects on {api.url} are titled '{title}' (ids {ids}); rename all "
            "but one in Label Studio (project settings) so --project names one"
        )
    return found[0] if found else None


def require(api: Api, title: str) -> dict:
    project = find(api, title)
    if project is None:
        first = api.sdk.projects.list(page_size=10, include="id,title").items or []
        names = [p.title for p in first]
        known = ", ".join(f"'{n}'" for n in names) if names else "none"
        raise LabelStudioError(
            f"no project titled '{title}' on {api.url} (projects there: {known}); check "
            "--project, or create it with `asag annotate push`"
        )
    return project


def ensure(api: Api, title: str, scale: Scale, *, annotations_per_answer: int | None,
           description: str = "") -> tuple[dict, bool]:
    """Find or create the project; (project, created). An existing project must be on the
    same scale; the overlap setting is updated when it is given and differs."""
    title = check_title(title)
    project = find(api, title)
    if project is None:
        from asag.annotate.races import create_retrying, settle_project

        mine = plain(create_retrying(lambda: api.sdk.projects.create(
            title=title, description=description, label_config=label_config(scale, title),
            maximum_annotations=annotations_per_answer or 1,
            # every task (100 %) goes to that many different teachers in the labelling stream
            overlap_cohort_percentage=100, show_skip_button=True, show_overlap_first=True,
            sampling="Sequential sampling", request_options=no_retry())))
        project, ours = settle_project(api, mine, FIELDS)  # two first pushes at once
        if ours:
            return project, True
        from asag.console import info

        info(f"another push created project '{title}' at the same moment (id {project['id']});"
             f" using it; the empty copy made here is renamed 'asag duplicate {mine['id']} "
             "(empty)'")
    existing = scale_of(project.get("label_config", ""))
    if existing is not None and not existing.same_as(scale):
        raise LabelStudioError(
            f"project '{title}' scores on the scale '{existing.spec}', not '{scale.spec}'; "
            f"push with --scale '{existing.spec}' or choose another --project"
        )
    if existing is None:
        raise LabelStudioError(
            f"project '{title}' on {api.url} was not made by asag (its labelling config has no "
            f"'{SCORE_FROM}' choices); choose another --project name"
        )
    if annotations_per_answer and project.get("maximum_annotations") != annotations_per_answer:
        project = plain(api.sdk.projects.update(
            project["id"], maximum_annotations=annotations_per_answer,
            overlap_cohort_percentage=100))
    return project, False
