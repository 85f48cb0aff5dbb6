"""Label Studio's "Retrieve predictions" on N selected tasks (default 5,000) of a project
pushed by `asag annotate push` (no hint box) and connected from Label Studio's own Model
settings to `asag serve`: Label Studio sends all N tasks in one /predict and stores what
comes back. Reported: predictions stored, the action's seconds, and, as the baseline in
the same run, in-process `Scorer.predict` on the same answers, and the same N tasks POSTed
to /predict directly in one request (the service's own share).

    .venv/bin/python benchmarks/bench_retrieve_predictions.py [--tasks 5000] [--model DIR]
        [--no-label-studio]

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
    parser.add_argument("--no-label-studio", action="store_true",
                        help="only the in-process baseline and the direct /predict")
    parser.add_argument("--timeout", type=float, default=3600,
                        help="seconds to wait for Label Studio's action [default: 3600]")
    args = parser.parse_args()

    from asag.train import Scorer

    work = Path(tempfile.mkdtemp(prefix="asag-bench-retrieve-"))
    model = args.model or tiny_model(work)
    rows = yes_no_rows(args.tasks, seed=7)
    records = [{**{k: r[k] for k in ("id", "question_id", "question", "reference_answer",
                                     "student_answer")},
                "source": {"file": "answers.csv", "line": i + 2}} for i, r in enumerate(rows)]
    answers = work / "answers.jsonl"
    answers.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")

    scorer = Scorer.load(model)
    started = time.perf_counter()
    scorer.predict(records, batch_size=32)
    direct = time.perf_counter() - started
    del scorer

    (work / "token").write_text(TOKEN)
    proc, url = start_server(model, ["--token-file", str(work / "token")])
    table = [("in-process Scorer.predict (baseline)", "-", direct)]
    stored = None
    try:
        table.append(("one POST /predict of all tasks, straight to asag serve", "-",
                      direct_predict(url, records)))
        if not args.no_label_studio:
            stored, seconds = through_label_studio(work, url, answers, args.timeout)
            table.append(("Label Studio \"Retrieve predictions\" -> asag serve", f"{stored:,}",
                          seconds))
    finally:
        proc.terminate()
        proc.wait(30)

    print(f"model {model}; {args.tasks:,} tasks; load average {os.getloadavg()[0]:.2f} at the "
          f"end, {os.cpu_count()} CPUs")
    print("| what | tasks | predictions stored | seconds | tasks/s | vs in-process |")
    print("|---|---:|---:|---:|---:|---:|")
    for what, kept, seconds in table:
        print(f"| {what} | {args.tasks:,} | {kept} | {seconds:.1f} | "
              f"{args.tasks / seconds:.0f} | {direct / seconds:.2f} |")


def direct_predict(url: str, records: list[dict]) -> float:
    """Seconds for one /predict of every task, shaped as Label Studio sends them."""
    import httpx

    from asag.annotate.project import label_config
    from asag.scale import Scale

    tasks = [{"id": i + 1, "data": {**{k: v for k, v in r.items() if k not in ("id", "source")},
                                     "answer_id": r["id"]}} for i, r in enumerate(records)]
    body = {"tasks": tasks, "project": "1.1000000000", "params": {"context": {}},
            "label_config": label_config(Scale.parse("incorrect,correct"), "bench")}
    started = time.perf_counter()
    reply = httpx.post(f"{url}/predict", json=body, auth=("labelstudio", TOKEN), timeout=900)
    seconds = time.perf_counter() - started
    assert reply.status_code == 200 and len(reply.json()["results"]) == len(tasks), reply.text
    return seconds


def through_label_studio(work: Path, url: str, answers: Path, timeout: float
                         ) -> tuple[int, float]:
    """(predictions stored, seconds) of "Retrieve predictions" on every task of a project
    pushed from `answers` and connected from Label Studio's own Model settings."""
    from asag.annotate import project as projects
    from asag.annotate import server
    from asag.annotate.connection import connect, plain

    os.environ.setdefault(server.LABEL_STUDIO_ENV, str(ROOT / ".venv-labelstudio" / "bin" /
                                                      "label-studio"))
    creds, _ = server.start(work / "ls", port=server.free_port(), timeout=900)
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
        started = time.perf_counter()
        api.sdk.actions.create(id="retrieve_tasks_predictions", project=project["id"],
                               selected_items={"all": True, "excluded": []},
                               request_options={"timeout_in_seconds": timeout})
        seconds = time.perf_counter() - started
        return len([plain(p) for p in api.sdk.predictions.list(project=project["id"])]), seconds
    finally:
        server.stop(work / "ls")


if __name__ == "__main__":
    main()
