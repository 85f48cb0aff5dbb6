"""Click parameter types the commands share."""

from __future__ import annotations

import math
from pathlib import Path

import click


class FiniteFloatRange(click.FloatRange):
    """click.FloatRange that also refuses nan and infinity: a range check lets nan through
    (every comparison with it is false), and `1e999` reads as infinity."""

    def convert(self, value, param, ctx):
        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return super().convert(number, param, ctx)


class TokenFile(click.Path):
    """An existing file holding a token: the option's value is the token (surrounding
    whitespace removed); an unreadable or empty file is refused in one line."""

    name = "file"

    def __init__(self) -> None:
        super().__init__(exists=True, dir_okay=False, path_type=Path)

    def convert(self, value, param, ctx):
        path = super().convert(value, param, ctx)
        try:
            token = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            self.fail(f"cannot read {path} ({exc})", param, ctx)
        if not token:
            self.fail(f"{path} is empty; put the token in it", param, ctx)
        return token


MAX_ERROR_HELP = ("Mark each answer auto (scored without a teacher) or needs_teacher, so that "
                  "the error rate among auto-scored answers stays <= RATE, e.g. 0.05 "
                  "(calibrated scorers).")
TOLERANCE_HELP = ("With --max-error on numeric scales: an auto-score is an error only when "
                  "more than T from the teachers' score (0: exact; 1: within one point).")


def decision_options(max_error_help: str = MAX_ERROR_HELP, tolerance_help: str = TOLERANCE_HELP):
    """--max-error RATE and --tolerance T: the auto-scoring decision (Scorer.predict's
    max_error / tolerance), the same wherever a scorer scores (`asag score`, `asag serve`,
    push's hints)."""
    def decorate(f):
        f = click.option("--tolerance", type=FiniteFloatRange(0), default=0.0,
                         show_default=True, metavar="T", help=tolerance_help)(f)
        return click.option("--max-error", type=FiniteFloatRange(0, 1, min_open=True,
                                                                 max_open=True),
                            default=None, metavar="RATE", help=max_error_help)(f)
    return decorate
