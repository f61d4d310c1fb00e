"""Prices come from genai-prices, batch prices from the source or 50%, names resolve."""

from __future__ import annotations

import math
import socket
import warnings
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from genai_prices import Usage, calc_price

from brainbatch import pricing
from brainbatch.pricing import BATCH_DISCOUNT, cost_of, list_priced_models, price_of


def _source_cost(model: str, inp: int, out: int, cached: int = 0, batch: bool = False) -> float:
    ctx = {"processing": "batch"} if batch else None
    calc = calc_price(
        Usage(input_tokens=inp, cache_read_tokens=cached, output_tokens=out),
        model_ref=model,
        price_context=ctx,
    )
    return float(calc.total_price)


@pytest.mark.parametrize(
    ("model", "inp", "out"),
    [
        ("gpt-4o-mini", 0.15, 0.60),
        ("gpt-4o", 2.50, 10.00),
        ("claude-3-5-haiku-20241022", 0.80, 4.00),
        ("claude-haiku-4-5", 1.00, 5.00),
    ],
)
def test_well_known_model_prices_match_the_published_per_mtok_prices(
    model: str, inp: float, out: float
) -> None:
    price = price_of(model)
    assert price is not None
    assert (price.input_per_mtok, price.output_per_mtok) == pytest.approx((inp, out))


@pytest.mark.parametrize(
    "model", ["gpt-4o-mini", "gpt-4o", "claude-3-5-haiku-20241022", "claude-sonnet-4-5"]
)
def test_real_time_cost_equals_genai_prices_own_calculation(model: str) -> None:
    ours = cost_of(model, 12_345, 678, cached_tokens=2_000)
    assert ours.usd == pytest.approx(_source_cost(model, 12_345, 678, cached=2_000), rel=1e-9)
    assert ours.price_source == "genai-prices"


@pytest.mark.parametrize("model", ["gpt-4o-mini", "gpt-4o", "claude-haiku-4-5", "gpt-5-mini"])
def test_batch_cost_uses_the_sources_batch_price_where_it_has_one(model: str) -> None:
    ours = cost_of(model, 10_000, 2_000, batch=True)
    assert ours.price_source == "genai-prices batch price"
    assert ours.usd == pytest.approx(_source_cost(model, 10_000, 2_000, batch=True), rel=1e-9)


def test_source_batch_price_for_gpt_4o_mini_is_half_of_real_time() -> None:
    price = price_of("gpt-4o-mini")
    assert price is not None and price.has_batch_price
    assert (price.batch_input_per_mtok, price.batch_output_per_mtok) == pytest.approx((0.075, 0.30))


def test_batch_cost_falls_back_to_half_of_real_time_when_the_source_has_no_batch_price() -> None:
    price = price_of("claude-3-5-haiku-20241022")
    assert price is not None and not price.has_batch_price
    real = cost_of("claude-3-5-haiku-20241022", 10_000, 2_000).usd
    batch = cost_of("claude-3-5-haiku-20241022", 10_000, 2_000, batch=True)
    assert batch.usd == pytest.approx(real * BATCH_DISCOUNT)
    assert batch.price_source == "genai-prices, batch = 50% of real time"


def test_cached_input_tokens_are_priced_at_the_cache_read_price() -> None:
    # gpt-4o: $2.50 input, $1.25 cached input, per million tokens
    cost = cost_of("gpt-4o", 1_000_000, 0, cached_tokens=400_000)
    assert cost.usd == pytest.approx(0.6 * 2.50 + 0.4 * 1.25)


def test_cached_tokens_beyond_the_input_count_are_capped_at_the_input_count() -> None:
    assert cost_of("gpt-4o", 1_000, 0, cached_tokens=5_000).usd == pytest.approx(
        cost_of("gpt-4o", 1_000, 0, cached_tokens=1_000).usd
    )


def test_long_prompts_pay_the_long_context_tier_like_the_source() -> None:
    ours = cost_of("claude-sonnet-4-5", 250_000, 1_000)
    assert ours.usd == pytest.approx(_source_cost("claude-sonnet-4-5", 250_000, 1_000), rel=1e-9)
    assert ours.usd > cost_of("claude-sonnet-4-5", 199_000, 1_000).usd * 1.5


