"""`asag serve MODEL`: the scorer as an HTTP service (and Label Studio ML backend). Only
click here; FastAPI, uvicorn and torch load inside the command."""

from __future__ import annotations

import os
from pathlib import Path

import click

TOKEN_ENV = "ASAG_SERVE_TOKEN"


def read_token(token_file: Path | None) -> str | None:
    """The bearer token from --token-file, else $ASAG_SERVE_TOKEN, else None (no auth)."""
    if token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise click.BadParameter(f"cannot read {token_file} ({exc})",
                                     param_hint="'--token-file'") from None
        if not token:
            raise click.BadParameter(f"{token_file} is empty; put the token in it",
                                     param_hint="'--token-file'")
        return token
    return os.environ.get(TOKEN_ENV, "").strip() or None


def bind(host: str, port: int):
    """The listening socket, bound here so a busy port is a one-line error (and port 0 picks
    a free one)."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except (TypeError, ValueError, UnicodeError, OSError) as exc:  # a bad name or a busy port
        sock.close()
        if isinstance(exc, OSError) and exc.errno is not None:
            raise click.ClickException(f"cannot listen on {host}:{port} ({exc.strerror}); pick "
                                       "another --port or stop what uses it") from None
        raise click.ClickException(f"--host {host!r} is not a usable address ({exc}); give an "
                                   "IP address or host name such as 127.0.0.1") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


@click.command()
@click.argument("model", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0: every interface; use a token then).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option("--token-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help=f"File holding the bearer token clients must send "
                                 f"[default: ${TOKEN_ENV}; none: no auth].")
@click.option("--max-body-mb", type=click.FloatRange(0.001), default=2.0, show_default=True,
              help="Largest request body accepted (413 above).")
@click.option("--max-answers", type=click.IntRange(1), default=1000, show_default=True,
              help="Most answers (or Label Studio tasks) per request (413 above).")
@click.option("--max-batch", type=click.IntRange(1), default=64, show_default=True,
              help="Answers of concurrent requests gathered into one batch.")
@click.option("--max-wait-ms", type=click.FloatRange(0), default=5.0, show_default=True,
              help="A batch gathers while requests come less than this apart (at most "
                   "10x this in all).")
@click.option("--batch-size", type=click.IntRange(1), default=4, show_default=True,
              help="Answers per forward pass: a gathered batch is sorted by length and cut "
                   "into these (small ones waste less padding on CPUs).")
@click.option("--int8", is_flag=True, help="Int8 dynamic quantisation (CPU): faster.")
@click.option("--threads", type=click.IntRange(1), default=None,
              help="torch CPU threads [default: torch's choice].")
@click.option("--retrain-after", type=click.IntRange(1), default=None, metavar="N",
              help="Label Studio webhook: say a retrain is due after N new annotations.")
@click.option("--retrain-command", default=None, metavar="CMD",
              help="With --retrain-after: run CMD (a shell command that pulls, builds, trains "
                   "and replaces MODEL; $ASAG_SERVE_MODEL names it) in the background when a "
                   "retrain is due, then reload MODEL.")
@click.option("--journal", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where the live loop keeps teachers' scores from the webhook (replayed at "
                   "start) [default: MODEL.live.jsonl beside MODEL].")
@click.option("--access-log", is_flag=True, help="Log every request (method, path, status).")
def serve(model: Path, host: str, port: int, token_file: Path | None, max_body_mb: float,
          max_answers: int, max_batch: int, max_wait_ms: float, batch_size: int, int8: bool,
          threads: int | None, retrain_after: int | None, retrain_command: str | None,
          journal: Path | None, access_log: bool) -> None:
    """Serve MODEL over HTTP: POST /score, GET /model, POST /reload, docs at /docs, and
    Label Studio's ML backend protocol (/health, /setup, /predict, /webhook).

    Teachers' scores that reach /webhook go into the scorer's graded-answer memory at once
    (and a journal beside it), so the next hints of the question use them.

    Concurrent requests are scored together in batches. SIGHUP (or POST /reload with the
    token) loads MODEL again and swaps it in without failing requests in flight."""
    from asag.console import info

    if retrain_command and not retrain_after:
        raise click.BadParameter("needs --retrain-after N (after how many new annotations)",
                                 param_hint="'--retrain-command'")
    token = read_token(token_file)
    sock = bind(host, port)
    try:
        import uvicorn

        from asag.serve.app import Settings, create_app
        from asag.serve.live import default_journal
    except ImportError as exc:
        raise click.ClickException(f"asag serve needs {exc.name}; pip install 'asag[serve]' "
                                   "(scripts/setup.sh installs it)") from None
    if threads:
        import torch

        torch.set_num_threads(threads)
    settings = Settings(model_dir=model, token=token, max_body=int(max_body_mb * 1_000_000),
                        max_answers=max_answers, max_batch=max_batch,
                        max_wait=max_wait_ms / 1000, batch_size=batch_size, quantize=int8,
                        retrain_after=retrain_after, retrain_command=retrain_command,
                        journal=journal or default_journal(model))
    app = create_app(settings)
    bound_host, bound_port = sock.getsockname()[:2]
    if token is None and host not in ("127.0.0.1", "localhost", "::1"):
        info(f"warning: listening on {host} without a token: anyone who reaches the port can "
             f"score; use --token-file or {TOKEN_ENV}")
    info(f"serving {app.state.batcher.model.version} on http://{bound_host}:{bound_port} "
         f"(docs: /docs; token: {'required' if token else 'none'}; reload: SIGHUP, pid "
         f"{os.getpid()})")
    config = uvicorn.Config(app, log_level="info", access_log=access_log,
                            timeout_graceful_shutdown=10)
    uvicorn.Server(config).run(sockets=[sock])
