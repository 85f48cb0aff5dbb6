#!/usr/bin/env bash
# The test command: set up (idempotent), lint, then the whole test suite. The tests start
# their own Label Studio server on 127.0.0.1 from .venv-labelstudio.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1
.venv/bin/ruff check .
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
