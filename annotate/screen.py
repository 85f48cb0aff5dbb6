"""The teacher's labelling screen: the Label Studio config generated from the scale, the keys
that select each score, the screen's words in the course's language, and the model's hint.

Two rules keep the scores honest. Every score choice carries its own `hotkey` (Label Studio
would otherwise number the choices 1..N, so on 0-5 the key `3` recorded 2). And the model's
score is never pre-selected unless asked for (`push --prefill`): it is a Label Studio
prediction whose result fills a separate read-only text box ("model: 3, unsure"), so a
teacher's choice is always the teacher's. `asag.hints.task_prediction` is the one place
that turns a scorer's output into what Label Studio gets, for `annotate push` and any ML
backend alike."""

from __future__ import annotations

import json
import re
from xml.sax.saxutils import escape

from asag import hints
from asag.hints import COMMENT_FROM, HINT_FROM, LANGUAGES, SCORE_FROM, TEXT_TO
from asag.scale import Scale

RUBRIC_FIELD = "rubric"  # task data: the question's rubric as text, PATCHed when it changes
_SETTINGS = re.compile(r"<!--\s*asag-screen:\s*(.*?)\s*-->")
# keys for scales whose values are not the digits 0-9, in the order of the scale's values
_KEY_SEQUENCE = "1234567890qwertyuiopasdfghjklzxcvbnm"

# every word on the screen, per language (en, hu, de: the order of LANGUAGES)
_WORDS = {
    "question": ("Question", "Kérdés", "Frage"),
    "reference": ("Reference answer", "Mintaválasz", "Musterlösung"),
    "answer": ("Student answer", "A tanuló válasza", "Schülerantwort"),
    "score": ("Score", "Pontszám", "Punkte"),
    "keys": ("keys", "billentyűk", "Tasten"),
    "submit": ("Ctrl+Enter submits", "Ctrl+Enter: beküldés", "Strg+Enter: absenden"),
    "rubric": ("Rubric", "Értékelési útmutató", "Bewertungsraster"),
    "hint": (
        "Model's suggestion (read-only, not selected for you)",
        "A modell javaslata (csak olvasható, nincs kiválasztva)",
        "Vorschlag des Modells (schreibgeschützt, nicht ausgewählt)",
    ),
    "feedback": (
        "Feedback for the student (optional) · Enter keeps it, then Ctrl+Enter submits",
        "Visszajelzés a tanulónak (nem kötelező) · Enter: rögzítés, majd Ctrl+Enter: beküldés",
        "Rückmeldung zur Antwort (optional) · Enter übernimmt sie, dann Strg+Enter: absenden",
    ),
    # shown by Label Studio when submitting without a score (a second press of a score's
    # key deselects it: Label Studio toggles choices, and no config attribute changes that)
    "required": (
        "No score chosen: press the score's key (pressing the same key again removes it), "
        "then Ctrl+Enter.",
        "Nincs kiválasztott pontszám: nyomja le a pontszám billentyűjét (ugyanaz a billentyű "
        "még egyszer lenyomva törli), majd a Ctrl+Entert.",
        "Keine Punktzahl gewählt: Drücken Sie die Taste der Punktzahl (ein zweiter Druck auf "
        "dieselbe Taste hebt die Wahl auf), dann Strg+Enter.",
    ),
    "instructions": (
        "Read the question, the reference answer and the student's answer, then choose "
        "the score the answer deserves under the rubric. Type the score's key ({keys}; the "
        "same key again removes it) and press Ctrl+Enter to submit. Feedback is optional: "
        "Enter keeps it, then Ctrl+Enter submits. The model's suggestion, where shown, is "
        "only a hint: it is never chosen for you.",
        "Olvassa el a kérdést, a mintaválaszt és a tanuló válaszát, majd válassza ki az "
        "útmutató szerint járó pontszámot. Nyomja le a pontszám billentyűjét ({keys}; "
        "ugyanaz a billentyű még egyszer lenyomva törli), majd a Ctrl+Entert a beküldéshez. "
        "A visszajelzés nem kötelező: az Enter rögzíti, utána a Ctrl+Enter beküldi. A modell "
        "javaslata csak tájékoztató: sosem választja ki Ön helyett.",
        "Lesen Sie die Frage, die Musterlösung und die Schülerantwort und wählen Sie die "
        "Punktzahl, die die Antwort laut Bewertungsraster verdient. Drücken Sie die Taste "
        "der Punktzahl ({keys}; ein zweiter Druck auf dieselbe Taste hebt die Wahl auf) und "
        "senden Sie mit Strg+Enter ab. Eine Rückmeldung ist optional: Enter übernimmt sie, "
        "danach sendet Strg+Enter ab. Der Vorschlag des Modells ist nur ein Hinweis; er wird "
        "nie für Sie ausgewählt.",
    ),
}
# the hint's own words (model, sure, ...) are asag.hints'
WORDS = {lang: {**{k: v[i] for k, v in _WORDS.items()}, **hints.WORDS[lang]}
         for i, lang in enumerate(LANGUAGES)}


