"""``bb.embed(..., mode="batch")``: the rows go through OpenAI's Batch API (one
``/v1/embeddings`` line per row), come back by ``custom_id`` and are priced at the batch
price; end to end on the simulated server with a compressed clock (its batch state is
checked against OpenAI's API document by the suite's spec recorder)."""

from __future__ import annotations

import math
from collections.abc import Iterator

import orjson
import pandas as pd
import pytest

import brainbatch as bb
from brainbatch.errors import InputError
from brainbatch.pricing import cost_of
from brainbatch.sim import SimServer
from brainbatch.sim.batches import SIM_BATCHES, BatchSimState


@pytest.fixture
def batches(sim: SimServer) -> Iterator[BatchSimState]:
    state = sim.app[SIM_BATCHES]
    state.reset()
    state.configure(validating_s=0.02, in_progress_s=0.1, finalizing_s=0.02, cancelling_s=0.02)
    yield state
    state.reset()


def _batch(sim: SimServer, texts: pd.DataFrame, **kw: object) -> pd.DataFrame:
    return bb.embed(
        texts,
        "text",
        base_url=sim.openai_base_url,
        api_key="k",
        mode="batch",
        poll_interval=0.02,
        **kw,  # type: ignore[arg-type]
    )


def test_batch_mode_gives_the_real_time_vectors(
    sim: SimServer, batches: BatchSimState, texts: pd.DataFrame
) -> None:
    out = _batch(sim, texts, dimensions=32)
    now = bb.embed(
        texts, "text", base_url=sim.openai_base_url, api_key="k", dimensions=32, store=False
    )
    assert (out.status == "success").all()
    assert [v.tobytes() for v in out.embedding] == [v.tobytes() for v in now.embedding]
    assert out.input_tokens.tolist() == now.input_tokens.tolist()
    assert sim.count("/v1/embeddings") == 1  # the real-time call only


def test_batch_mode_sends_one_embeddings_line_per_row_in_one_batch(
    sim: SimServer, batches: BatchSimState, texts: pd.DataFrame
) -> None:
    _batch(sim, texts)
    (batch,) = batches.batches.values()
    assert batch.endpoint == "/v1/embeddings" and batch.model == "text-embedding-3-small"
    lines = [orjson.loads(x) for x in batches.files[batch.input_file_id].content.splitlines()]
    assert [x["url"] for x in lines] == ["/v1/embeddings"] * len(texts)
    assert sorted(x["body"]["input"] for x in lines) == sorted(texts.text)


def test_batch_mode_is_priced_at_the_batch_price(
    sim: SimServer, batches: BatchSimState, texts: pd.DataFrame
) -> None:
    out = _batch(sim, texts)
    assert (out.status == "success").all()
    tokens = int(out.input_tokens.sum())
    assert tokens > 0
    batch_price = cost_of("text-embedding-3-small", tokens, 0, batch=True).usd
    real_time = cost_of("text-embedding-3-small", tokens, 0).usd
    assert batch_price is not None and real_time is not None
    assert math.isclose(out.cost_usd.sum(), batch_price, rel_tol=1e-9)
    assert math.isclose(batch_price, real_time / 2, rel_tol=1e-9)


def test_the_same_batch_call_again_submits_no_new_batch(
    sim: SimServer, batches: BatchSimState, texts: pd.DataFrame
) -> None:
    first = _batch(sim, texts)
    again = _batch(sim, texts)
    assert len(batches.batches) == 1
    assert [v.tobytes() for v in again.embedding] == [v.tobytes() for v in first.embedding]


def test_a_line_the_batch_refuses_marks_that_row(
    sim: SimServer, batches: BatchSimState, texts: pd.DataFrame
) -> None:
    batches.configure(scenario="all_errors")
    out = _batch(sim, texts)
    assert (out.status == "error").all()
    assert out.error.str.contains("does not exist").all()


def test_offline_models_have_no_batch_mode(texts: pd.DataFrame) -> None:
    with pytest.raises(InputError, match="mode='batch' needs a Batch API"):
        bb.embed(texts, "text", model="sim/text-embedding-3-small", mode="batch")


def test_an_unknown_mode_is_refused(texts: pd.DataFrame) -> None:
    with pytest.raises(InputError, match="mode must be 'realtime' or 'batch'"):
        bb.embed(texts, "text", model="sim/text-embedding-3-small", mode="flex")
