"""The SDK's public methods vs asag's raw JSON calls (annotate/connection.py: import_tasks,
and task_page through races.task_answers) on push's two hot calls: importing N answers in
batches of 2,500 and listing the project's tasks (id, data), alternated, best of 2, against
a running embedded server:

    .venv/bin/python benchmarks/bench_ls_sdk_calls.py DATA_DIR [N]

The figures justify the raw calls named in annotate/connection.py (BENCHMARKS.md)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from bench_labelstudio import SCALE, answers

from asag.annotate import project as projects
from asag.annotate import server
from asag.annotate.connection import connect, every, import_tasks, no_retry
from asag.annotate.push import task_data
from asag.annotate.races import task_answers

BATCH = 2500
FIELDS = dict(fields="task_only", include="id,data,total_annotations,cancelled_annotations")


def sdk_import(api, pid, payload):
    for i in range(0, len(payload), BATCH):
        api.sdk.projects.import_tasks(pid, request=payload[i:i + BATCH], return_task_ids=True,
                                      request_options=no_retry(timeout=900))


def raw_import(api, pid, payload):
    for i in range(0, len(payload), BATCH):
        import_tasks(api, pid, payload[i:i + BATCH])


def sdk_list(api, pid):  # page by page to the end, as pages of 5,000
    return every(api.sdk.tasks.list(project=pid, resolve_uri=False, page_size=5000, **FIELDS))


def raw_list(api, pid):  # push's own listing: task_page by id cursor, pages of 5,000
    return task_answers(api, pid, after=None)


def main() -> None:
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
    creds = server.local_credentials(Path(sys.argv[1]))
    api = connect(creds.url, creds.token)
    payload = [{"data": task_data(r)} for r in answers(n)]
    stamp = str(int(time.time()))
    calls = {"sdk": (sdk_import, sdk_list), "raw": (raw_import, raw_list)}
    took: dict[str, list[float]] = {}
    for rep in range(2):
        for kind in ("sdk", "raw") if rep == 0 else ("raw", "sdk"):
            do_import, do_list = calls[kind]
            proj, _ = projects.ensure(api, f"bench-calls-{kind}-{stamp}-{rep}", SCALE,
                                      annotations_per_answer=1)
            start = time.perf_counter()
            do_import(api, proj["id"], payload)
            took.setdefault(f"{kind} import", []).append(time.perf_counter() - start)
            start = time.perf_counter()
            assert len(do_list(api, proj["id"])) == n
            took.setdefault(f"{kind} list", []).append(time.perf_counter() - start)
    for name, times in took.items():
        print(f"{name} {n:,}: best {min(times):.2f} s (" + ", ".join(f"{t:.2f}" for t in times)
              + ")")


if __name__ == "__main__":
    main()
