"""The demo job: a few hundred realistic prompts on the simulated provider, no keys, no network.

Run it with ``make demo`` or ``python -m brainbatch demo --out out``. It prints a summary table
and writes ``results.csv`` and ``latency_cost.png`` into the output folder.
"""

from __future__ import annotations

import asyncio
import csv
import sys
import time
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

from .executors import ParallelExecutor
from .manager import BatchManager, job_stats
from .models import BatchJob, BatchRequest
from .providers.simulated import SimulatedProvider

__all__ = ["load_sample_prompts", "run_demo"]

_TEMPLATES = {
    "review": "Classify the sentiment of this review as positive, negative or mixed: {text}",
    "support": "Route this support ticket to billing, shipping, account or tech: {text}",
    "explain": "{text}",
}


def load_sample_prompts() -> list[dict[str, str]]:
    """The bundled sample: 300 rows with ``id``, ``category`` and ``text``."""
    with resources.files("brainbatch").joinpath("data/prompts.csv").open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _progress(stream: TextIO) -> Any:
    last = 0.0

    def show(job: BatchJob) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last < 0.1 and not job.is_complete:
            return
        last = now
        stream.write(
            f"\r  {job.done:>4}/{job.total} done  {job.n_error} failed  ${job.cost_usd:.4f}"
        )
        stream.flush()

    return show


def run_demo(out: Path, *, concurrency: int = 32, latency_ms: float = 300.0) -> dict[str, Any]:
    """Run the demo job; write the CSV and PNG into ``out``; return the job's stats."""
    rows = load_sample_prompts()
    requests = [
        BatchRequest(
            prompt=_TEMPLATES[r["category"]].format(text=r["text"]),
            model="gpt-4o-mini",
            custom_id=r["id"],
            metadata={"category": r["category"]},
            params={"temperature": 0, "max_tokens": 120},
        )
        for r in rows
    ]
    manager = BatchManager()
    job = manager.create_batch(requests, progress_callback=_progress(sys.stderr))
    provider = SimulatedProvider(latency_ms=latency_ms, error_rate=0.02, seed=42)
    print(
        f"brainbatch demo: {len(requests)} prompts -> simulated gpt-4o-mini "
        f"(concurrency {concurrency}, median latency {latency_ms:.0f} ms, 2% injected errors)"
    )
    asyncio.run(ParallelExecutor(max_concurrent=concurrency).execute(job, provider))
    sys.stderr.write("\n")
    stats = job_stats(job)
    out.mkdir(parents=True, exist_ok=True)
    _write_csv(job, rows, out / "results.csv")
    _write_png(job, out / "latency_cost.png")
    _print_summary(stats)
    print(f"wrote {out / 'results.csv'} and {out / 'latency_cost.png'}")
    return stats


def _write_csv(job: BatchJob, rows: list[dict[str, str]], path: Path) -> None:
    fields = [
        "id",
        "category",
        "text",
        "response",
        "status",
        "error",
        "latency_ms",
        "input_tokens",
        "output_tokens",
        "cost_usd",
        "finish_reason",
    ]
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for row in rows:
            r = job.get_result(row["id"])
            w.writerow(
                {
                    **row,
                    "response": r.result if r else "",
                    "status": r.status if r else "not_run",
                    "error": (r.error or "") if r else "",
                    "latency_ms": f"{r.processing_time_ms:.1f}"
                    if r and r.processing_time_ms
                    else "",
                    "input_tokens": r.input_tokens if r else "",
                    "output_tokens": r.output_tokens if r else "",
                    "cost_usd": f"{r.cost_usd:.8f}" if r and r.cost_usd is not None else "",
                    "finish_reason": (r.finish_reason or "") if r else "",
                }
            )


def _write_png(job: BatchJob, path: Path) -> None:
    from matplotlib.figure import Figure

    ok = [r for r in job.results if r.ok]
    lat = [r.processing_time_ms or 0.0 for r in ok]
    fig = Figure(figsize=(10, 4), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    ax1.hist(lat, bins=30, color="#4c72b0")
    ax1.set(title="Latency", xlabel="ms", ylabel="requests")
    ordered = sorted(job.results, key=lambda r: r.completed_at)
    t0 = ordered[0].completed_at if ordered else 0.0
    cum, xs, ys = 0.0, [], []
    for r in ordered:
        cum += r.cost_usd or 0.0
        xs.append(r.completed_at - t0)
        ys.append(cum)
    ax2.plot(xs, ys, color="#dd8452")
    ax2.set(title="Cumulative cost", xlabel="seconds", ylabel="USD")
    fig.savefig(path, dpi=100)


def _print_summary(s: dict[str, Any]) -> None:
    lines = [
        ("requests", f"{s['total']}"),
        ("succeeded", f"{s['succeeded']}"),
        ("failed", f"{s['failed']}"),
        ("input tokens", f"{s['input_tokens']:,}"),
        ("output tokens", f"{s['output_tokens']:,}"),
        ("cost (real time)", f"${s['cost_usd']:.4f}"),
        ("latency p50", f"{s['latency_p50_ms']:.0f} ms"),
        ("latency p95", f"{s['latency_p95_ms']:.0f} ms"),
        ("wall time", f"{s['elapsed_s']:.2f} s"),
        ("throughput", f"{s['throughput_rps']:.0f} req/s"),
    ]
    width = max(len(k) for k, _ in lines)
    print("-" * (width + 16))
    for k, v in lines:
        print(f"{k:<{width}}  {v:>12}")
    print("-" * (width + 16))
