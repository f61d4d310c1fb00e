"""The demo job: a few hundred realistic prompts on the simulated provider, no keys, no network.

Run it with ``make demo`` or ``python -m brainbatch demo --out out``. It goes through the same
path a notebook user takes (``bb.run`` on a DataFrame), prints a summary table and writes
``results.csv``, ``latency.png`` and ``cost.png`` into the output folder.
"""

from __future__ import annotations

import time
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["TEMPLATES", "load_sample_prompts", "run_demo"]

TEMPLATES = {
    "review": "Classify the sentiment of this review as positive, negative or mixed: {text}",
    "support": "Route this support ticket to billing, shipping, account or tech: {text}",
    "explain": "{text}",
}
"""The prompt for each category of the bundled sample."""


def load_sample_prompts() -> pd.DataFrame:
    """The bundled sample: 300 rows indexed by ``id``, with ``category`` and ``text``."""
    path = resources.files("brainbatch").joinpath("data/prompts.csv")
    with path.open(encoding="utf-8") as f:
        return pd.read_csv(f, index_col="id")


def run_demo(
    out: Path, *, concurrency: int = 32, latency_ms: float = 300.0, progress: bool = True
) -> dict[str, Any]:
    """Run the demo job; write the CSV and PNGs into ``out``; return its summary.

    The summary holds :func:`~brainbatch.notebook.accessor.summarize`'s fields plus ``total``
    (rows), ``done`` (rows with a result) and ``wall_time_s``.
    """
    from .notebook.accessor import summarize
    from .notebook.handle import run
    from .notebook.plots import cost, latency

    df = load_sample_prompts()
    print(
        f"brainbatch demo: {len(df)} prompts -> simulated gpt-4o-mini (concurrency "
        f"{concurrency}, median latency {latency_ms:.0f} ms, 2% injected errors, no retries)"
    )
    t0 = time.perf_counter()
    results = run(
        df,
        prompt=lambda row: TEMPLATES[row["category"]].format(text=row["text"]),
        model="sim/gpt-4o-mini",
        params={"temperature": 0, "max_tokens": 120},
        max_concurrent=concurrency,
        latency_ms=latency_ms,
        error_rate=0.02,
        seed=42,
        cache=False,
        progress="text" if progress else False,
    )
    wall_s = time.perf_counter() - t0
    summary = summarize(results)
    out.mkdir(parents=True, exist_ok=True)
    results.to_csv(out / "results.csv")
    latency(results).savefig(out / "latency.png", dpi=100)
    cost(results).savefig(out / "cost.png", dpi=100)
    row: dict[str, Any] = {str(k): v for k, v in summary.to_dict("records")[0].items()}
    _print_summary(row, wall_s)
    print(f"wrote {out / 'results.csv'}, {out / 'latency.png'} and {out / 'cost.png'}")
    return {**row, "total": len(df), "done": row["success"] + row["error"], "wall_time_s": wall_s}


def _print_summary(s: dict[str, Any], wall_s: float) -> None:
    lines = [
        ("requests", f"{s['rows']}"),
        ("succeeded", f"{s['success']}"),
        ("failed", f"{s['error']}"),
        ("input tokens", f"{s['input_tokens']:,}"),
        ("output tokens", f"{s['output_tokens']:,}"),
        ("cost (real time)", f"${s['cost_usd']:.4f}"),
        ("latency p50", f"{s['latency_p50_ms']:.0f} ms"),
        ("latency p95", f"{s['latency_p95_ms']:.0f} ms"),
        ("wall time", f"{wall_s:.2f} s"),
        ("throughput", f"{s['rows'] / wall_s:.0f} req/s"),
    ]
    width = max(len(k) for k, _ in lines)
    print("-" * (width + 16))
    for k, v in lines:
        print(f"{k:<{width}}  {v:>12}")
    print("-" * (width + 16))
