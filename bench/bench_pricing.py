"""How fast pricing and estimates are, as ratios of a baseline measured in the same run.

    python bench/bench_pricing.py

* ``cost_of`` (called once per result) vs the bare arithmetic it ends in (the baseline) and
  vs asking ``genai_prices.calc_price`` for every result;
* ``cost_table`` for 50,000 requests x 3 models x 2 modes (what the cost explorer recomputes
  on every slider move) vs a per-row Python loop over ``cost_of`` (the baseline);
* ``token_counts`` for 50,000 prompts (done once per DataFrame).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from brainbatch import BatchRequest
from brainbatch.estimate import cost_table, token_counts
from brainbatch.pricing import cost_of


def best_of(fn: Callable[[], object], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def bench_cost_of(n: int = 100_000) -> None:
    from genai_prices import Usage, calc_price

    cost_of("gpt-4o-mini", 1, 1)  # warm the caches

    def baseline() -> None:
        in_rate, out_rate = 0.15, 0.6
        for i in range(n):
            _ = (i * in_rate + 50 * out_rate) / 1e6

    def ours() -> None:
        for i in range(n):
            cost_of("gpt-4o-mini", i, 50)

    def source() -> None:
        for i in range(n // 100):
            calc_price(Usage(input_tokens=i, output_tokens=50), model_ref="gpt-4o-mini")

    b, o, s = best_of(baseline), best_of(ours), best_of(source) * 100
    print(
        f"cost_of, {n:,} calls: baseline arithmetic {b / n * 1e9:.0f} ns/call; "
        f"cost_of {o / n * 1e9:.0f} ns/call = {o / b:.1f}x baseline; "
        f"genai_prices.calc_price {s / n * 1e6:.1f} us/call = {s / b:.0f}x baseline"
    )


def bench_cost_table(n: int = 50_000) -> None:
    texts = [f"Rate review {i}: " + "great blender, loud motor. " * (1 + i % 20) for i in range(n)]
    requests = [
        BatchRequest(prompt=t, model="gpt-4o-mini", custom_id=str(i), params={"max_tokens": 200})
        for i, t in enumerate(texts)
    ]
    t0 = time.perf_counter()
    counts = token_counts(requests)
    t_counts = time.perf_counter() - t0
    models = ["gpt-4o-mini", "gpt-4o", "claude-haiku-4-5"]
    inp = counts["input_tokens"].to_numpy()

    def per_row() -> None:
        for m in models:
            for batch in (False, True):
                sum(cost_of(m, int(x), 100, batch=batch).usd for x in inp)

    def vectorised() -> None:
        cost_table(counts, models=models, output_tokens=100)

    b, v = best_of(per_row, 1), best_of(vectorised)
    print(
        f"token_counts, {n:,} prompts (exact o200k): {t_counts:.2f} s, "
        f"{t_counts / n * 1e6:.0f} us/prompt"
    )
    print(
        f"cost_table, {n:,} rows x {len(models)} models x 2 modes: per-row cost_of loop "
        f"{b * 1e3:.0f} ms (baseline); cost_table {v * 1e3:.1f} ms = {v / b:.3f}x baseline"
    )
    assert np.isfinite(cost_table(counts, models=models, output_tokens=100)["cost_usd"]).all()


if __name__ == "__main__":
    bench_cost_of()
    bench_cost_table()
