"""`asag score` keeps its work: rows are written in order as they are scored, progress shows
as plain lines when stderr is not a terminal, Ctrl-C says how to continue, and `--resume`
ends with exactly the bytes of an uninterrupted run. Also the truncation count."""
# ruff: noqa: F811  (pytest fixtures imported from tests/model_fixtures.py)

from __future__ import annotations

import csv
import json
import os
import random
import signal
import subprocess
import sys
import time

from click.testing import CliRunner

from asag.cli import cli
from tests.model_fixtures import (  # noqa: F401  (fixtures)
    tiny_base,
    trained_scorer,
    yes_no_dir,
    yes_no_rows,
)


def _answers(path, n: int, seed: int = 11):
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "question", "reference_answer", "student_answer"])
        for i, r in enumerate(yes_no_rows(n, seed=seed)):
            w.writerow([i, r["question"], r["reference_answer"], r["student_answer"]])
    return path


def _start(model, source, out, *extra):
    """`asag score` as its own process; stderr goes to a file (not a terminal, no pipe to
    fill), read back by _finish."""
    env = {**os.environ, "ASAG_PROGRESS_SECONDS": "0"}
    log = out.with_name(f"stderr-{time.monotonic_ns()}.txt")
    proc = subprocess.Popen([sys.executable, "-m", "asag", "score", str(model), str(source),
                             "-o", str(out), "--batch-size", "4", *extra],
                            stdout=subprocess.DEVNULL, stderr=log.open("w"), env=env,
                            # a test runner started in the background ignores SIGINT, and
                            # children inherit that: give the command Ctrl-C back
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    proc.log = log
    return proc


def _finish(proc, timeout=600) -> str:
    proc.wait(timeout=timeout)
    return proc.log.read_text()


def _done(state) -> int:
    try:
        return json.loads(state.read_text())["done"]
    except (FileNotFoundError, ValueError, KeyError):
        return 0


def _interrupt_mid_run(proc, state, rng) -> str:
    """SIGINT after this run has put 1-3 chunks of its own on disk (a random number), sent at
    once: the moment follows the run's progress, not the clock, so a fast machine cannot
    finish the whole input first (each try moves on by a few 64-answer chunks of 2,000)."""
    before, deadline = _done(state), time.monotonic() + 300
    target = before + rng.randint(1, 3) * 64
    while time.monotonic() < deadline and proc.poll() is None and _done(state) < target:
        time.sleep(0.005)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    return _finish(proc)


def test_interrupted_three_times_then_resumed_equals_an_uninterrupted_run(tmp_path,
                                                                          trained_scorer):
    source = _answers(tmp_path / "answers.csv", 2000)
    whole = tmp_path / "whole.csv"
    result = CliRunner().invoke(cli, ["score", str(trained_scorer), str(source), "-o",
                                      str(whole), "--batch-size", "4"])
    assert result.exit_code == 0, result.output

    out = tmp_path / "scored.csv"
    state = tmp_path / "scored.csv.partial.json"
    rng = random.Random(5)
    kept = []
    for attempt in range(3):
        proc = _start(trained_scorer, source, out, *(["--resume"] if attempt else []))
        err = _interrupt_mid_run(proc, state, rng)
        assert proc.returncode == 130, err
        assert "Traceback" not in err and "--resume" in err.splitlines()[-1], err
        kept.append(json.loads(state.read_text())["done"])
        assert not out.exists()
    assert kept == sorted(kept) and 0 < kept[0] < 2000 and kept[-1] < 2000
    proc = _start(trained_scorer, source, out, "--resume")
    err = _finish(proc)
    assert proc.returncode == 0, err
    assert f"resumed after {kept[-1]:,}" in err
    assert any(line.startswith("scoring: ") and "/2,000" in line for line in err.splitlines())
    assert out.read_bytes() == whole.read_bytes()
    assert not state.exists() and not (tmp_path / "scored.csv.partial").exists()


def test_resume_with_other_options_or_nothing_to_resume_is_refused(tmp_path, trained_scorer):
    source = _answers(tmp_path / "answers.csv", 1000)
    out = tmp_path / "scored.csv"
    result = CliRunner().invoke(cli, ["score", str(trained_scorer), str(source), "-o", str(out),
                                      "--resume"])
    assert result.exit_code == 1 and "no interrupted run to continue" in result.output
    proc = _start(trained_scorer, source, out)
    _interrupt_mid_run(proc, tmp_path / "scored.csv.partial.json", random.Random(1))
    result = CliRunner().invoke(cli, ["score", str(trained_scorer), str(source), "-o", str(out),
                                      "--resume", "--batch-size", "8"])
    assert result.exit_code == 1
    assert "the interrupted run used another chunk, batch_size" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_summary_counts_answers_cut_to_max_length(tmp_path, trained_scorer):
    source = tmp_path / "a.csv"
    with source.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["question", "reference_answer", "student_answer"])
        w.writerow(["q", "r", "yes"])
        w.writerow(["q", "r", " ".join(["yes it moves"] * 200)])
        w.writerow(["q", "r", " ".join(["no"] * 300)])
    result = CliRunner().invoke(cli, ["score", str(trained_scorer), str(source), "-o",
                                      str(tmp_path / "o.jsonl")])
    assert result.exit_code == 0, result.output
    assert "2 answers were longer than max_length" in result.output


def test_ctrl_c_after_the_output_is_complete_exits_0_without_a_traceback(tmp_path,
                                                                       trained_scorer):
    """A Ctrl-C that lands once every answer is written (here: while the summary is printed,
    the window a fast machine hits) must neither print a traceback nor kill the command."""
    source = _answers(tmp_path / "answers.csv", 20)
    out = tmp_path / "scored.csv"
    hook = ("import os, signal, asag.train.cli as c; say = c.info; "
            "c.info = lambda *a, **k: (os.kill(os.getpid(), signal.SIGINT), say(*a, **k)); "
            "from asag.cli import main; main()")
    proc = subprocess.run([sys.executable, "-c", hook, "score", str(trained_scorer),
                           str(source), "-o", str(out)], capture_output=True, text=True,
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "scored 20 answers" in proc.stderr
    assert len(out.read_text().splitlines()) == 21
