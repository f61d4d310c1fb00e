"""Prices per model and the cost of a request, real time or batch.

Prices come from the ``genai-prices`` package (bundled price data, no network needed), unless
the user set one with :func:`set_price`. Batch work is priced at the source's batch price where
it has one, otherwise at 50% of the real-time price; :class:`Cost.price_source` says which.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["BATCH_DISCOUNT", "Cost", "Price", "cost_of", "price_of", "set_price"]

BATCH_DISCOUNT = 0.5
"""Share of the real-time price both OpenAI and Anthropic charge for native batch work."""


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens for one model."""

    model: str
    input_per_mtok: float
    output_per_mtok: float
    cached_input_per_mtok: float | None = None
    batch_input_per_mtok: float | None = None
    batch_output_per_mtok: float | None = None
    source: str = "genai-prices"


@dataclass(frozen=True, slots=True)
class Cost:
    """The cost of one request and where its price came from.

    ``price_source`` is e.g. ``"genai-prices"``, ``"genai-prices, batch = 50% of real time"``,
    ``"user"`` or ``"unknown"`` (then ``usd`` is NaN).
    """

    usd: float
    price_source: str


_user_prices: dict[str, Price] = {}
_warned: set[str] = set()


def set_price(
    model: str,
    input_per_mtok: float,
    output_per_mtok: float,
    *,
    cached_input_per_mtok: float | None = None,
    batch_input_per_mtok: float | None = None,
    batch_output_per_mtok: float | None = None,
) -> Price:
    """Set (or override) a model's price in USD per million tokens, for this process."""
    for name, value in (("input_per_mtok", input_per_mtok), ("output_per_mtok", output_per_mtok)):
        if not isinstance(value, int | float) or value < 0 or math.isnan(value):
            raise ValueError(f"set_price: {name} must be a number >= 0, got {value!r}")
    price = Price(
        model,
        float(input_per_mtok),
        float(output_per_mtok),
        cached_input_per_mtok,
        batch_input_per_mtok,
        batch_output_per_mtok,
        source="user",
    )
    _user_prices[model] = price
    _lookup.cache_clear()
    return price


def _strip_prefix(model: str) -> str:
    # "sim/gpt-4o-mini" and "openai/gpt-4o-mini" price as "gpt-4o-mini"
    return model.split("/", 1)[1] if "/" in model else model


@lru_cache(maxsize=1024)
def _lookup(model: str) -> Price | None:
    if model in _user_prices:
        return _user_prices[model]
    bare = _strip_prefix(model)
    if bare in _user_prices:
        return _user_prices[bare]
    from genai_prices import Usage, calc_price

    mtok = 1_000_000
    try:
        calc = calc_price(Usage(input_tokens=mtok, output_tokens=mtok), model_ref=bare)
        cached = calc_price(
            Usage(input_tokens=mtok, cache_read_tokens=mtok, output_tokens=0), model_ref=bare
        )
    except LookupError:
        return None
    return Price(
        model=model,
        input_per_mtok=float(calc.input_price),
        output_per_mtok=float(calc.output_price),
        cached_input_per_mtok=float(cached.input_price),
        source="genai-prices",
    )


def price_of(model: str) -> Price | None:
    """The price of ``model``, or None when neither the user nor the price data knows it."""
    return _lookup(model)


def cost_of(
    model: str,
    input_tokens: int | None,
    output_tokens: int | None,
    cached_tokens: int | None = None,
    *,
    batch: bool = False,
) -> Cost:
    """What a request with this usage costs. Unknown model: NaN and one warning per model."""
    price = _lookup(model)
    if price is None:
        if model not in _warned:
            _warned.add(model)
            warnings.warn(
                f"no price known for model {model!r}: its cost shows as NaN. Set one with "
                f"brainbatch.set_price({model!r}, input_per_mtok=..., output_per_mtok=...)",
                stacklevel=2,
            )
        return Cost(math.nan, "unknown")
    inp = input_tokens or 0
    out = output_tokens or 0
    cached = min(cached_tokens or 0, inp)
    cached_rate = (
        price.cached_input_per_mtok
        if price.cached_input_per_mtok is not None
        else price.input_per_mtok
    )
    source = price.source
    in_rate, out_rate = price.input_per_mtok, price.output_per_mtok
    if batch:
        if price.batch_input_per_mtok is not None and price.batch_output_per_mtok is not None:
            in_rate, out_rate = price.batch_input_per_mtok, price.batch_output_per_mtok
            cached_rate = cached_rate * BATCH_DISCOUNT
        else:
            in_rate, out_rate = in_rate * BATCH_DISCOUNT, out_rate * BATCH_DISCOUNT
            cached_rate *= BATCH_DISCOUNT
            source = f"{source}, batch = 50% of real time"
    usd = ((inp - cached) * in_rate + cached * cached_rate + out * out_rate) / 1_000_000
    return Cost(usd, source)
