"""Label Studio figures against a real server, each next to a baseline measured in the same run.

    .venv/bin/python benchmarks/bench_labelstudio.py [--n 10000] [--url URL --api-key KEY]

Without --url a fresh embedded server is started in a temporary directory (and stopped).
- push N new answers (dedupe check included) vs one raw SDK `import_tasks` call of the same
  tasks;
- re-push of the same N (nothing new), with the server-checked id cache and without it;
- full pull of N annotated tasks vs the SDK's paginated task listing (`tasks.list`);
- incremental pull after 100 annotations were edited.
The N annotations for the pull figures are imported with their tasks (Label Studio marks
such annotations ground truth); creating 10,000 through the API one by one would take ~20 min.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

from asag.annotate import project as projects
from asag.annotate import server
from asag.annotate.connection import NO_RETRY, connect, plain
from asag.annotate.pull import pull
from asag.annotate.push import PushReport, push_records, task_data
from asag.scale import Scale

SCALE = Scale.parse("0-5")
WORDS = ("ice water density float mass volume because lighter heavier molecules hydrogen bond "
         "structure open lattice expands freezing liquid solid").split()


def answers(n: int, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    return [{
        "id": f"b{i:06d}", "question_id": f"q{i % 40}",
        "question": f"Question {i % 40}: why does ice float on water?",
        "reference_answer": "Ice is less dense than liquid water because of its open lattice.",
        "student_answer": " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 40))),
        "source": {"file": "bench.csv", "line": i + 2},
    } for i in range(n)]


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--url")
    ap.add_argument("--api-key")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-ls-"))
    os.chdir(tmp)  # the push cache (.asag/cache) and outputs live here
    root = tmp / "server"
    try:
        if args.url:
            url, key = args.url, args.api_key
        else:
            t, (creds, _) = timed(lambda: server.start(root, port=server.free_port(), timeout=900))
            print(f"server cold start: {t:.1f} s", file=sys.stderr)
            url, key = creds.url, creds.token
        run(connect(url, key), key, args.n, tmp)
    finally:
        if not args.url:
            server.stop(root)
        shutil.rmtree(tmp, ignore_errors=True)


def run(api, key: str, n: int, tmp: Path) -> None:
    rows = []
    load_before = load()
    stamp = str(int(time.time()))
    records = answers(n)
    payload = [{"data": task_data(r)} for r in records]

    # push vs one raw SDK import call: alternated, best of 2 each (the load of others varies)
    t_raw = t_push = float("inf")
    for rep in range(2):
        base, _ = projects.ensure(api, f"bench-raw-{stamp}-{rep}", SCALE,
                                  annotations_per_answer=1)
        t, _ = timed(lambda base=base: api.sdk.projects.import_tasks(
            base["id"], request=payload, return_task_ids=True,
            request_options={**NO_RETRY, "timeout_in_seconds": 900}))
        t_raw = min(t_raw, t)
        name = f"bench-push-{stamp}-{rep}"

        def do_push(name=name):
            proj, _ = projects.ensure(api, name, SCALE, annotations_per_answer=1)
            return push_records(api, proj, records, PushReport())

        t, report = timed(do_push)
        assert report.created == n, report.summary(name)
        t_push = min(t_push, t)
    rows.append((f"push {n:,} new answers (best of 2)", f"{t_push:.2f} s ({n / t_push:,.0f}/s)",
                 f"raw SDK import_tasks, one call: {t_raw:.2f} s ({n / t_raw:,.0f}/s)",
                 f"{t_raw / t_push:.2f}", ">= 3,000/s and >= 0.75"))

    t_re, report = timed(do_push)
    assert report.created == 0 and report.present == n and report.listed == "cache"
    shutil.rmtree(tmp / ".asag" / "cache")
    t_full, report = timed(do_push)
    assert report.created == 0 and report.listed == "full"
    rows.append((f"re-push same {n:,} (nothing new)", f"{t_re:.2f} s (cache checked by server)",
                 f"without the cache (full listing): {t_full:.2f} s", f"{t_full / t_re:.2f}",
                 "<= 3 s"))

    # pull: N tasks each with one annotation, imported together
    pproj, _ = projects.ensure(api, f"bench-pull-{stamp}", SCALE, annotations_per_answer=1)
    me = api.sdk.users.whoami().id
    rng = random.Random(3)
    annotated = [{"data": p["data"], "annotations": [{
        "completed_by": me, "lead_time": round(rng.uniform(3, 60), 1),
        "result": [{"from_name": "score", "to_name": "student_answer", "type": "choices",
                    "value": {"choices": [str(rng.randint(0, 5))]}}]}]} for p in payload]
    t_imp, _ = timed(lambda: api.sdk.projects.import_tasks(
        pproj["id"], request=annotated, request_options={**NO_RETRY, "timeout_in_seconds": 1800}))
    print(f"imported {n:,} tasks with annotations in {t_imp:.1f} s", file=sys.stderr)
    pproj = plain(api.sdk.projects.get(pproj["id"]))
    time.sleep(3)  # so the import is older than the pull's overlap window (2 s)
    out = tmp / "labels.jsonl"
    t_pull, rep = timed(lambda: pull(api, pproj, out, scale=SCALE))
    assert rep.total == n, rep.summary(out)

    def listing():
        from label_studio_sdk import LabelStudio

        sdk = LabelStudio(base_url=api.url, api_key=key, timeout=900)
        pages = sdk.tasks.list(project=pproj["id"], fields="all", page_size=1000)
        return sum(len(t.annotations or []) for t in pages)

    t_list, listed = timed(listing)
    rows.append((f"full pull of {n:,} annotated tasks", f"{t_pull:.2f} s",
                 f"SDK tasks.list, paginated: {t_list:.2f} s ({listed:,} annotations)",
                 f"{t_list / t_pull:.2f}", "<= 5 s"))

    # incremental: 100 annotations edited
    ids = [json.loads(line)["annotation_id"] for line in out.read_text().splitlines()[:100]]
    for ann_id in ids:
        api.sdk.annotations.update(ann_id, result=[
            {"from_name": "score", "to_name": "student_answer", "type": "choices",
             "value": {"choices": ["5"]}}])
    t_inc, rep = timed(lambda: pull(api, pproj, out, scale=SCALE))
    assert rep.mode == "incremental" and rep.total == n, rep.summary(out)
    rows.append(("incremental pull, 100 edited", f"{t_inc:.2f} s ({rep.tasks} tasks read)",
                 f"full pull above: {t_pull:.2f} s", f"{t_pull / t_inc:.2f}", "<= 1 s"))

    print(f"\nLabel Studio 1.23.2, label-studio-sdk 2.1.2, N = {n:,}; load average before "
          f"{load_before}, after {load()}\n")
    print("| figure | asag | baseline (same run) | baseline / asag | goal |")
    print("|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
