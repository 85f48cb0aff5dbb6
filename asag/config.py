"""Per-course defaults from `asag.toml` in the working directory.

Each table is a command (nested for groups), each key one of its options, e.g.::

    [annotate]
    url = "http://127.0.0.1:8080"
    [annotate.push]
    project = "physics-2026"
    scale = "0-5"
    [gather]
    question_col = "Kérdés"

Click's precedence then gives: flag > environment variable > this file > built-in default.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import click

from asag.errors import InputError

CONFIG_NAME = "asag.toml"


def load_default_map(path: Path | None, group: click.Group) -> dict:
    """Read the file into Click's default_map; unknown tables and keys are one-line errors."""
    if path is None:
        candidate = Path.cwd() / CONFIG_NAME
        if not candidate.is_file():
            return {}
        path = candidate
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("config file not found", file=str(path), fix="check --config") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"not valid TOML ({exc})", file=str(path), fix="fix the file") from None
    _check(data, group, path, prefix="")
    return data


def _check(table: dict, command: click.Command, path: Path, prefix: str) -> None:
    ctx = click.Context(command)
    for key, value in table.items():
        name = f"{prefix}{key}"
        sub = command.get_command(ctx, key) if isinstance(command, click.Group) else None
        if sub is not None:
            if not isinstance(value, dict):
                raise InputError(f"'{name}' must be a table ([{name}])", file=str(path))
            _check(value, sub, path, prefix=f"{name}.")
            continue
        params = {p.name for p in command.params}
        if key not in params:
            known = ", ".join(sorted(params)) or "none"
            raise InputError(f"unknown setting '{name}'", file=str(path),
                             fix=f"options of '{command.name}' are: {known}")
