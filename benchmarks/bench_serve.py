"""`asag serve` under load, next to in-process `Scorer.score_many` in the same run: 1, 8 and
32 concurrent clients on 127.0.0.1, sending one-answer and 32-answer requests of
SciEntsBank test_ua answers for --seconds each; answers/s, p50/p99 latency, failed requests
and the clients' own CPU per request. The server is `asag serve` in its own process, as a
user starts it. The clients are threads with one keep-alive HTTP/1.1 connection each
(http.client), or with --client httpx one httpx.AsyncClient (measured: ~4 ms of client CPU
per request against 0.4-1.2 ms, taken from the cores the server runs on).

    .venv/bin/python benchmarks/bench_serve.py [--seconds 30] [--model DIR] [--client httpx]
    .venv/bin/python benchmarks/bench_serve.py --compete --threads 1,2,0 --sizes 1 --clients 8,32

--threads runs the whole measurement once per torch thread count of the server and of the
in-process baseline (0: torch's own default, every core; "auto": asag's default). --compete
runs a CPU-bound competitor process (one busy Python loop, stopped at the end and bounded by
--compete-seconds) through all of it, in-process baseline included: the machine shared with
another job, as when a teacher's laptop or a course server does something else.

Without --model, the default base model is trained for --train-steps steps on SciEntsBank
(a short training: its speed is the trained model's, its quality is not the point) into
/tmp/asag-bench/serve-model. The clients run on the same machine as the server and take
some of its CPU, as a local application would."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_train import build  # noqa: E402  (the SciEntsBank dataset, built once)

KEYS = ("question", "reference_answer", "student_answer")


def model_arguments(parser: argparse.ArgumentParser) -> None:
    """--model, --dataset, --train-steps: the scorer the serving benchmarks share
    (`ensure_model` trains it once)."""
    parser.add_argument("--model", type=Path, default=Path("/tmp/asag-bench/serve-model"))
    parser.add_argument("--dataset", type=Path, default=Path("/tmp/asag-bench/sb-3way"))
    parser.add_argument("--train-steps", type=int, default=40)


def ensure_model(model: Path, dataset: Path, steps: int) -> Path:
    if (model / "asag_scorer.json").is_file():
        return model
    build(dataset)
    subprocess.run([sys.executable, "-m", "asag", "-q", "train", str(dataset), "-o", str(model),
                    "--max-steps", str(steps), "--batch-size", "16", "--eval-steps", "100000",
                    "--overwrite"], check=True, cwd=ROOT)
    return model


def start_server(model: Path, extra: list[str]) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "asag", "serve", str(model), "--port", "0",
                             "--max-answers", "10000", *extra], stderr=subprocess.PIPE,
                            text=True, cwd=ROOT)
    said = []
    while " on http://" not in (line := proc.stderr.readline()):  # warnings may come first
        said.append(line)
        if not line:
            proc.kill()
            raise SystemExit(f"asag serve did not start: {''.join(said)}")
    return proc, line.split(" on ")[1].split(" ")[0]


async def load(url: str, rows: list[dict], clients: int, size: int, seconds: float) -> dict:
    import httpx

    latencies: list[float] = []
    failures = 0
    answers = 0
    stop = 0.0  # set once the warm-up is done: the clients run for `seconds`
    cursor = 0

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal failures, answers, cursor
        while time.perf_counter() < stop:
            start_at = cursor
            cursor = (cursor + size) % len(rows)
            body = [rows[(start_at + i) % len(rows)] for i in range(size)]
            sent = time.perf_counter()
            try:
                reply = await http.post("/score", json=body)
                ok = reply.status_code == 200 and len(reply.json()["results"]) == size
            except httpx.HTTPError:
                ok = False
            if ok:
                latencies.append(time.perf_counter() - sent)
                answers += size
            else:
                failures += 1

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=600, limits=limits) as http:
        await http.post("/score", json=rows[:size])  # warm-up
        began, cpu = time.perf_counter(), time.process_time()
        stop = began + seconds
        await asyncio.gather(*(client(http) for _ in range(clients)))
        elapsed = time.perf_counter() - began
    return summary(latencies, answers, failures, elapsed, time.process_time() - cpu)


def load_threads(url: str, rows: list[dict], clients: int, size: int, seconds: float) -> dict:
    """The same load from `clients` threads, each with its own keep-alive connection
    (http.client, the standard library's HTTP/1.1 client): a lighter client than httpx's
    asyncio stack, so that the clients, which share the server's cores here, take less of
    them."""
    import http.client
    import json
    import threading
    from urllib.parse import urlsplit

    where = urlsplit(url)
    latencies: list[float] = []
    counts = {"failures": 0, "answers": 0, "cursor": 0}
    lock = threading.Lock()
    stop = 0.0  # set once the warm-up is done: the clients run for `seconds`

    def client() -> None:
        conn = http.client.HTTPConnection(where.hostname, where.port, timeout=600)
        while time.perf_counter() < stop:
            with lock:
                start_at = counts["cursor"]
                counts["cursor"] = (start_at + size) % len(rows)
            body = json.dumps([rows[(start_at + i) % len(rows)] for i in range(size)])
            sent = time.perf_counter()
            try:
                conn.request("POST", "/score", body, {"Content-Type": "application/json"})
                reply = conn.getresponse()
                data = reply.read()
                ok = reply.status == 200 and len(json.loads(data)["results"]) == size
            except (OSError, http.client.HTTPException, ValueError):
                conn.close()  # reconnects on the next request
                ok = False
            with lock:
                if ok:
                    latencies.append(time.perf_counter() - sent)
                    counts["answers"] += size
                else:
                    counts["failures"] += 1
        conn.close()

    warm = http.client.HTTPConnection(where.hostname, where.port, timeout=600)
    warm.request("POST", "/score", json.dumps(rows[:size]), {"Content-Type": "application/json"})
    warm.getresponse().read()
    warm.close()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    began, cpu = time.perf_counter(), time.process_time()
    stop = began + seconds
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return summary(latencies, counts["answers"], counts["failures"],
                   time.perf_counter() - began, time.process_time() - cpu)


def summary(latencies: list[float], answers: int, failures: int, elapsed: float,
            client_cpu: float) -> dict:
    latencies.sort()

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else 0

    return {"answers_per_s": answers / elapsed, "p50": pct(0.5), "p99": pct(0.99),
            "requests": len(latencies), "failures": failures,
            "client_ms": 1000 * client_cpu / max(1, len(latencies) + failures)}


def in_process(model: Path, dataset: Path, seconds: float, threads: str = "auto") -> float:
    """Scorer.score_many over the answers (length-sorted batches of 32), repeated for about
    `seconds`: the throughput the server is compared with. Run in a fresh process (this
    script, --in-process), so torch's threads are set as the server sets them."""
    out = subprocess.run([sys.executable, __file__, "--in-process", threads, "--model",
                          str(model), "--dataset", str(dataset), "--seconds", str(seconds)],
                         text=True, capture_output=True, check=True, cwd=ROOT)
    return float(out.stdout.strip().splitlines()[-1])


def score_in_process(model: Path, rows: list[dict], seconds: float, threads: str) -> float:
    from asag.train import Scorer

    scorer = Scorer.load(model, threads=None if threads == "0" else (
        threads if threads == "auto" else int(threads)))  # 0: torch's own default
    scorer.score_many(rows[:64])  # warm-up
    done, began = 0, time.perf_counter()
    while time.perf_counter() - began < seconds:
        scorer.score_many(rows, batch_size=32)
        done += len(rows)
    return done / (time.perf_counter() - began)


def competitor(seconds: float) -> subprocess.Popen:
    """A CPU-bound process (one busy loop) that ends by itself after `seconds`."""
    return subprocess.Popen([sys.executable, "-c", "import time\nend = time.monotonic() + "
                             f"{seconds}\nwhile time.monotonic() < end:\n    pass\n"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    model_arguments(parser)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--clients", default="1,8,32")
    parser.add_argument("--sizes", default="1,32")
    parser.add_argument("--threads", default="auto",
                        help="Comma-separated torch thread counts to measure (0: torch's "
                             "default; auto: asag's).")
    parser.add_argument("--compete", action="store_true",
                        help="Run a CPU-bound competitor process throughout.")
    parser.add_argument("--compete-seconds", type=float, default=1800,
                        help="The competitor stops by itself after this long.")
    parser.add_argument("--serve-args", default="", help="Extra `asag serve` options.")
    parser.add_argument("--client", choices=("threads", "httpx"), default="threads",
                        help="http.client threads (light) or httpx asyncio.")
    parser.add_argument("--in-process", metavar="THREADS", default=None,
                        help=argparse.SUPPRESS)  # the baseline's own process
    opts = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from datasets import load_from_disk

    model = ensure_model(opts.model, opts.dataset, opts.train_steps)
    rows = [{k: r[k] for k in KEYS} for r in load_from_disk(str(opts.dataset))["test_ua"]]
    if opts.in_process is not None:
        print(score_in_process(model, rows, opts.seconds, opts.in_process))
        return
    began = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"{began}; model {model} ({len(rows)} SciEntsBank test_ua answers); "
          f"{os.cpu_count()} CPUs; load average before {os.getloadavg()[0]:.2f}; competitor: "
          f"{'one CPU-bound process' if opts.compete else 'none'}", flush=True)
    rival = competitor(opts.compete_seconds) if opts.compete else None
    table = []
    try:
        for threads in opts.threads.split(","):
            table += measure(model, rows, opts, threads.strip())
    finally:
        if rival is not None:
            rival.kill()
            rival.wait()
    print(f"\nload average after {os.getloadavg()[0]:.2f}; clients: {opts.client}\n")
    print("| threads | answers/request | clients | answers/s | in-process answers/s | vs "
          "in-process | p50 ms | p99 ms | requests | failed | client CPU ms/request |\n"
          "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for threads, baseline, size, clients, r in table:
        print(f"| {threads} | {size} | {clients} | {r['answers_per_s']:.1f} | {baseline:.1f} | "
              f"{r['answers_per_s'] / baseline:.2f} | {r['p50'] * 1000:.0f} | "
              f"{r['p99'] * 1000:.0f} | {r['requests']} | {r['failures']} | "
              f"{r['client_ms']:.2f} |")


def measure(model: Path, rows: list[dict], opts, threads: str) -> list[tuple]:
    """In-process, the server under each load, in-process again (a shared machine's load
    drifts: the baseline is the mean), all with `threads` torch threads."""
    name = {"0": "torch default", "auto": "asag default"}.get(threads, threads)
    before = in_process(model, opts.dataset, opts.seconds, threads)
    print(f"[{name}] in-process Scorer.score_many, batches of 32: {before:.1f} answers/s",
          flush=True)
    extra = [] if threads == "auto" else ["--threads", threads]
    proc, url = start_server(model, [*extra, *opts.serve_args.split()])
    results = []
    try:
        for size in (int(s) for s in opts.sizes.split(",")):
            for clients in (int(c) for c in opts.clients.split(",")):
                r = (load_threads(url, rows, clients, size, opts.seconds)
                     if opts.client == "threads"
                     else asyncio.run(load(url, rows, clients, size, opts.seconds)))
                results.append((size, clients, r))
                print(f"[{name}]  {size} answer(s)/request, {clients} clients: "
                      f"{r['answers_per_s']:.1f}/s, p99 {r['p99'] * 1000:.0f} ms", flush=True)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    after = in_process(model, opts.dataset, opts.seconds, threads)
    print(f"[{name}] in-process again: {after:.1f} answers/s; load average "
          f"{os.getloadavg()[0]:.2f}", flush=True)
    baseline = (before + after) / 2
    return [(f"{name} ({before:.1f} / {after:.1f})", baseline, size, clients, r)
            for size, clients, r in results]


if __name__ == "__main__":
    main()
