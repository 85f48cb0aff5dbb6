"""Peak memory of `annotate pull`'s own work on a large course, without a server: a Label
Studio JSON export of N annotated tasks (written here in the export's shape, SciEntsBank's
texts) read and turned into the output file, once streamed task by task (`read_export`, what
pull does) and once held whole (bytes read, then parsed into one list: what pull did before).
Each in its own child process; its peak RSS (getrusage) and wall time.

    .venv/bin/python benchmarks/bench_pull_memory.py --n 100000
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_labelstudio import SCALE, scientsbank  # noqa: E402

from asag.annotate.push import task_data  # noqa: E402


def write_export(path: Path, n: int) -> int:
    """N tasks as Label Studio exports them for pull (completed_by expanded); its size."""
    with path.open("wb") as fh:
        fh.write(b"[")
        for i, record in enumerate(scientsbank(n)):
            stamp = f"2026-12-07T07:{i % 60:02d}:00.000000Z"
            task = {
                "id": i + 1, "data": task_data(record), "predictions": [], "drafts": [],
                "annotations": [{
                    "id": i + 1, "completed_by": {"id": 1, "email": "teacher@school.example",
                                                  "first_name": "", "last_name": ""},
                    "result": [{"id": f"r{i}", "type": "choices", "value": {
                        "choices": [str(i % 6)]}, "origin": "manual",
                        "to_name": "student_answer", "from_name": "score"}],
                    "was_cancelled": False, "ground_truth": False, "created_at": stamp,
                    "updated_at": stamp, "draft_created_at": None, "lead_time": 12.5,
                    "prediction": {}, "result_count": 1, "unique_id": f"u{i:08d}",
                    "import_id": None, "last_action": None, "bulk_created": False,
                    "task": i + 1, "project": 1, "updated_by": 1, "parent_prediction": None,
                    "parent_annotation": None, "last_created_by": None}],
                "meta": {}, "created_at": stamp, "updated_at": stamp, "inner_id": i + 1,
                "total_annotations": 1, "cancelled_annotations": 0, "total_predictions": 0,
                "comment_count": 0, "unresolved_comment_count": 0, "last_comment_updated_at": None,
                "project": 1, "updated_by": 1, "file_upload": None, "comment_authors": []}
            fh.write((b"," if i else b"") + orjson.dumps(task))
        fh.write(b"]")
    return path.stat().st_size


def child(spool: str, output: str, mode: str) -> None:
    """Read the export as pull does (streamed) or as it did (held), normalise, write."""
    from asag.annotate import pulled, snapshot

    if mode == "held":
        snapshot.read_export = lambda path: iter(orjson.loads(path.read_bytes()))
    fresh, _foreign, _unscored, _ids = snapshot.records(
        snapshot.read_export(Path(spool)), {"id": 1, "title": "bench"}, SCALE)
    pulled.write_output(Path(output), fresh)
    print(f"{len(fresh)} records", file=sys.stderr)


def measure(spool: Path, out: Path, mode: str) -> tuple[float, float, str]:
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, "--child", str(spool), str(out), mode],
                            stderr=subprocess.PIPE)
    _pid, status, usage = os.wait4(proc.pid, 0)
    err = proc.stderr.read().decode().strip()
    assert os.waitstatus_to_exitcode(status) == 0, err
    return time.perf_counter() - t0, usage.ru_maxrss / 1024, err.splitlines()[-1]


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        return child(*sys.argv[2:5])
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    args = ap.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-pull-memory-") as tmp:
        spool, out = Path(tmp) / "export.json", Path(tmp) / "labels.jsonl"
        size = write_export(spool, args.n)
        rows = []
        for mode in ("streamed", "held", "streamed", "held"):  # alternated, best of 2
            rows.append((mode, *measure(spool, out, mode)))
    modes = ("streamed", "held")
    best = {m: min((r for r in rows if r[0] == m), key=lambda r: r[1]) for m in modes}
    peak = {m: max(r[2] for r in rows if r[0] == m) for m in modes}
    print(f"\nN = {args.n:,} annotated tasks, export {size / 1e6:,.0f} MB; load average before "
          f"{load_before:.1f}, after {os.getloadavg()[0]:.1f}\n")
    print("| reading the export | peak RSS (MB) | wall (s, best of 2) | records |")
    print("|---|---:|---:|---|")
    for mode in modes:
        print(f"| {mode} | {peak[mode]:,.0f} | {best[mode][1]:.1f} | {best[mode][3]} |")
    print(f"\nheld / streamed peak: {peak['held'] / peak['streamed']:.2f}")


if __name__ == "__main__":
    main()
