"""Label Studio figures against a real server, each next to a baseline measured in the same run.

    .venv/bin/python benchmarks/bench_labelstudio.py [--n 10000] [--url URL --api-key KEY]
    .venv/bin/python benchmarks/bench_labelstudio.py --n 100000 --database postgresql \
        --answers scientsbank --reps 1 --edited 1000 [--push-only]

Without --url a fresh embedded server is started in a temporary directory (and stopped), on
SQLite or (`--database postgresql`) on a throw-away PostgreSQL cluster (tests/pg_cluster.py).
- push N new answers (dedupe check included) vs one raw SDK `import_tasks` call of the same
  tasks;
- re-push of the same N (nothing new), with the server-checked id cache and without it;
- full pull of N annotated tasks vs the SDK's paginated task listing (`tasks.list`), or with
  `--baseline export` vs Label Studio's own export of the project (snapshot + download);
- incremental pull after `--edited` annotations were edited (4 at a time);
- with `--memory`: each pull also as `asag annotate pull` in a child process, its peak RSS
  (getrusage), and the full pull once more holding the whole export in memory, as pull did
  before it streamed the export (the "before" figure).
`--answers scientsbank`: SciEntsBank's 3-way rows (../shared/data/scientsbank/3way_*.csv) repeated
with a numbered suffix until there are N distinct answers; `synthetic`: random words.
The N annotations for the pull figures are imported with their tasks (Label Studio marks
such annotations ground truth); creating 10,000 through the API one by one would take ~20 min.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from asag.annotate import project as projects
from asag.annotate.connection import NO_RETRY, connect, plain
from asag.annotate.pull import pull
from asag.annotate.push import PushReport, push_records, task_data
from asag.scale import Scale

REPO = Path(__file__).resolve().parents[1]
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


def scientsbank(n: int) -> list[dict]:
    """N distinct answers: SciEntsBank's rows in turn, the k-th round's with " (k)" appended."""
    rows = []
    for path in sorted((REPO.parent / "shared" / "data" / "scientsbank").glob("3way_*.csv")):
        with path.open(encoding="utf-8", newline="") as fh:
            rows += list(csv.DictReader(fh))
    return [{
        "id": f"s{i:06d}", "question_id": row["question_id"], "question": row["question"],
        "reference_answer": row["reference_answer"],
        "student_answer": row["student_answer"] + (f" ({i // len(rows)})" if i >= len(rows)
                                                   else ""),
        "source": {"file": "scientsbank.csv", "line": i + 2},
    } for i, row in ((i, rows[i % len(rows)]) for i in range(n))]


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    if sys.argv[1:2] == ["--pull-child"]:
        return pull_child(*sys.argv[2:])
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--url")
    ap.add_argument("--api-key")
    ap.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("--answers", choices=("synthetic", "scientsbank"), default="synthetic")
    ap.add_argument("--reps", type=int, default=2, help="push and raw import, alternated")
    ap.add_argument("--edited", type=int, default=100)
    ap.add_argument("--baseline", choices=("listing", "export"), default="listing")
    ap.add_argument("--memory", action="store_true")
    ap.add_argument("--push-only", action="store_true",
                    help="only the push and re-push figures (no pull)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-ls-"))
    os.chdir(tmp)  # the push cache (.asag/cache) and outputs live here
    try:
        with contextlib.ExitStack() as stack:
            if args.url:
                url, key = args.url, args.api_key
            else:
                sys.path.insert(0, str(REPO / "benchmarks"))
                from bench_many_teachers import embedded_server

                t0 = time.perf_counter()
                url, key, _log = stack.enter_context(embedded_server(args.database))
                print(f"server cold start: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
            run(connect(url, key, timeout=3600), key, args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(api, key: str, args, tmp: Path) -> None:
    n = args.n
    rows = []
    load_before = load()
    stamp = str(int(time.time()))
    records = answers(n) if args.answers == "synthetic" else scientsbank(n)
    payload = [{"data": task_data(r)} for r in records]

    # push vs one raw SDK import call: alternated, best of `reps` each (the load varies);
    # which goes first alternates too (the second imports into a table just grown by n rows)
    t_raw = t_push = float("inf")
    for rep in range(args.reps):
        base, _ = projects.ensure(api, f"bench-raw-{stamp}-{rep}", SCALE,
                                  annotations_per_answer=1)
        # into a project made beforehand, as the raw import's (a push that creates its
        # project costs ~0.5 s more); looked up as `annotate push` does (its task count)
        made, _ = projects.ensure(api, f"bench-push-{stamp}-{rep}", SCALE,
                                  annotations_per_answer=1)

        def raw(base=base):
            return api.sdk.projects.import_tasks(
                base["id"], request=payload, return_task_ids=True,
                request_options={**NO_RETRY, "timeout_in_seconds": 3600})

        def do_push(project_id=made["id"]):
            proj = plain(api.sdk.projects.get(project_id))
            return push_records(api, proj, records, PushReport())

        for which in (("raw", "push") if rep % 2 == 0 else ("push", "raw")):
            if which == "raw":
                t, _ = timed(raw)
                t_raw = min(t_raw, t)
            else:
                t, report = timed(do_push)
                assert report.created == n, report.summary(made["title"])
                t_push = min(t_push, t)
        progress(f"push {t_push:.1f} s, raw import {t_raw:.1f} s (best so far; {which} last)")
    rows.append((f"push {n:,} new answers (best of {args.reps})",
                 f"{t_push:.2f} s ({n / t_push:,.0f}/s)",
                 f"raw SDK import_tasks, one call: {t_raw:.2f} s ({n / t_raw:,.0f}/s)",
                 f"{t_raw / t_push:.2f}", ">= 0.9"))

    t_re, report = timed(do_push)
    assert report.created == 0 and report.present == n and report.listed == "cache"
    shutil.rmtree(tmp / ".asag" / "cache")
    t_full, report = timed(do_push)
    assert report.created == 0 and report.listed == "full"
    rows.append((f"re-push same {n:,} (nothing new)", f"{t_re:.2f} s (cache checked by server)",
                 f"without the cache (full listing): {t_full:.2f} s", f"{t_full / t_re:.2f}",
                 "<= 3 s"))
    progress(f"re-push {t_re:.1f} s, without cache {t_full:.1f} s")
    if args.push_only:
        return table(rows, n, args, load_before)

    # pull: N tasks each with one annotation, imported together (in batches of 10,000)
    pproj, _ = projects.ensure(api, f"bench-pull-{stamp}", SCALE, annotations_per_answer=1)
    me = api.sdk.users.whoami().id
    rng = random.Random(3)
    annotated = [{"data": p["data"], "annotations": [{
        "completed_by": me, "lead_time": round(rng.uniform(3, 60), 1),
        "result": [{"from_name": "score", "to_name": "student_answer", "type": "choices",
                    "value": {"choices": [str(rng.randint(0, 5))]}}]}]} for p in payload]
    payload = None  # what pull holds is measured below; the benchmark's own copies go
    t_imp = 0.0
    for start in range(0, n, 10_000):
        t, _ = timed(lambda start=start: api.sdk.projects.import_tasks(
            pproj["id"], request=annotated[start:start + 10_000],
            request_options={**NO_RETRY, "timeout_in_seconds": 3600}))
        t_imp += t
    annotated = None
    progress(f"imported {n:,} tasks with annotations in {t_imp:.1f} s")
    pproj = plain(api.sdk.projects.get(pproj["id"]))
    time.sleep(3)  # so the import is older than the pull's overlap window (2 s)
    out = tmp / "labels.jsonl"
    env = {**os.environ, "LABEL_STUDIO_URL": api.url, "LABEL_STUDIO_API_KEY": key}
    peaks = {}
    if args.memory:  # the CLI in a child process: wall time and its peak RSS
        t_pull, peaks["full"] = child_pull(env, pproj, out, n)
    else:
        t_pull, rep = timed(lambda: pull(api, pproj, out, scale=SCALE))
        assert rep.total == n, rep.summary(out)
    progress(f"full pull {t_pull:.1f} s")

    if args.baseline == "export":
        t_base, size = timed(lambda: own_export(api, pproj["id"]))
        base_text = f"Label Studio's own export (snapshot + download, {size / 1e6:,.0f} MB)"
    else:
        def listing():
            from label_studio_sdk import LabelStudio

            sdk = LabelStudio(base_url=api.url, api_key=key, timeout=900)
            pages = sdk.tasks.list(project=pproj["id"], fields="all", page_size=1000)
            return sum(len(t.annotations or []) for t in pages)

        t_base, listed = timed(listing)
        base_text = f"SDK tasks.list, paginated ({listed:,} annotations)"
    rows.append((f"full pull of {n:,} annotated tasks", f"{t_pull:.2f} s",
                 f"{base_text}: {t_base:.2f} s", f"{t_base / t_pull:.2f}", "<= 5 s"))
    progress(f"baseline {t_base:.1f} s")

    # incremental: `edited` annotations edited
    ids = [json.loads(line)["annotation_id"] for line in out.read_text().splitlines()[:args.edited]]

    def edit(ann_id):
        api.sdk.annotations.update(ann_id, result=[
            {"from_name": "score", "to_name": "student_answer", "type": "choices",
             "value": {"choices": ["5"]}}])

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(edit, ids))
    if args.memory:
        t_inc, peaks["incremental"] = child_pull(env, pproj, out, n)
    else:
        t_inc, rep = timed(lambda: pull(api, pproj, out, scale=SCALE))
        assert rep.mode == "incremental" and rep.total == n, rep.summary(out)
    rows.append((f"incremental pull, {len(ids):,} edited", f"{t_inc:.2f} s",
                 f"full pull above: {t_pull:.2f} s; {base_text}: {t_base:.2f} s",
                 f"{t_pull / t_inc:.2f}; {t_base / t_inc:.2f}",
                 "<= 5 s" if len(ids) >= 1000 else "<= 1 s"))
    if args.memory:
        out.unlink()
        t_held, peaks["held"] = child_pull(env, pproj, out, n, hold=True)
        rows.append(("peak RSS of `asag annotate pull` (child process)",
                     f"full {peaks['full']:,.0f} MB; incremental {peaks['incremental']:,.0f} MB",
                     f"full pull holding the whole export (as before): {peaks['held']:,.0f} MB "
                     f"({t_held:.1f} s)", f"{peaks['held'] / peaks['full']:.2f}", "flat in N"))

    table(rows, n, args, load_before)


def table(rows: list[tuple], n: int, args, load_before: str) -> None:
    from importlib.metadata import version

    print(f"\nLabel Studio (server), label-studio-sdk {version('label-studio-sdk')}, N = {n:,}, "
          f"answers {args.answers}; load average before {load_before}, after {load()}\n")
    print("| figure | asag | baseline (same run) | baseline / asag | goal |")
    print("|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


def progress(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')} load {load()}] {text}", file=sys.stderr, flush=True)


def own_export(api, project_id: int) -> int:
    """Label Studio's export of the whole project as pull asks for it (snapshot, download);
    the bytes are counted, not kept."""
    from asag.annotate.snapshot import SERIALIZATION, _wait_export

    export = plain(api.sdk.projects.exports.create(
        project_id, title="bench baseline", serialization_options=SERIALIZATION,
        request_options={**NO_RETRY, "timeout_in_seconds": 3600}))
    export = _wait_export(api, project_id, export)
    size = sum(len(chunk) for chunk in api.sdk.projects.exports.download(
        project_id, export["id"], export_type="JSON",
        request_options={"timeout_in_seconds": 3600, "chunk_size": 1 << 20}))
    api.sdk.projects.exports.delete(project_id, export["id"])
    return size


def child_pull(env: dict, project: dict, out: Path, n: int, hold: bool = False):
    """`asag annotate pull` (or, `hold`, the same holding the whole export) in a child
    process: (wall seconds, peak RSS in MB)."""
    args = ([sys.executable, __file__, "--pull-child", str(project["id"]), str(out)] if hold
            else [sys.executable, "-m", "asag", "annotate", "pull", "--project",
                  project["title"], "-o", str(out)])
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read().decode(errors="replace").strip()
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0, err[-2000:]
    assert f"{n:,} annotations" in err, err[-500:]
    progress(f"{'held-export ' if hold else ''}pull: {wall:.1f} s, peak RSS "
             f"{usage.ru_maxrss / 1024:,.0f} MB")
    return wall, usage.ru_maxrss / 1024


def pull_child(project_id: str, output: str) -> None:
    """The full pull with the whole export held in memory at once (the code before the
    export was streamed: bytes joined, then parsed into one list)."""
    import orjson

    from asag.annotate import pull as pulling
    from asag.annotate import snapshot

    def held(spool):
        return iter(orjson.loads(spool.read_bytes()))

    snapshot.read_export = held
    api = connect(os.environ["LABEL_STUDIO_URL"], os.environ["LABEL_STUDIO_API_KEY"],
                  timeout=3600)
    project = plain(api.sdk.projects.get(int(project_id)))
    report = pulling.pull(api, project, Path(output), scale=SCALE, full=True)
    print(report.summary(Path(output)), file=sys.stderr)


if __name__ == "__main__":
    main()
