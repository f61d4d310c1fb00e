"""Prices per model and the cost of a request, real time or batch.

Where prices come from
    The ``genai-prices`` package (Pydantic's price data for ~2,300 models of ~45 providers,
    bundled in the wheel; no network is used: its optional auto-update is a background task
    that only starts when a program calls ``genai_prices.UpdatePrices().start()``, which
    brainbatch never does), unless the user set a price with :func:`set_price`, which always
    wins.

Batch price
    The source's own batch price where it has one (in genai-prices 0.2.3, 108 models of
    OpenAI, Anthropic, Google, Mistral, Groq and xAI carry a ``processing: batch`` price
    variant: gpt-4o-mini, gpt-4o, claude-haiku-4-5...; claude-3-5-haiku has none); else 50%
    of the real-time price (:data:`BATCH_DISCOUNT`), which is what OpenAI's and Anthropic's
    batch APIs charge. :attr:`Cost.price_source` says which one was used.

Cached input
    Prompt tokens read from the provider's prompt cache (``cached_tokens``) are priced at the
    model's cache-read price, tokens written to it (``cache_write_tokens``, Anthropic) at its
    cache-write price.

Model names
    ``"gpt-4o-mini"``, ``"openai/gpt-4o-mini"``, ``"anthropic/claude-haiku-4-5"`` and
    ``"sim/gpt-4o-mini"`` all resolve; dated snapshots (``"gpt-4o-mini-2024-07-18"``,
    ``"claude-3-5-haiku-20241022"``) resolve to their model.

Unknown models
    :func:`cost_of` returns NaN (never raises) and warns once per model, naming it and the
    :func:`set_price` call that fixes it.

Long-context tiers (a higher price for every token of a request whose prompt exceeds a
threshold, e.g. 200,000 tokens) are kept from the source and applied per request.

:func:`cost_of` runs once per result: after the first call for a model it is a dictionary
look-up and a few multiplications.
"""

from __future__ import annotations

import math
import threading
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from .errors import InputError

__all__ = [
    "BATCH_DISCOUNT",
    "EMBEDDING_PRICES",
    "Cost",
    "Price",
    "cost_of",
    "list_priced_models",
    "price_of",
    "set_price",
    "warn_unpriced",
]

BATCH_DISCOUNT = 0.5
"""Share of the real-time price both OpenAI and Anthropic charge for native batch work."""

_MTOK = 1_000_000.0
_SOURCE = "genai-prices"
_FALLBACK = "batch = 50% of real time"
# prefixes that are ours, not a price provider's: "sim/gpt-4o-mini" prices as "gpt-4o-mini"
_OWN_PREFIXES = frozenset({"sim", "simulated", "mock"})


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens for one model.

    ``batch_*`` are None when the source has no batch price (then batch work costs
    :data:`BATCH_DISCOUNT` times the real-time price). ``cached_input_per_mtok`` is the price
    of prompt tokens read from the provider's cache (None: same as ``input_per_mtok``).
    ``cache_write_per_mtok`` is the price of prompt tokens written to the cache (Anthropic:
    1.25x input; None: same as ``input_per_mtok``). ``above_input_tokens`` / ``above``: when
    a request's prompt has more input tokens than this, every token of it is priced at
    ``above`` instead (long-context tier).
    """

    model: str
    input_per_mtok: float
    output_per_mtok: float
    cached_input_per_mtok: float | None = None
    batch_input_per_mtok: float | None = None
    batch_output_per_mtok: float | None = None
    source: str = _SOURCE
    batch_cached_input_per_mtok: float | None = None
    above_input_tokens: int | None = None
    above: Price | None = None
    cache_write_per_mtok: float | None = None
    batch_cache_write_per_mtok: float | None = None

    @property
    def has_batch_price(self) -> bool:
        """True when the source (or the user) gave a batch price."""
        return self.batch_input_per_mtok is not None and self.batch_output_per_mtok is not None

    def cache_write_rate(self, batch: bool = False) -> float:
        """USD per million prompt tokens written to the provider's cache."""
        base = (
            self.cache_write_per_mtok
            if self.cache_write_per_mtok is not None
            else self.input_per_mtok
        )
        if not batch:
            return base
        if self.has_batch_price and self.batch_cache_write_per_mtok is not None:
            return self.batch_cache_write_per_mtok
        if self.has_batch_price and self.cache_write_per_mtok is None:
            return self.batch_input_per_mtok or 0.0
        return base * BATCH_DISCOUNT

    def rates(self, batch: bool = False) -> tuple[float, float, float, str]:
        """``(input, cached_input, output, price_source)`` in USD per million tokens."""
        cached = (
            self.cached_input_per_mtok
            if self.cached_input_per_mtok is not None
            else self.input_per_mtok
        )
        if not batch:
            return self.input_per_mtok, cached, self.output_per_mtok, self.source
        if self.batch_input_per_mtok is not None and self.batch_output_per_mtok is not None:
            b_cached = self.batch_cached_input_per_mtok
            if b_cached is None:
                b_cached = min(cached, self.batch_input_per_mtok)
            return (
                self.batch_input_per_mtok,
                b_cached,
                self.batch_output_per_mtok,
                f"{self.source} batch price",
            )
        d = BATCH_DISCOUNT
        return (
            self.input_per_mtok * d,
            cached * d,
            self.output_per_mtok * d,
            f"{self.source}, {_FALLBACK}",
        )


