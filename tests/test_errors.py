"""Library code raises asag's own errors (asag/errors.py), never Click's; the command line
turns each into Click's one line with the same exit status, and the line is pinned whole."""

from __future__ import annotations

import ast
import socket
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from asag.cli import cli
from asag.errors import AsagError, InputError, Interrupted, LabelStudioError, OptionError
from asag.errors_cli import click_error

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("asag", "annotate", "build_dataset", "train", "serve")
CLICK_ERRORS = {"ClickException", "UsageError", "BadParameter", "BadOptionUsage",
                "BadArgumentUsage", "MissingParameter", "NoSuchOption", "FileError", "Abort"}


def _library_modules():
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if not path.name.endswith("cli.py"):  # the Click commands may raise Click's errors
                yield path


def _click_names(tree: ast.Module) -> set[str]:
    """Names bound to Click's error classes (`from click import UsageError`)."""
    return {alias.asname or alias.name for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module == "click"
            for alias in node.names if alias.name in CLICK_ERRORS}


def _is_click_error(node: ast.AST, imported: set[str]) -> bool:
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return isinstance(node.value, ast.Name) and node.value.id == "click" \
            and node.attr in CLICK_ERRORS
    return isinstance(node, ast.Name) and node.id in imported


def _param_type_bodies(tree: ast.Module) -> set[ast.AST]:
    """Nodes inside Click ParamType classes, which report through `self.fail`."""
    inside = set()
    for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
        if any(ast.unparse(base).startswith("click.") and ast.unparse(base).endswith(
                ("ParamType", "Range", "Choice", "Path")) for base in cls.bases):
            inside.update(ast.walk(cls))
    return inside


def test_no_library_module_raises_or_subclasses_a_click_error():
    """Python callers (asag.train.Scorer, Scale.parse) catch AsagError: Click's classes
    stay in the command modules (*cli.py) and Click parameter types."""
    found = []
    for path in _library_modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported, skip = _click_names(tree), _param_type_bodies(tree)
        for node in ast.walk(tree):
            if node in skip:
                continue
            where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.Call) and _is_click_error(node, imported):
                found.append(f"{where}: makes {ast.unparse(node)[:60]}")  # raised or returned
            elif isinstance(node, ast.Raise) and isinstance(node.exc, ast.Attribute | ast.Name) \
                    and _is_click_error(node.exc, imported):
                found.append(f"{where}: raises {ast.unparse(node.exc)}")
            elif isinstance(node, ast.ClassDef) and any(
                    _is_click_error(base, imported) for base in node.bases):
                found.append(f"{where}: class {node.name} is a Click error")
            elif isinstance(node, ast.ExceptHandler) and node.type is not None and any(
                    _is_click_error(t, imported) for t in getattr(node.type, "elts",
                                                                  [node.type])):
                found.append(f"{where}: catches {ast.unparse(node.type)}")
    assert found == []


def test_the_source_walk_sees_every_form_of_a_click_error():
    """The check above would catch `raise click.X(...)`, a factory returning one, an
    imported name, a subclass and a handler (a walk that saw none would pass vacuously)."""
    tree = ast.parse("import click\nfrom click import UsageError as U\n"
                     "class E(click.BadParameter): pass\n"
                     "def bad(): return click.ClickException('x')\n"
                     "try:\n    raise click.Abort\nexcept (U, KeyError):\n    raise U('y')\n")
    imported = _click_names(tree)
    made = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    raised = [n.exc for n in ast.walk(tree) if isinstance(n, ast.Raise)]
    handler = next(n for n in ast.walk(tree) if isinstance(n, ast.ExceptHandler))
    cls = next(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef))
    assert imported == {"U"} and len(made) == 2 and len(raised) == 2
    assert all(_is_click_error(n, imported) for n in (*made, *raised, cls.bases[0],
                                                         handler.type.elts[0]))


def test_scorer_load_of_a_bad_directory_raises_asag_error_not_a_click_one(tmp_path):
    from asag.train import Scorer

    with pytest.raises(AsagError) as caught:
        Scorer.load(tmp_path)
    assert not isinstance(caught.value, click.ClickException)
    assert isinstance(caught.value, InputError)
    assert str(caught.value) == (f"{tmp_path}: not an asag scorer directory (no "
                                 "asag_scorer.json); give the -o directory of a finished "
                                 "'asag train'")