def hotkeys(scale: Scale) -> list[str]:
    """One key per scale value. Numeric scales of whole (and half) points within 0-10: the
    digit is the whole score, shift+digit the half above it (2.5 = shift+2), and 10 is `0`
    where 0 is not on the scale, else `t` (ten). Other scales (labels, wider ranges): 1, 2, ...
    9, 0, q, w, ... in the scale's order (labels worst first), for the first 36 values."""
    values = scale.values
    if scale.is_numeric and all(0 <= v <= 10 and float(2 * v).is_integer() for v in values):
        ten = "t" if 0 in values else "0"
        return [(ten if v == 10 else str(int(v))) if float(v).is_integer()
                else f"shift+{int(v)}" for v in values]
    keys = list(_KEY_SEQUENCE[:len(values)])
    return keys + [""] * (len(values) - len(keys))  # beyond 36 values: no key of asag's


def key_label(key: str) -> str:
    """How a key is written on the screen and in the README: 'shift+2' -> '⇧2'."""
    return key.replace("shift+", "⇧").upper() if len(key) == 1 and key.isalpha() \
        else key.replace("shift+", "⇧")


def keys_summary(scale: Scale) -> str:
    """The keys in a few characters, for headings and instructions: '0-5' where the digit is
    the score, '0-5, ⇧digit +0.5' on half points, else 'value=key' pairs for the rest."""
    keys, values = hotkeys(scale), [str(v) for v in scale.values]
    same = [v for v, k in zip(values, keys, strict=True) if v == k]
    other = ", ".join(f"{v}={key_label(k)}" for v, k in zip(values, keys, strict=True)
                      if v != k and k and not k.startswith("shift+"))
    if any(k.startswith("shift+") for k in keys):
        return ", ".join(p for p in (f"{same[0]}-{same[-1]}", "⇧digit +0.5", other) if p)
    digits = f"{same[0]}-{same[-1]}" if len(same) > 1 else ""
    return ", ".join(p for p in (digits, other) if p)


def _attr(value) -> str:
    """Text safe inside a double-quoted XML attribute."""
    return escape(str(value), {'"': "&quot;", "\n": "&#10;", "\t": "&#9;"})


def _choice(value, key: str) -> str:
    # Label Studio writes each choice's hotkey beside it (3 [3], correct [3], 2.5 [shift+2])
    key = f' hotkey="{_attr(key)}"' if key else ""
    return f'      <Choice value="{_attr(value)}"{key}/>'


def settings_of(config: str) -> dict:
    """The screen settings recorded in a project's config ({} if none)."""
    match = _SETTINGS.search(config or "")
    if match:
        try:
            found = json.loads(match.group(1))
            return found if isinstance(found, dict) else {}
        except ValueError:
            pass
    return {}


_HINT_CLASS = "asag-hint"
# Label Studio shows a read-only text result in the same framed box as an editable one
_STYLE = (f"  <Style>.{_HINT_CLASS} [data-testid=htx-textbox-content] {{ border: 0; "
          "background: transparent; padding-left: 0; font-style: italic; }\n"
          # without a prediction Label Studio shows an empty input: nothing to type there
          f"  .{_HINT_CLASS} input, .{_HINT_CLASS} textarea {{ display: none; }}</Style>\n")