@dataclass(frozen=True, slots=True)
class Cost:
    """The cost of one request and where its price came from.

    ``price_source`` is ``"genai-prices"`` (real time), ``"genai-prices batch price"`` (the
    source's batch price), ``"genai-prices, batch = 50% of real time"`` (fallback), the same
    three with ``"user"`` for prices set with :func:`set_price`, or ``"unknown"`` (then
    ``usd`` is NaN).
    """

    usd: float
    price_source: str


# (input, cached, output, cache write, source, above_input_tokens, rates above it or None)
_Tier = tuple[float, float, float, float]
_Rates = tuple[float, float, float, float, str, int, _Tier | None]

_lock = threading.Lock()
_user_prices: dict[str, Price] = {}
_warned: set[str] = set()
_rates_cache: dict[tuple[str, bool], _Rates | None] = {}
_price_cache: dict[str, Price | None] = {}
_NO_TIER = 2**62


def _check_rate(name: str, value: object, *, optional: bool) -> float | None:
    if value is None and optional:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float | Decimal)
        or not math.isfinite(float(value))
        or float(value) < 0
    ):
        raise InputError(
            f"set_price: {name} must be a finite number >= 0 (USD per million tokens), "
            f"got {value!r}"
        )
    return float(value)


def set_price(
    model: str,
    input_per_mtok: float,
    output_per_mtok: float,
    *,
    cached_input_per_mtok: float | None = None,
    batch_input_per_mtok: float | None = None,
    batch_output_per_mtok: float | None = None,
    cache_write_per_mtok: float | None = None,
) -> Price:
    """Set (or override) a model's price in USD per million tokens, for this process.

    The price applies to ``model`` and to its provider-prefixed forms (setting
    ``"my-model"`` prices ``"openai/my-model"`` and ``"sim/my-model"`` too). Give both
    ``batch_input_per_mtok`` and ``batch_output_per_mtok`` for a batch price, or neither
    (batch work then costs 50% of real time).

    Raises:
        InputError (a ValueError): naming the parameter that is not a finite number >= 0,
            or when only one of the two batch prices is given.
    """
    if not isinstance(model, str) or not model.strip():
        raise InputError(f"set_price: model must be a non-empty string, got {model!r}")
    inp = _check_rate("input_per_mtok", input_per_mtok, optional=False)
    out = _check_rate("output_per_mtok", output_per_mtok, optional=False)
    cached = _check_rate("cached_input_per_mtok", cached_input_per_mtok, optional=True)
    b_in = _check_rate("batch_input_per_mtok", batch_input_per_mtok, optional=True)
    b_out = _check_rate("batch_output_per_mtok", batch_output_per_mtok, optional=True)
    written = _check_rate("cache_write_per_mtok", cache_write_per_mtok, optional=True)
    if (b_in is None) != (b_out is None):
        missing = "batch_output_per_mtok" if b_out is None else "batch_input_per_mtok"
        raise InputError(
            f"set_price: {missing} is missing; give both batch prices or neither "
            "(batch then costs 50% of real time)"
        )
    assert inp is not None and out is not None
    price = Price(model, inp, out, cached, b_in, b_out, source="user", cache_write_per_mtok=written)
    with _lock:
        _user_prices[model.strip()] = price
        _rates_cache.clear()
        _price_cache.clear()
        _warned.discard(model)
    return price


