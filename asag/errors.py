"""asag's own errors: one line naming the file, line and column to fix, and how.

Library code raises these and never Click's classes, so Python callers (`asag.train.Scorer`,
`Scale.parse`) catch `AsagError`; the CLI's entry point turns them into Click's one-line
`Error: ...` (asag.cli) and `asag serve` into JSON replies."""

from __future__ import annotations


class AsagError(Exception):
    """A problem the user can fix: where it is (file, line, column), what, and how."""

    exit_code = 1  # the CLI's exit status for it

    def __init__(
        self,
        problem: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.problem, self.file, self.line, self.column, self.fix = problem, file, line, column, fix
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """The whole line: `file:line: column 'c': problem; fix`."""
        where = ""
        if self.file is not None:
            where = f"{self.file}:{self.line}: " if self.line is not None else f"{self.file}: "
        return f"{where}{self.reason}" + (f"; {self.fix}" if self.fix else "")

    @property
    def reason(self) -> str:
        """The message without the location, for side files of rejected rows."""
        col = f"column '{self.column}': " if self.column else ""
        return f"{col}{self.problem}"

    def __str__(self) -> str:
        return self.message


class InputError(AsagError):
    """A bad input file, row or directory."""


class OptionError(AsagError, ValueError):
    """A bad option value or combination; `option` ('--epochs') names it when there is one.
    The CLI shows it as Click shows its own usage errors: with the usage line, exit status 2."""

    exit_code = 2

    def __init__(self, problem: str, *, option: str | None = None, fix: str | None = None) -> None:
        self.option = option
        super().__init__(problem, fix=fix)


class ScaleError(OptionError):
    """A scale spec that is not usable (a ValueError, as a bad value is to Python)."""

    def __init__(self, problem: str, *, option: str | None = "--scale") -> None:
        super().__init__(problem, option=option)


class LabelStudioError(AsagError):
    """Label Studio cannot be reached, refuses the request, or is not set up as asag needs."""


class Interrupted(AsagError):
    """Ctrl-C during long work: one line on what was kept and how to continue; exit status
    130, as a shell reports SIGINT."""

    exit_code = 130


def one_line(exc: BaseException) -> str:
    """What to tell the user of `exc`: an AsagError's own line, anything else with its type
    (a bug or a library's error, whose text alone may not say what failed)."""
    return str(exc) if isinstance(exc, AsagError) else f"{type(exc).__name__}: {exc}"
