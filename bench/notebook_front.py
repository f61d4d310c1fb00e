"""The notebook layer's own cost, as ratios to the core measured in the same run.

1. DataFrame -> requests: validating and building N requests (``build_requests``) vs the
   baseline of building the same N ``BatchRequest`` objects from ready strings.
2. job -> results DataFrame (``results_frame``) vs the baseline of ``pd.DataFrame`` from
   N ready dicts of the same columns.
3. ``bb.run`` end to end on a zero-latency simulated provider (worker thread, panel ticker,
   results DataFrame; no journal) vs the baseline of ``ParallelExecutor.execute`` on the same
   provider with the same concurrency, run with ``asyncio.run``.
4. Panel refreshes during a job with ``progress="widget"`` (throttled to 10/s) vs the number
   of results (what an unthrottled panel would send).

    .venv/bin/python bench/notebook_front.py [--n 100000] [--run-n 20000] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

import brainbatch as bb
from brainbatch.frame import RESULT_COLUMNS, PromptSpec, build_requests, results_frame
from brainbatch.models import BatchJob, BatchRequest, BatchResult, BatchStatus


def best_of(fn: Callable[[], Any], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def line(label: str, seconds: float, baseline: float, n: int) -> None:
    print(
        f"{label:<52} {seconds:7.3f} s  {n / seconds:>10,.0f} rows/s  "
        f"{seconds / baseline:5.2f}x baseline"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--run-n", type=int, default=20_000)
    ap.add_argument("--concurrency", type=int, default=64)
    a = ap.parse_args()
    os.environ["BRAINBATCH_PROGRESS"] = "none"
    n = a.n
    df = pd.DataFrame(
        {"review": [f"review text number {i}" for i in range(n)], "stars": np.arange(n) % 5}
    )
    spec = PromptSpec("Classify ({stars} stars): {review}", "sim")
    texts = [f"Classify ({s} stars): {r}" for r, s in zip(df.review, df.stars, strict=True)]

    print(f"== {n:,} rows, 2 template columns")
    base = best_of(lambda: [BatchRequest(t, "sim", None, str(i)) for i, t in enumerate(texts)])
    line("baseline: BatchRequest from ready strings", base, base, n)
    built = best_of(lambda: build_requests(df, spec))
    line("build_requests (checks + template + requests)", built, base, n)

    reqs = build_requests(df, spec)
    job = BatchJob(reqs)
    for r in reqs:
        job.add_result(
            BatchResult(r.id, r.custom_id, "success", "ok", 1.0, input_tokens=5, cost_usd=0.0)
        )
    job.status = BatchStatus.COMPLETED
    rows = [dict.fromkeys(RESULT_COLUMNS, 1) for _ in range(n)]
    base = best_of(lambda: pd.DataFrame.from_records(rows))
    line("baseline: DataFrame from N ready dicts", base, base, n)
    conv = best_of(lambda: results_frame(job, df))
    line("results_frame (input + 14 result columns)", conv, base, n)

    m, c = a.run_n, a.concurrency
    print(f"== {m:,} requests, zero-latency simulated provider, concurrency {c}")
    small = pd.DataFrame({"text": [f"prompt {i}" for i in range(m)]})
    provider = bb.SimulatedProvider(latency_ms=0)

    def core() -> None:
        j = BatchJob([BatchRequest(t, "sim", None, str(i)) for i, t in enumerate(small.text)])
        asyncio.run(bb.ParallelExecutor(c).execute(j, provider))

    base = best_of(core)
    line("baseline: ParallelExecutor.execute via asyncio.run", base, base, m)
    run = best_of(
        lambda: bb.run(small, prompt="text", provider=provider, max_concurrent=c, store=False)
    )
    line("bb.run (thread, ticker, results DataFrame)", run, base, m)
    with tempfile.TemporaryDirectory() as tmp:
        store = os.path.join(tmp, "jobs.sqlite")
        journaled = best_of(
            lambda: bb.run(small, prompt="text", provider=provider, max_concurrent=c, store=store),
            repeat=1,
        )
        line("bb.run with the SQLite journal", journaled, base, m)

    handle = bb.submit(
        small, prompt="text", provider=provider, max_concurrent=c, store=False, progress="widget"
    )
    panel = handle.panel()
    t0 = time.perf_counter()
    handle.result()
    dt = time.perf_counter() - t0
    print(
        f"panel refreshes: {panel.updates} for {m:,} results in {dt:.2f} s "
        f"({panel.updates / dt:.1f}/s; unthrottled would be {m:,})"
    )


if __name__ == "__main__":
    main()
