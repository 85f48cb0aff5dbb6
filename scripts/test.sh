#!/usr/bin/env bash
# The test command: set up (idempotent), lint, then the whole test suite. The tests start
# their own Label Studio server on 127.0.0.1 from .venv-labelstudio (the newest supported
# release), and tests/test_labelstudio_versions.py a second one from .venv-labelstudio-oldest.
set -euo pipefail
cd "$(dirname "$0")/.."
ASAG_SETUP_OLDEST_LABEL_STUDIO=1 bash scripts/setup.sh
export ASAG_TEST_LABEL_STUDIO_BIN=${ASAG_TEST_LABEL_STUDIO_BIN:-$PWD/.venv-labelstudio-oldest/bin/label-studio}
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1
.venv/bin/ruff check .
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
