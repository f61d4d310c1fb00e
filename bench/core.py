"""The core's own overhead: a job through ParallelExecutor vs a bare pool doing the same awaits.

Every variant sends the same N requests with the same concurrency, and every ``process_fn``
suspends once per request (``await asyncio.sleep(0)``, as real I/O does), so the workers
really interleave: a ``process_fn`` that never suspends would let the first worker drain the
whole job alone and measure nothing about a pool.

* ``bare pool``: ``concurrency`` asyncio tasks pulling from one iterator, awaiting the same
  ``process_fn`` and appending what it returns to a list: the baseline.
* ``ParallelExecutor``: the same ``process_fn`` through the executor (job, results, counters,
  progress callback hook).
* ``bare pool + SimulatedProvider`` / ``ParallelExecutor + SimulatedProvider``: the same pair
  with the in-process simulated provider at 0 ms (it builds an answer, counts tokens and
  prices each request).

Rounds alternate the variants (rotating order); the figures are min-median-max over rounds,
ratios are taken within each round. Peak RSS of the process is printed at the end.

    .venv/bin/python bench/core.py [--n 100000] [--concurrency 256] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import time
from collections.abc import Awaitable, Callable
from typing import Any

from _rounds import machine_note, ratios, run_rounds, spread

from brainbatch import BatchRequest, ParallelExecutor, SimulatedProvider
from brainbatch.models import BatchJob


async def answer(req: BatchRequest) -> str:
    await asyncio.sleep(0)  # one suspension per request, like any I/O
    return "ok"


async def bare_pool(
    reqs: list[BatchRequest], concurrency: int, fn: Callable[[BatchRequest], Awaitable[Any]]
) -> None:
    it = iter(reqs)
    out: list[Any] = []

    async def worker() -> None:
        for r in it:
            out.append(await fn(r))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    assert len(out) == len(reqs)


async def executor(
    reqs: list[BatchRequest], concurrency: int, fn: Callable[[BatchRequest], Awaitable[Any]]
) -> None:
    job = BatchJob(reqs)
    await ParallelExecutor(max_concurrent=concurrency).execute(job, fn)
    assert job.n_success == len(reqs)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--concurrency", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    reqs = [
        BatchRequest(prompt=f"prompt {i}", model="gpt-4o-mini", custom_id=f"c{i}")
        for i in range(a.n)
    ]
    sim = SimulatedProvider(latency_ms=0)

    def timed(run: Callable[..., Awaitable[None]], fn: Any) -> Callable[[], float]:
        def once() -> float:
            t0 = time.perf_counter()
            asyncio.run(run(reqs, a.concurrency, fn))
            return a.n / (time.perf_counter() - t0)

        return once

    variants = {
        "bare pool": timed(bare_pool, answer),
        "ParallelExecutor": timed(executor, answer),
        "bare pool + SimulatedProvider": timed(bare_pool, sim),
        "ParallelExecutor + SimulatedProvider": timed(executor, sim),
    }
    print(
        f"{a.n:,} requests, concurrency {a.concurrency}, {a.rounds} rounds ({machine_note()})",
        flush=True,
    )
    rates = run_rounds(variants, a.rounds)
    print(f"{'variant':<38} {'req/s (min-median-max)':>26}  ratio to its bare pool")
    for name, base in (
        ("bare pool", None),
        ("ParallelExecutor", "bare pool"),
        ("bare pool + SimulatedProvider", None),
        ("ParallelExecutor + SimulatedProvider", "bare pool + SimulatedProvider"),
    ):
        ratio = "" if base is None else spread(ratios(rates, name, base), ".2f", "x")
        print(f"{name:<38} {spread(rates[name]):>26}  {ratio}")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {rss:.0f} MiB; load average at the end: {machine_note()}")


if __name__ == "__main__":
    main()
