"""`asag labelstudio start|stop|status|credentials|invite|add-user` and
`asag annotate push|pull`: thin Click commands over server.py, push.py and pull.py.
Only click and the standard library are imported here; the SDK loads inside the commands."""

from __future__ import annotations

import functools
from pathlib import Path

import click

from asag.annotate.screen import LANGUAGES
from asag.scale import SCALE

DATA_DIR_OPTION = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".asag") / "labelstudio",
    show_default=True,
    envvar="ASAG_LABELSTUDIO_DIR",
    help="Where the embedded server keeps its database, log and credentials (0600).",
)


# -- the embedded server ------------------------------------------------------------------

@click.group()
def labelstudio() -> None:
    """Run the embedded Label Studio server (127.0.0.1, SQLite in --data-dir).

    Teachers score in its web page; `asag annotate push/pull` use it when LABEL_STUDIO_URL
    and LABEL_STUDIO_API_KEY are not set."""


@labelstudio.command()
@DATA_DIR_OPTION
@click.option("--port", type=click.IntRange(1, 65535), default=None,
              help="Port on 127.0.0.1 (default 8080, or the one it last ran on).")
@click.option("--username", default="admin@asag.local", show_default=True,
              help="Admin login (an email) made at the first start.")
@click.option("--timeout", type=float, default=300, show_default=True,
              help="Seconds to wait until it answers (the first start migrates, ~40 s).")
def start(data_dir: Path, port: int | None, username: str, timeout: float) -> None:
    """Start the server in the background and wait until it is ready."""
    from asag.annotate import server
    from asag.console import info

    fresh = server.local_credentials(data_dir) is None
    info("starting Label Studio" + (" (first start: creating its database, ~1 min)" if fresh
                                     else "") + "...")
    creds, started = server.start(data_dir, port=port, username=username, timeout=timeout)
    state = "started" if started else "already running"
    info(f"Label Studio {state} at {creds.url} - log in as {creds.username}; "
         "`asag labelstudio credentials` shows the password and API token")


@labelstudio.command()
@DATA_DIR_OPTION
def stop(data_dir: Path) -> None:
    """Stop the embedded server (its projects stay in --data-dir)."""
    from asag.annotate import server
    from asag.console import info

    info("Label Studio stopped" if server.stop(data_dir) else "Label Studio was not running")


@labelstudio.command()
@DATA_DIR_OPTION
@click.pass_context
def status(ctx: click.Context, data_dir: Path) -> None:
    """Say whether the server runs (exit status 3 when it does not)."""
    from asag.annotate import server

    st = server.status(data_dir)
    if st["running"]:
        health = "ready" if st["healthy"] else "starting or not answering"
        click.echo(f"running ({health}) at {st['url']}, pid {st['pid']}, data {st['data_dir']}, "
                   f"log {st['log']}")
    else:
        where = f" (was at {st['url']})" if st["url"] else ""
        click.echo(f"not running{where}; data {st['data_dir']}; start it with "
                   "`asag labelstudio start`")
        ctx.exit(3)


@labelstudio.command()
@DATA_DIR_OPTION
def credentials(data_dir: Path) -> None:
    """Print the admin login, password and API token (only when asked: keep them private)."""
    from asag.annotate import server

    creds = server.local_credentials(data_dir)
    if creds is None:
        raise click.ClickException(
            f"no embedded server in {data_dir}; start one with `asag labelstudio start`")
    click.echo(f"url:      {creds.url}\nusername: {creds.username}\n"
               f"password: {creds.password}\napi key:  {creds.token}")


# -- connection options shared by annotate and the teacher-account commands -------------

def connection_options(command):
    @click.option("--url", envvar="LABEL_STUDIO_URL", default=None, metavar="URL",
                  help="Label Studio server [env LABEL_STUDIO_URL]; default: the embedded one.")
    @click.option("--api-key", envvar="LABEL_STUDIO_API_KEY", default=None, metavar="KEY",
                  help="API key or personal access token [env LABEL_STUDIO_API_KEY].")
    @DATA_DIR_OPTION
    @functools.wraps(command)
    def wrapper(*args, url, api_key, data_dir, **kwargs):
        return command(*args, conn=(url, api_key, data_dir), **kwargs)

    return wrapper