def test_training_arguments_raise_a_value_error_naming_the_option():
    from asag.train.args import TrainArgs

    with pytest.raises(ValueError) as caught:
        TrainArgs(warmup_ratio=2)
    assert isinstance(caught.value, OptionError)
    assert str(caught.value) == "Invalid value for '--warmup-ratio': must be in [0, 1)"


@pytest.mark.parametrize(("error", "kind", "code", "shown"), [
    (InputError("empty student answer", file="a.csv", line=2, column="student_answer",
                fix="fill it in"), click.ClickException, 1,
     "a.csv:2: column 'student_answer': empty student answer; fill it in"),
    (LabelStudioError("cannot reach Label Studio"), click.ClickException, 1,
     "cannot reach Label Studio"),
    (Interrupted("interrupted; run it again"), click.ClickException, 130,
     "interrupted; run it again"),
    (OptionError("give --scale", option="'--scale'"), click.BadParameter, 2,
     "Invalid value for '--scale': give --scale"),
    (OptionError("give one of them"), click.UsageError, 2, "give one of them"),
])
def test_each_asag_error_becomes_the_click_error_with_its_exit_status(error, kind, code,
                                                                     shown):
    converted = click_error(error)
    assert type(converted) is kind and converted.exit_code == code
    assert converted.format_message() == shown


def run(*args, code: int) -> list[str]:
    result = CliRunner().invoke(cli, list(map(str, args)))
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # never a traceback
    return result.output.strip().splitlines()


def test_a_bad_scale_is_one_line_after_the_usage(tmp_path):
    lines = run("build-dataset", tmp_path / "a.jsonl", "--items", tmp_path / "raw.jsonl",
                "-o", tmp_path / "d", "--scale", "0-5x", code=2)
    assert lines[0] == "Usage: cli build-dataset [OPTIONS] [INPUTS]..."
    assert lines[-1] == (
        "Error: Invalid value for '--scale': '0-5x' is neither a range such as '0-5' / "
        "'0-10 step 0.5' nor two or more distinct comma-separated labels such as "
        "'incorrect,partially_correct,correct'")


def test_a_bad_training_argument_names_its_option(tmp_path):
    lines = run("train", tmp_path, "-o", tmp_path / "m", "--warmup-ratio", "2", code=2)
    assert lines[-1] == "Error: Invalid value for '--warmup-ratio': must be in [0, 1)"


def test_a_bad_scorer_directory_is_one_line(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "in.csv").write_text("question,reference_answer,student_answer\nq,r,a\n")
    lines = run("score", tmp_path / "m", tmp_path / "in.csv", "-o", tmp_path / "o.csv", code=1)
    assert lines == [f"Error: {tmp_path / 'm'}: not an asag scorer directory (no "
                     "asag_scorer.json); give the -o directory of a finished 'asag train'"]


def test_a_misspelt_setting_in_the_config_file_is_one_line(tmp_path):
    config = tmp_path / "asag.toml"
    config.write_text("[train]\nepoch = 3\n")
    lines = run("--config", config, "train", tmp_path, "-o", tmp_path / "m", code=1)
    assert len(lines) == 1 and lines[0].startswith(
        f"Error: {config}: unknown setting 'train.epoch'; options of 'train' are: ")
    assert "epochs" in lines[0].split(" are: ")[1].split(", ")


def test_label_studio_refusing_connections_is_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with socket.socket() as bound:  # bound, never listening: connections are refused
        bound.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{bound.getsockname()[1]}"
        lines = run("annotate", "--url", url, "--api-key", "k", "pull", "--project", "p",
                    "-o", "o.jsonl", code=1)
    assert lines == [f"Error: cannot reach Label Studio at {url} ([Errno 111] Connection "
                     "refused); start it with `asag labelstudio start` or fix --url / "
                     "LABEL_STUDIO_URL"]


def test_a_dataset_directory_with_only_its_manifest_is_one_line(tmp_path):
    """datasets' own FileNotFoundError used to escape as a traceback."""
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "manifest.json").write_text('{"scale": "0-5"}')
    lines = run("train", tmp_path / "d", "-o", tmp_path / "m", code=1)
    assert lines == [f"Error: {tmp_path / 'd'}: has a manifest.json but no dataset files; "
                     "rebuild it with 'asag build-dataset'"]
