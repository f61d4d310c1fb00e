"""``bb.embed(..., cache=True)``: rows whose (provider, model, dimensions, text) were embedded
before, in any job of the store, come from the response cache: ``cached`` True, nothing paid
(``paid_usd`` 0; ``cost_usd`` keeps the original cost, as for chat results)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

import brainbatch as bb
from brainbatch.errors import InputError
from brainbatch.sim import SimServer


def _mixed(texts: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"text": [texts.text[0], "brand new words", texts.text[2], "more new"]})


def _inputs(sent: list[dict[str, Any]]) -> list[str]:
    return [t for body in sent for t in body["input"]]


def test_cached_rows_come_from_an_earlier_job_at_no_cost(
    sim: SimServer, texts: pd.DataFrame, sent: list[dict[str, Any]]
) -> None:
    url = sim.openai_base_url
    first = bb.embed(texts, "text", base_url=url, api_key="k", cache=True, name="a")
    sent.clear()
    out = bb.embed(_mixed(texts), "text", base_url=url, api_key="k", cache=True, name="b")
    assert _inputs(sent) == ["brand new words", "more new"]
    assert out.cached.tolist() == [True, False, True, False]
    assert out.paid_usd[out.cached].eq(0).all()
    assert out.cost_usd[out.cached].gt(0).all()
    assert out.paid_usd[~out.cached].gt(0).all()
    assert out.embedding[0].tobytes() == first.embedding[0].tobytes()
    assert out.embedding[2].tobytes() == first.embedding[2].tobytes()
    assert (out.status == "success").all()


def test_without_cache_every_row_of_a_new_job_is_sent(
    sim: SimServer, texts: pd.DataFrame, sent: list[dict[str, Any]]
) -> None:
    url = sim.openai_base_url
    bb.embed(texts, "text", base_url=url, api_key="k", name="a")
    sent.clear()
    out = bb.embed(_mixed(texts), "text", base_url=url, api_key="k", name="b")
    assert len(_inputs(sent)) == 4 and not out.cached.any()


def test_other_dimensions_are_not_served_from_the_cache(
    sim: SimServer, texts: pd.DataFrame, sent: list[dict[str, Any]]
) -> None:
    url = sim.openai_base_url
    bb.embed(texts, "text", base_url=url, api_key="k", cache=True, dimensions=8)
    sent.clear()
    out = bb.embed(texts, "text", base_url=url, api_key="k", cache=True, dimensions=16)
    assert len(_inputs(sent)) == 4 and not out.cached.any()


def test_offline_rows_are_cached_apart_from_a_servers(
    sim: SimServer, texts: pd.DataFrame, sent: list[dict[str, Any]]
) -> None:
    bb.embed(texts, "text", model="sim/text-embedding-3-small", cache=True)
    out = bb.embed(texts, "text", base_url=sim.openai_base_url, api_key="k", cache=True)
    assert len(_inputs(sent)) == 4 and not out.cached.any()


def test_cache_needs_a_store(texts: pd.DataFrame) -> None:
    with pytest.raises(InputError, match="cache=True needs a store"):
        bb.embed(texts, "text", model="sim/text-embedding-3-small", cache=True, store=False)
