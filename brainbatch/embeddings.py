"""Embeddings: a DataFrame column (or a template over columns) in, float32 vectors out.

::

    out = bb.embed(df, "text", model="text-embedding-3-small", dimensions=256)
    out["embedding"]            # one float32 numpy array per row
    out.input_tokens.sum(), out.cost_usd.sum()

Rows are checked as :func:`brainbatch.frame.build_requests` checks prompts (missing columns,
NaN, empty text, lone surrogates... a clear :class:`~brainbatch.errors.InputError` naming the
rows) and counted with the model's own tokenizer before anything is sent: a row over OpenAI's
8,192 tokens per input is refused naming it, as is a ``dimensions`` the model cannot give.
Consecutive rows are then packed into requests within OpenAI's documented limits (at most
2,048 inputs and 300,000 tokens per request; ``batch_size`` lowers the first), sent
``max_concurrent`` at a time through the shared HTTP pool with the usual retries and
``rpm`` / ``tpm`` limits (a request reserves its inputs' tokens under ``tpm``).

Tokens and cost per row: the provider reports usage per request; each row gets its own exact
count, scaled so that a request's rows add up to what the provider reported, and is priced
per input token (OpenAI's embedding prices: :data:`brainbatch.pricing.EMBEDDING_PRICES`).
A request that fails marks its rows ``error`` with the reason; the others still come back.

``model="sim/text-embedding-3-small"`` embeds offline, in process, with the simulated
server's vectors (:func:`brainbatch.sim.embeddings.embed_text`); any other model goes to
``/v1/embeddings`` of ``base_url`` (OpenAI by default, or any compatible server).

Not journaled and not sent as a native batch (yet): an embedding run is one blocking call.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from .errors import ConfigurationError, InputError
from .executors import ParallelExecutor
from .frame import PromptSpec, build_requests
from .models import BatchJob, BatchRequest, BatchResult, ProviderResponse
from .pricing import cost_of
from .providers._shape import Shape
from .providers.openai import OpenAIProvider
from .tokens import approx_tokens, estimate_tokens_many

__all__ = [
    "DEFAULT_EMBEDDING_MODEL",
    "EMBEDDING_COLUMNS",
    "OpenAIEmbeddingProvider",
    "embed",
    "pack",
]

DEFAULT_EMBEDDING_MODEL = "text-embedding-3-small"

EMBEDDING_COLUMNS = (
    "embedding",
    "status",
    "error",
    "input_tokens",
    "cost_usd",
    "price_source",
    "model",
)
"""The columns :func:`embed` adds after the input columns, in this order."""

_SIM_PREFIXES = ("sim/", "simulated/")


def _limits() -> tuple[Mapping[str, Any], int, int, int]:
    from .sim.embeddings import (
        EMBEDDING_MODELS,
        MAX_INPUTS_PER_REQUEST,
        MAX_TOKENS_PER_INPUT,
        MAX_TOKENS_PER_REQUEST,
    )

    return EMBEDDING_MODELS, MAX_INPUTS_PER_REQUEST, MAX_TOKENS_PER_INPUT, MAX_TOKENS_PER_REQUEST


class OpenAIEmbeddingProvider(OpenAIProvider):
    """Sends requests to ``{base_url}/embeddings``; a request's ``params["input"]`` holds its
    texts (``params["dimensions"]`` the size, when set). The answer's ``result`` is
    ``{"embeddings": [float32 array, ...]}`` in input order."""

    path: ClassVar[str] = "/embeddings"

    def build_body(self, request: BatchRequest) -> dict[str, Any]:
        params = request.params or {}
        body: dict[str, Any] = {
            "model": request.model,
            "input": list(params["input"]),
            "encoding_format": "float",
        }
        if params.get("dimensions") is not None:
            body["dimensions"] = params["dimensions"]
        return body

    def max_output_tokens(self, body: Mapping[str, Any]) -> int:
        """Under ``tpm`` an embedding request reserves its inputs' tokens (it has no output)."""
        return sum(approx_tokens(t) for t in body.get("input", ()))

    def parse_response(
        self,
        body: dict[str, Any],
        *,
        latency_ms: float | None = None,
        batch: bool = False,
        json_output: bool | None = None,
    ) -> ProviderResponse:
        """An embeddings ``list`` body -> :class:`ProviderResponse` (vectors in input order).

        Raises:
            ConnectionFailed: (``kind="malformed_response"``) a field is missing or has the
                wrong type, or the indices do not cover the inputs.
        """
        shape = Shape(self.name)
        body = shape.mapping(body, "the body", required=True)
        data = shape.array(body.get("data"), "data", required=True)
        vectors: list[np.ndarray | None] = [None] * len(data)
        for i, item in enumerate(data):
            entry = shape.mapping(item, f"data[{i}]", required=True)
            index = shape.count(entry.get("index"), f"data[{i}].index")
            values = shape.array(entry.get("embedding"), f"data[{i}].embedding", required=True)
            if index is None or not 0 <= index < len(data) or vectors[index] is not None:
                raise shape.error(f"data[{i}].index {index!r} does not name a new input")
            vectors[index] = np.asarray(values, dtype=np.float32)
        usage = shape.mapping(body.get("usage"), "usage")
        inp = shape.count(usage.get("prompt_tokens"), "usage.prompt_tokens")
        model = shape.text(body.get("model"), "model") or self.model or ""
        cost = cost_of(model, inp, 0, batch=batch)
        return ProviderResponse(
            result={"embeddings": vectors},
            model=model or None,
            input_tokens=inp,
            output_tokens=0,
            latency_ms=latency_ms,
            cost_usd=cost.usd,
            price_source=cost.price_source,
        )


