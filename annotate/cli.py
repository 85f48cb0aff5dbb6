"""`asag annotate push|pull|simulate|connect-model`: thin Click commands over push.py,
pull.py, simulate.py and ml_backend.py (the server's own commands: labelstudio_cli.py).
Only click and the standard library are imported here; the SDK loads inside the commands."""

from __future__ import annotations

from pathlib import Path

import click

from asag.annotate.labelstudio_cli import connect_to, connection_options
from asag.annotate.screen import LANGUAGES
from asag.params import FiniteFloatRange, TokenFile, decision_options
from asag.scale import SCALE


def _asag_project(api, title: str):
    """(project, scale) of a project made by `asag annotate push`; one line otherwise."""
    from asag.annotate import project as projects

    proj = projects.require(api, title)
    scale = projects.scale_of(proj.get("label_config", ""))
    if scale is None:
        raise click.ClickException(f"project '{title}' was not made by asag push")
    return proj, scale


def _title(ctx, param, value: str) -> str:
    """A new project's title checked before anything connects (project.check_title)."""
    from asag.annotate.project import check_title
    from asag.errors import OptionError

    try:
        return check_title(value)
    except OptionError as exc:  # Click names the option and shows the usage line
        raise click.BadParameter(exc.message) from None


@click.group()
@connection_options
@click.pass_context
def annotate(ctx: click.Context, conn) -> None:
    """Send answers to Label Studio for teachers to score, and fetch their scores.

    Without --url/--api-key (or LABEL_STUDIO_URL/LABEL_STUDIO_API_KEY) the embedded server
    started by `asag labelstudio start` is used."""
    ctx.meta["asag.annotate.conn"] = conn


@annotate.command()
@click.argument("records", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--project", required=True, callback=_title,
              help="Project title, 3-50 characters (created if absent).")
@click.option("--scale", type=SCALE, default=None,
              help="Score scale: '0-5', '0-10 step 0.5' or 'incorrect,partially_correct,correct'"
                   " (needed when the project is created).")
@click.option("--annotations-per-answer", type=click.IntRange(1, 100), default=None,
              help="How many different teachers score each answer (default 1).")
@click.option("--batch-size", type=click.IntRange(1, 50000), default=None,
              help="Answers per import call [default: 2,500; a tenth of a push of more than "
                   "25,000 answers, up to 10,000].")
@click.option("--predictions-from", type=click.Path(file_okay=False, path_type=Path),
              default=None, metavar="MODEL_DIR",
              help="Show this scorer's score beside the keys as a hint ('model: 3, unsure') "
                   "on the answers imported, and import them in the order that saves "
                   "labels: the least certain and a random answer, alternately.")
@click.option("--prefill", is_flag=True,
              help="With --predictions-from: also pre-select the model's score (teachers "
                   "then confirm or change it; by default nothing is pre-selected).")
@decision_options(
    max_error_help="With --predictions-from: the hint says 'auto-scored' on the answers the "
                   "scorer may grade on its own at this error rate (as `asag score "
                   "--max-error` decides).",
    tolerance_help="With --max-error on numeric scales: an error is a score more than T from "
                   "the teachers'.")
@click.option("--rubric", "rubric_file", type=click.Path(dir_okay=False, path_type=Path),
              default=None, metavar="FILE",
              help="Rubric (YAML, or CSV/TSV/Excel with question,level,description) shown "
                   "beside the score keys; updates the answers already imported too.")
@click.option("--ui-language", type=click.Choice(LANGUAGES), default=None,
              help="Language of the screen's headings, instructions and hint (default: the "
                   "project's, else en).")
@click.option("--groups/--no-groups", default=None,
              help="Near-identical answers of a question (the same but for case, punctuation "
                   "and small typos) become one task, scored once for all; teachers can split "
                   "a group. Default: as the project was pushed before, else off.")