def _num(value: object) -> tuple[float | None, int | None, float | None]:
    """A genai-prices price as (base, tier threshold, tier price); tiers beyond one ignored."""
    if value is None:
        return None, None, None
    if isinstance(value, Decimal | int | float):
        return float(value), None, None
    base = getattr(value, "base", None)
    tiers = getattr(value, "tiers", None) or []
    if base is None:
        return None, None, None
    if tiers:
        return float(base), int(tiers[0].start), float(tiers[0].price)
    return float(base), None, None


def _from_genai(model: str, ref: str, provider_id: str | None) -> Price | None:
    from genai_prices import data_snapshot

    snapshot = data_snapshot.get_snapshot()
    try:
        provider, info = snapshot.find_provider_model(ref, None, provider_id, None)
    except LookupError:
        return None
    now = datetime.now(UTC)
    std = info.get_prices(now)
    has_batch = any(
        v.when.get("processing") == "batch"
        for v in (getattr(info, "price_variants", None) or ())
        if v.constraint is None or v.constraint.active(now)
    )
    bat = info.get_prices(now, {"processing": "batch"}) if has_batch else None

    def field(mp: Any, key: str) -> tuple[float | None, int | None, float | None]:
        return _num(getattr(mp, key, None)) if mp is not None else (None, None, None)

    inp, out = field(std, "input_mtok"), field(std, "output_mtok")
    if inp[0] is None or out[0] is None:
        return None  # not priced per token (images, audio seconds, per request...)
    cached, written = field(std, "cache_read_mtok"), field(std, "cache_write_mtok")
    b_in, b_out, b_cached, b_written = (
        field(bat, "input_mtok"),
        field(bat, "output_mtok"),
        field(bat, "cache_read_mtok"),
        field(bat, "cache_write_mtok"),
    )
    source = _SOURCE
    base = Price(
        model=model,
        input_per_mtok=inp[0],
        output_per_mtok=out[0],
        cached_input_per_mtok=cached[0],
        batch_input_per_mtok=b_in[0],
        batch_output_per_mtok=b_out[0],
        source=source,
        batch_cached_input_per_mtok=b_cached[0],
        cache_write_per_mtok=written[0],
        batch_cache_write_per_mtok=b_written[0],
    )
    threshold = inp[1] if inp[1] is not None else out[1]
    if threshold is not None:

        def tier(v: tuple[float | None, int | None, float | None]) -> float | None:
            return v[2] if v[2] is not None else v[0]

        t_in, t_out = tier(inp), tier(out)
        above = replace(
            base,
            input_per_mtok=t_in if t_in is not None else base.input_per_mtok,
            output_per_mtok=t_out if t_out is not None else base.output_per_mtok,
            cached_input_per_mtok=tier(cached),
            batch_input_per_mtok=tier(b_in),
            batch_output_per_mtok=tier(b_out),
            batch_cached_input_per_mtok=tier(b_cached),
            cache_write_per_mtok=tier(written),
            batch_cache_write_per_mtok=tier(b_written),
        )
        base = replace(base, above_input_tokens=threshold, above=above)
    del provider
    return base


