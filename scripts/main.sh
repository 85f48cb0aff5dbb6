#!/usr/bin/env bash
# The main job on embedded defaults: set up (idempotent), then run the whole loop on the
# bundled sample into ./runs/sample, with two SIMULATED teachers scoring in the local Label
# Studio, and a retraining round on new answers pre-annotated by the first model.
# Re-running reuses what exists (the server, the project, its scores, the datasets, models).
# Trainings use asag train's defaults (epochs from the data size); ASAG_TRAIN_EPOCHS=N caps
# them at N epochs for a quicker demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1
export TOKENIZERS_PARALLELISM=false
ASAG=.venv/bin/asag
PY=.venv/bin/python
OUT=runs/sample
PROJECT="asag sample"
TEACHERS=teacher_a,teacher_b
QUICK=(--logging-steps 1000 ${ASAG_TRAIN_EPOCHS:+--epochs "$ASAG_TRAIN_EPOCHS"})
mkdir -p "$OUT"
started=$SECONDS
step() { printf '\n== [%ss] %s\n' "$((SECONDS - started))" "$*"; }

step "Label Studio (local, 127.0.0.1)"
$ASAG labelstudio start

step "gather the sample: examples/sample_answers.csv -> $OUT/raw.jsonl"
$ASAG gather examples/sample_answers.csv -o "$OUT/raw.jsonl"
# every answer of both rounds, the items the datasets are built from
$ASAG -q gather examples/sample_answers.csv examples/sample_new_answers.csv -o "$OUT/raw-all.jsonl"

step "push to the project '$PROJECT' (scale 0-5, two teachers per answer, the sample's rubric)"
$ASAG annotate push "$OUT/raw.jsonl" --project "$PROJECT" --scale 0-5 --annotations-per-answer 2 \
  --rubric examples/sample_rubric.yaml

step "SIMULATED teachers score every answer (two Label Studio accounts, through the API)"
$ASAG annotate simulate --project "$PROJECT" --scores examples/sample_answers.csv \
  --teacher-cols "$TEACHERS"

step "pull the scores -> $OUT/annotations.jsonl"
$ASAG annotate pull --project "$PROJECT" -o "$OUT/annotations.jsonl"

# build_once DIR: build a dataset (split by answer) unless DIR already holds one
build_once() {
  if [ -f "$1/manifest.json" ]; then
    echo "reusing the dataset $1 (delete it to rebuild)"
  else
    $ASAG build-dataset "$OUT/annotations.jsonl" --items "$OUT/raw-all.jsonl" --split-by answer \
      -o "$1"
  fi
}
# train_once DIR [options]: train on the default model unless DIR already holds a scorer
train_once() {
  local dir=$1 data=$2
  shift 2
  if [ -f "$dir/asag_scorer.json" ]; then
    echo "reusing the scorer $dir (delete it to retrain)"
  else
    # quiet: its metrics are shown by the evaluate and side-by-side steps below
    $ASAG -q train "$data" -o "$dir" "${QUICK[@]}" --overwrite "$@" >/dev/null
  fi
}

step "build the dataset -> $OUT/data/v1"
build_once "$OUT/data/v1"

step "train a scorer with the default recipe -> $OUT/models/v1 (a few minutes)"
train_once "$OUT/models/v1" "$OUT/data/v1"

step "evaluate $OUT/models/v1 on the test split"
$ASAG evaluate "$OUT/models/v1" "$OUT/data/v1" -o "$OUT/models/v1/eval"

step "score new answers with it (the Python API does the same: Scorer.load(dir).score(...))"
$ASAG score "$OUT/models/v1" examples/sample_new_answers.csv -o "$OUT/new.scored.csv"
$PY - "$OUT/new.scored.csv" <<'EOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], encoding="utf-8")))
print(f"  {'student answer':<58} {'model':>6} {'teachers':>9}")
shown = {}  # the first answer of each teacher_a score, English and Hungarian
for row in rows:
    shown.setdefault((row["teacher_a"], row["question_id"].startswith("hu-")), row)
