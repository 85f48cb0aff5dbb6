"""The same `asag train` under `torchrun --nproc_per_node 2` on the CPU (gloo): both
processes train together, and the scorer directory is written once, by the main process."""
# ruff: noqa: F811  (pytest fixtures imported from tests/model_fixtures.py)

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

from tests.model_fixtures import tiny_base, yes_no_dir  # noqa: F401  (fixtures)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_cpu_run_trains_together_and_saves_exactly_once(tmp_path, tiny_base,
                                                                    yes_no_dir):
    out = tmp_path / "model"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
           "-m", "asag", "train", str(yes_no_dir), "-o", str(out), "--base-model", str(tiny_base),
           "--max-steps", "4", "--eval-steps", "2", "--batch-size", "8", "--logging-steps", "1000"]
    run = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-3000:]
    assert log.count("saved scorer to") == 1  # only rank 0 finishes the directory
    assert log.count("| test | 40 |") == 1
    manifest = json.loads((out / "asag_scorer.json").read_text())
    assert manifest["training"]["processes"] == 2
    assert manifest["training"]["steps"] == 4
    # 160 answers / (2 processes x 8 per batch) = 10 steps per epoch
    assert manifest["training"]["epochs_run"] == 0.4
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md", "asag_scorer.json", "config.json", "embedder", "memory",
        "model.safetensors", "tokenizer.json", "tokenizer_config.json"]