def _provider_ids() -> frozenset[str]:
    from genai_prices import data_snapshot

    return frozenset(p.id for p in data_snapshot.get_snapshot().providers)


def _resolve(model: str) -> Price | None:
    name = model.strip()
    if name in _user_prices:
        return _user_prices[name]
    prefix, sep, rest = name.partition("/")
    bare = rest if sep else name
    if sep and bare in _user_prices:
        return _user_prices[bare]
    if not sep:
        return _from_genai(model, name, None)
    if prefix.lower() in _OWN_PREFIXES:
        return _resolve(rest) if rest else None
    if prefix.lower() in _provider_ids():
        found = _from_genai(model, rest, prefix.lower())
        if found is not None:
            return found
    # a model id that contains "/" itself ("meta-llama/..."), then the part after the prefix
    return _from_genai(model, name, None) or _from_genai(model, rest, None)


_EMBEDDINGS_SOURCE = "OpenAI price list (embeddings)"
#: OpenAI's embedding models, which genai-prices does not carry: USD per million input
#: tokens, real time and Batch API (OpenAI's pricing page; embeddings have no output tokens).
EMBEDDING_PRICES: Mapping[str, tuple[float, float]] = {
    "text-embedding-3-small": (0.02, 0.01),
    "text-embedding-3-large": (0.13, 0.065),
    "text-embedding-ada-002": (0.10, 0.05),
}


#: Gemini's embedding model, likewise (Gemini API pricing page: standard and Batch API).
GEMINI_EMBEDDING_PRICES: Mapping[str, tuple[float, float]] = {
    "gemini-embedding-001": (0.15, 0.075),
}


def _embedding_price(model: str) -> Price | None:
    bare = model.strip()
    prefix, sep, rest = bare.partition("/")
    if sep and prefix.lower() in (*_OWN_PREFIXES, "openai", "gemini", "google", "models"):
        bare = rest
    rates = EMBEDDING_PRICES.get(bare)
    source = _EMBEDDINGS_SOURCE
    if rates is None:
        rates = GEMINI_EMBEDDING_PRICES.get(bare)
        source = "Gemini price list (embeddings)"
    if rates is None:
        return None
    return Price(model, rates[0], 0.0, None, rates[1], 0.0, source=source)


def price_of(model: str) -> Price | None:
    """The price of ``model``, or None when neither the user nor the price data knows it
    (OpenAI's embedding models come from :data:`EMBEDDING_PRICES` when the data lacks them)."""
    try:
        return _price_cache[model]
    except KeyError:
        pass
    price = _resolve(model) if isinstance(model, str) and model.strip() else None
    if price is None and isinstance(model, str):
        price = _embedding_price(model)
    with _lock:
        _price_cache[model] = price
    return price


def _rates_for(model: str, batch: bool) -> _Rates | None:
    key = (model, batch)
    try:
        return _rates_cache[key]
    except KeyError:
        pass
    price = price_of(model)
    rates: _Rates | None = None
    if price is not None:
        i, c, o, src = price.rates(batch)
        w = price.cache_write_rate(batch)
        above: _Tier | None = None
        if price.above is not None and price.above_input_tokens is not None:
            a_i, a_c, a_o, _ = price.above.rates(batch)
            above = (a_i, a_c, a_o, price.above.cache_write_rate(batch))
        threshold = price.above_input_tokens if above is not None else None
        rates = (i, c, o, w, src, threshold if threshold is not None else _NO_TIER, above)
    with _lock:
        _rates_cache[key] = rates
    return rates


def warn_unpriced(model: str, *, stacklevel: int = 1) -> None:
    """Warn, once per model and process, that ``model`` has no price and how to set one."""
    with _lock:
        if model in _warned:
            return
        _warned.add(model)
    warnings.warn(
        f"no price known for model {model!r}: its cost shows as NaN. Set one with "
        f"brainbatch.set_price({model!r}, input_per_mtok=..., output_per_mtok=...)",
        stacklevel=stacklevel + 1,
    )


