"""The commands the README and the docs pages show still parse: every `asag …` line in
their code blocks."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from asag.cli import cli

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def readme_commands() -> list[str]:
    text = "\n".join(page.read_text(encoding="utf-8") for page in PAGES)
    commands = []
    for block in re.findall(r"```(?:bash|sh|console)\n(.*?)```", text, flags=re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.split(" #")[0].strip()
            line = re.sub(r"^(\.venv/bin/|\$ )", "", line)
            if line.startswith("asag ") or line == "asag":
                commands.append(line)
    return commands


def parse(args: list[str]) -> None:
    """Parse like Click would run it, without running any command body."""
    command: click.Command = cli
    ctx = command.make_context("asag", list(args), resilient_parsing=False)
    while isinstance(command, click.Group):
        rest = [*ctx._protected_args, *ctx.args] if hasattr(ctx, "_protected_args") else [
            *ctx.protected_args, *ctx.args]
        if not rest:
            return
        name, *rest = rest
        sub = command.get_command(ctx, name)
        assert sub is not None, f"no command {name!r}"
        ctx = sub.make_context(name, rest, parent=ctx)
        command = sub


def test_the_readme_shows_commands():
    readme = PAGES[0].read_text(encoding="utf-8")
    assert sum(line.startswith("asag ") for line in readme.splitlines()) >= 5
    assert len(readme_commands()) >= 30


@pytest.mark.parametrize("line", readme_commands())
def test_readme_command_parses(line):
    args = shlex.split(line)[1:]
    if any(a in ("-h", "--help", "--version", "-V") for a in args):
        # these print and exit during parsing: run them (they touch nothing)
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
        assert "Usage:" in result.output or "version" in result.output
        return
    try:
        parse(args)
    except click.BadParameter as exc:  # the example's files need not exist here
        assert "does not exist" in exc.message, exc.format_message()
