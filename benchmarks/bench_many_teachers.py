"""Many teachers at once: T simulated teachers score one project concurrently through the API
(`asag annotate simulate`, one process per teacher, as T people at T machines), each answer by
exactly K different teachers. Afterwards, from the server: every task's counters match its
annotations, every answer has exactly K annotations by K different teachers, and a pull
returns exactly them. Prints throughput and the server's errors (HTTP 5xx in its log, failed
runs).

    .venv/bin/python benchmarks/bench_many_teachers.py --answers 5000 --teachers 10 \\
        --per-answer 2 --database postgresql

`--database postgresql`: a fresh embedded server on a throw-away PostgreSQL cluster (fsync
on; tests/pg_cluster.py); `sqlite`: a fresh embedded server on SQLite. Both are removed
afterwards. `--data-dir DIR`: the embedded server already running from DIR (e.g. started
with `asag labelstudio start --data-dir DIR --database postgresql://...`), left running."""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCORES = ("0", "1", "2", "3", "4", "5")


@contextlib.contextmanager
def running_server(data_dir: Path):
    from asag.annotate import server

    creds = server.local_credentials(data_dir)
    if creds is None or not server.status(data_dir)["healthy"]:
        sys.exit(f"no running embedded server in {data_dir}")
    yield creds.url, creds.token, server.ServerDir(data_dir).log_file


@contextlib.contextmanager
def embedded_server(database: str):
    """(url, key, log file) of a new embedded Label Studio on `database`."""
    from asag.annotate import server

    stack = contextlib.ExitStack()
    url = None
    if database == "postgresql":
        sys.path.insert(0, str(REPO / "tests"))
        from pg_cluster import start_cluster

        cluster = start_cluster(server.free_port(), durable=True)
        stack.callback(cluster.stop)
        url = cluster.create_database("labelstudio")
    root = Path(tempfile.mkdtemp(prefix=f"bench-teachers-{database}-"))
    with stack:
        print(f"starting Label Studio on {database} (a first start migrates: minutes)...",
              file=sys.stderr, flush=True)
        try:
            creds, _ = server.start(root, port=server.free_port(), timeout=1200, database=url)
            yield creds.url, creds.token, server.ServerDir(root).log_file
        finally:
            server.stop(root)


def write_table(path: Path, answers: int, teachers: int, per_answer: int) -> list[str]:
    """A gather-able table: answer i is scored by teachers i, i+1, ... (mod T) only."""
    columns = [f"teacher_{k:02d}" for k in range(teachers)]
    with path.open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["question_id", "question", "reference_answer", "student_answer", *columns])
        for i in range(answers):
            cells = [""] * teachers
            for j in range(per_answer):
                cells[(i + j) % teachers] = SCORES[(i * 7 + j) % len(SCORES)]
            out.writerow([f"q{i % 20}", f"Question {i % 20}: why does ice float?",
                          "Ice is less dense than water.", f"Answer number {i}: it is lighter.",
                          *cells])
    return columns


def asag(args: list[str], cwd: Path, env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "asag", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, what: str) -> str:
    _out, err = proc.communicate()
    if proc.returncode != 0:
        sys.exit(f"{what} failed ({proc.returncode}): {err.strip()[-2000:]}")
    return err.strip().splitlines()[-1] if err.strip() else ""