@click.option("--group-threshold", type=FiniteFloatRange(0.5, 1.0), default=None,
              metavar="0.5-1",
              help="How alike answers must be to join a group (implies --groups; 1: identical "
                   "after normalisation; default 0.9, chosen on SciEntsBank and SAF).")
@click.pass_context
def push(ctx: click.Context, records: Path, project: str, scale, annotations_per_answer,
         batch_size: int | None, predictions_from: Path | None, prefill: bool,
         max_error: float | None, tolerance: float, rubric_file: Path | None,
         ui_language: str | None, groups: bool | None, group_threshold: float | None) -> None:
    """Import the answers of RECORDS (`asag gather` output) that the project lacks.

    Safe to re-run after a crash or with new answers: each answer is in the project once.
    With --predictions-from, teachers see the model's score as a hint beside the keys
    (nothing pre-selected unless --prefill) and the answers it is least sure of come first
    in their stream. Also keeps the teacher's screen, rubric and saved tabs up to date."""
    from asag.annotate.connection import api_errors
    from asag.annotate.push import load_records
    from asag.annotate.push import push as run_push
    from asag.console import info

    if prefill and predictions_from is None:
        raise click.UsageError("--prefill pre-selects the model's score: give --predictions-from")
    if max_error is not None and predictions_from is None:
        raise click.UsageError("--max-error marks the model's hints: give --predictions-from")
    if group_threshold is not None and groups is False:
        raise click.UsageError("--group-threshold sets how alike grouped answers are: drop "
                               "--no-groups")
    if group_threshold is not None:
        groups = True
    rows, report = load_records(records)
    api = connect_to(ctx.meta["asag.annotate.conn"])
    with api_errors(api.url, f"pushing to project '{project}'"):
        run_push(api, project, rows, report, scale=scale,
                 annotations_per_answer=annotations_per_answer, batch_size=batch_size,
                 predictions_from=predictions_from, prefill=prefill,
                 decision={"max_error": max_error, "tolerance": tolerance},
                 rubric_file=rubric_file,
                 ui_language=ui_language, groups=groups, group_threshold=group_threshold)
    info(report.summary(project))
    if report.model_version is not None:
        info(f"predictions of model {report.model_version} attached to the "
             f"{report.created:,} answers imported, the least certain and a random one "
             "alternately")


@annotate.command()
@click.option("--project", required=True, help="Project title.")
@click.option("--scores", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The table the project's answers were gathered from, with the teachers' "
                   "score columns.")
@click.option("--teacher-cols", required=True, metavar="COL,COL",
              help="Score columns; each becomes one simulated teacher account.")
@click.option("--limit", type=click.IntRange(0), default=None,
              help="Each teacher scores at most this many of the table's answers in all, "
                   "earlier ones included (default: all).")
@click.pass_context
def simulate(ctx: click.Context, project: str, scores: Path, teacher_cols: str,
             limit: int | None) -> None:
    """SIMULATED teachers score the project through the API, for demos and the main job.

    Each --teacher-cols column becomes a Label Studio account (sim-<column>@asag.local) that
    annotates, with the column's score, every task it has not annotated yet. Answers are
    matched by `asag gather`'s ids: gather SCORES with default options."""
    from asag.annotate.connection import api_errors
    from asag.annotate.simulate import check_columns, table_scores
    from asag.annotate.simulate import simulate as run_simulation
    from asag.console import info, progress

    columns = check_columns(teacher_cols)
    api = connect_to(ctx.meta["asag.annotate.conn"])
    with api_errors(api.url, f"simulating teachers in project '{project}'"):
        proj, scale = _asag_project(api, project)
        table = table_scores(scores, columns, scale)
        info(f"SIMULATED teachers (not real people): {', '.join(columns)} from {scores}")
        report = run_simulation(api, proj, scale, table, columns, limit=limit, progress=progress)
    info(report.summary(project))