def pack(tokens: Sequence[int], max_inputs: int, max_tokens: int) -> list[range]:
    """Consecutive rows in groups of at most ``max_inputs`` rows and ``max_tokens`` tokens
    (each row fits alone: longer rows are refused before)."""
    groups: list[range] = []
    start, total = 0, 0
    for i, n in enumerate(tokens):
        if i > start and (i - start >= max_inputs or total + n > max_tokens):
            groups.append(range(start, i))
            start, total = i, 0
        total += n
    if len(tokens) > start:
        groups.append(range(start, len(tokens)))
    return groups


def _shares(counts: Sequence[int], reported: int | None) -> list[int]:
    """Each row's tokens, scaled to add up to ``reported`` (largest remainders)."""
    ours = sum(counts)
    if reported is None or reported == ours or ours == 0:
        return list(counts)
    raw = [c * reported / ours for c in counts]
    out = [math.floor(x) for x in raw]
    order = sorted(range(len(raw)), key=lambda i: raw[i] - out[i], reverse=True)
    for i in order[: reported - sum(out)]:
        out[i] += 1
    return out


def _check_dimensions(model: str, dimensions: int | None, known: Mapping[str, Any]) -> None:
    if dimensions is None:
        return
    if isinstance(dimensions, bool) or not isinstance(dimensions, int) or dimensions < 1:
        raise InputError(f"dimensions must be an integer >= 1, got {dimensions!r}")
    spec = known.get(model)
    if spec is None:
        return  # a compatible server's own model: its rules
    if not spec.takes_dimensions:
        raise InputError(f"model {model!r} does not take dimensions= (only text-embedding-3 do)")
    if dimensions > spec.dimensions:
        raise InputError(
            f"dimensions={dimensions} is more than {model!r} gives ({spec.dimensions})"
        )