def label_config(scale: Scale, *, language: str = "en", hint: bool = False,
                 instructions: str | dict = "", rubric: dict | None = None,
                 groups: bool = False) -> str:
    """The labelling config: texts on the left; score keys, hint, rubric and feedback on the
    right. The feedback box is one line: Label Studio's Ctrl+Enter submits only from outside
    a text field, and Enter (or Ctrl+Enter) in a one-line box keeps the text and leaves the
    box, so a second Ctrl+Enter submits. The answers are <Text> (plain text: HTML in an
    answer is never rendered). The settings (and the course's instructions and rubric, given
    to each task's data by push) ride in a marker comment so later pushes keep them.
    `groups`: the answer-group fields under the answer and the "score separately" checkbox
    (annotate/groups.py)."""
    w = WORDS[language]
    settings = json.dumps({"language": language, "hint": hint, "instructions": instructions,
                           "rubric": rubric or {}, **({"groups": True} if groups else {})},
                          ensure_ascii=False).replace("--", "-\\u002d")
    choices = "\n".join(_choice(v, k) for v, k in zip(scale.values, hotkeys(scale), strict=True))
    hint_box = (  # read-only, and styled as plain text (no input frame) so it looks it
        f'    <Header value="{_attr(w["hint"])}" size="6"/>\n'
        f'    <View className="{_HINT_CLASS}">\n'
        f'    <TextArea name="{HINT_FROM}" toName="{TEXT_TO}" editable="false" readonly="true" '
        'maxSubmissions="1" rows="1" placeholder="-"/>\n'
        '    </View>\n'
    ) if hint else ""
    rubric_box = (  # shown once the project has a rubric (tasks always carry the field)
        f'    <Header value="{_attr(w["rubric"])}" size="6"/>\n'
        f'    <Text name="{RUBRIC_FIELD}" value="${RUBRIC_FIELD}"/>\n'
    ) if rubric else ""
    group_box, split_box = _group_boxes() if groups else ("", "")
    score_heading = (f'{w["score"]} ({scale.spec}) · {w["keys"]} {keys_summary(scale)} · '
                     f'{w["submit"]}')
    return f"""<!-- asag-screen: {settings} -->
<View>
  <View style="display:flex; gap:24px; align-items:flex-start">
  <View style="flex:3; min-width:0">
    <Header value="{_attr(w["question"])}" size="5"/>
    <Text name="question" value="$question"/>
    <Header value="{_attr(w["reference"])}" size="5"/>
    <Text name="reference_answer" value="$reference_answer"/>
    <Header value="{_attr(w["answer"])}" size="5"/>
    <Text name="{TEXT_TO}" value="${TEXT_TO}"/>
{group_box}  </View>
  <View style="flex:2; min-width:0">
    <Header value="{_attr(score_heading)}" size="5"/>
    <Choices name="{SCORE_FROM}" toName="{TEXT_TO}" choice="single-radio" required="true"
             requiredMessage="{_attr(w["required"])}" showInline="true">
{choices}
    </Choices>
{split_box}{hint_box}{rubric_box}    <Header value="{_attr(w["feedback"])}" size="6"/>
    <TextArea name="{COMMENT_FROM}" toName="{TEXT_TO}" rows="1" editable="true" maxSubmissions="1"
              showSubmitButton="false"/>
  </View>
  </View>
{_STYLE if hint else ""}</View>"""


def _group_boxes() -> tuple[str, str]:
    """The members of an answer group under the answer, and the checkbox that splits it (its
    one choice comes from the task: none on a task of one answer)."""
    from asag.annotate import groups

    return (f'    <Header value="${groups.HEADING}" size="6"/>\n'
            f'    <Text name="{groups.TEXT}" value="${groups.TEXT}"/>\n',
            f'    <Choices name="{groups.SPLIT_FROM}" toName="{TEXT_TO}" choice="multiple" '
            f'value="${groups.SPLIT_CHOICES}"/>\n')


def instructions_html(scale: Scale, language: str = "en", extra: str | dict = "") -> str:
    """Project-level instructions (Label Studio shows them before labelling): how to score
    with the keys, then the course's own text from the rubric file (one text, or one per
    language: the screen's, else English, else the first)."""
    text = WORDS[language]["instructions"].format(keys=keys_summary(scale))
    if isinstance(extra, dict):
        extra = extra.get(language) or extra.get("en") or next(iter(extra.values()), "")
    html = f"<p>{escape(text)}</p>"
    for para in (p.strip() for p in extra.split("\n\n")):
        if para:
            html += f"<p>{escape(para)}</p>".replace("\n", "<br/>")
    return html


def update_project(api, project: dict, scale: Scale, *, language: str | None = None,
                   hint: bool = False, course: dict | None = None,
                   groups: bool = False) -> tuple[dict, bool]:
    """Bring an asag project's screen up to date: the config (keys, language, the hint box
    and the answer-group boxes once on stay on, the course's rubric and instructions:
    rubric.Rubric.to_settings) and the instructions shown before labelling. What is not
    given keeps what the project has (it rides in the config's marker). Sends only what
    differs: (project, changed)."""
    from asag.annotate.project import label_config

    now = settings_of(project.get("label_config", ""))
    settings = {"language": language or now.get("language") or "en",
                "hint": hint or bool(now.get("hint")),
                "instructions": now.get("instructions") or "", "rubric": now.get("rubric") or {},
                "groups": groups or bool(now.get("groups")), **(course or {})}
    config = label_config(scale, **settings)
    if config == project.get("label_config"):
        return project, False
    change = {"label_config": config, "show_instruction": True,
              "expert_instruction": instructions_html(scale, settings["language"],
                                                      settings["instructions"])}
    from asag.annotate.connection import plain

    return {**project, **plain(api.sdk.projects.update(project["id"], **change))}, True
