"""One-line user errors that point at the file, line and column to fix."""

from __future__ import annotations

import click


class InputError(click.ClickException):
    """Bad input: names where it is and how to fix it, never a traceback."""

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
        where = ""
        if file is not None:
            where = f"{file}:{line}: " if line is not None else f"{file}: "
        col = f"column '{column}': " if column else ""
        super().__init__(f"{where}{col}{problem}" + (f"; {fix}" if fix else ""))

    @property
    def reason(self) -> str:
        """The message without the location, for side files of rejected rows."""
        col = f"column '{self.column}': " if self.column else ""
        return f"{col}{self.problem}"


class Interrupted(click.ClickException):
    """Ctrl-C during long work: one line on what was kept and how to continue; exit status
    130, as a shell reports SIGINT."""

    exit_code = 130
