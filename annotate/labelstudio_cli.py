"""`asag labelstudio start|stop|status|credentials|invite|add-user`: the embedded server and
teachers' accounts, thin Click commands over server.py and users.py; and the connection
options every Label Studio command shares. Only click and the standard library are imported
here; the SDK loads inside the commands."""

from __future__ import annotations

import functools
from pathlib import Path

import click

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
    """Run the embedded Label Studio server (127.0.0.1, SQLite in --data-dir or PostgreSQL).

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
@click.option("--database", envvar="ASAG_LABEL_STUDIO_DATABASE", default=None,
              metavar="postgresql://USER:PASSWORD@HOST:PORT/NAME",
              help="An existing PostgreSQL database instead of SQLite in --data-dir (fixed at "
                   "the first start; later starts reuse it) [env ASAG_LABEL_STUDIO_DATABASE].")
def start(data_dir: Path, port: int | None, username: str, timeout: float,
          database: str | None) -> None:
    """Start the server in the background and wait until it is ready."""
    from asag.annotate import server
    from asag.console import info

    fresh = server.local_credentials(data_dir) is None
    info("starting Label Studio" + (" (first start: creating its database, ~1 min)" if fresh
                                     else "") + "...")
    creds, started = server.start(data_dir, port=port, username=username, timeout=timeout,
                                  database=database)
    state = "started" if started else "already running"
    info(f"Label Studio {state} at {creds.url} on {server.database_in_use(data_dir, creds)} - "
         f"log in as {creds.username}; `asag labelstudio credentials` shows the password and "
         "API token")


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
        click.echo(f"running ({health}) at {st['url']}, pid {st['pid']}, database "
                   f"{st['database']}, data {st['data_dir']}, log {st['log']}")
    else:
        where = f" (was at {st['url']})" if st["url"] else ""
        click.echo(f"not running{where}; database {st['database']}; data {st['data_dir']}; "
                   "start it with `asag labelstudio start`")
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


def connect_to(conn):
    from asag.annotate.connection import connect, resolve

    url, key = resolve(*conn)
    return connect(url, key)



# -- teachers' accounts ------------------------------------------------------------------

@labelstudio.command()
@connection_options
def invite(conn) -> None:
    """Print the sign-up link to send to teachers (they choose their own password)."""
    from asag.annotate.connection import api_errors
    from asag.annotate.users import invite_url

    api = connect_to(conn)
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

    api = connect_to(conn)
    with api_errors(api.url, f"creating the account {email}"):
        user, password = create_account(api, email, password)
    click.echo(f"created user {user['id']}: {email} / password {password} - log in at {api.url}")
