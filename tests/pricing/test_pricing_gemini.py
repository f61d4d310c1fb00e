"""Gemini models are priced from the bundled price data: real time, cache reads and the
source's own batch price (50% fallback where it has none)."""

from __future__ import annotations

import pytest

from brainbatch.pricing import cost_of, price_of


@pytest.mark.parametrize("model", ["gemini-2.5-flash", "gemini-2.5-flash-lite", "gemini-2.5-pro"])
def test_current_gemini_models_have_a_batch_price_of_their_own(model: str) -> None:
    price = price_of(model)
    assert price is not None and price.has_batch_price and price.cached_input_per_mtok
    assert cost_of(model, 1_000, 100, batch=True).price_source == "genai-prices batch price"
    assert cost_of(model, 1_000, 100, batch=True).usd == pytest.approx(
        cost_of(model, 1_000, 100).usd / 2
    )


def test_a_gemini_model_without_a_batch_price_falls_back_to_half() -> None:
    cost = cost_of("gemini-2.0-flash", 1_000, 100, batch=True)
    assert cost.price_source == "genai-prices, batch = 50% of real time"
    assert cost.usd == pytest.approx(cost_of("gemini-2.0-flash", 1_000, 100).usd / 2)


def test_gemini_2_5_pro_prices_long_prompts_at_its_higher_tier() -> None:
    short = cost_of("gemini-2.5-pro", 200_000, 0).usd
    long = cost_of("gemini-2.5-pro", 200_001, 0).usd
    assert long > 1.9 * short
