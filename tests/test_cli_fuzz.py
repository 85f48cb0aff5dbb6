"""No tracebacks anywhere: every command and sub-command, run with bad option values and with
damaged inputs (missing, empty, binary, truncated JSON, wrong columns, a directory for a file,
a file for a directory), ends with a non-zero exit and a message, never a traceback.

Label Studio is pointed at a closed port and the embedded server at an executable that does
not exist, so nothing starts or connects; no model is ever valid, so nothing trains."""

from __future__ import annotations

import itertools
import json

import click
import pytest
from click.testing import CliRunner

from asag.cli import cli

BAD_TEXT = ["", "=1+1", "x" * 300, "ü\u0000"]
BAD_NUMBER = ["abc", "-1", "1e999", "nan"]
# commands that rightly succeed on these inputs: stopping a server that is not running, and
# gathering a table that has a header and no rows (an empty, valid output) or one in a
# legacy encoding (detected and read)
SUCCEEDS = {("labelstudio", "stop"): ("any",), ("gather",): ("header_only.csv", "latin1.csv")}
BAD_URL = ["127.0.0.1:9", "ftp://x", "http://", "http://[::1", "http://127.0.0.1:notaport"]


def _inputs(root):
    """Damaged files and directories every command gets in turn, by kind."""
    files = {
        "missing.csv": None,
        "empty.csv": b"",
        "binary.csv": bytes(range(256)) * 4,
        "header_only.csv": b"question,reference_answer,student_answer\n",
        "wrong_columns.csv": b"a,b\n1,2\n",
        "broken_quote.csv": b'question,reference_answer,student_answer\n"q,r,a\n',
        "latin1.csv": "question,reference_answer,student_answer\nk\u00e9rd\u00e9s,r,a\n".encode(
            "latin-1"),
        "truncated.jsonl": b'{"id": "a1", "question": "q"\n',
        "list.jsonl": b"[1, 2, 3]\n",
        "wrong_record.jsonl": json.dumps({"id": 5, "score": "high"}).encode() + b"\n",
        "not_excel.xlsx": b"PK\x03\x04 not really a workbook",
    }
    paths = []
    for name, data in files.items():
        path = root / name
        if data is not None:
            path.write_bytes(data)
        paths.append(path)
    scorer = root / "scorer"  # a directory that claims to be a scorer
    scorer.mkdir()
    (scorer / "asag_scorer.json").write_text('{"scale": "0-5", "template": 1}')
    dataset = root / "dataset"
    dataset.mkdir()
    (dataset / "manifest.json").write_text("{oops")
    plain = root / "plain_dir"
    plain.mkdir()
    return {"file": paths + [plain], "dir": [scorer, dataset, plain, root / "missing_dir",
                                             root / "empty.csv"]}


def _commands(group=cli, prefix=()):
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if isinstance(command, click.Group):
            yield from _commands(command, (*prefix, name))
        else:
            yield (*prefix, name), command


def _bad_values(param: click.Parameter) -> list[str]:
    kind = param.type
    if isinstance(kind, click.Choice):
        return ["no-such-choice"]
    if isinstance(kind, (click.types.IntParamType, click.types.FloatParamType)):
        return BAD_NUMBER
    if isinstance(kind, click.Path):
        return []  # the damaged inputs cover paths
    if param.name == "url":
        return BAD_URL
    if param.name in ("scale",):  # unusable, and absurdly many values (one radio button each)
        return ["0-5 step 0", "5-0", "a,a", "", "0-1e9 step 1e-9", "0-100000",
                "0-5 step 0.00001", "0-5 step 0.0000001", "0-" + "9" * 400]
    if param.name == "project":  # blank, and beyond Label Studio's 3-50 characters
        return [*BAD_TEXT, "   ", "ab", "x" * 51]
    if param.name in ("ratios",):
        return ["1,1", "-1,1,1", "x"]
    return BAD_TEXT


def _invocations(path, command, inputs):
    """(argv, what) pairs: required arguments from the damaged inputs, each option bad."""
    args = [p for p in command.params if isinstance(p, click.Argument)]
    options = [p for p in command.params if isinstance(p, click.Option) and not p.is_flag
               and p.name not in ("help",)]

    def arg_values(arg):
        kind = arg.type
        if isinstance(kind, click.Path) and not kind.file_okay:
            return inputs["dir"]
        if isinstance(kind, click.Path):
            return inputs["file"]
        return ["not-an-email", ""]

    base_args = [str(arg_values(a)[0]) for a in args if a.required]
    required = {}
    for opt in options:
        if opt.required:
            kind = opt.type
            if isinstance(kind, click.Path):
                required[opt.opts[0]] = str(inputs["dir" if not kind.file_okay else "file"][1])
            else:
                required[opt.opts[0]] = "x"
    req = list(itertools.chain.from_iterable(required.items()))
    yield [*path], "no arguments"
    # every damaged input in every argument position
    for k, arg in enumerate(args):
        for value in arg_values(arg):
            argv = [str(arg_values(a)[0]) for a in args]
            argv[k] = str(value)
            yield [*path, *argv, *req], f"{arg.name}={value}"
    # every option with each bad value (the rest as given)
    for opt in options:
        values = _bad_values(opt)
        if isinstance(opt.type, click.Path):
            values = [str(v) for v in inputs["dir" if not opt.type.file_okay else "file"][:4]]
        for value in values:
            rest = [x for k, v in required.items() if k != opt.opts[0] for x in (k, v)]
            yield [*path, *base_args, *rest, opt.opts[0], value], f"{opt.name}={value!r}"


@pytest.fixture()
def fuzz_env(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return {"LABEL_STUDIO_URL": "http://127.0.0.1:9", "LABEL_STUDIO_API_KEY": "bad-key",
            "ASAG_LABEL_STUDIO": str(tmp_path / "no-label-studio"),
            "ASAG_LABELSTUDIO_DIR": str(tmp_path / "ls")}


def test_every_command_with_bad_values_and_damaged_inputs_fails_without_a_traceback(
        tmp_path, fuzz_env):
    inputs = _inputs(tmp_path)
    runner = CliRunner()
    runs, tracebacks, exit_zero = 0, [], []
    for path, command in _commands():
        for argv, what in _invocations(path, command, inputs):
            result = runner.invoke(cli, argv, env=fuzz_env)
            runs += 1
            name = f"asag {' '.join(path)} [{what}]"
            if not isinstance(result.exception, SystemExit | None) or \
                    "Traceback" in result.output:
                tracebacks.append(f"{name}: {result.exception!r} {result.output[-300:]}")
            elif result.exit_code == 0 and not {"any", *what.split("/")} & set(
                    SUCCEEDS.get(path, ())):
                exit_zero.append(f"{name}: {result.output[-200:]}")
    print(f"CLI fuzz: {runs} invocations")
    assert runs > 300
    assert tracebacks == []
    assert exit_zero == [], "\n".join(exit_zero)
