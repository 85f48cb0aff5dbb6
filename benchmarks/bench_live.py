"""The live loop in a real Label Studio: how long from a teacher submitting a score until the
next hint of the same question reflects it. A teacher scores the task Label Studio gives
them (POST annotation; Label Studio calls `asag serve`'s webhook before it answers), then
opens the next one (GET /next) until its prediction carries the model version that holds
the new score (`MODEL@hash+N`: the server names the memory it scored with); --rounds times,
median and worst. Baseline in the same run: opening the next task when nothing changed
(the prediction is already there, Label Studio asks the server only /setup).

    .venv/bin/python benchmarks/bench_live.py [--rounds 20] [--model DIR]

Every task is a new answer (a SciEntsBank training answer under a new id) of one question,
so each score is embedded and joins that question's memory. Label Studio and `asag serve`
run as a user starts them, in their own processes, on this machine. Without --model, the
default base model is trained for --train-steps steps on SciEntsBank into
/tmp/asag-bench/serve-model (as bench_serve.py does)."""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_serve import ensure_model, model_arguments, start_server  # noqa: E402


def question_answers(dataset: Path, n: int) -> list[dict]:
    """`n` answers of the training question with the most answers, under new ids."""
    from asag.train import data as D

    dsd, _, scale = D.load_for_training(dataset)
    rows = D.split_rows(dsd["train"])
    qid, _ = Counter(r["question_id"] for r in rows).most_common(1)[0]
    mine = [r for r in rows if r["question_id"] == qid][:n]
    return [{"id": f"live-{i}", "question_id": r["question_id"], "question": r["question"],
             "reference_answer": r["reference_answer"], "student_answer": r["student_answer"],
             "source": {"file": "sciEntsBank-train.csv", "line": i + 2},
             "gold": D.value_of(scale, r["score"])} for i, r in enumerate(mine)]


def asag(*args, env: dict) -> str:
    done = subprocess.run([sys.executable, "-m", "asag", *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"asag {' '.join(map(str, args[:2]))} failed: {done.stderr.strip()}")
    return done.stdout


def main() -> None:
    import json
    import os

    from asag.annotate import project as projects
    from asag.annotate import server
    from asag.annotate.connection import connect, login
    from asag.annotate.users import create_account

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    model_arguments(parser)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    model = ensure_model(args.model, args.dataset, args.train_steps)
    scale = json.loads((model / "asag_scorer.json").read_text())["scale"]
    rows = question_answers(args.dataset, args.rounds + 2)
    tmp = Path(tempfile.mkdtemp(prefix="bench-live-"))
    load = os.getloadavg()
    print(f"# load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; model {model}; "
          f"question {rows[0]['question_id']} ({len(rows)} new answers)")

    creds, _ = server.start(tmp / "ls", port=server.free_port(), timeout=900)
    proc = None
    try:
        env = {**os.environ, "LABEL_STUDIO_URL": creds.url, "LABEL_STUDIO_API_KEY": creds.token}
        answers = tmp / "answers.jsonl"
        answers.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "gold"}) + "\n"
                                   for r in rows))
        name = f"live-{uuid.uuid4().hex[:6]}"
        asag("annotate", "push", answers, "--project", name, "--scale", scale, env=env)
        (tmp / "token").write_text("bench-token")
        proc, url = start_server(model, ["--token-file", tmp / "token",
                                         "--journal", tmp / "journal.jsonl"])
        asag("annotate", "connect-model", "--project", name, "--url", url,
             "--token-file", tmp / "token", env=env)
        api = connect(creds.url, creds.token)
        project = projects.find(api, name)
        email = f"t-{uuid.uuid4().hex[:6]}@school.test"
        _, password = create_account(api, email)
        session = login(api.url, email, password)
        gold = {r["id"]: r["gold"] for r in rows}

        def next_task() -> dict:
            reply = session.get(f"/api/projects/{project['id']}/next")
            reply.raise_for_status()
            return reply.json()

        task = next_task()
        base = task["predictions"][-1]["model_version"]
        learned, idle, submit = [], [], []
        for n in range(1, args.rounds + 1):
            t = time.perf_counter()
            next_task()  # nothing new: the same task, its prediction already made
            idle.append(time.perf_counter() - t)
            score = gold[task["data"]["answer_id"]]
            started = time.perf_counter()
            made = session.post(
                f"/api/tasks/{task['id']}/annotations/?project={project['id']}",
                json={"result": [{"from_name": "score", "to_name": "student_answer",
                                  "type": "choices", "value": {"choices": [str(score)]}}],
                      "lead_time": 5.0})
            made.raise_for_status()
            submit.append(time.perf_counter() - started)
            want = f"{base}+{n}"
            while True:
                task = next_task()
                if any(p.get("model_version") == want for p in task.get("predictions", [])):
                    break
                if time.perf_counter() - started > 120:
                    raise SystemExit(f"round {n}: no hint of {want} after 120 s")
            learned.append(time.perf_counter() - started)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(30)
        server.stop(tmp / "ls")

    load = os.getloadavg()
    print(f"# load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"| step ({args.rounds} rounds) | median s | worst s | ratio to baseline (median) |")
    print("|---|---:|---:|---:|")
    base_median = statistics.median(idle)
    for label, times in (("open the next task, nothing new (baseline)", idle),
                         ("submit a score (Label Studio calls the webhook)", submit),
                         ("submit -> next hint reflects it", learned)):
        print(f"| {label} | {statistics.median(times):.2f} | {max(times):.2f} | "
              f"{statistics.median(times) / base_median:.1f}x |")


if __name__ == "__main__":
    main()
