"""Label Studio's "Retrieve predictions" on N selected tasks (default 5,000) of a project
pushed by `asag annotate push` (no hint box) and connected from Label Studio's own Model
settings to `asag serve`: Label Studio sends all N tasks in one /predict and stores what
comes back. Reported: predictions stored, the action's seconds, and, as the baseline in
the same run, in-process `Scorer.predict` on the same answers.

    .venv/bin/python benchmarks/bench_retrieve_predictions.py [--tasks 5000] [--model DIR]

A real Label Studio (.venv-labelstudio) in a temporary directory on 127.0.0.1. Without
--model, the tests' tiny 2-layer model (built and trained here, ~1 min) scores: the figure
is then Label Studio's and the service's share, not a full-size model's. Label Studio waits
ML_TIMEOUT_PREDICT (100 s) for /predict: a model that needs longer for N answers stores
nothing."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_serve import start_server  # noqa: E402

from tests.model_fixtures import (  # noqa: E402
    TINY_TRAIN,
    build_tiny_base,
    run_cli,
    yes_no_dataset,
    yes_no_rows,
)

TOKEN = "bench-retrieve-token"


def tiny_model(work: Path) -> Path:
    base = build_tiny_base(work / "base")
    result = run_cli("-q", "train", yes_no_dataset(work / "data"), "-o", work / "model",
                     "--base-model", base, *TINY_TRAIN)
    assert result.exit_code == 0, result.output
    return work / "model"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--model", type=Path, default=None)
    args = parser.parse_args()

    from asag.annotate import project as projects
    from asag.annotate import server
    from asag.annotate.connection import connect, plain
    from asag.train import Scorer

    work = Path(tempfile.mkdtemp(prefix="asag-bench-retrieve-"))
    model = args.model or tiny_model(work)
    rows = yes_no_rows(args.tasks, seed=7)
    records = [{**{k: r[k] for k in ("id", "question_id", "question", "reference_answer",
                                     "student_answer")},
                "source": {"file": "answers.csv", "line": i + 2}} for i, r in enumerate(rows)]
    answers = work / "answers.jsonl"
    answers.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")

    os.environ.setdefault(server.LABEL_STUDIO_ENV, str(ROOT / ".venv-labelstudio" / "bin" /
                                                      "label-studio"))
    creds, _ = server.start(work / "ls", port=server.free_port(), timeout=900)
    (work / "token").write_text(TOKEN)
    proc, url = start_server(model, ["--token-file", str(work / "token")])
    try:
        env = {**os.environ, "LABEL_STUDIO_URL": creds.url, "LABEL_STUDIO_API_KEY": creds.token}
        subprocess.run([sys.executable, "-m", "asag", "-q", "annotate", "push", str(answers),
                        "--project", "retrieve-bench", "--scale", "incorrect,correct"],
                       check=True, cwd=work, env=env)
        api = connect(creds.url, creds.token)
        project = projects.find(api, "retrieve-bench")
        api.sdk.ml.create(project=project["id"], url=url, title="asag",
                          auth_method="BASIC_AUTH", basic_auth_user="labelstudio",
                          basic_auth_pass=TOKEN)
        load = os.getloadavg()[0]
        started = time.perf_counter()
        api.sdk.actions.create(id="retrieve_tasks_predictions", project=project["id"],
                               selected_items={"all": True, "excluded": []},
                               request_options={"timeout_in_seconds": 900})
        action = time.perf_counter() - started
        stored = len([plain(p) for p in api.sdk.predictions.list(project=project["id"])])

        scorer = Scorer.load(model)
        started = time.perf_counter()
        scorer.predict(records, batch_size=32)
        direct = time.perf_counter() - started
    finally:
        proc.terminate()
        proc.wait(30)
        server.stop(work / "ls")

    print(f"model {model}; {args.tasks:,} tasks; load average {load:.2f} at the action's "
          f"start, {os.cpu_count()} CPUs")
    print("| what | tasks | predictions stored | seconds | tasks/s | vs in-process |")
    print("|---|---:|---:|---:|---:|---:|")
    print(f"| in-process Scorer.predict (baseline) | {args.tasks:,} | - | {direct:.1f} | "
          f"{args.tasks / direct:.0f} | 1.00 |")
    print(f"| Label Studio \"Retrieve predictions\" -> asag serve | {args.tasks:,} | {stored:,} | "
          f"{action:.1f} | {args.tasks / action:.0f} | {direct / action:.2f} |")


if __name__ == "__main__":
    main()