def _connect(conn):
    from asag.annotate.connection import connect, resolve

    url, key = resolve(*conn)
    return connect(url, key)


def _asag_project(api, title: str):
    """(project, scale) of a project made by `asag annotate push`; one line otherwise."""
    from asag.annotate import project as projects

    proj = projects.require(api, title)
    scale = projects.scale_of(proj.get("label_config", ""))
    if scale is None:
        raise click.ClickException(f"project '{title}' was not made by asag push")
    return proj, scale


@labelstudio.command()
@connection_options
def invite(conn) -> None:
    """Print the sign-up link to send to teachers (they choose their own password)."""
    from asag.annotate.connection import api_errors
    from asag.annotate.users import invite_url

    api = _connect(conn)
    with api_errors(api.url, "fetching the invite link"):
        click.echo(invite_url(api))


@labelstudio.command("add-user")
@click.argument("email")
@click.option("--password", default=None, help="Default: a generated one, printed once.")
@connection_options
def add_user(email: str, password: str | None, conn) -> None:
    """Create a teacher's account and print its login."""
    from asag.annotate.connection import api_errors
    from asag.annotate.users import create_account

    api = _connect(conn)
    with api_errors(api.url, f"creating the account {email}"):
        user, password = create_account(api, email, password)
    click.echo(f"created user {user['id']}: {email} / password {password} - log in at {api.url}")


# -- push and pull --------------------------------------------------------------------------

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
@click.option("--project", required=True, help="Project title (created if absent).")
@click.option("--scale", type=SCALE, default=None,
              help="Score scale: '0-5', '0-10 step 0.5' or 'incorrect,partially_correct,correct'"
                   " (needed when the project is created).")
@click.option("--annotations-per-answer", type=click.IntRange(1, 100), default=None,
              help="How many different teachers score each answer (default 1).")
@click.option("--batch-size", type=click.IntRange(1, 50000), default=2500, show_default=True,
              help="Answers per import call.")
@click.option("--predictions-from", type=click.Path(file_okay=False, path_type=Path),
              default=None, metavar="MODEL_DIR",
              help="Show this scorer's score beside the keys as a hint ('model: 3, unsure') "
                   "on the answers imported, and import the least certain first.")
@click.option("--prefill", is_flag=True,
              help="With --predictions-from: also pre-select the model's score (teachers "
                   "then confirm or change it; by default nothing is pre-selected).")
@click.option("--rubric", "rubric_file", type=click.Path(dir_okay=False, path_type=Path),
              default=None, metavar="FILE",
              help="Rubric (YAML, or CSV/TSV/Excel with question,level,description) shown "
                   "beside the score keys; updates the answers already imported too.")
@click.option("--ui-language", type=click.Choice(LANGUAGES), default=None,
              help="Language of the screen's headings, instructions and hint (default: the "
                   "project's, else en).")
