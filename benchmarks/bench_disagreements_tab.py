"""The pull's "Disagreements" tab (annotate/views.py): writing the teachers' scores into the
disagreeing tasks' data, now (the tasks' data read in pages, a PATCH only where the text
changes) against before (one GET and, where the text changes, one PATCH per task), on the
same server in the same run: HTTP calls and seconds, for a first pull and for a pull after
which nothing changed.

    .venv/bin/python benchmarks/bench_disagreements_tab.py --tasks 5000 --disagreeing 833 \
        [--database postgresql | --url URL --api-key KEY]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

from asag.annotate import connection, views
from asag.annotate import project as projects
from asag.annotate.connection import connect, import_tasks, plain
from asag.annotate.push import task_data
from asag.scale import Scale

REPO = Path(__file__).resolve().parents[1]


class Calls:
    """Counts the HTTP calls the tab's writing makes (listing pages, GETs, PATCHes)."""

    def __init__(self, api) -> None:
        self.n = 0
        page, get, update = connection.task_page, api.sdk.tasks.get, api.sdk.tasks.update

        def counted(fn):
            def call(*args, **kwargs):
                self.n += 1
                return fn(*args, **kwargs)
            return call

        connection.task_page = counted(page)
        api.sdk.tasks.get, api.sdk.tasks.update = counted(get), counted(update)


def before(api, project_id: int, scores: dict[int, str]) -> None:
    """The tab's writing as it was: a GET per task, a PATCH where the text changes."""
    for task_id, text in scores.items():
        data = plain(api.sdk.tasks.get(task_id)).get("data") or {}
        if (data.get(views.SCORES_FIELD) or "") != text:
            api.sdk.tasks.update(str(task_id), data={**data, views.SCORES_FIELD: text})


def now(api, project_id: int, scores: dict[int, str]) -> None:
    views._write_scores(api, project_id, scores)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=5000)
    ap.add_argument("--disagreeing", type=int, default=833)
    ap.add_argument("--url")
    ap.add_argument("--api-key")
    ap.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    args = ap.parse_args()
    with contextlib.ExitStack() as stack:
        if args.url:
            url, key = args.url, args.api_key
        else:
            sys.path.insert(0, str(REPO / "benchmarks"))
            from bench_many_teachers import embedded_server

            url, key, _log = stack.enter_context(embedded_server(args.database))
        run(connect(url, key, timeout=3600), args)


def run(api, args) -> None:
    import os

    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    scale, stamp = Scale.parse("0-5"), str(int(time.time()))
    rows = [{"id": f"d{i:06d}", "question_id": f"q{i % 20}", "question": f"Question {i % 20}?",
             "reference_answer": "Less dense.", "student_answer": f"Answer {i}: lighter."}
            for i in range(args.tasks)]
    calls = Calls(api)
    table = []
    for name, write in (("before", before), ("now", now)):
        title = f"bench-tab-{name}-{stamp}"
        pid = plain(api.sdk.projects.create(
            title=title, label_config=projects.label_config(scale, title)))["id"]
        ids = []
        for start in range(0, len(rows), 2500):
            ids += import_tasks(api, pid, [{"data": task_data(r)}
                                           for r in rows[start:start + 2500]])
        step = max(1, len(ids) // args.disagreeing)
        scores = {t: f"a@school: {k % 6} · b@school: {(k + 3) % 6}"
                  for k, t in enumerate(ids[::step][:args.disagreeing])}
        for what in ("first pull", "pull, nothing changed"):
            calls.n, t0 = 0, time.perf_counter()
            write(api, pid, scores)
            table.append((what, name, calls.n, time.perf_counter() - t0))
    print(f"\n{args.tasks:,} tasks, {args.disagreeing:,} disagreeing; load average before "
          f"{load}, after {' '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
    print("| pull | tab writing | HTTP calls | s |")
    print("|---|---|---:|---:|")
    for what, name, n, seconds in table:
        print(f"| {what} | {name} | {n:,} | {seconds:.1f} |")


if __name__ == "__main__":
    main()
