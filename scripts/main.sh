#!/usr/bin/env bash
# The main job on embedded defaults: set up (idempotent), then run the loop on the bundled
# sample into ./runs/sample. Re-running reuses what exists.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1
ASAG=.venv/bin/asag
OUT=runs/sample
mkdir -p "$OUT"

echo "== gather: examples/sample_answers.csv -> $OUT/raw.jsonl"
$ASAG gather examples/sample_answers.csv -o "$OUT/raw.jsonl"
echo
echo "Done. Raw answer records: $OUT/raw.jsonl"