def server_errors(log: Path, offset: int) -> list[str]:
    text = log.read_bytes()[offset:].decode("utf-8", "replace")
    return [line for line in text.splitlines()
            if re.search(r'" 5\d\d \d+', line) or line.startswith("Traceback")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=5000)
    parser.add_argument("--teachers", type=int, default=10)
    parser.add_argument("--per-answer", type=int, default=2)
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="use the embedded server running from this directory")
    args = parser.parse_args()
    if args.data_dir is not None:
        from asag.annotate import server

        args.database = server.status(args.data_dir)["database"].split(" ")[0]
    load_before = os.getloadavg()
    serving = (running_server(args.data_dir) if args.data_dir is not None
               else embedded_server(args.database))
    with serving as (url, key, log), tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = {**os.environ, "LABEL_STUDIO_URL": url, "LABEL_STUDIO_API_KEY": key}
        columns = write_table(work / "answers.csv", args.answers, args.teachers,
                              args.per_answer)
        title = f"teachers-{args.teachers}x{args.answers}-{os.getpid()}"
        finish(asag(["gather", "answers.csv", "-o", "raw.jsonl"], work, env), "gather")
        t0 = time.perf_counter()
        pushed = finish(asag(["annotate", "push", "raw.jsonl", "--project", title, "--scale",
                              "0-5", "--annotations-per-answer", str(args.per_answer)],
                             work, env), "push")
        push_s = time.perf_counter() - t0
        offset = log.stat().st_size
        t0 = time.perf_counter()
        procs = []
        for column in columns:  # one process per teacher, each in its own folder
            cwd = work / column
            cwd.mkdir()
            procs.append(asag(["annotate", "simulate", "--project", title, "--scores",
                               str(work / "answers.csv"), "--teacher-cols", column], cwd, env))
        summaries, failed = [], []
        for proc, column in zip(procs, columns, strict=True):
            err = proc.communicate()[1].strip()
            (summaries if proc.returncode == 0 else failed).append(
                err.splitlines()[-1] if err else f"{column}: no output")
        simulate_s = time.perf_counter() - t0
        errors = server_errors(log, offset)
        t0 = time.perf_counter()
        finish(asag(["annotate", "pull", "--project", title, "-o", "labels.jsonl"], work, env),
               "pull")
        pull_s = time.perf_counter() - t0
        records = [json.loads(line) for line in
                   (work / "labels.jsonl").read_text(encoding="utf-8").splitlines()]
        census = check(url, key, title, args, records)
    made = sum(int(re.search(r"made ([\d,]+) annotations", s).group(1).replace(",", ""))
               for s in summaries)
    miscounted_runs = sum("counters are wrong" in s for s in summaries)
    rows = [
        ("database", args.database),
        ("answers x teachers per answer", f"{args.answers:,} x {args.per_answer}"),
        ("concurrent simulated teachers (processes)", args.teachers),
        ("push (s)", f"{push_s:.1f}"),
        ("annotations made (sum of the runs' reports)", f"{made:,}"),
        ("simulate wall (s)", f"{simulate_s:.1f}"),
        ("annotations/s, all teachers together", f"{made / simulate_s:.1f}"),
        ("simulate runs that failed", len(failed)),
        ("server errors (5xx or traceback in its log)", len(errors)),
        ("runs reporting wrong counters", miscounted_runs),
        ("tasks with wrong counters (server)", census["miscounted"]),
        ("answers with exactly K annotations by K teachers", f"{census['exact']:,}"),
        ("annotations on the server", f"{census['annotations']:,}"),
        ("pull (s)", f"{pull_s:.1f}"),
        ("pulled records / equal to the table's scores", f"{len(records):,} / "
                                                          f"{census['pulled_match']}"),
    ]
    print(f"\n{pushed}\n" + "\n".join(summaries[:2]) + "\n...")
    print("| measure | value |\n|---|---:|")
    print("\n".join(f"| {k} | {v} |" for k, v in rows))
    load_after = os.getloadavg()
    print(f"load average before {load_before[0]:.1f}, after {load_after[0]:.1f}; "
          f"{len(errors)} server error lines" + (f": {errors[:3]}" if errors else ""))
    for line in failed:
        print(f"failed run: {line}")
    ok = (not errors and not failed and not census["miscounted"] and census["exact"] == args.answers
          and census["pulled_match"] and made == args.answers * args.per_answer)
    sys.exit(0 if ok else 1)


def check(url: str, key: str, title: str, args, records: list[dict]) -> dict:
    """Counts straight from the server, and the pull compared with the table."""
    from asag.annotate import project as projects
    from asag.annotate.connection import connect
    from asag.annotate.simulate import every_task, miscounted_tasks, teacher_email

    api = connect(url, key)
    project = projects.find(api, title)
    tasks = every_task(api, project["id"])
    users = Counter()
    exact = 0
    for task in tasks:
        anns = task.get("annotations") or []
        who = {a["completed_by"] if not isinstance(a["completed_by"], dict)
               else a["completed_by"]["id"] for a in anns}
        users[len(anns)] += 1
        exact += len(anns) == args.per_answer and len(who) == args.per_answer
    want = defaultdict(dict)
    for i in range(args.answers):
        for j in range(args.per_answer):
            want[f"Answer number {i}: it is lighter."][
                teacher_email(f"teacher_{(i + j) % args.teachers:02d}")] = \
                float(SCORES[(i * 7 + j) % len(SCORES)])
    text_of = {t["data"]["answer_id"]: t["data"]["student_answer"] for t in tasks}
    got = defaultdict(dict)
    for r in records:
        got[text_of[r["answer_id"]]][r["annotator_email"]] = float(r["score"])
    return {"miscounted": len(miscounted_tasks(api, project, tasks)), "exact": exact,
            "annotations": sum(k * v for k, v in users.items()),
            "pulled_match": len(records) == args.answers * args.per_answer and got == want}


if __name__ == "__main__":
    main()
