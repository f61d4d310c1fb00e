"""Fixtures for the explorer tests.

``reviews``: 60 prompts of varied length in two categories (what ``bb.explore_cost`` reads).

``results``: a hand-built results DataFrame with the columns ``bb.run`` returns plus a user's
``category`` column: two models, latencies chosen per row, one cached row, two errors and a
row that never ran, so per-group sums and percentiles are easy to recompute with pandas.

``widgets_off``: makes ``display="auto"`` behave as outside a kernel (no widget front end).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from brainbatch import pricing


@pytest.fixture(autouse=True)
def _fresh_prices():
    pricing._reset()
    yield
    pricing._reset()


@pytest.fixture
def reviews() -> pd.DataFrame:
    words = "the parcel arrived late but the product works well and support answered fast".split()
    texts = [" ".join(words[: 3 + (i * 7) % len(words)]) + f" (order {i})" for i in range(60)]
    return pd.DataFrame(
        {"text": texts, "category": ["review" if i % 3 else "support" for i in range(60)]},
        index=pd.Index([f"r{i}" for i in range(60)], name="id"),
    )


@pytest.fixture
def results() -> pd.DataFrame:
    n = 24
    rng = np.random.default_rng(7)
    status = ["success"] * n
    status[3] = "error"
    status[10] = "error"
    status[17] = "not_run"
    latency = rng.uniform(50, 900, n).round(1)
    latency[17] = math.nan
    cached = [False] * n
    cached[5] = True
    latency[5] = 0.4
    input_tokens = [10 + (i * 13) % 90 for i in range(n)]
    output_tokens = [0 if s != "success" else 5 + i for i, s in enumerate(status)]
    model = ["gpt-4o-mini" if i % 2 else "gpt-4o" for i in range(n)]
    cost = [
        math.nan if s == "not_run" else round((it + 3 * ot) * (1e-6 if m == "gpt-4o" else 1e-7), 9)
        for s, it, ot, m in zip(status, input_tokens, output_tokens, model, strict=True)
    ]
    return pd.DataFrame(
        {
            "text": [f"prompt {i}" for i in range(n)],
            "category": [("a", "b", "c")[i % 3] for i in range(n)],
            "response": ["ok" if s == "success" else None for s in status],
            "status": status,
            "error": [None if s != "error" else "HTTP 500" for s in status],
            "latency_ms": latency,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cost_usd": cost,
            "paid_usd": cost,
            "price_source": "genai-prices",
            "model": model,
            "attempts": 1,
            "cached": cached,
            "finish_reason": ["stop" if s == "success" else None for s in status],
            "completed_at": pd.Timestamp("2026-01-01", tz="UTC"),
        },
        index=pd.Index([f"row{i}" for i in range(n)], name="id"),
    )


@pytest.fixture
def widgets_off(monkeypatch: pytest.MonkeyPatch) -> None:
    from brainbatch.notebook import widget

    monkeypatch.setattr(widget, "widgets_available", lambda: False)