for row in sorted(shown.values(), key=lambda r: float(r["teacher_a"])):
    print(f"  {row['student_answer'][:58]:<58} {float(row['predicted_score']):>6.2f} "
          f"{row['teacher_a'] + ', ' + row['teacher_b']:>9}")
EOF

step "retraining round: push NEW answers with model v1's scores as hints (nothing pre-selected)"
$ASAG gather examples/sample_new_answers.csv -o "$OUT/raw-new.jsonl"
$ASAG annotate push "$OUT/raw-new.jsonl" --project "$PROJECT" --predictions-from "$OUT/models/v1"

step "SIMULATED teachers score some of the new answers (push's order: least certain, random, ...)"
$ASAG annotate simulate --project "$PROJECT" --scores examples/sample_new_answers.csv \
  --teacher-cols "$TEACHERS" --limit 60

step "incremental pull -> $OUT/annotations.jsonl"
$ASAG annotate pull --project "$PROJECT" -o "$OUT/annotations.jsonl"

step "rebuild (same split settings) -> $OUT/data/v2"
build_once "$OUT/data/v2"
$PY - "$OUT/data/v1" "$OUT/data/v2" <<'EOF'
import sys
import pyarrow.parquet as pq
from pathlib import Path

def splits(d):
    return {i: p.stem for p in sorted(Path(d, "parquet").glob("*.parquet"))
            for i in pq.read_table(p, columns=["id"]).column("id").to_pylist()}

old, new = splits(sys.argv[1]), splits(sys.argv[2])
moved = [i for i, s in old.items() if new.get(i) != s]
if moved:
    sys.exit(f"ERROR: {len(moved)} answers of v1 changed split in v2 (first: {moved[0]})")
added = {}
for i, s in new.items():
    if i not in old:
        added[s] = added.get(s, 0) + 1
print(f"same split: all {len(old)} answers of v1 kept their split in v2; new answers: {added}")
EOF

step "retrain -> $OUT/models/v2, compared with v1 on the same test split"
train_once "$OUT/models/v2" "$OUT/data/v2" --previous "$OUT/models/v1"
$ASAG -q evaluate "$OUT/models/v2" "$OUT/data/v2" -o "$OUT/models/v2/eval" >/dev/null

step "side by side: model v1 (previous) and v2 (new) on $OUT/data/v2's test split"
$PY - "$OUT/models/v2/comparison.json" <<'EOF'
import json, sys
from asag.train.evaluation import comparison_table
print(comparison_table(json.load(open(sys.argv[1], encoding="utf-8"))))
EOF

step "gradebook: every answer, its final score and where it came from -> $OUT/gradebook.csv"
# teachers' scores where they exist, model v2's where --max-error trusts it, else open
$ASAG gradebook "$OUT/annotations.jsonl" --items "$OUT/raw-all.jsonl" --model "$OUT/models/v2" \
  --max-error 0.05 -o "$OUT/gradebook.csv"

step "live loop: $OUT/models/v2 serves '$PROJECT live'; a teacher's score teaches it at once"
LIVE="$PROJECT live"
mkdir -p "$OUT/live"
# a fresh project and journal each run, so "before" is before any score
$PY - "$LIVE" <<'EOF'
import sys
from asag.annotate import project as projects
from asag.annotate.connection import connect, resolve
from asag.annotate.server import DEFAULT_DATA_DIR

api = connect(*resolve(None, None, DEFAULT_DATA_DIR))
old = projects.find(api, sys.argv[1])
if old:
    api.sdk.projects.delete(old["id"])
EOF
rm -f "$OUT/live/journal.jsonl"
$ASAG -q annotate push "$OUT/raw-new.jsonl" --project "$LIVE" --scale 0-5 >/dev/null
$ASAG serve "$OUT/models/v2" --port 0 --journal "$OUT/live/journal.jsonl" 2>"$OUT/live/serve.log" &
SERVE_PID=$!
trap 'kill $SERVE_PID 2>/dev/null || true' EXIT
until grep -q " on http://" "$OUT/live/serve.log"; do
  kill -0 $SERVE_PID 2>/dev/null || { cat "$OUT/live/serve.log"; exit 1; }
  sleep 0.5
