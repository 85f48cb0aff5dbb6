"""`asag serve MODEL`: the scorer as an HTTP service (and Label Studio ML backend). Only
click here; FastAPI, uvicorn and torch load inside the command."""

from __future__ import annotations

import os
from pathlib import Path

import click

from asag.params import FiniteFloatRange, TokenFile, decision_options
from asag.tokens import LABELSTUDIO_TOKEN_ENV, TOKEN_ENV, env_token

BACKLOG = 2048


def is_loopback(address: str) -> bool:
    """127.0.0.0/8 and ::1 (a bound socket's address: names are already resolved)."""
    import ipaddress

    try:
        return ipaddress.ip_address(address.split("%")[0]).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int):
    """The socket, bound here so a bad --host or a busy port is a one-line error before the
    model loads (port 0 picks a free one). It does not listen yet: until uvicorn listens,
    after the model has loaded, connections are refused rather than left waiting."""
    import errno
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError, ValueError, TypeError) as exc:
        raise click.ClickException(
            f"--host {host!r} is not a valid address or a known host name "
            f"({getattr(exc, 'strerror', None) or exc}); give an IP address or host name such "
            "as 127.0.0.1 (this machine only) or 0.0.0.0 (every interface)") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        fix = {errno.EADDRINUSE: "pick another --port or stop what uses it",
               errno.EACCES: "ports below 1024 need root: pick a --port above 1023"}.get(
            exc.errno, "--host must be an address of this machine, e.g. 127.0.0.1 or 0.0.0.0")
        raise click.ClickException(f"cannot listen on {host}:{port} ({exc.strerror or exc}); "
                                   f"{fix}") from None
    sock.set_inheritable(True)
    return sock


@click.command()
@click.argument("model", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0: every interface; use a token then).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option("--token-file", type=TokenFile(),
              default=None, help=f"File holding the server's token: every route but /health "
                                 f"and the docs needs it [default: ${TOKEN_ENV}; none: no auth].")
@click.option("--labelstudio-token-file", type=TokenFile(), default=None,
              help=f"File holding Label Studio's token, which opens only /predict, /setup and "
                   f"/webhook [default: ${LABELSTUDIO_TOKEN_ENV}, else derived from the "
                   "server's token; `annotate connect-model` derives it too].")
@click.option("--max-body-mb", type=FiniteFloatRange(0.001), default=2.0, show_default=True,
              help="Largest request body accepted (413 above).")
@click.option("--max-answers", type=click.IntRange(1), default=1000, show_default=True,
              help="Most answers (or Label Studio tasks) per request (413 above).")
@click.option("--max-batch", type=click.IntRange(1), default=64, show_default=True,
              help="Answers of concurrent requests gathered into one batch.")
@click.option("--max-wait-ms", type=FiniteFloatRange(0), default=5.0, show_default=True,
              help="A batch gathers while requests come less than this apart (at most "
                   "10x this in all).")
@click.option("--batch-size", type=click.IntRange(1), default=4, show_default=True,
              help="Answers per forward pass: a gathered batch is sorted by length and cut "
                   "into these (small ones waste less padding on CPUs).")
@click.option("--int8", is_flag=True, help="Int8 dynamic quantisation (CPU): faster.")
@click.option("--threads", type=click.IntRange(0), default=None,
              help="torch CPU threads for scoring; 0: torch's own default (every core), "
                   "which collapses when the machine is shared [default: half the cores, at "
                   "least 1].")
@click.option("--retrain-after", type=click.IntRange(1), default=None, metavar="N",
              help="Label Studio webhook: say a retrain is due after N new annotations.")
@click.option("--retrain-command", default=None, metavar="CMD",
              help="With --retrain-after: run CMD (a shell command that pulls, builds, trains "
                   "and replaces MODEL; $ASAG_SERVE_MODEL names it) in the background when a "
                   "retrain is due, then reload MODEL.")
@click.option("--journal", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where the live loop keeps teachers' scores from the webhook (replayed at "
                   "start) [default: MODEL.live.jsonl beside MODEL].")
