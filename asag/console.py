"""Messages and progress bars that honour `asag --quiet`."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

import click

T = TypeVar("T")


def is_quiet() -> bool:
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return False
    obj = ctx.find_root().obj
    return bool(isinstance(obj, dict) and obj.get("quiet"))


def info(message: str) -> None:
    """A status line on stderr, so stdout stays clean for data."""
    if not is_quiet():
        click.echo(message, err=True)


def progress(items: Iterable[T], *, length: int | None = None, label: str = "") -> Iterator[T]:
    """Yield from `items` with a progress bar on stderr (none under --quiet)."""
    if is_quiet():
        yield from items
        return
    with click.progressbar(
        items, length=length, label=label, file=sys.stderr, show_pos=True
    ) as bar:
        yield from bar


def figure(value, digits: int = 4) -> str:
    """A figure as the cards and reports write it: '–' for none, floats to `digits`
    decimals, anything else as it is."""
    if value is None:
        return "–"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)
