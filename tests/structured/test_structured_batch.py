"""Typed answers through the native Batch APIs (OpenAI and Anthropic, simulated)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pytest
from structured_models import Sentiment

import brainbatch as bb
from brainbatch.sim import SimServer
from brainbatch.sim.batches import BatchSimState

MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-haiku-4-5"}


def _batch(sim: SimServer, api: str, df: pd.DataFrame, store: Path, **kw: Any) -> pd.DataFrame:
    base_url = sim.openai_base_url if api == "openai" else sim.anthropic_base_url
    out = bb.run(
        df,
        prompt="Classify: {text}",
        model=MODELS[api],
        provider=api,
        mode="batch",
        base_url=base_url,
        api_key="sk-test",
        poll_interval=0.02,
        store=store,
        progress="none",
        **kw,
    )
    assert isinstance(out, pd.DataFrame)
    return out


def test_openai_batch_lines_carry_the_strict_schema(
    sim: SimServer, batch_sim: BatchSimState, reviews: pd.DataFrame, tmp_path: Path
) -> None:
    out = _batch(sim, "openai", reviews, tmp_path / "j.sqlite", schema=Sentiment)
    (b,) = batch_sim.batches.values()
    assert b.input_file_id is not None
    line = orjson.loads(batch_sim.files[b.input_file_id].content.splitlines()[0])
    assert line["body"]["response_format"]["json_schema"]["strict"] is True
    assert (out.status == "success").all()
    assert all(isinstance(r, Sentiment) for r in out.response)
    assert out.price_source.str.contains("batch").all()


@pytest.mark.parametrize("api", ["openai", "anthropic"])
def test_batch_invalid_rows_keep_the_answer_and_retry_failed_sends_them_again(
    sim: SimServer, batch_sim: BatchSimState, reviews: pd.DataFrame, tmp_path: Path, api: str
) -> None:
    store = tmp_path / "j.sqlite"
    sim.configure(invalid_output=1.0)
    first = _batch(sim, api, reviews, store, schema=Sentiment, job_name="typed-batch")
    assert (first.status == "invalid").all()
    assert first.raw_response.map(lambda r: isinstance(r, dict)).all()
    assert first.cost_usd.gt(0).all()  # the broken answers were paid for
    sim.configure(invalid_output=0.0)
    again = bb.resume(
        "typed-batch",
        store=store,
        retry_failed=True,
        wait=True,
        progress="none",
        base_url=sim.openai_base_url if api == "openai" else sim.anthropic_base_url,
        api_key="sk-test",
        schema=Sentiment,
    )
    assert isinstance(again, pd.DataFrame)
    assert (again.status == "success").all()
    assert all(isinstance(r, Sentiment) for r in again.response)
    assert len(batch_sim.batches) == 2  # the second batch held only the invalid rows