@click.pass_context
def push(ctx: click.Context, records: Path, project: str, scale, annotations_per_answer,
         batch_size: int, predictions_from: Path | None, prefill: bool,
         rubric_file: Path | None, ui_language: str | None) -> None:
    """Import the answers of RECORDS (`asag gather` output) that the project lacks.

    Safe to re-run after a crash or with new answers: each answer is in the project once.
    With --predictions-from, teachers see the model's score as a hint beside the keys
    (nothing pre-selected unless --prefill) and the answers it is least sure of come first
    in their stream. Also keeps the teacher's screen, rubric and saved tabs up to date."""
    from asag.annotate import project as projects
    from asag.annotate import rubric as rubrics
    from asag.annotate import screen
    from asag.annotate.connection import api_errors
    from asag.annotate.push import PushReport, push_records, read_records
    from asag.console import info

    if prefill and predictions_from is None:
        raise click.UsageError("--prefill pre-selects the model's score: give --predictions-from")
    report = PushReport()
    rows = read_records(records, report)
    if not rows and report.rejected:
        line, reason = report.rejected[0]
        raise click.ClickException(f"{records}:{line}: {reason}; no valid answers to push")
    api = _connect(ctx.meta["asag.annotate.conn"])
    with api_errors(api.url, f"pushing to project '{project}'"):
        found = projects.find(api, project)
        if found is None and scale is None:
            raise click.UsageError(
                f"project '{project}' does not exist yet: give --scale to create it "
                "(e.g. --scale 0-5)")
        if scale is None:
            scale = projects.scale_of(found.get("label_config", ""))
        course = rubrics.read_rubric(rubric_file, scale) if rubric_file else None
        language = ui_language or screen.settings_of(
            (found or {}).get("label_config", "")).get("language") or "en"
        predict = None
        if predictions_from is not None:  # a scale mismatch fails before anything is made
            from asag.annotate.predictions import predictor

            predict = predictor(predictions_from, scale, language=language, prefill=prefill)
        proj, created = projects.ensure(api, project, scale,
                                        annotations_per_answer=annotations_per_answer,
                                        description=f"Scores on the scale {scale.spec} (asag)")
        if created:
            info(f"created project '{project}' (id {proj['id']}, scale {scale.spec}, "
                 f"{proj.get('maximum_annotations', 1)} teacher(s) per answer)")
        proj, updated = rubrics.prepare_screen(api, proj, scale, rows, created=created,
                                               language=language, hint=predict is not None,
                                               course=course)
        if updated:
            info(f"rubric updated on {updated:,} answers already in the project")
        try:
            push_records(api, proj, rows, report, batch_size=batch_size, predict=predict)
        except click.ClickException:
            raise
        except Exception:
            info(f"stopped after {report.created:,} answers were confirmed imported")
            raise
        # the project's model version picks the predictions teachers see; Label Studio
        # accepts it only once predictions of that version exist
        if predict is not None and report.created and \
                proj.get("model_version") != predict.model_version:
            api.sdk.projects.update(proj["id"], model_version=predict.model_version)
    info(report.summary(project))
    if predict is not None:
        info(f"predictions of model {predict.model_version} attached to the {report.created:,} "
             "answers imported, least certain first")


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
    api = _connect(ctx.meta["asag.annotate.conn"])
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
@click.option("--max-gap", type=click.FloatRange(min=0), default=1.0, show_default=True,
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
    from asag.records import ANNOTATION, read_jsonl

    api = _connect(ctx.meta["asag.annotate.conn"])
    with api_errors(api.url, f"pulling project '{project}'"):
        proj = projects.require(api, project)
        scale = scale or projects.scale_of(proj.get("label_config", ""))
        if scale is None:
            raise click.UsageError(
                f"project '{project}' was not made by asag push; give its scale with --scale")
        with output_lock(output):  # two pulls into one file: the second waits, then merges
            report = run_pull(api, proj, output, scale=scale, full=full)
        records = (r for _, r in read_jsonl(output, ANNOTATION)) if output.is_file() else ()
        disagreeing = views.disagreeing_tasks(records, scale, max_gap)
        views.ensure_views(api, proj["id"], disagreeing)
    info(report.summary(output) + f"; {len(disagreeing):,} answers in the tab 'Disagreements'")


@annotate.command("connect-model")
@click.option("--project", required=True, help="Project title.")
@click.option("--url", "model_url", required=True, metavar="URL",
              help="Where `asag serve` listens, e.g. http://127.0.0.1:8000.")
@click.option("--title", default="asag", show_default=True,
              help="The backend's name in the project's Model settings.")
@click.option("--token-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="The server's token file [default: $ASAG_SERVE_TOKEN].")
@click.pass_context
def connect_model(ctx: click.Context, project: str, model_url: str, title: str,
                  token_file: Path | None) -> None:
    """Connect an `asag serve` server to the project as its ML backend (model).

    Teachers who open a task without a prediction then see the served model's hint. The
    model must score on the project's scale."""
    from asag.annotate import screen
    from asag.annotate.connection import api_errors
    from asag.annotate.ml_backend import connect_model as connect
    from asag.console import info
    from asag.serve.cli import read_token

    token = read_token(token_file)
    api = _connect(ctx.meta["asag.annotate.conn"])
    with api_errors(api.url, f"connecting the model at {model_url} to project '{project}'"):
        proj, scale = _asag_project(api, project)
        proj, _ = screen.update_project(api, proj, scale, hint=True)  # the model's hint box
        backend = connect(api, proj, model_url, title=title, token=token)
    info(f"project '{project}' now asks {model_url} (model {backend.get('model_version')}) "
         "for a prediction whenever a task without one is opened")
