"""What the journal costs the real-time path, at 0 ms latency (nothing to hide the writes in).

1. ``bb.run`` over HTTP (the path users run), against the minimal uvloop/httptools server
   ``bench/fast_server.py`` in its own process: ``bb.run(df, ..., store=<file>)`` (the
   default journal: a kill loses at most the requests in flight) vs the same ``bb.run`` with
   ``store=False``, both ``max_concurrent=256``. Everything ``bb.run`` does is timed: building
   the requests, storing the job (``create_job``), the run, the results DataFrame. The store
   is one file reused by every round, like the default ``.brainbatch/jobs.sqlite``.
2. The executor alone with the in-process SimulatedProvider (about 25 us of work per
   request, so the journal's share is far larger than over HTTP): ``no journal``, ``listener``
   (``store.journal(job)``: a kill loses at most two requests per slot) and ``strict``
   (``journal.wrap(fn)`` as well, what ``JobRunner`` does). ``create_job`` is inside the timed
   region of the journaled variants.

Rounds alternate the variants (rotating order); figures are min-median-max over the rounds,
ratios are taken within a round (same-run baseline), and CPU time of this process per request
is shown too (steadier than wall time on a shared machine).

With ``--count`` it times nothing and counts instead, per request and per variant of the
HTTP part (one run each, instrumented): event-loop iterations, callbacks the loop ran
(``Handle``s: a task step, a future callback), journal commits on the loop and on the journal
thread, results per commit, CPU spent in those commits, and ``create_job``. Counts do not
depend on the machine's load, so they show where the journaled path does more work.

    .venv/bin/python bench/journal.py [--n 20000] [--rounds 7] [--concurrency 256]
        [--sim-n 20000] [--no-sim] [--no-http] [--count]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _rounds import machine_note, ratios, rotated, spread

os.environ.setdefault("BRAINBATCH_PROGRESS", "none")

import pandas as pd

import brainbatch as bb
from brainbatch import BatchJob, BatchRequest, ParallelExecutor, SimulatedProvider
from brainbatch.store import JobStore
from brainbatch.store import journal as journal_mod

HERE = Path(__file__).resolve().parent


def start_fast_server() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "fast_server.py")], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "http://" not in line:
        proc.kill()
        raise SystemExit(f"the fast server did not start: {line!r}")
    return proc, line.split("on ", 1)[1].strip() + "/v1"


def print_table(
    title: str, rates: dict[str, list[float]], cpus: dict[str, list[float]], base: str
) -> None:
    print(f"\n{title}")
    print(f"  {'variant':<22} {'req/s':>24}  {'ratio to ' + base:>22}  {'CPU us/request':>18}")
    for name in rates:
        ratio = spread(ratios(rates, name, base), ".2f", "x")
        cpu = spread(cpus[name], ".0f")
        print(f"  {name:<22} {spread(rates[name]):>24}  {ratio:>22}  {cpu:>18}")


def bench_http(args: argparse.Namespace, folder: Path) -> None:
    proc, base_url = start_fast_server()
    n = args.n
    df = pd.DataFrame({"review": [f"Review #{i}: good value, fast delivery." for i in range(n)]})
    store_path = str(folder / "jobs.sqlite")

    def run(store: Any) -> tuple[float, float]:
        t0, c0 = time.perf_counter(), time.process_time()
        out = bb.run(
            df,
            prompt="Classify the sentiment of: {review}",
            model="gpt-4o-mini",
            provider="openai",
            base_url=base_url,
            api_key="sk-bench-not-a-real-key",
            store=store,
            max_concurrent=args.concurrency,
            progress=False,
        )
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        assert (out["status"] == "success").all()
        return n / dt, cpu / n * 1e6

    variants = {"store=False": False, "default journal": store_path}
    rates: dict[str, list[float]] = {k: [] for k in variants}
    cpus: dict[str, list[float]] = {k: [] for k in variants}
    try:
        run(False)  # warm-up: imports, connections, prices
        for k in range(args.rounds):
            for name in rotated(list(variants), k):
                rate, cpu = run(variants[name])
                rates[name].append(rate)
                cpus[name].append(cpu)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    print_table(
        f"bb.run over HTTP (fast local server, 0 ms): {n:,} rows, max_concurrent="
        f"{args.concurrency}, {args.rounds} rounds",
        rates,
        cpus,
        "store=False",
    )


class Counters:
    """Counts what one ``bb.run`` makes the loop and the journal do (installed while used)."""

    def __init__(self) -> None:
        self.c: collections.Counter[str] = collections.Counter()
        self._saved: list[tuple[Any, str, Any]] = []

    def __enter__(self) -> Counters:
        c = self.c
        run_once = asyncio.BaseEventLoop._run_once  # type: ignore[attr-defined]
        commit_once = journal_mod.Writer._commit_once
        create_job = JobStore.create_job

        def counted_run_once(loop: Any) -> Any:
            c["loop iterations"] += 1
            c["callbacks run"] += len(loop._ready)
            return run_once(loop)

        def counted_commit(writer: Any, conn: Any, *, full: bool, take_items: Any = True) -> Any:
            t, before, done = time.thread_time(), writer.commits, writer._committed
            try:
                return commit_once(writer, conn, full=full, take_items=take_items)
            finally:
                if writer.commits > before:  # a transaction ran (or nothing was due)
                    c["commits by the thread" if full else "commits on the loop"] += 1
                    c["results in commits"] += writer._committed - done
                c["commit CPU us"] += (time.thread_time() - t) * 1e6

        def counted_create(store: Any, *a: Any, **k: Any) -> Any:
            t = time.process_time()
            try:
                return create_job(store, *a, **k)
            finally:
                c["create_job CPU us"] += (time.process_time() - t) * 1e6

        for owner, name, fn in (
            (asyncio.BaseEventLoop, "_run_once", counted_run_once),
            (journal_mod.Writer, "_commit_once", counted_commit),
            (JobStore, "create_job", counted_create),
        ):
            self._saved.append((owner, name, getattr(owner, name)))
            setattr(owner, name, fn)
        return self

    def __exit__(self, *exc: object) -> None:
        for owner, name, fn in reversed(self._saved):
            setattr(owner, name, fn)
        self._saved.clear()


def count_http(args: argparse.Namespace, folder: Path) -> None:
    proc, base_url = start_fast_server()
    n = args.n
    df = pd.DataFrame({"review": [f"Review #{i}: good value, fast delivery." for i in range(n)]})
    variants = {"store=False": False, "default journal": str(folder / "count.sqlite")}
    counts: dict[str, collections.Counter[str]] = {}
    try:
        for name, store in [("warm-up", False), *variants.items()]:
            with Counters() as counters:
                out = bb.run(
                    df,
                    prompt="Classify the sentiment of: {review}",
                    model="gpt-4o-mini",
                    provider="openai",
                    base_url=base_url,
                    api_key="sk-bench-not-a-real-key",
                    store=store,
                    max_concurrent=args.concurrency,
                    progress=False,
                )
            assert (out["status"] == "success").all()
            counts[name] = counters.c
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    del counts["warm-up"]
    keys = [
        "loop iterations",
        "callbacks run",
        "commits on the loop",
        "commits by the thread",
        "results in commits",
        "commit CPU us",
        "create_job CPU us",
    ]
    print(
        f"\nbb.run over HTTP, counted (not timed): {n:,} rows, max_concurrent="
        f"{args.concurrency}; per request"
    )
    print(f"  {'':<24}" + "".join(f"{name:>18}" for name in counts))
    for key in keys:
        row = "".join(f"{counts[name][key] / n:>18.3f}" for name in counts)
        print(f"  {key:<24}{row}")
    commits = {k: v["commits on the loop"] + v["commits by the thread"] for k, v in counts.items()}
    per = counts["default journal"]["results in commits"] / max(1, commits["default journal"])
    print(f"  results per commit (default journal): {per:,.1f}")


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


async def executor_once(mode: str, n: int, c: int, folder: Path) -> tuple[float, float]:
    provider = SimulatedProvider(latency_ms=0.0)
    job = make_job(n)
    executor = ParallelExecutor(max_concurrent=c)
    store = None if mode == "no journal" else JobStore(folder / f"{time.monotonic_ns()}.sqlite")
    t0, c0 = time.perf_counter(), time.process_time()
    if store is None:
        await executor.execute(job, provider)
    else:
        store.create_job(job)
        journal = store.journal(job)
        fn = journal.wrap(provider) if mode == "strict" else provider
        await executor.execute(job, fn)
        journal.close()  # the last group is committed inside the timed region
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    if store is not None:
        assert len(store.load_job(job.job_id).results) == n
        store.close()
    assert job.done == n, job
    return n / dt, cpu / n * 1e6


def bench_executor(args: argparse.Namespace, folder: Path) -> None:
    modes = ["no journal", "listener", "strict"]
    rates: dict[str, list[float]] = {m: [] for m in modes}
    cpus: dict[str, list[float]] = {m: [] for m in modes}
    asyncio.run(executor_once("no journal", 2000, args.concurrency, folder))  # warm-up
    for k in range(args.rounds):
        for mode in rotated(modes, k):
            rate, cpu = asyncio.run(executor_once(mode, args.sim_n, args.concurrency, folder))
            rates[mode].append(rate)
            cpus[mode].append(cpu)
    print_table(
        f"ParallelExecutor + in-process SimulatedProvider (0 ms): {args.sim_n:,} requests, "
        f"max_concurrent={args.concurrency}, {args.rounds} rounds, create_job timed",
        rates,
        cpus,
        "no journal",
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--n", type=int, default=20_000, help="rows per bb.run over HTTP")
    ap.add_argument("--sim-n", type=int, default=20_000, help="requests per executor run")
    ap.add_argument("--concurrency", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--no-http", action="store_true", help="skip the bb.run over HTTP part")
    ap.add_argument("--no-sim", action="store_true", help="skip the in-process executor part")
    ap.add_argument(
        "--count", action="store_true", help="count loop turns and commits per request, no timing"
    )
    args = ap.parse_args()
    print(f"bench/journal.py ({machine_note()})", flush=True)
    if args.count:
        with tempfile.TemporaryDirectory() as tmp:
            count_http(args, Path(tmp))
        return
    with tempfile.TemporaryDirectory() as tmp:
        if not args.no_http:
            bench_http(args, Path(tmp))
        if not args.no_sim:
            bench_executor(args, Path(tmp))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS {rss:.0f} MiB; at the end: {machine_note()}")


if __name__ == "__main__":
    main()
