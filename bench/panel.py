"""The cockpit panel's cost per refresh, against the same job without a panel, in the same run.

A 20,000-row job on the in-process simulated provider (two models, 10% simulated errors,
``--latency-ms`` per request, ``--concurrency`` in flight), run four ways:

1. baseline: ``progress="none"`` and the job's monitor detached (no panel, nothing recorded);
2. ``progress="none"`` with the monitor (what ``job.latest()`` / ``job.errors()`` cost);
3. the panel with its details collapsed (the default view: bar, counts, chart, error line);
4. the panel with "Latest answers" open (its table is rebuilt on every refresh);
5. the panel with "Errors" open.

Each case runs ``--repeat`` times and keeps its lowest CPU time (the machine is shared). For
each: wall time, CPU time of the whole process (all threads), refreshes and refreshes per
second, the mean time of one refresh (``JobPanel.update``, measured around the call) and the
panel's share of the job's CPU; then peak RSS. Ratios are against the baseline of the same run.
First, the monitor's cost per result alone: ``BatchJob.add_result`` for 100,000 results with and
without a :class:`~brainbatch.monitor.JobMonitor` listening.

Outside a kernel the widgets have no front end to send to, so this measures building the
values (HTML and SVG strings, trait changes), not the comm messages a kernel then sends.

    .venv/bin/python bench/panel.py [--n 20000] [--latency-ms 20] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from typing import Any

import pandas as pd

import brainbatch as bb
from brainbatch.models import BatchJob, BatchRequest, BatchResult
from brainbatch.monitor import JobMonitor


def frame(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "review": [f"Review {i}: arrived on time, works as described." for i in range(n)],
            "model": ["gpt-4o-mini", "claude-haiku-4-5"] * (n // 2) + ["gpt-4o-mini"] * (n % 2),
        }
    )


def run_once(
    df: pd.DataFrame, a: argparse.Namespace, panel_section: int | str | None
) -> dict[str, Any]:
    """``panel_section``: "bare" (no panel, no monitor), "none" (no panel), None (panel,
    details collapsed) or the index of the open details section."""
    widget = panel_section not in ("none", "bare")
    cpu0, t0 = time.process_time(), time.perf_counter()
    job = bb.submit(
        df,
        prompt="Classify the sentiment of: {review}",
        model="col:model",
        provider="sim",
        store=False,
        max_concurrent=a.concurrency,
        latency_ms=a.latency_ms,
        latency_sigma=0.3,
        error_rate=0.1,
        progress="widget" if widget else "none",
    )
    if panel_section == "bare":
        job.monitor.close()  # within microseconds of the start: a handful of results at most
    spent = [0.0]
    panel = None
    if widget:
        panel = job.panel()
        if panel_section is not None:
            panel.details.selected_index = panel_section
        inner = panel.update

        def timed(s: Any) -> None:
            t = time.perf_counter()
            inner(s)
            spent[0] += time.perf_counter() - t

        panel.update = timed  # type: ignore[method-assign]  # the handle's views call this
    job.result()
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    updates = panel.updates if panel is not None else 0
    return {"wall": wall, "cpu": cpu, "updates": updates, "spent": spent[0]}


def monitor_cost(n: int = 100_000) -> None:
    reqs = [BatchRequest(f"p{i}", ("gpt-4o-mini", "claude-haiku-4-5")[i % 2]) for i in range(n)]
    results = [
        BatchResult(
            r.id,
            None,
            "success" if i % 10 else "error",
            "answer",
            20.0,
            cost_usd=1e-5,
            model=r.model,
            error=None if i % 10 else f"simulated 500 for request {i}",
            error_type=None if i % 10 else "server_error",
        )
        for i, r in enumerate(reqs)
    ]

    def add(with_monitor: bool) -> float:
        job = BatchJob(reqs)
        if with_monitor:
            JobMonitor(job)
        t = time.perf_counter()
        for r in results:
            job.add_result(r)
        return time.perf_counter() - t

    base = min(add(False) for _ in range(3))
    mon = min(add(True) for _ in range(3))
    print(
        f"== monitor: {n:,} results (10% errors, 2 models): add_result {base / n * 1e6:.2f} µs, "
        f"with the monitor {mon / n * 1e6:.2f} µs ({mon / base:.2f}x; "
        f"+{(mon - base) / n * 1e6:.2f} µs per result)"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--latency-ms", type=float, default=20.0)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=2)
    a = ap.parse_args()
    monitor_cost()
    os.environ.pop("BRAINBATCH_PROGRESS", None)
    df = frame(a.n)
    print(
        f"== {a.n:,} rows, 2 models, 10% simulated errors, {a.latency_ms:g} ms per request, "
        f"{a.concurrency} in flight"
    )
    cases: list[tuple[str, int | str | None]] = [
        ("baseline: no panel, no monitor", "bare"),
        ("no panel (monitor only)", "none"),
        ("panel, details collapsed", None),
        ("panel, latest answers open", 0),
        ("panel, errors open", 1),
    ]
    run_once(df.head(2000), a, None)  # warm-up: imports, widget classes
    base: dict[str, Any] | None = None
    for label, section in cases:
        r = min((run_once(df, a, section) for _ in range(a.repeat)), key=lambda r: r["cpu"])
        if base is None:
            base = r
            print(f"{label:<31} wall {r['wall']:6.2f} s  CPU {r['cpu']:6.2f} s")
            continue
        head = (
            f"{label:<31} wall {r['wall']:6.2f} s ({r['wall'] / base['wall']:.2f}x)  "
            f"CPU {r['cpu']:6.2f} s ({r['cpu'] / base['cpu']:.2f}x)"
        )
        if r["updates"]:
            per = r["spent"] / r["updates"] * 1e3
            head += (
                f"  {r['updates']} refreshes ({r['updates'] / r['wall']:.1f}/s)  "
                f"{per:.2f} ms each = {100 * r['spent'] / r['cpu']:.1f}% of the job's CPU"
            )
        print(head)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {rss:,.0f} MiB")


if __name__ == "__main__":
    main()