@annotate.command()
@click.option("--project", required=True, help="Project title.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Annotation records (JSONL); its pull state is kept beside it.")
@click.option("--full", is_flag=True, help="Re-read every annotation, not only changes.")
@click.option("--scale", type=SCALE, default=None,
              help="Scale of the scores (default: the one the project was made with).")
@click.option("--max-gap", type=FiniteFloatRange(min=0), default=1.0, show_default=True,
              help="The saved tab 'Disagreements' lists answers whose teachers' scores differ "
                   "by more than this (as build-dataset --max-gap).")
@click.pass_context
def pull(ctx: click.Context, project: str, output: Path, full: bool, scale,
         max_gap: float) -> None:
    """Write every annotation of the project as normalised records to --output.

    After the first pull only tasks changed since the last one are read; edits replace
    earlier versions, deletions are reported and removed. The project's 'Disagreements'
    tab is then set to the answers whose teachers differ by more than --max-gap."""
    from asag.annotate import project as projects
    from asag.annotate import views
    from asag.annotate.connection import api_errors
    from asag.annotate.pull import pull as run_pull
    from asag.annotate.races import output_lock
    from asag.console import info

    api = connect_to(ctx.meta["asag.annotate.conn"])
    with api_errors(api.url, f"pulling project '{project}'"):
        proj = projects.require(api, project)
        scale = scale or projects.scale_of(proj.get("label_config", ""))
        if scale is None:
            raise click.UsageError(
                f"project '{project}' was not made by asag push; give its scale with --scale")
        with output_lock(output):  # two pulls into one file: the second waits, then merges
            report = run_pull(api, proj, output, scale=scale, full=full)
        disagreeing = views.disagreeing_tasks(report.records.values(), scale, max_gap)
        views.ensure_views(api, proj["id"], disagreeing)
    info(report.summary(output) + f"; {len(disagreeing):,} answers in the tab 'Disagreements'")


@annotate.command("connect-model")
@click.option("--project", required=True, help="Project title.")
@click.option("--url", "model_url", required=True, metavar="URL",
              help="Where `asag serve` listens, e.g. http://127.0.0.1:8000.")
@click.option("--title", default="asag", show_default=True,
              help="The backend's name in the project's Model settings.")
@click.option("--token-file", type=TokenFile(),
              default=None, help="The server's token file (Label Studio gets only the "
                                 "low-privilege token derived from it) or its Label Studio "
                                 "token [default: $ASAG_SERVE_LABELSTUDIO_TOKEN, else "
                                 "$ASAG_SERVE_TOKEN].")
@click.pass_context
def connect_model(ctx: click.Context, project: str, model_url: str, title: str,
                  token_file: str | None) -> None:
    """Connect an `asag serve` server to the project as its ML backend (model).

    Teachers who open a task without a prediction then see the served model's hint. The
    model must score on the project's scale; everything is checked before the project
    changes."""
    from asag.annotate import screen
    from asag.annotate.connection import api_errors
    from asag.annotate.ml_backend import connect_model as connect
    from asag.console import info
    from asag.tokens import LABELSTUDIO_TOKEN_ENV, TOKEN_ENV, env_token

    # (--token-file gives the token the file holds: TokenFile)
    token = token_file or env_token(LABELSTUDIO_TOKEN_ENV) or env_token(TOKEN_ENV)
    api = connect_to(ctx.meta["asag.annotate.conn"])
    with api_errors(api.url, f"connecting the model at {model_url} to project '{project}'"):
        proj, scale = _asag_project(api, project)

        def hint_box(before: dict):  # the model's hint box, added once every check passed
            after, changed = screen.update_project(api, before, scale, hint=True)
            keep = ("label_config", "expert_instruction", "show_instruction")
            return after, lambda: changed and api.sdk.projects.update(
                before["id"], **{k: before[k] for k in keep if k in before})

        backend = connect(api, proj, model_url, title=title, token=token, prepare=hint_box)
    info(f"project '{project}' now asks {model_url} (model {backend.get('model_version')}) "
         "for a prediction whenever a task without one is opened")