def _in_thread(coro: Any) -> Any:
    """Run ``coro`` on a private loop in a worker thread (works inside Jupyter's loop)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def embed(
    df: pd.DataFrame,
    text: str,
    model: str = DEFAULT_EMBEDDING_MODEL,
    *,
    dimensions: int | None = None,
    provider: Any = None,
    columns: Sequence[str] | None = None,
    custom_id: str | None = None,
    batch_size: int | None = None,
    max_concurrent: int = 8,
    rpm: int | None = None,
    tpm: int | None = None,
    seed: int = 0,
    **provider_kwargs: Any,
) -> pd.DataFrame:
    """Embed each row's text; returns the DataFrame with :data:`EMBEDDING_COLUMNS` added.

    Args:
        df: one row per text.
        text: a column name or a template over columns (``"{title}: {body}"``).
        model: an OpenAI embedding model, a compatible server's model (with ``base_url=``),
            or ``"sim/<model>"`` offline.
        dimensions: shorter vectors (``text-embedding-3`` models).
        provider: an :class:`OpenAIEmbeddingProvider` to send through (else one is made
            from ``provider_kwargs``: ``base_url=``, ``api_key=``, ``max_attempts=``...).
        columns: input columns to keep (default: all).
        custom_id: as for :func:`brainbatch.submit` (only used to check the rows' ids).
        batch_size: most inputs per request (default and at most 2,048).
        max_concurrent, rpm, tpm: requests in flight at once; requests / tokens per minute.
        seed: the offline simulation's seed.

    Raises:
        InputError: a bad row, a row over 8,192 tokens, a bad ``dimensions`` or
            ``batch_size``, before anything is sent (naming the rows).
        ConfigurationError: no API key (the message says how to run offline).
    """
    known, max_inputs, max_input_tokens, max_request_tokens = _limits()
    requests = build_requests(df, PromptSpec(prompt=text, model=model, custom_id=custom_id))
    offline = model.startswith(_SIM_PREFIXES)
    bare = model.split("/", 1)[1] if offline or model.startswith("openai/") else model
    if offline and bare not in known:
        raise InputError(f"model {model!r}: the simulator embeds with {sorted(known)}")
    _check_dimensions(bare, dimensions, known)
    if batch_size is not None and (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, int)
        or not 1 <= batch_size <= max_inputs
    ):
        raise InputError(
            f"batch_size must be an integer from 1 to {max_inputs}, got {batch_size!r}"
        )
    texts = [r.prompt for r in requests]
    counts = estimate_tokens_many(texts, bare)
    too_long = [i for i, n in enumerate(counts) if n > max_input_tokens]
    if too_long:
        shown = ", ".join(repr(df.index[i]) for i in too_long[:5])
        raise InputError(
            f"rows {shown} have more than {max_input_tokens:,} tokens (the most one embedding "
            f"input may have; the longest has {max(counts[i] for i in too_long):,}); split or "
            "shorten those texts first"
        )
    groups = pack(counts, batch_size or max_inputs, max_request_tokens)
    n = len(texts)
    vectors: list[np.ndarray | None] = [None] * n
    status = ["success"] * n
    error: list[str | None] = [None] * n
    tokens: list[int | None] = list(counts)
    cost = np.full(n, np.nan)
    source: list[str | None] = [None] * n
    if offline:
        from .sim.embeddings import embed_text

        for i, t in enumerate(texts):
            vectors[i] = embed_text(t, bare, dimensions, seed)
        for i, c in enumerate(counts):
            priced = cost_of(bare, c, 0)
            cost[i], source[i] = priced.usd, priced.price_source
    else:
        results = _send(
            groups, texts, bare, dimensions, provider, max_concurrent, rpm, tpm, provider_kwargs
        )
        for g, group in enumerate(groups):
            res = results[g]
            if res is None or not res.ok:
                why = "not sent" if res is None else (res.error or "failed")
                for i in group:
                    status[i], error[i], tokens[i] = "error", why, None
                continue
            got = res.result["embeddings"] if isinstance(res.result, dict) else []
            if len(got) != len(group):
                for i in group:
                    status[i], tokens[i] = "error", None
                    error[i] = f"the provider answered {len(got)} vectors for {len(group)} inputs"
                continue
            shares = _shares([counts[i] for i in group], res.input_tokens)
            for k, i in enumerate(group):
                vectors[i] = got[k]
                tokens[i] = shares[k]
                priced = cost_of(res.model or bare, shares[k], 0)
                cost[i], source[i] = priced.usd, priced.price_source
    base = df if columns is None else df[list(columns)]
    data: dict[str, Any] = {
        "embedding": pd.array(vectors, dtype=object),
        "status": pd.array(status, dtype=object),
        "error": pd.array(error, dtype=object),
        "input_tokens": pd.array(tokens, dtype="Int64"),
        "cost_usd": cost,
        "price_source": pd.array(source, dtype=object),
        "model": pd.array([bare] * n, dtype=object),
    }
    clash = [c for c in data if c in base.columns]
    if clash:
        base = base.rename(columns={c: f"input_{c}" for c in clash})
    return base.assign(**data)


def _send(
    groups: list[range],
    texts: list[str],
    model: str,
    dimensions: int | None,
    provider: Any,
    max_concurrent: int,
    rpm: int | None,
    tpm: int | None,
    provider_kwargs: Mapping[str, Any],
) -> list[BatchResult | None]:
    params_base: dict[str, Any] = {} if dimensions is None else {"dimensions": dimensions}
    requests = [
        BatchRequest(
            prompt=texts[g.start],
            model=model,
            custom_id=f"embed-{k}",
            params={**params_base, "input": [texts[i] for i in g]},
        )
        for k, g in enumerate(groups)
    ]
    job = BatchJob(requests)
    owned = provider is None
    if owned:
        try:
            provider = OpenAIEmbeddingProvider(
                model, max_concurrent=max_concurrent, rpm=rpm, tpm=tpm, **provider_kwargs
            )
        except TypeError as exc:
            raise ConfigurationError(f"embeddings provider: {exc}") from None

    async def go() -> None:
        try:
            await ParallelExecutor(max_concurrent=max_concurrent).execute(job, provider)
        finally:
            if owned:
                await provider.aclose()

    _in_thread(go())
    return [job.get_result(r.id) for r in requests]
