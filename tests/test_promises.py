"""README, setup.cfg and the code agree: the Python version, the library floors, and the
error texts the docs quote. Each test fails when one side drifts from the other."""

from __future__ import annotations

import ast
import configparser
import re
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
SOURCE_DIRS = ("asag", "annotate", "build_dataset", "train", "serve")


def setup_cfg() -> configparser.ConfigParser:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg", encoding="utf-8")
    return cfg


def floors() -> dict[str, Version]:
    lines = setup_cfg()["options"]["install_requires"].splitlines()
    reqs = [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]
    return {r.name: min(Version(s.version) for s in r.specifier if s.operator == ">=")
            for r in reqs if any(s.operator == ">=" for s in r.specifier)}


def test_python_requires_matches_the_readme_and_ruff():
    required = setup_cfg()["options"]["python_requires"]
    major_minor = re.fullmatch(r">=(\d+)\.(\d+)", required).groups()
    dotted = ".".join(major_minor)
    assert f"Python {dotted}+" in README
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert f'target-version = "py{"".join(major_minor)}"' in pyproject
    assert sys.version_info[:2] >= tuple(map(int, major_minor))


def test_the_code_needs_python_3_11_features_it_declares():
    """tomllib (asag.toml) and datetime.UTC (pull) arrived in 3.11: the floor may not drop."""
    assert (ROOT / "asag" / "config.py").read_text().count("import tomllib")
    assert Version(setup_cfg()["options"]["python_requires"].lstrip(">=")) >= Version("3.11")


@pytest.mark.parametrize("name", sorted(floors()))
def test_installed_library_meets_its_floor(name):
    assert Version(version(name)) >= floors()[name], f"{name} below the floor in setup.cfg"


def test_floors_cover_the_features_the_code_uses():
    """transformers 5: TrainingArguments(train_sampling_strategy=...); datasets 4: List."""
    import inspect

    import datasets
    import transformers

    found = floors()
    assert found["transformers"] >= Version("5.0")
    assert "train_sampling_strategy" in inspect.signature(transformers.TrainingArguments).parameters
    assert found["datasets"] >= Version("4.0")
    assert hasattr(datasets, "List")


def troubleshooting_quotes() -> list[str]:
    page = (ROOT / "docs" / "labelstudio.md").read_text(encoding="utf-8")
    section = page.split("## Troubleshooting", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^- `([^`]+)`", section, flags=re.M)


def _literal(node: ast.Constant | ast.JoinedStr) -> str:
    """A string literal's text; an f-string's fields as {expression}."""
    if isinstance(node, ast.Constant):
        return node.value
    return "".join(part.value if isinstance(part, ast.Constant) else
                   "{" + ast.unparse(part.value) + "}" for part in node.values)


def message_texts() -> str:
    """Every string literal the code builds, one a line; docstrings and comments left out,
    so a promise quoted in a docstring does not count as printed."""
    texts = []
    for d in SOURCE_DIRS:
        for path in sorted((ROOT / d).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            docstrings = {id(body[0].value) for node in ast.walk(tree)
                          if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef
                                        | ast.AsyncFunctionDef)
                          and (body := node.body) and isinstance(body[0], ast.Expr)}
            inner = {id(part) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr)
                     for part in node.values}
            texts += [_literal(node) for node in ast.walk(tree)
                      if (isinstance(node, ast.JoinedStr) or isinstance(node, ast.Constant)
                          and isinstance(node.value, str))
                      and id(node) not in docstrings | inner]
    return "\n".join(" ".join(text.split()) for text in texts)


def test_the_docs_quote_errors():
    assert len(troubleshooting_quotes()) >= 4


@pytest.mark.parametrize("quote", troubleshooting_quotes())
def test_quoted_error_is_printed_by_the_code(quote):
    """`...` stands for any text (spaces around it included); a number may be an f-string
    field in the source."""
    pattern = ""
    for piece in re.split(r"(\s*\.\.\.\s*|\d+)", quote):
        if piece.strip() == "...":
            pattern += r".*?"
        elif piece.isdigit():
            pattern += r"(?:\d+|\{[^}]*\})"
        else:
            pattern += re.escape(piece)
    assert re.search(pattern, message_texts()), f"the docs quote {quote!r}; no code prints it"
