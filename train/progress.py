"""Progress advanced by counts (batches of answers), honouring `asag --quiet`: a bar on a
terminal, and a plain line every ASAG_PROGRESS_SECONDS (default 30) when stderr goes to a
file or a pipe, so a long run under nohup or a scheduler still shows it is alive."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator

import click

from asag.console import is_quiet


@contextlib.contextmanager
def counter(total: int, label: str, *, start: int = 0) -> Iterator[Callable[[int], None]]:
    """Yield `advance(n)`; `start` items were done before (a resumed run)."""
    if is_quiet() or total == 0:
        yield lambda n: None
        return
    if not sys.stderr.isatty():
        yield _lines(total, label, start)
        return
    with click.progressbar(length=total, label=label, file=sys.stderr, show_pos=True) as bar:
        bar.update(start)
        yield bar.update


def _lines(total: int, label: str, start: int) -> Callable[[int], None]:
    try:
        every = float(os.environ.get("ASAG_PROGRESS_SECONDS", "30"))
    except ValueError:
        every = 30.0
    began = last = time.monotonic()
    done = start

    def advance(n: int) -> None:
        nonlocal done, last
        done += n
        now = time.monotonic()
        if now - last < every and done < total:
            return
        last = now
        rate = (done - start) / (now - began) if now > began else 0.0
        left = f", ~{(total - done) / rate / 60:.1f} min left" if rate and done < total else ""
        click.echo(f"{label}: {done:,}/{total:,} ({100 * done / total:.0f}%), {rate:.1f}/s{left}",
                   err=True)

    return advance
