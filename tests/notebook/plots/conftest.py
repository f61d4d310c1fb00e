"""Fixtures for the plots, accessor, notebook and binder tests.

``results`` is a hand-built results DataFrame with exactly the columns ``bb.run`` returns
(input columns ``id`` and ``text``, then the result columns), two models, one cached row, one
error and one row that never ran; its numbers are chosen so expected values are easy to check.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from brainbatch.frame import RESULT_COLUMNS

T0 = pd.Timestamp("2026-01-01 12:00:00", tz="UTC")


def make_results(rows: list[dict[str, object]]) -> pd.DataFrame:
    """A results frame from partial rows: missing result columns get neutral values."""
    defaults: dict[str, object] = {
        "response": "[simulated] ok",
        "status": "success",
        "error": None,
        "latency_ms": 100.0,
        "input_tokens": 10,
        "output_tokens": 20,
        "cost_usd": 0.001,
        "paid_usd": 0.001,
        "price_source": "genai-prices",
        "model": "gpt-4o-mini",
        "attempts": 1,
        "cached": False,
        "finish_reason": "stop",
        "completed_at": T0,
    }
    records = []
    for i, row in enumerate(rows):
        record: dict[str, object] = {"id": f"p{i:04d}", "text": f"prompt {i}"}
        record.update({k: row.get(k, v) for k, v in defaults.items()})
        records.append(record)
    frame = pd.DataFrame.from_records(records, columns=["id", "text", *RESULT_COLUMNS])
    for col in ("input_tokens", "output_tokens", "attempts"):
        frame[col] = frame[col].astype("Int64")
    frame["completed_at"] = pd.to_datetime(frame["completed_at"], utc=True)
    frame["cached"] = frame["cached"].astype(bool)
    return frame


@pytest.fixture
def results() -> pd.DataFrame:
    sec = pd.Timedelta(seconds=1)
    return make_results(
        [
            {"latency_ms": 100.0, "cost_usd": 0.010, "paid_usd": 0.010, "completed_at": T0},
            {"latency_ms": 200.0, "cost_usd": 0.020, "paid_usd": 0.020, "completed_at": T0 + sec},
            {
                "latency_ms": 300.0,
                "cost_usd": 0.030,
                "paid_usd": 0.030,
                "model": "gpt-4o",
                "input_tokens": 1000,
                "output_tokens": 500,
                "completed_at": T0 + 2 * sec,
            },
            {
                "latency_ms": 0.5,
                "cached": True,
                "cost_usd": 0.040,
                "paid_usd": 0.0,
                "model": "gpt-4o",
                "completed_at": T0 + 3 * sec,
            },
            {
                "status": "error",
                "error": "simulated 500",
                "response": None,
                "latency_ms": 400.0,
                "input_tokens": None,
                "output_tokens": None,
                "cost_usd": math.nan,
                "paid_usd": math.nan,
                "price_source": None,
                "completed_at": T0 + 4 * sec,
            },
            {
                "status": "not_run",
                "response": None,
                "latency_ms": math.nan,
                "input_tokens": None,
                "output_tokens": None,
                "cost_usd": math.nan,
                "paid_usd": math.nan,
                "price_source": None,
                "attempts": None,
                "finish_reason": None,
                "completed_at": pd.NaT,
            },
        ]
    )


@pytest.fixture
def empty_results(results: pd.DataFrame) -> pd.DataFrame:
    return results.iloc[0:0]


@pytest.fixture
def all_errors() -> pd.DataFrame:
    sec = pd.Timedelta(seconds=1)
    return make_results(
        [
            {
                "status": "error",
                "error": "simulated 429",
                "response": None,
                "latency_ms": math.nan,
                "input_tokens": None,
                "output_tokens": None,
                "cost_usd": math.nan,
                "paid_usd": math.nan,
                "price_source": None,
                "completed_at": T0 + i * sec,
            }
            for i in range(3)
        ]
    )
