"""A progress bar advanced by counts (batches of answers), honouring `asag --quiet`."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

import click

from asag.console import is_quiet


@contextlib.contextmanager
def counter(total: int, label: str) -> Iterator[Callable[[int], None]]:
    """Yield `advance(n)`; a bar on stderr unless quiet."""
    if is_quiet() or total == 0:
        yield lambda n: None
        return
    with click.progressbar(length=total, label=label, file=sys.stderr, show_pos=True) as bar:
        yield bar.update
