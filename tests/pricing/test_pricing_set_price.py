"""set_price overrides the price data, for every form of the model's name."""

from __future__ import annotations

import math
import warnings

import pytest

from brainbatch import InputError, cost_of, set_price
from brainbatch.pricing import price_of


def test_set_price_overrides_the_source_price() -> None:
    set_price("gpt-4o-mini", 1.0, 2.0)
    cost = cost_of("gpt-4o-mini", 1_000_000, 1_000_000)
    assert cost.usd == pytest.approx(3.0)
    assert cost.price_source == "user"


def test_set_price_applies_to_provider_prefixed_names() -> None:
    set_price("my-model", 1.0, 2.0)
    assert cost_of("openai/my-model", 1_000_000, 0).usd == pytest.approx(1.0)
    assert cost_of("sim/my-model", 0, 1_000_000).usd == pytest.approx(2.0)


def test_user_batch_prices_are_used_for_batch_work() -> None:
    set_price("my-model", 1.0, 2.0, batch_input_per_mtok=0.4, batch_output_per_mtok=0.8)
    cost = cost_of("my-model", 1_000_000, 1_000_000, batch=True)
    assert cost.usd == pytest.approx(1.2)
    assert cost.price_source == "user batch price"


def test_user_price_without_batch_prices_falls_back_to_half_for_batch() -> None:
    set_price("my-model", 1.0, 2.0)
    cost = cost_of("my-model", 1_000_000, 1_000_000, batch=True)
    assert cost.usd == pytest.approx(1.5)
    assert cost.price_source == "user, batch = 50% of real time"


def test_user_cached_input_price_applies_to_cached_tokens() -> None:
    set_price("my-model", 1.0, 2.0, cached_input_per_mtok=0.1)
    assert cost_of("my-model", 1_000_000, 0, cached_tokens=1_000_000).usd == pytest.approx(0.1)


def test_setting_a_price_turns_an_unknown_model_into_a_priced_one() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert math.isnan(cost_of("acme-llm", 10, 10).usd)
    set_price("acme-llm", 10.0, 10.0)
    assert cost_of("acme-llm", 1_000_000, 0).usd == pytest.approx(10.0)


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"input_per_mtok": -1.0}, "input_per_mtok"),
        ({"output_per_mtok": float("nan")}, "output_per_mtok"),
        ({"output_per_mtok": "0.6"}, "output_per_mtok"),
        ({"cached_input_per_mtok": float("inf")}, "cached_input_per_mtok"),
        ({"batch_input_per_mtok": -0.1, "batch_output_per_mtok": 0.3}, "batch_input_per_mtok"),
        ({"batch_input_per_mtok": 0.1, "batch_output_per_mtok": True}, "batch_output_per_mtok"),
    ],
)
def test_bad_price_raises_an_input_error_naming_the_parameter(
    kwargs: dict[str, object], named: str
) -> None:
    args: dict[str, object] = {"input_per_mtok": 0.15, "output_per_mtok": 0.6, **kwargs}
    with pytest.raises(InputError, match=named):
        set_price("my-model", **args)  # type: ignore[arg-type]
    assert price_of("my-model") is None


def test_only_one_batch_price_is_refused_naming_the_missing_one() -> None:
    with pytest.raises(InputError, match="batch_output_per_mtok"):
        set_price("my-model", 1.0, 2.0, batch_input_per_mtok=0.5)


def test_empty_model_name_is_refused_naming_model() -> None:
    with pytest.raises(ValueError, match="model"):
        set_price("  ", 1.0, 2.0)


def test_user_cache_write_price_applies_to_cache_write_tokens() -> None:
    set_price("my-model", 1.0, 2.0, cache_write_per_mtok=1.5)
    assert cost_of("my-model", 1_000_000, 0, cache_write_tokens=1_000_000).usd == pytest.approx(1.5)
