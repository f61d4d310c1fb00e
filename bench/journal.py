"""What the journal costs the real-time path: requests/s with and without it, at 0 ms latency.

Runs the same ParallelExecutor job several ways, interleaved (the order rotates) and repeated:

* ``no journal``   the baseline, measured in the same run: no store at all;
* ``listener``     ``store.journal(job)``: results committed at the end of the loop iteration
                   they arrive in (a kill loses at most two requests per slot);
* ``strict``       ``journal.wrap(fn)`` too: a slot takes its next request only once its
                   previous result is committed (a kill loses only the requests in flight);
                   this is what ``JobRunner`` (the notebook layer, the CLI) does.

Providers: the in-process SimulatedProvider with latency 0 (worst case for the journal: no
network time to hide in; about 25 us of work per request), and OpenAIProvider against the
simulated HTTP server at 0 ms, run in its own process. For each: median and best requests/s
with their ratio to the baseline, and CPU time of this process per request (the steadiest
figure on a shared machine).

    .venv/bin/python bench/journal.py [--n 20000] [--http-n 5000] [--concurrency 64] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from brainbatch import BatchJob, BatchRequest, ParallelExecutor, SimulatedProvider
from brainbatch.store import JobStore


def make_job(n: int) -> BatchJob:
    return BatchJob(
        [
            BatchRequest(
                prompt=f"Review #{i}: good value, fast delivery.",
                model="gpt-4o-mini",
                custom_id=f"row-{i}",
            )
            for i in range(n)
        ]
    )


async def run_once(mode: str, n: int, c: int, provider: Any, folder: Path) -> tuple[float, float]:
    """(requests/s, CPU microseconds of this process per request) for one run."""
    job = make_job(n)
    executor = ParallelExecutor(max_concurrent=c)
    if mode == "no journal":
        t0, c0 = time.perf_counter(), time.process_time()
        await executor.execute(job, provider)
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    else:
        store = JobStore(folder / f"{mode.replace(' ', '_')}-{time.monotonic_ns()}.sqlite")
        store.create_job(job)
        t0, c0 = time.perf_counter(), time.process_time()
        journal = store.journal(job)
        fn = journal.wrap(provider) if mode == "strict" else provider
        await executor.execute(job, fn)
        journal.close()  # the last group is committed inside the timed region
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        assert len(store.load_job(job.job_id).results) == n
        store.close()
    assert job.done == n, job
    return n / dt, cpu / n * 1e6


async def bench_provider(label: str, provider: Any, args: argparse.Namespace, folder: Path) -> None:
    modes = ("no journal", "listener", "strict")
    rates: dict[str, list[float]] = {m: [] for m in modes}
    cpus: dict[str, list[float]] = {m: [] for m in modes}
    await run_once("no journal", min(args.n, 2000), args.concurrency, provider, folder)  # warm-up
    for k in range(args.repeat):
        for mode in modes[k % 3 :] + modes[: k % 3]:  # rotate: no mode always runs first
            rate, cpu = await run_once(mode, args.n, args.concurrency, provider, folder)
            rates[mode].append(rate)
            cpus[mode].append(cpu)
    base = statistics.median(rates["no journal"])
    best_base = max(rates["no journal"])
    print(
        f"\n{label}: {args.n:,} requests, max_concurrent={args.concurrency}, "
        f"{args.repeat} runs each"
    )
    base_cpu = statistics.median(cpus["no journal"])
    print(f"  {'':<11} {'median':>9}        ratio   {'best':>9}        ratio   CPU/request")
    for mode in modes:
        med, best = statistics.median(rates[mode]), max(rates[mode])
        cpu = statistics.median(cpus[mode])
        print(
            f"  {mode:<11} {med:>9,.0f} req/s {med / base:6.1%}   {best:>9,.0f} req/s "
            f"{best / best_base:6.1%}   {cpu:6.1f} us ({cpu / base_cpu:.2f}x)"
        )


def start_sim_server() -> tuple[subprocess.Popen[str], str]:
    """The simulated server in its own process (own GIL), at 0 ms; returns it and its URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "brainbatch.sim", "--port", "0", "--latency-ms", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if "OpenAI base URL:" in line:
            return proc, line.split("URL:", 1)[1].strip()
    raise SystemExit("the simulated server did not start")


async def run_all(args: argparse.Namespace, base_url: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sim = SimulatedProvider(latency_ms=0.0)
        await bench_provider("SimulatedProvider in process, 0 ms", sim, args, folder)
        if base_url is None:
            return
        from brainbatch.providers.openai import OpenAIProvider

        args.n = args.http_n
        provider = OpenAIProvider(base_url=base_url, api_key="sk-bench-not-a-real-key")
        label = "OpenAIProvider -> SimServer (separate process), 0 ms"
        try:
            await bench_provider(label, provider, args, folder)
        finally:
            await provider.aclose()


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--http-n", type=int, default=5_000)
    ap.add_argument("--no-http", action="store_true", help="skip the HTTP measurement")
    args = ap.parse_args()
    proc, base_url = (None, None) if args.no_http else start_sim_server()
    try:
        asyncio.run(run_all(args, base_url))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)


if __name__ == "__main__":
    main()
