"""Before spending anything: tokens, cost in real time vs batch, and how long a job will take.

Three layers, each reusable on its own:

* :func:`token_counts` counts every request's prompt tokens once (exact for OpenAI models,
  else the approximation of :mod:`brainbatch.tokens`) and reads its ``max_tokens``;
* :func:`cost_table` prices those counts for any models and modes, vectorised: changing the
  models or the expected output length re-prices the sums, it never re-reads the requests
  (the cost explorer calls it on every slider move);
* :func:`estimate_requests` is the summary table behind ``bb.estimate``: tokens, expected
  and worst-case cost real time vs batch, the expected saving, and the duration under the
  given limits.

Output tokens: the worst case is each request's ``max_tokens`` (``max_completion_tokens``);
the expected count is ``expected_output_tokens`` when given, else
:data:`DEFAULT_OUTPUT_RATIO` times the prompt's tokens (at least
:data:`MIN_EXPECTED_OUTPUT`), capped by ``max_tokens``. That ratio is a rule of thumb, not a
measurement: answers to classification prompts are a few tokens, summaries a fraction of the
prompt, essays far longer; pass ``expected_output_tokens`` when you know better.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .errors import InputError
from .images import part_image_tokens
from .models import BatchRequest
from .pricing import price_of, warn_unpriced
from .store._codec import body_hash
from .structured import schema_text
from .tokens import _content_text, estimate_tokens_many, has_exact_tokenizer

__all__ = [
    "BATCH_WINDOW_S",
    "DEFAULT_OUTPUT_RATIO",
    "MIN_EXPECTED_OUTPUT",
    "SIM_PRICE_MODEL",
    "PriceModel",
    "cost_table",
    "estimate_requests",
    "expected_output",
    "forget_estimates",
    "price_name",
    "recall_estimate",
    "remember_estimate",
    "request_max_tokens",
    "token_counts",
]

DEFAULT_OUTPUT_RATIO = 0.5
"""Expected output tokens per prompt token when nothing better is known (a rule of thumb)."""
MIN_EXPECTED_OUTPUT = 16
"""The expected answer is at least this many tokens (unless ``max_tokens`` is lower)."""
BATCH_WINDOW_S = 24 * 3600.0
"""Native batch APIs promise results within 24 hours (often much sooner)."""
SIM_PRICE_MODEL = "gpt-4o-mini"
_RECENT_MAX = 8
"""How many estimates :func:`remember_estimate` keeps (the newest)."""
_recent: OrderedDict[str, pd.DataFrame] = OrderedDict()
_recent_lock = threading.Lock()
"""What requests to the bare ``"sim"`` model are priced as (the simulated provider's default)."""

_MESSAGE_OVERHEAD = 3
_REPLY_PRIMER = 3
_TTFT_S = 0.5  # typical time to first token
_TOKENS_PER_S = 60.0  # typical generation speed, for the default latency

PriceModel = str | Callable[[str], str] | Mapping[str, str] | None
"""How a request's model maps to a priced model: a name for all, a function, a dict, or None
(the request's own model; ``"sim"`` prices as :data:`SIM_PRICE_MODEL`)."""


def price_name(model: str, price_model: PriceModel = None) -> str:
    """The model name ``model`` is priced as under ``price_model``."""
    if price_model is None:
        return SIM_PRICE_MODEL if model == "sim" else model
    if isinstance(price_model, str):
        return price_model
    if isinstance(price_model, Mapping):
        return str(price_model.get(model, price_name(model)))
    return price_model(model)


def request_max_tokens(request: BatchRequest) -> int | None:
    """The request's output cap (``max_completion_tokens``, ``max_tokens``...), or None."""
    params = request.params or {}
    for key in ("max_completion_tokens", "max_tokens", "max_output_tokens"):
        value = params.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def _request_texts(request: BatchRequest) -> list[str]:
    texts = [request.system] if request.system else []
    texts.extend(_content_text(m.get("content", "")) for m in request.chat_messages())
    schema = schema_text(request.params)
    if schema is not None:  # structured output: the schema travels in the prompt
        texts.append(schema)
    return texts


def _image_tokens(request: BatchRequest, model: str) -> int:
    """Inline images' tokens by the provider's documented rule (0 without images)."""
    total = 0
    for m in request.chat_messages():
        content = m.get("content")
        if isinstance(content, list):
            total += sum(part_image_tokens(b, model) for b in content if isinstance(b, Mapping))
    return total


def token_counts(
    requests: Iterable[BatchRequest] | Iterable[str],
    *,
    model: str | None = None,
    max_tokens: int | None = None,
) -> pd.DataFrame:
    """Per-request token counts, computed once; reuse them with :func:`cost_table`.

    ``requests`` are :class:`~brainbatch.models.BatchRequest` objects, or plain prompt strings
    (then each is one user message to ``model``). ``model`` overrides the requests' own
    models for counting and pricing; ``max_tokens`` overrides their output caps.

    Returns one row per request (index: ``custom_id`` where set, else the position) with
    columns ``model``, ``input_tokens`` (int64; chat overhead included), ``max_tokens``
    (float64, NaN where there is no cap) and ``exact`` (True where counted by the model's own
    tokenizer).
    """
    if max_tokens is not None and (
        isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1
    ):
        raise InputError(f"max_tokens must be a positive integer, got {max_tokens!r}")
    models: list[str] = []
    texts: list[list[str]] = []
    caps: list[float] = []
    index: list[Any] = []
    images: list[int] = []
    for i, item in enumerate(requests):
        if isinstance(item, BatchRequest):
            models.append(model or item.model)
            texts.append(_request_texts(item))
            images.append(_image_tokens(item, model or item.model))
            cap = max_tokens if max_tokens is not None else request_max_tokens(item)
            index.append(item.custom_id if item.custom_id is not None else i)
        elif isinstance(item, str):
            models.append(model or "")
            texts.append([item])
            images.append(0)
            cap = max_tokens
            index.append(i)
        else:
            raise InputError(
                f"request {i}: expected a BatchRequest or a prompt string, got "
                f"{type(item).__name__}"
            )
        caps.append(float(cap) if cap is not None else math.nan)
    n = len(models)
    counts = np.zeros(n, dtype=np.int64)
    exact = np.zeros(n, dtype=bool)
    by_model: dict[str, list[int]] = {}
    for i, m in enumerate(models):
        by_model.setdefault(m, []).append(i)
    for m, rows in by_model.items():
        flat = [t for r in rows for t in texts[r]]
        sizes = np.array([len(texts[r]) for r in rows], dtype=np.int64)
        per_text = np.asarray(estimate_tokens_many(flat, m or None), dtype=np.int64)
        starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
        sums = np.add.reduceat(per_text, starts) if len(per_text) else np.zeros(len(rows))
        sums = np.where(sizes > 0, sums, 0)
        counts[rows] = sums + sizes * _MESSAGE_OVERHEAD + _REPLY_PRIMER
        exact[rows] = has_exact_tokenizer(m or None)
    counts += np.asarray(images, dtype=np.int64)
    return pd.DataFrame(
        {
            "model": np.asarray(models, dtype=object),
            "input_tokens": counts,
            "max_tokens": np.asarray(caps, dtype=np.float64),
            "exact": exact,
        },
        index=pd.Index(index, name="custom_id"),
    )


def expected_output(
    counts: pd.DataFrame,
    expected_output_tokens: float | Sequence[float] | np.ndarray | None = None,
    *,
    output_ratio: float = DEFAULT_OUTPUT_RATIO,
) -> np.ndarray:
    """Expected output tokens per row: given, or ``output_ratio`` x input; capped by max_tokens."""
    inp = counts["input_tokens"].to_numpy(dtype=np.float64)
    caps = counts["max_tokens"].to_numpy(dtype=np.float64)
    if expected_output_tokens is None:
        if not (isinstance(output_ratio, int | float) and output_ratio >= 0):
            raise InputError(f"output_ratio must be a number >= 0, got {output_ratio!r}")
        out = np.maximum(np.round(inp * output_ratio), MIN_EXPECTED_OUTPUT)
    else:
        out = np.broadcast_to(np.asarray(expected_output_tokens, dtype=np.float64), inp.shape)
        if np.any(~np.isfinite(out)) or np.any(out < 0):
            raise InputError("expected_output_tokens must be finite numbers >= 0")
    return np.where(np.isnan(caps), out, np.minimum(out, caps))


def _price_rows(model: str, batch: bool, inp: np.ndarray, out: np.ndarray) -> tuple[float, str]:
    """Total USD for these rows' tokens (NaN when the model has no price) and the source."""
    price = price_of(model)
    if price is None:
        warn_unpriced(model, stacklevel=3)
        return math.nan, "unknown"
    in_rate, _, out_rate, source = price.rates(batch)
    if price.above is not None and price.above_input_tokens is not None:
        long = inp > price.above_input_tokens
        if long.any():
            l_in, _, l_out, _ = price.above.rates(batch)
            usd = (
                inp[~long].sum() * in_rate
                + out[~long].sum() * out_rate
                + inp[long].sum() * l_in
                + out[long].sum() * l_out
            )
            return float(usd) / 1e6, source
    return float(inp.sum() * in_rate + out.sum() * out_rate) / 1e6, source


_MODES = {"realtime": False, "batch": True, "flex": True}
"""Each mode and whether it is priced at the batch price (flex processing is billed as batch)."""


def has_flex(model: str) -> bool:
    """Whether ``model`` can run in ``mode="flex"``: OpenAI's models only (flex processing)."""
    from .providers.registry import provider_for_model

    return provider_for_model(model) == "openai"


def cost_table(
    counts: pd.DataFrame,
    models: Sequence[str] | None = None,
    modes: Sequence[str] = ("realtime", "batch"),
    output_tokens: float | str | Sequence[float] | np.ndarray | None = None,
    *,
    output_ratio: float = DEFAULT_OUTPUT_RATIO,
    price_model: PriceModel = None,
) -> pd.DataFrame:
    """Cost of the counted requests for each model and mode; vectorised, no per-row Python.

    Args:
        counts: from :func:`token_counts`.
        models: price every request as each of these models (a what-if); None prices each
            request as its own model (per-row models).
        modes: any of ``"realtime"``, ``"batch"`` and ``"flex"`` (OpenAI's flex processing, at
            the batch price; models without flex get no flex row).
        output_tokens: expected output tokens per request (a number or one per row),
            ``"max_tokens"`` for the worst case, or None for ``output_ratio`` x input.
        price_model: see :data:`PriceModel` (used when ``models`` is None).

    Returns one row per (model, mode): ``model``, ``mode``, ``requests``, ``input_tokens``,
    ``output_tokens``, ``cost_usd`` (NaN for unpriced models, or for ``"max_tokens"`` when a
    request has no cap), ``usd_per_1k_requests``, ``saving_usd`` and ``saving_pct`` (against
    real time for the same model) and ``price_source``. Cached-input discounts are not
    assumed (the cache hit rate is unknown before the run).
    """
    bad = [m for m in modes if m not in _MODES]
    if bad or not modes:
        raise InputError(f"modes must be among 'realtime', 'batch' and 'flex', got {list(modes)!r}")
    inp = counts["input_tokens"].to_numpy(dtype=np.float64)
    if isinstance(output_tokens, str):
        if output_tokens != "max_tokens":
            raise InputError(
                f"output_tokens must be a number, 'max_tokens' or None, got {output_tokens!r}"
            )
        out = counts["max_tokens"].to_numpy(dtype=np.float64)
    else:
        out = expected_output(counts, output_tokens, output_ratio=output_ratio)
    groups: list[tuple[str, np.ndarray]]
    if models is not None:
        everything = np.ones(len(inp), dtype=bool)
        groups = [(m, everything) for m in dict.fromkeys(models)]
    else:
        priced = np.array([price_name(str(m), price_model) for m in counts["model"]], dtype=object)
        groups = [(m, priced == m) for m in dict.fromkeys(priced.tolist())]
    rows = []
    for m, mask in groups:
        g_in, g_out = inp[mask], out[mask]
        n = int(mask.sum())
        realtime = math.nan
        for mode in modes:
            if mode == "flex" and not has_flex(m):
                continue  # no such mode for this model: no row rather than a made-up price
            usd, source = _price_rows(m, _MODES[mode], g_in, g_out)
            if mode == "flex" and source != "unknown":
                source = f"{source} (flex processing: batch price)"
            if mode == "realtime":
                realtime = usd
            else:
                realtime = (
                    realtime if "realtime" in modes else _price_rows(m, False, g_in, g_out)[0]
                )
            saving = realtime - usd
            rows.append(
                {
                    "model": m,
                    "mode": mode,
                    "requests": n,
                    "input_tokens": int(g_in.sum()),
                    "output_tokens": float(g_out.sum()),
                    "cost_usd": usd,
                    "usd_per_1k_requests": usd / n * 1000 if n else math.nan,
                    "saving_usd": saving,
                    "saving_pct": saving / realtime * 100 if realtime else math.nan,
                    "price_source": source,
                }
            )
    return pd.DataFrame(rows)


def _duration_text(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "unknown"
    if seconds < 90:
        return f"~{max(1, round(seconds))} s"
    if seconds < 90 * 60:
        return f"~{round(seconds / 60)} min"
    return f"~{seconds / 3600:.1f} h"


def realtime_duration_s(
    n_requests: int,
    total_tokens: float,
    *,
    max_concurrent: int,
    latency_s: float,
    rpm: float | None = None,
    tpm: float | None = None,
) -> float:
    """Expected wall time in real time: the slowest of concurrency x latency, RPM and TPM."""
    if n_requests == 0:
        return 0.0
    bounds = [math.ceil(n_requests / max_concurrent) * latency_s]
    if rpm:
        bounds.append(n_requests / rpm * 60.0)
    if tpm:
        bounds.append(total_tokens / tpm * 60.0)
    return max(bounds)


def _positive(name: str, value: object, *, integer: bool = False) -> None:
    ok = isinstance(value, int) if integer else isinstance(value, int | float)
    if isinstance(value, bool) or not ok or not value > 0:  # type: ignore[operator]
        kind = "an integer" if integer else "a number"
        raise InputError(f"{name} must be {kind} > 0, got {value!r}")


def _sum_all(s: pd.Series) -> float:
    """Sum that is NaN when any part is NaN (an unpriced model makes the total unknown)."""
    return float(s.sum(min_count=len(s))) if not s.isna().any() else math.nan


def _join(s: pd.Series) -> str:
    return "; ".join(dict.fromkeys(str(x) for x in s))


def estimate_requests(
    requests: Iterable[BatchRequest] | Iterable[str],
    *,
    model: str | None = None,
    max_tokens: int | None = None,
    expected_output_tokens: float | None = None,
    output_ratio: float = DEFAULT_OUTPUT_RATIO,
    max_concurrent: int = 10,
    rpm: float | None = None,
    tpm: float | None = None,
    typical_latency_s: float | None = None,
    price_model: PriceModel = None,
) -> pd.DataFrame:
    """What running these requests would cost and take, real time vs batch.

    Args:
        requests: BatchRequests (per-row models allowed) or prompt strings (give ``model``).
        model: count and price every request as this model.
        max_tokens: output cap per request (else each request's own ``max_tokens``); the
            worst-case columns use it and are NaN for requests without a cap.
        expected_output_tokens: expected answer length per request; default
            ``output_ratio`` x prompt tokens (see the module docstring).
        max_concurrent, rpm, tpm: the real-time limits the job will run under.
        typical_latency_s: seconds per request; default 0.5 s plus the expected answer at
            60 tokens/s.
        price_model: how request models map to priced models (see :data:`PriceModel`).

    Returns one row per mode (``realtime``, ``batch``, and ``flex`` for models that have it:
    OpenAI's, at the batch price), and per model when the requests use
    several (plus ``"(all)"`` totals), with columns ``model``, ``mode``, ``requests``,
    ``input_tokens``, ``output_tokens_expected``, ``output_tokens_max``,
    ``cost_expected_usd``, ``cost_max_usd``, ``saving_expected_usd`` (vs real time),
    ``saving_pct``, ``duration_s``, ``duration`` (text) and ``price_source``.
    ``tokens_exact`` says whether the prompt counts are exact.
    """
    _positive("max_concurrent", max_concurrent, integer=True)
    for name, value in (("rpm", rpm), ("tpm", tpm), ("typical_latency_s", typical_latency_s)):
        if value is not None:
            _positive(name, value)
    counts = token_counts(requests, model=model, max_tokens=max_tokens)
    exp_out = expected_output(counts, expected_output_tokens, output_ratio=output_ratio)
    modes = ("realtime", "batch", "flex")
    exp = cost_table(counts, modes=modes, output_tokens=exp_out, price_model=price_model)
    worst = cost_table(counts, modes=modes, output_tokens="max_tokens", price_model=price_model)
    caps = counts["max_tokens"].to_numpy(dtype=np.float64)
    inp = counts["input_tokens"].to_numpy(dtype=np.float64)
    n = len(counts)
    mean_out = float(exp_out.mean()) if n else 0.0
    latency = (
        typical_latency_s if typical_latency_s is not None else _TTFT_S + mean_out / _TOKENS_PER_S
    )
    rt_s = realtime_duration_s(
        n,
        float(inp.sum() + exp_out.sum()),
        max_concurrent=max_concurrent,
        latency_s=latency,
        rpm=rpm,
        tpm=tpm,
    )
    table = exp.rename(
        columns={
            "output_tokens": "output_tokens_expected",
            "cost_usd": "cost_expected_usd",
            "saving_usd": "saving_expected_usd",
        }
    ).drop(columns=["usd_per_1k_requests"])
    table.insert(5, "output_tokens_max", worst["output_tokens"].to_numpy())
    table.insert(7, "cost_max_usd", worst["cost_usd"].to_numpy())
    if len(table["model"].unique()) > 1:
        totals = table.groupby("mode", sort=False).agg(
            {
                "requests": "sum",
                "input_tokens": "sum",
                "output_tokens_expected": "sum",
                "output_tokens_max": _sum_all,
                "cost_expected_usd": _sum_all,
                "cost_max_usd": _sum_all,
                "saving_expected_usd": _sum_all,
                "price_source": _join,
            }
        )
        totals = totals.reset_index()
        totals.insert(0, "model", "(all)")
        flex_models = set(table.loc[table["mode"] == "flex", "model"])
        if flex_models != set(table["model"]):  # a flex total only when every model has flex
            totals = totals[totals["mode"] != "flex"]
        rt_cost = totals.loc[totals["mode"] == "realtime", "cost_expected_usd"]
        base = float(rt_cost.iloc[0]) if len(rt_cost) else math.nan
        totals["saving_pct"] = totals["saving_expected_usd"] / base * 100
        table = pd.concat([table, totals[table.columns]], ignore_index=True)
    if np.isnan(caps).any():
        table["output_tokens_max"] = math.nan
        table["cost_max_usd"] = math.nan
    is_batch = table["mode"] == "batch"
    is_flex = table["mode"] == "flex"
    table["duration_s"] = np.where(is_batch, BATCH_WINDOW_S, rt_s)
    table["duration"] = np.where(
        is_batch,
        "up to 24 h",
        np.where(is_flex, f"{_duration_text(rt_s)} or more (slower answers)", _duration_text(rt_s)),
    )
    table = table.reset_index(drop=True)
    table["tokens_exact"] = bool(counts["exact"].all()) if n else True
    return table


def _fingerprint(requests: Sequence[BatchRequest]) -> str:
    """The requests' :func:`~brainbatch.store._codec.body_hash` (what is sent: model, system,
    messages, params; the journal's and the cache's own rule), hashed together; ids are not
    part of it, so the same rows estimated and then submitted match."""
    h = hashlib.blake2b(digest_size=16)
    for r in requests:
        h.update(body_hash(r).encode())
    return h.hexdigest()


def remember_estimate(requests: Sequence[BatchRequest], table: pd.DataFrame) -> None:
    """Keep ``table`` (an :func:`estimate_requests` result) for these requests, so a job that
    later sends exactly them shows it as "the estimate made before the run" (the cockpit's
    dotted line). The newest :data:`_RECENT_MAX` are kept, in this process only."""
    key = _fingerprint(requests)
    with _recent_lock:
        _recent[key] = table
        _recent.move_to_end(key)
        while len(_recent) > _RECENT_MAX:
            _recent.popitem(last=False)


def recall_estimate(requests: Sequence[BatchRequest], mode: str) -> float | None:
    """The expected cost in ``mode`` of a remembered estimate of exactly these requests (the
    ``(all)`` row for mixed models), or None. Hashes the requests only when some estimate
    was remembered, so a job nobody estimated pays nothing for this."""
    with _recent_lock:
        if not _recent:
            return None
    table = _recent.get(_fingerprint(requests))
    if table is None:
        return None
    rows = table[table["mode"] == mode]
    if "(all)" in set(rows["model"]):
        rows = rows[rows["model"] == "(all)"]
    if rows.empty:
        return None
    return float(rows["cost_expected_usd"].sum())


def forget_estimates() -> None:
    """Forget every estimate :func:`remember_estimate` kept."""
    with _recent_lock:
        _recent.clear()
