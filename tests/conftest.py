"""Shared fixtures. Label Studio's server fixture lives in ls_server.py; model fixtures in
model_fixtures.py (import them in the test modules that need them)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def scientsbank() -> Path:
    """The SciEntsBank CSVs in ../shared/data (never copied into the repository)."""
    path = SHARED_DATA / "scientsbank"
    if not (path / "3way_train.csv").is_file():
        pytest.skip(f"SciEntsBank data not found at {path} (../shared is absent)")
    return path