@pytest.mark.parametrize(
    ("prefixed", "bare"),
    [
        ("openai/gpt-4o-mini", "gpt-4o-mini"),
        ("anthropic/claude-haiku-4-5", "claude-haiku-4-5"),
        ("sim/gpt-4o-mini", "gpt-4o-mini"),
        ("google/gemini-2.5-flash", "gemini-2.5-flash"),
    ],
)
def test_provider_prefixed_names_price_as_the_bare_model(prefixed: str, bare: str) -> None:
    assert cost_of(prefixed, 1_000, 1_000).usd == pytest.approx(cost_of(bare, 1_000, 1_000).usd)


def test_dated_snapshot_names_price_as_their_model() -> None:
    assert cost_of("gpt-4o-mini-2024-07-18", 1_000, 1_000).usd == pytest.approx(
        cost_of("gpt-4o-mini", 1_000, 1_000).usd
    )


def test_unknown_model_costs_nan_with_exactly_one_warning_naming_it_and_set_price() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        costs = [cost_of("acme-llm-9000", 100, 100) for _ in range(5)]
        costs.append(cost_of("acme-llm-9000", 100, 100, batch=True))
    assert len(costs) == 6
    assert all(math.isnan(c.usd) and c.price_source == "unknown" for c in costs)
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "'acme-llm-9000'" in message
    assert "brainbatch.set_price('acme-llm-9000'" in message


def test_prices_need_no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("pricing tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    for model in ("gpt-4o-mini", "anthropic/claude-haiku-4-5", "gemini-2.5-flash"):
        assert cost_of(model, 100, 100, batch=True).usd > 0
    assert "gpt-4o-mini" in list_priced_models("gpt-4o-mini")


def test_genai_prices_auto_update_is_never_started() -> None:
    from genai_prices import data_snapshot, update_prices

    cost_of("gpt-4o-mini", 1, 1)
    list_priced_models()
    assert update_prices._shared_updater.ref_count == 0
    assert not data_snapshot.get_snapshot().from_auto_update


def test_price_follows_the_source_data_values_exactly() -> None:
    # the per-mtok numbers are the source's Decimals converted once, not re-derived
    from genai_prices import data_snapshot

    _, info = data_snapshot.get_snapshot().find_provider_model("gpt-4o", None, None, None)
    std = info.get_prices(datetime.now(UTC))
    price = price_of("gpt-4o")
    assert price is not None
    assert Decimal(str(price.input_per_mtok)) == std.input_mtok
    assert Decimal(str(price.output_per_mtok)) == std.output_mtok


def test_list_priced_models_offers_well_known_models_and_filters_by_search() -> None:
    names = list_priced_models()
    assert {"gpt-4o-mini", "gpt-4o", "claude-haiku-4-5", "openai/gpt-4o-mini"} <= set(names)
    haiku = list_priced_models("HAIKU")
    assert haiku and all("haiku" in n.lower() for n in haiku)


def test_list_priced_models_filters_by_provider() -> None:
    names = list_priced_models(provider="anthropic")
    assert "claude-haiku-4-5" in names
    assert not any(n.startswith("gpt-") for n in names)


def test_every_listed_model_has_a_price() -> None:
    names = list_priced_models()
    assert len(names) >= 50  # the bundled table, not an empty list
    assert all(price_of(n) is not None for n in names)


def test_list_priced_models_includes_models_priced_by_the_user() -> None:
    pricing.set_price("my-finetune", 1.0, 2.0)
    assert "my-finetune" in list_priced_models("finetune")


@pytest.mark.parametrize("batch", [False, True])
def test_cache_write_tokens_are_priced_like_the_source(batch: bool) -> None:
    # claude-haiku-4-5: input $1, cache write $1.25, cache read $0.10 (batch: half of each)
    ours = cost_of(
        "claude-haiku-4-5", 10_000, 500, cached_tokens=3_000, cache_write_tokens=4_000, batch=batch
    )
    ctx = {"processing": "batch"} if batch else None
    source = calc_price(
        Usage(
            input_tokens=10_000,
            cache_read_tokens=3_000,
            cache_write_tokens=4_000,
            output_tokens=500,
        ),
        model_ref="claude-haiku-4-5",
        price_context=ctx,
    )
    assert ours.usd == pytest.approx(float(source.total_price), rel=1e-9)


def test_cache_write_tokens_cost_more_than_plain_input_for_claude() -> None:
    plain = cost_of("claude-haiku-4-5", 1_000_000, 0).usd
    written = cost_of("claude-haiku-4-5", 1_000_000, 0, cache_write_tokens=1_000_000).usd
    assert written == pytest.approx(plain * 1.25)