def cost_of(
    model: str,
    input_tokens: int | None,
    output_tokens: int | None,
    cached_tokens: int | None = None,
    *,
    batch: bool = False,
    cache_write_tokens: int | None = None,
) -> Cost:
    """What a request with this usage costs, in USD.

    ``input_tokens`` counts every prompt token, cached ones included (OpenAI's
    ``prompt_tokens``; for Anthropic pass ``input_tokens + cache_read_input_tokens +
    cache_creation_input_tokens``); ``cached_tokens`` of them were read from the provider's
    prompt cache and are priced at the cache-read price, ``cache_write_tokens`` of them were
    written to it (Anthropic's ``cache_creation_input_tokens``) and are priced at the
    cache-write price. ``batch=True`` prices native batch work. Unknown model:
    ``Cost(nan, "unknown")`` and one warning per model.
    """
    rates = _rates_for(model, batch)
    if rates is None:
        warn_unpriced(model, stacklevel=2)
        return Cost(math.nan, "unknown")
    in_rate, cached_rate, out_rate, write_rate, source, threshold, above = rates
    inp = input_tokens or 0
    out = output_tokens or 0
    cached = cached_tokens or 0
    if cached > inp:
        cached = inp
    written = cache_write_tokens or 0
    if written > inp - cached:
        written = inp - cached
    if inp > threshold and above is not None:
        in_rate, cached_rate, out_rate, write_rate = above
    usd = (inp - cached - written) * in_rate + cached * cached_rate + written * write_rate
    return Cost((usd + out * out_rate) / _MTOK, source)


def _all_genai_names() -> list[str]:
    from genai_prices import data_snapshot

    snapshot = data_snapshot.get_snapshot()
    now = datetime.now(UTC)
    names: set[str] = set()
    for provider in snapshot.providers:
        for info in provider.models:
            if "/" in info.id or not info.id or info.id[-1] in "-.:":
                continue
            std = info.get_prices(now)
            if None in (getattr(std, "input_mtok", None), getattr(std, "output_mtok", None)):
                continue  # priced per image, second or request: not a chat model for us
            names.add(f"{provider.id}/{info.id}")
            if provider.model_match is not None and provider.model_match.is_match(info.id):
                names.add(info.id)
    return sorted(names)


_names_cache: list[str] = []


def list_priced_models(search: str | None = None, *, provider: str | None = None) -> list[str]:
    """Model names with a known price, sorted; the cost explorer offers these.

    Names are bare ids for the providers that own them (``"gpt-4o-mini"``,
    ``"claude-haiku-4-5"``) and ``"provider/model"`` for every provider serving a model
    (``"groq/llama-3.3-70b-versatile"``), plus models priced with :func:`set_price`.
    ``search`` keeps names containing it (case-insensitive); ``provider`` keeps one provider's
    (``"openai"``, ``"anthropic"``...). Every returned name is accepted by :func:`cost_of`.
    """
    if not _names_cache:
        # keep only names that resolve (a few ids in the data do not match their own rules)
        _names_cache.extend(n for n in _all_genai_names() if price_of(n) is not None)
    names: Iterable[str] = sorted(set(_names_cache) | set(_user_prices))
    if provider is not None:
        p = provider.lower().rstrip("/") + "/"
        owned = {n.partition("/")[2] for n in _names_cache if n.startswith(p)}
        names = [n for n in names if n.startswith(p) or ("/" not in n and n in owned)]
    if search:
        s = search.lower()
        names = [n for n in names if s in n.lower()]
    return list(names)


def _reset() -> None:
    """Forget user prices, warnings and caches (for tests)."""
    with _lock:
        _user_prices.clear()
        _warned.clear()
        _rates_cache.clear()
        _price_cache.clear()
