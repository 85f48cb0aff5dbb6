"""The command line's side of asag's errors: library code raises `AsagError`s
(asag/errors.py), and here they become the Click exceptions Click prints as one line
(`Error: ...`, exit 1; an option's problem with the usage line, exit 2; Ctrl-C 130)."""

from __future__ import annotations

import click

from asag.errors import AsagError, OptionError


def click_error(exc: AsagError, ctx: click.Context | None = None) -> click.ClickException:
    """The Click exception that shows `exc` as its one line, with its exit status."""
    if isinstance(exc, OptionError):
        if exc.option:  # shown as given: "'--scale'", "--url / LABEL_STUDIO_URL"
            return click.BadParameter(exc.message, ctx=ctx, param_hint=exc.option)
        return click.UsageError(exc.message, ctx=ctx)
    error = click.ClickException(exc.message)
    error.exit_code = exc.exit_code
    return error


class AsagContext(click.Context):
    """Runs a command and converts the AsagError it raises, knowing the command (so a usage
    error shows that command's usage line, as Click's own do)."""

    def invoke(self, callback, /, *args, **kwargs):
        try:
            return super().invoke(callback, *args, **kwargs)
        except AsagError as exc:
            raise click_error(exc, self) from None


def adopt(command: click.Command) -> click.Command:
    """Make `command` (and a group's sub-commands) run in an AsagContext."""
    command.context_class = AsagContext
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            adopt(sub)
    return command
