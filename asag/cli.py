"""The `asag` command root. Sub-commands are imported only when used, so `asag --help`
never pays for torch, transformers or pandas."""

from __future__ import annotations

import importlib
from pathlib import Path

import click

from asag import __version__
from asag.errors import AsagError
from asag.errors_cli import AsagContext, adopt, click_error

# name -> "module:attribute"; each module imports only light things at its top.
COMMANDS = {
    "gather": "asag.gather_cli:gather",
    "labelstudio": "asag.annotate.labelstudio_cli:labelstudio",
    "annotate": "asag.annotate.cli:annotate",
    "build-dataset": "asag.build_dataset.cli:build_dataset",
    "train": "asag.train.cli:train",
    "evaluate": "asag.train.cli:evaluate",
    "score": "asag.train.cli:score",
    "calibrate": "asag.train.cli:calibrate",
    "gradebook": "asag.gradebook_cli:gradebook",
    "export": "asag.train.cli:export",
    "serve": "asag.serve.cli:serve",
}


class LazyGroup(click.Group):
    """Loads a command when it is named; every command runs in an AsagContext, which turns
    the library's AsagErrors into Click's one-line errors."""

    context_class = AsagContext

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except AsagError as exc:  # raised while reading options, outside any command's body
            raise click_error(exc, None) from None

    def list_commands(self, ctx):
        return [name for name in COMMANDS if self._load(name) is not None]

    def get_command(self, ctx, name):
        return self._load(name)

    @staticmethod
    def _load(name):
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        try:
            return adopt(getattr(importlib.import_module(module), attr))
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("asag"):
                return None  # a command not built yet
            raise


CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(cls=LazyGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "-V", "--version", prog_name="asag")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars or status lines.")
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Defaults file (default: ./asag.toml if present). Flags and env vars override it.",
)
@click.pass_context
def cli(ctx: click.Context, quiet: bool, config: Path | None) -> None:
    """Turn teachers' scores of short answers into a dataset, and train a BERT scorer on it.

    The loop: gather -> annotate push -> (teachers score in Label Studio) -> annotate pull
    -> build-dataset -> train -> evaluate / score.
    """
    from asag.config import load_default_map

    ctx.obj = {**(ctx.obj or {}), "quiet": quiet}
    ctx.default_map = load_default_map(config, cli)


def main() -> None:
    # "process": the command owns the process (not a CliRunner or a caller's Python), so it
    # may change process-wide state such as the SIGINT handler once its work is done
    cli(prog_name="asag", obj={"process": True})
