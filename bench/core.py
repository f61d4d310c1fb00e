"""The core's own overhead: a 100,000-request job through ParallelExecutor.

Baseline, measured in the same run: the same number of calls to the same zero-latency
process_fn from a bare pool of asyncio workers with no job, no results and no bookkeeping.
Prints wall time, requests/s, the ratio to the baseline, and the process's peak RSS so far.

    .venv/bin/python bench/core.py [--n 100000] [--concurrency 256]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import time

from brainbatch import BatchRequest, MockExecutor, ParallelExecutor, SimulatedProvider
from brainbatch.models import BatchJob


async def answer(req: BatchRequest) -> str:
    return "ok"


async def bare_pool(reqs: list[BatchRequest], concurrency: int) -> None:
    it = iter(reqs)

    async def worker() -> None:
        for r in it:
            await answer(r)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


def timed(label: str, fn, *args) -> float:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    asyncio.run(fn(*args))
    dt = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{label:<44} {dt:7.2f} s  {len(args[0]) / dt:>9,.0f} req/s  max RSS {rss:6.0f} MiB")
    return dt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--concurrency", type=int, default=256)
    a = ap.parse_args()
    t0 = time.perf_counter()
    reqs = [
        BatchRequest(prompt=f"prompt {i}", model="gpt-4o-mini", custom_id=f"c{i}")
        for i in range(a.n)
    ]
    print(f"built {a.n:,} requests in {time.perf_counter() - t0:.2f} s")

    base = timed("baseline: bare asyncio worker pool", bare_pool, reqs, a.concurrency)

    async def parallel(rs: list[BatchRequest]) -> None:
        await ParallelExecutor(max_concurrent=a.concurrency).execute(BatchJob(rs), answer)

    async def mock(rs: list[BatchRequest]) -> None:
        await MockExecutor(delay=0, max_concurrent=a.concurrency).execute(BatchJob(rs))

    async def sim(rs: list[BatchRequest]) -> None:
        await ParallelExecutor(max_concurrent=a.concurrency).execute(
            BatchJob(rs), SimulatedProvider(latency_ms=0)
        )

    for label, fn in (
        ("ParallelExecutor, trivial process_fn", parallel),
        ("MockExecutor (simulated answers)", mock),
        ("ParallelExecutor + SimulatedProvider", sim),
    ):
        dt = timed(label, fn, reqs)
        print(f"{'':<44} {dt / base:7.1f}x the baseline's time")


if __name__ == "__main__":
    main()
