"""Concurrent `asag annotate push` runs against one real Label Studio: N first pushes of the
same answers at once (a fresh project title per round), then N pushes at once into a project
that already holds part of them. Each push runs as its own process in its own working
directory (as on separate machines: no shared cache, no shared lock). Counts, from the
server, the projects with the title and the tasks per answer.

    .venv/bin/asag gather ../shared/data/scientsbank/3way_train.csv -o /tmp/raw.jsonl
    .venv/bin/python benchmarks/bench_concurrent_push.py /tmp/raw.jsonl --writers 4 --rounds 3

Uses LABEL_STUDIO_URL / LABEL_STUDIO_API_KEY, else the embedded server's credentials; with
`--database postgresql` a fresh embedded server on a throw-away PostgreSQL cluster
(tests/pg_cluster.py, fsync on) is started for the run and removed afterwards."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path


def push_all(records: Path, title: str, writers: int, extra: list[str]) -> list[str]:
    """Start `writers` pushes at once; their summary lines (any failure stops the script)."""
    env = {**os.environ}
    procs = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(writers):
            cwd = Path(tmp) / f"machine{k}"
            cwd.mkdir()
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "asag", "annotate", "push", str(records.resolve()),
                 "--project", title, "--scale", "incorrect,contradictory,correct", *extra],
                cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        lines = []
        for proc in procs:
            out, err = proc.communicate()
            if proc.returncode != 0:
                sys.exit(f"a push failed ({proc.returncode}): {err.strip()[-2000:]}")
            lines.append(err.strip().splitlines()[-1])
        return lines


def census(api, title: str) -> tuple[int, Counter]:
    """(projects with the title, answer id -> tasks) straight from the server."""
    from asag.annotate.races import task_answers, titled

    projects = titled(api, title, "id,title")
    if not projects:
        return 0, Counter()
    tasks = task_answers(api, projects[0]["id"], after=None)
    return len(projects), Counter(answer for answer, _ in tasks.values())


@contextlib.contextmanager
def postgresql_server():
    """A new embedded Label Studio on a new PostgreSQL cluster; (url, key)."""
    from asag.annotate import server

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from pg_cluster import start_cluster

    cluster = start_cluster(server.free_port(), durable=True)
    root = Path(tempfile.mkdtemp(prefix="bench-ls-pg-"))
    try:
        print("starting Label Studio on PostgreSQL (first start migrates: minutes)...",
              file=sys.stderr, flush=True)
        creds, _ = server.start(root, port=server.free_port(), timeout=1200,
                                database=cluster.create_database("labelstudio"))
        yield creds.url, creds.token
    finally:
        server.stop(root)
        cluster.stop()


def table(results: list[dict], database: str) -> str:
    rows = ["| database | scenario | projects with the title | tasks | duplicate tasks | "
            "answers missing | wall s |", "|---|---|---:|---:|---:|---:|---:|"]
    rows += [f"| {database} | {r['kind']} | {r['projects']} | {r['tasks']:,} | "
             f"{r['duplicate_tasks']} | {r['missing']} | {r['seconds']} |" for r in results]
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("records", type=Path)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--head", type=int, default=1000,
                        help="answers pushed before the concurrent pushes into an existing project")
    parser.add_argument("--database", choices=("existing", "postgresql"), default="existing",
                        help="postgresql: a throw-away cluster and server for this run")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        if args.database == "postgresql":
            url, key = stack.enter_context(postgresql_server())
        else:
            from asag.annotate.connection import resolve

            url, key = resolve(os.environ.get("LABEL_STUDIO_URL"),
                               os.environ.get("LABEL_STUDIO_API_KEY"),
                               Path(os.environ.get("ASAG_LABELSTUDIO_DIR", ".asag/labelstudio")))
        bad = run(args, url, key)
    sys.exit(1 if bad else 0)


def run(args, url: str, key: str) -> int:
    from asag.annotate.connection import connect

    os.environ.update(LABEL_STUDIO_URL=url, LABEL_STUDIO_API_KEY=key)
    api = connect(url, key)
    lines = args.records.read_text(encoding="utf-8").splitlines()
    answers = len(lines)
    results = []

    def check(kind: str, title: str, seconds: float, summaries: list[str]) -> None:
        n_projects, per_answer = census(api, title)
        dupes = sum(n - 1 for n in per_answer.values())
        missing = answers - len(per_answer)
        results.append({"kind": kind, "title": title, "projects": n_projects,
                        "tasks": sum(per_answer.values()), "duplicate_tasks": dupes,
                        "missing": missing, "seconds": round(seconds, 1),
                        "summaries": summaries})
        print(json.dumps(results[-1]), flush=True)

    for r in range(args.rounds):
        title = f"concurrent-first-{uuid.uuid4().hex[:6]}"
        t0 = time.time()
        summaries = push_all(args.records, title, args.writers, [])
        check(f"first push x{args.writers}, round {r + 1}", title, time.time() - t0, summaries)

    title = f"concurrent-existing-{uuid.uuid4().hex[:6]}"
    with tempfile.TemporaryDirectory() as tmp:
        head = Path(tmp) / "head.jsonl"
        head.write_text("\n".join(lines[:args.head]) + "\n", encoding="utf-8")
        push_all(head, title, 1, [])
    t0 = time.time()
    summaries = push_all(args.records, title, args.writers, [])
    check(f"push x{args.writers} into a project holding {args.head}", title, time.time() - t0,
          summaries)

    bad = [r for r in results if r["projects"] != 1 or r["duplicate_tasks"] or r["missing"]]
    print(table(results, "PostgreSQL" if args.database == "postgresql" else "server"))
    print(f"{len(results)} scenarios, {len(bad)} with a duplicate/missing task or project; "
          f"load: {os.getloadavg()[0]:.1f} {os.getloadavg()[1]:.1f} {os.getloadavg()[2]:.1f}",
          flush=True)
    return len(bad)


if __name__ == "__main__":
    main()
