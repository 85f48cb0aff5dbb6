"""The command root: help everywhere, a version, and no heavy imports before they are needed."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from asag import __version__
from asag.cli import COMMANDS, cli

HEAVY = ("torch", "transformers", "datasets", "pandas", "label_studio_sdk", "sklearn")


def all_commands():
    ctx = click.Context(cli)
    for name in cli.list_commands(ctx):
        command = cli.get_command(ctx, name)
        yield [name], command
        if isinstance(command, click.Group):
            for sub in command.list_commands(ctx):
                yield [name, sub], command.get_command(ctx, sub)


def test_every_command_in_the_map_is_built_and_loads():
    ctx = click.Context(cli)
    assert cli.list_commands(ctx) == list(COMMANDS)


@pytest.mark.parametrize("path", [p for p, _ in all_commands()], ids=" ".join)
def test_every_command_has_help_text_and_answers_h(path):
    result = CliRunner().invoke(cli, [*path, "-h"])
    assert result.exit_code == 0, result.output
    ctx = click.Context(cli)
    command = cli
    for part in path:
        command = command.get_command(ctx, part)
    assert (command.help or "").strip(), f"asag {' '.join(path)} has no help text"


def test_version():
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_help_imports_no_heavy_library():
    code = (
        "import sys; from asag.cli import main; sys.argv = ['asag', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_unknown_command_is_a_one_line_usage_error():
    result = CliRunner().invoke(cli, ["gahter"])
    assert result.exit_code == 2 and "No such command 'gahter'" in result.output