done
live_url=$(sed -n 's/.* on \(http:[^ ]*\) .*/\1/p' "$OUT/live/serve.log" | head -1)
$ASAG annotate connect-model --project "$LIVE" --url "$live_url"
$PY - "$LIVE" "$live_url" examples/sample_new_answers.csv <<'EOF'
import csv, sys, time
import httpx
from asag.annotate import project as projects
from asag.annotate.connection import connect, every, plain, resolve
from asag.annotate.server import DEFAULT_DATA_DIR

title, url, table = sys.argv[1:]
api = connect(*resolve(None, None, DEFAULT_DATA_DIR))
project = projects.find(api, title)
teacher = {(r["question_id"], " ".join(r["student_answer"].split())): r["teacher_a"]
           for r in csv.DictReader(open(table, encoding="utf-8"))}
tasks = every(api.sdk.tasks.list(project=project["id"], fields="all"))
by_question = {}
for t in sorted(tasks, key=lambda t: t["id"]):
    by_question.setdefault(t["data"]["question_id"], []).append(t)
question, mine = max(by_question.items(), key=lambda kv: len(kv[1]))
scored, rest = mine[:3], mine[3:9]

def hints(version):
    out = {}
    for t in rest:
        preds = plain(api.sdk.tasks.get(str(t["id"])))["predictions"]
        p = [p for p in preds if p["model_version"] == version][-1]
        out[t["id"]] = f"{p['result'][0]['value']['model_score']} ({p['score']:.2f})"
    return out

base = httpx.get(f"{url}/health").json()["model_version"]
before = hints(base)  # a task opened for the first time: Label Studio asks the server
for t in scored:  # SIMULATED teacher: teacher_a's score, submitted in Label Studio
    score = teacher[(question, " ".join(t["data"]["student_answer"].split()))]
    api.sdk.annotations.create(t["id"], result=[{
        "from_name": "score", "to_name": "student_answer", "type": "choices",
        "value": {"choices": [score]}}], lead_time=5.0)
    print(f"  teacher scored {score}: {t['data']['student_answer'][:60]}")
want, started = f"{base}+{len(scored)}", time.monotonic()
while httpx.get(f"{url}/health").json()["model_version"] != want:
    if time.monotonic() - started > 60:
        sys.exit(f"ERROR: the served model did not reach {want} in 60 s")
    time.sleep(0.2)
print(f"  served model: {base} -> {want} after {time.monotonic() - started:.1f} s")
api.sdk.actions.create(id="retrieve_tasks_predictions", project=project["id"],
                       selected_items={"all": False, "included": [t["id"] for t in rest]})
after = hints(want)
print(f"  hints (score, confidence) of {question}'s next answers, before -> after the scores:")
print(f"  {'student answer':<54} {'before':>11} {'after':>11} {'teacher':>7}")
for t in rest:
    text = t["data"]["student_answer"]
    truth = teacher[(question, " ".join(text.split()))]
    print(f"  {text[:54]:<54} {before[t['id']]:>11} {after[t['id']]:>11} {truth:>7}")
EOF
kill $SERVE_PID
wait $SERVE_PID 2>/dev/null || true
trap - EXIT

step "where everything is"
url=$($ASAG labelstudio credentials | sed -n 's/^url: *//p')
cat <<EOF
Label Studio:  $url  - project '$PROJECT'; log in as the admin shown by
               \`$ASAG labelstudio credentials\` (the SIMULATED teachers are
               sim-teacher-a@asag.local and sim-teacher-b@asag.local)
raw answers:   $OUT/raw.jsonl, $OUT/raw-new.jsonl
annotations:   $OUT/annotations.jsonl
datasets:      $OUT/data/v1, $OUT/data/v2 (cards: README.md inside)
models:        $OUT/models/v1, $OUT/models/v2 (reports: eval/report.md inside)
metrics:       $OUT/models/v1/eval/metrics.json, $OUT/models/v2/eval/metrics.json
scored:        $OUT/new.scored.csv
gradebook:     $OUT/gradebook.csv (per question: $OUT/gradebook.summary.csv)

live loop:     $OUT/live/journal.jsonl (the teachers' scores the served model learned)
stop the server: $ASAG labelstudio stop
Done in $((SECONDS - started)) s.
EOF
