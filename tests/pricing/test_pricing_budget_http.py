"""The budget guard end to end: bb.run against the SimServer, answers longer than the budget.

The SimServer is told to give answers of ~20,000 tokens (``mean_output_tokens``), the case
where a guard reserving a guessed answer length spent six times its limit.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest

import brainbatch as bb
from brainbatch.errors import InputError
from brainbatch.sim import SimServer

LONG = 20_000  # tokens per answer (gpt-4o-mini: $0.60 / Mtok out, so ~$0.012 each)


@pytest.fixture
def server(sim_server: SimServer) -> Iterator[SimServer]:
    sim_server.reset(config=True)
    sim_server.configure(mean_output_tokens=LONG)
    yield sim_server
    sim_server.reset(config=True)


def rows(n: int) -> pd.DataFrame:
    return pd.DataFrame({"text": [f"Write a long essay about topic {i}" for i in range(n)]})


def run(server: SimServer, df: pd.DataFrame, **kwargs: object) -> pd.DataFrame:
    return bb.run(
        df,
        prompt="text",
        provider="openai",
        base_url=server.openai_base_url,
        api_key="sk-test",
        store=False,
        max_concurrent=64,
        **kwargs,  # type: ignore[arg-type]
    )


def test_a_budget_without_max_tokens_is_refused_before_anything_is_sent(
    server: SimServer,
) -> None:
    with pytest.raises(InputError, match=r"max_cost_usd needs a cap.*params=\{'max_tokens': N\}"):
        run(server, rows(100), model="gpt-4o-mini", max_cost_usd=0.05)
    assert server.count() == 0


def test_with_max_tokens_long_answers_never_spend_more_than_the_budget(
    server: SimServer,
) -> None:
    out = run(
        server, rows(100), model="gpt-4o-mini", params={"max_tokens": LONG}, max_cost_usd=0.05
    )
    assert (out.status == "success").sum() >= 2  # precondition: it did spend
    assert out.output_tokens.max() > LONG / 2  # precondition: answers were long
    assert out.paid_usd.sum() <= 0.05
    assert (out.status == "cancelled").any()


def test_an_unpriced_model_cancels_every_row_saying_why(server: SimServer) -> None:
    out = run(server, rows(5), model="acme-llm", params={"max_tokens": 100}, max_cost_usd=1.0)
    assert server.count() == 0
    assert (out.status == "cancelled").all()
    errors = list(out.error)
    assert len(errors) == 5
    for error in errors:
        assert isinstance(error, str)
        assert "no price known for model 'acme-llm'" in error
        assert "set_price('acme-llm'" in error