@decision_options()
@click.option("--access-log", is_flag=True, help="Log every request (method, path, status).")
def serve(model: Path, host: str, port: int, token_file: str | None,
          labelstudio_token_file: str | None, max_body_mb: float, max_answers: int,
          max_batch: int, max_wait_ms: float, batch_size: int, int8: bool, threads: int | None,
          retrain_after: int | None, retrain_command: str | None, journal: Path | None,
          max_error: float | None, tolerance: float, access_log: bool) -> None:
    """Serve MODEL over HTTP: POST /score, GET /model, POST /reload, docs at /docs, and
    Label Studio's ML backend protocol (/health, /setup, /predict, /webhook).

    Teachers' scores that reach /webhook go into the scorer's graded-answer memory at once
    (and a journal beside it), so the next hints of the question use them.

    With --max-error, every result says whether the answer is auto-scored (`auto`), by the
    decision `asag score` makes, and Label Studio's hint says so ("model: 3, sure,
    auto-scored"): its evidence grows with the teachers' checks of the served versions.

    Concurrent requests are scored together in batches. SIGHUP (or POST /reload with the
    token) loads MODEL again and swaps it in without failing requests in flight. The port
    refuses connections until the model has loaded."""
    from asag.console import info

    if retrain_command and not retrain_after:
        raise click.BadParameter("needs --retrain-after N (after how many new annotations)",
                                 param_hint="'--retrain-command'")
    # (the --*-token-file options give the tokens the files hold: TokenFile)
    token = token_file or env_token(TOKEN_ENV)
    ls_token = labelstudio_token_file or env_token(LABELSTUDIO_TOKEN_ENV)
    if ls_token is not None and ls_token == token:
        raise click.BadParameter("is the server's own token; give Label Studio a token of "
                                 "its own (or leave it out: it is derived from the server's)",
                                 param_hint="'--labelstudio-token-file'")
    sock = bind(host, port)
    try:
        import uvicorn

        from asag.serve.app import Settings, create_app
        from asag.serve.live import default_journal
    except ImportError as exc:
        sock.close()
        raise click.ClickException(f"asag serve needs {exc.name}; pip install 'asag[serve]' "
                                   "(scripts/setup.sh installs it)") from None
    settings = Settings(model_dir=model, token=token,
                        labelstudio_token=ls_token,  # None: derived from the token
                        max_body=int(max_body_mb * 1_000_000), max_answers=max_answers,
                        max_batch=max_batch, max_wait=max_wait_ms / 1000,
                        batch_size=batch_size, quantize=int8,
                        threads="auto" if threads is None else threads,
                        retrain_after=retrain_after, retrain_command=retrain_command,
                        journal=journal or default_journal(model),
                        max_error=max_error, tolerance=tolerance)
    app = create_app(settings)  # loads the model; the port refuses connections meanwhile
    bound_host, bound_port = sock.getsockname()[:2]
    try:  # another server bound the port while this one loaded (bound sockets may share it)
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        raise click.ClickException(f"cannot listen on {host}:{bound_port} ({exc.strerror}); "
                                   "pick another --port or stop what uses it") from None
    if token is None and not is_loopback(bound_host):
        info(f"warning: listening on {host} without a token: anyone who reaches the port can "
             f"score; use --token-file or {TOKEN_ENV}")
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    ready = (f"serving {app.state.batcher.model.version} on http://{shown}:{bound_port} "
             f"(docs: /docs; token: {'required' if token else 'none'}; reload: SIGHUP, pid "
             f"{os.getpid()})")

    class Server(uvicorn.Server):
        async def startup(self, sockets=None) -> None:
            await super().startup(sockets)  # listens
            if not self.should_exit:
                info(ready)  # said once connections are accepted

    config = uvicorn.Config(app, log_level="info", access_log=access_log, backlog=BACKLOG,
                            timeout_graceful_shutdown=10)
    Server(config).run(sockets=[sock])

