"""Embeddings: a DataFrame column (or a template over columns) in, float32 vectors out.

::

    out = bb.embed(df, "text", model="text-embedding-3-small", dimensions=256)
    out["embedding"]            # one float32 numpy array per row
    out.input_tokens.sum(), out.cost_usd.sum()

Rows are checked as :func:`brainbatch.frame.build_requests` checks prompts (missing columns,
NaN, empty text, lone surrogates... a clear :class:`~brainbatch.errors.InputError` naming the
rows) and counted with the model's own tokenizer before anything is sent: a row over OpenAI's
8,192 tokens per input is refused naming it, as is a ``dimensions`` the model cannot give.

An embedding run is a job in the store, like :func:`brainbatch.run`'s (the default store;
``store=False`` for none; ``name=`` names it, else the name is made from the provider, the
mode, the model and every row's text, so the same call finds its job again). Each row is
one request of the job (so a changed row under the same ``name=`` is refused naming it, by
the rule chat jobs use: the request's body hash). In real time, consecutive rows without a
vector are packed into requests within OpenAI's documented limits (at most 2,048 inputs and
300,000 tokens per request; ``batch_size`` lowers the first), sent ``max_concurrent`` at a
time through the shared HTTP pool with the usual retries and ``rpm`` / ``tpm`` limits (a
request reserves its inputs' tokens under ``tpm``); a request is sent only once the rows
before it are on disk, so a kill or a Ctrl-C loses at most the requests in flight, and the
same call again sends only the rows without a vector. Vectors are stored as float32 bytes
(base64 text, 4/3 byte per byte; not JSON numbers), and come back byte for byte.

``cache=True`` (as in :func:`brainbatch.run`) serves each row whose (provider, model,
dimensions, text) was embedded before, in any job of the store, from the store's response
cache: ``cached`` True, ``paid_usd`` 0 (``cost_usd`` keeps what it cost then).

``mode="batch"`` sends the rows through OpenAI's Batch API (:mod:`brainbatch.batchapi`): one
``"url": "/v1/embeddings"`` line per row, one model per file, at most 50,000 lines and 200
MB per file (OpenAI's API document; it also caps an embeddings batch at 50,000 inputs
across its lines, which one input per line keeps), priced at the batch price (half the
real-time price when the price list has none). A crash after a batch was submitted
re-attaches to it instead of paying for it again.

Tokens and cost per row: the provider reports usage per request; each row gets its own exact
count, scaled so that a request's rows add up to what the provider reported, and is priced
per input token (OpenAI's embedding prices: :data:`brainbatch.pricing.EMBEDDING_PRICES`).
A request that fails marks its rows ``error`` with the reason; the others still come back.

``model="sim/text-embedding-3-small"`` embeds offline, in process, with the simulated
server's vectors (:func:`brainbatch.sim.embeddings.embed_text`); any other model goes to
``/v1/embeddings`` of ``base_url`` (OpenAI by default, or any compatible server).
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import hashlib
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from .errors import ConfigurationError, InputError, StopJob
from .executors import ParallelExecutor, ProcessFn, _wait_with_grace, error_result, make_result
from .frame import PromptSpec, build_requests
from .models import BatchJob, BatchRequest, BatchResult, ProviderResponse
from .pricing import cost_of
from .providers._shape import Shape
from .providers.base import Provider
from .providers.gemini import GeminiProvider
from .providers.openai import OpenAIProvider
from .runner import JobRunner, RunSettings
from .tokens import approx_tokens, estimate_tokens_many

__all__ = [
    "DEFAULT_EMBEDDING_MODEL",
    "EMBEDDING_COLUMNS",
    "GeminiEmbeddingProvider",
    "OpenAIEmbeddingProvider",
    "PackingExecutor",
    "SimEmbeddingProvider",
    "decode_vectors",
    "embed",
    "encode_vectors",
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
    "paid_usd",
    "cached",
)
"""The columns :func:`embed` adds after the input columns, in this order."""

_SIM_PREFIXES = ("sim/", "simulated/")
_PREFIXES = ("openai/", "gemini/")


def _limits(gemini: bool = False) -> tuple[Mapping[str, Any], int, int, int]:
    """Known models, inputs per request, tokens per input and per request (Gemini: 100
    inputs per ``batchEmbedContents``; its token rules are left to it)."""
    from .sim.embeddings import (
        EMBEDDING_MODELS,
        GEMINI_EMBEDDING_MODELS,
        GEMINI_MAX_REQUESTS,
        MAX_INPUTS_PER_REQUEST,
        MAX_TOKENS_PER_INPUT,
        MAX_TOKENS_PER_REQUEST,
    )

    if gemini:
        return GEMINI_EMBEDDING_MODELS, GEMINI_MAX_REQUESTS, 2**62, 2**62
    return EMBEDDING_MODELS, MAX_INPUTS_PER_REQUEST, MAX_TOKENS_PER_INPUT, MAX_TOKENS_PER_REQUEST


def encode_vectors(vectors: Sequence[np.ndarray]) -> str:
    """Vectors as stored: the float32 bytes of all of them, one after the other, as base64."""
    if not vectors:
        return ""
    blob = np.concatenate([np.asarray(v, dtype=np.float32).ravel() for v in vectors])
    return base64.b64encode(blob.tobytes()).decode("ascii")


def decode_vectors(text: str, n: int = 1) -> list[np.ndarray]:
    """``n`` vectors of equal size back from :func:`encode_vectors` (writable float32).

    Raises:
        ValueError: the bytes do not split into ``n`` float32 vectors.
    """
    raw = base64.b64decode(text.encode("ascii"), validate=True)
    if n < 1 or len(raw) % (4 * n):
        raise ValueError(f"{len(raw)} bytes are not {n} float32 vectors of one size")
    flat = np.frombuffer(bytearray(raw), dtype=np.float32)
    return list(flat.reshape(n, -1)) if n > 1 else [flat]


def _inputs(request: BatchRequest) -> list[str]:
    """A request's texts: a packed request's ``params["input"]``, else its one prompt."""
    packed = (request.params or {}).get("input")
    return [request.prompt] if packed is None else list(packed)


class OpenAIEmbeddingProvider(OpenAIProvider):
    """Sends requests to ``{base_url}/embeddings``: a row's ``prompt`` is its text; a packed
    request's ``params["input"]`` holds its texts (``params["dimensions"]`` the size, when
    set). The answer's ``result`` is :func:`encode_vectors` of the vectors in input order.
    In a native batch (``mode="batch"``) its lines go to ``/v1/embeddings``."""

    path: ClassVar[str] = "/embeddings"
    batch_endpoint: ClassVar[str] = "/v1/embeddings"

    def cache_namespace(self) -> str:
        """Embeddings of this server: never mistaken for its chat answers."""
        return f"openai-embeddings|{self.base_url}"

    def build_body(self, request: BatchRequest) -> dict[str, Any]:
        params = request.params or {}
        packed = params.get("input")
        body: dict[str, Any] = {
            "model": request.model,
            "input": request.prompt if packed is None else list(packed),
            "encoding_format": "float",
        }
        if params.get("dimensions") is not None:
            body["dimensions"] = params["dimensions"]
        return body

    def max_output_tokens(self, body: Mapping[str, Any]) -> int:
        """Under ``tpm`` an embedding request reserves its inputs' tokens (it has no output)."""
        value = body.get("input", ())
        return sum(approx_tokens(t) for t in ([value] if isinstance(value, str) else value))

    def parse_response(
        self,
        body: dict[str, Any],
        *,
        latency_ms: float | None = None,
        batch: bool = False,
        json_output: bool | None = None,
    ) -> ProviderResponse:
        """An embeddings ``list`` body -> :class:`ProviderResponse` (vectors in input order,
        :func:`encode_vectors`).

        Raises:
            ConnectionFailed: (``kind="malformed_response"``) a field is missing or has the
                wrong type, the indices do not cover the inputs, or the vectors differ in size.
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
        if len({v.shape for v in vectors if v is not None}) > 1:
            raise shape.error("the vectors are not all of one size")
        usage = shape.mapping(body.get("usage"), "usage")
        inp = shape.count(usage.get("prompt_tokens"), "usage.prompt_tokens")
        model = shape.text(body.get("model"), "model") or self.model or ""
        cost = cost_of(model, inp, 0, batch=batch)
        return ProviderResponse(
            result=encode_vectors([v for v in vectors if v is not None]),
            model=model or None,
            input_tokens=inp,
            output_tokens=0,
            latency_ms=latency_ms,
            cost_usd=cost.usd,
            price_source=cost.price_source,
        )


class SimEmbeddingProvider(Provider):
    """Embeds offline, in process, with the simulated server's vectors (``model="sim/..."``);
    answers as :class:`OpenAIEmbeddingProvider` does, priced as the real model."""

    name: ClassVar[str] = "sim-embeddings"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def __repr__(self) -> str:
        return f"SimEmbeddingProvider(seed={self.seed})"

    def cache_namespace(self) -> str:
        return f"sim-embeddings|seed={self.seed}"

    async def __call__(self, request: BatchRequest) -> ProviderResponse:
        from .sim.embeddings import embed_text

        params = request.params or {}
        texts = _inputs(request)
        dims = params.get("dimensions")
        vectors = [embed_text(t, request.model, dims, self.seed) for t in texts]
        tokens = sum(estimate_tokens_many(texts, request.model))
        cost = cost_of(request.model, tokens, 0)
        return ProviderResponse(
            result=encode_vectors(vectors),
            model=request.model,
            input_tokens=tokens,
            output_tokens=0,
            latency_ms=0.0,
            cost_usd=cost.usd,
            price_source=cost.price_source,
        )


class GeminiEmbeddingProvider(GeminiProvider):
    """Sends requests to ``{base_url}/v1beta/models/{model}:batchEmbedContents`` (Gemini's
    embeddings, e.g. ``gemini-embedding-001``): one ``EmbedContentRequest`` per text, with
    ``outputDimensionality`` from ``params["dimensions"]``. The answer's ``result`` is
    :func:`encode_vectors` of the vectors in input order; its tokens are the answer's
    ``usageMetadata.promptTokenCount`` when it has one, else None (the rows then keep their
    own counts)."""

    def cache_namespace(self) -> str:
        return f"gemini-embeddings|{self.base_url}"

    def request_path(self, request: BatchRequest) -> str:
        return self.model_path(request.model, "batchEmbedContents")

    def build_body(self, request: BatchRequest) -> dict[str, Any]:
        from .providers.gemini import gemini_model_id

        name = f"models/{gemini_model_id(request.model)}"
        dims = (request.params or {}).get("dimensions")
        extra = {} if dims is None else {"outputDimensionality": dims}
        return {
            "requests": [
                {"model": name, "content": {"parts": [{"text": t}]}, **extra}
                for t in _inputs(request)
            ]
        }

    def max_output_tokens(self, body: Mapping[str, Any]) -> int:
        """Under ``tpm`` a request reserves its inputs' tokens (it has no output)."""
        return sum(
            approx_tokens(str(p.get("text", "")))
            for r in body.get("requests", ())
            for p in r.get("content", {}).get("parts", ())
        )

    def parse_response(
        self,
        body: dict[str, Any],
        *,
        latency_ms: float | None = None,
        batch: bool = False,
        json_output: bool | None = None,
    ) -> ProviderResponse:
        """A ``BatchEmbedContentsResponse`` -> :class:`ProviderResponse`.

        Raises:
            ConnectionFailed: (``kind="malformed_response"``) a field is missing or has the
                wrong type, or the vectors differ in size.
        """
        shape = Shape(self.name)
        body = shape.mapping(body, "the body", required=True)
        items = shape.array(body.get("embeddings"), "embeddings", required=True)
        vectors = []
        for i, item in enumerate(items):
            entry = shape.mapping(item, f"embeddings[{i}]", required=True)
            values = shape.array(entry.get("values"), f"embeddings[{i}].values", required=True)
            vectors.append(np.asarray(values, dtype=np.float32))
        if len({v.shape for v in vectors}) > 1:
            raise shape.error("the vectors are not all of one size")
        usage = shape.mapping(body.get("usageMetadata"), "usageMetadata")
        inp = shape.count(usage.get("promptTokenCount"), "usageMetadata.promptTokenCount")
        model = self.model or ""
        cost = cost_of(model, inp or 0, 0, batch=batch)
        return ProviderResponse(
            result=encode_vectors(vectors),
            model=model or None,
            input_tokens=inp,
            output_tokens=0,
            latency_ms=latency_ms,
            cost_usd=cost.usd if inp is not None else None,
            price_source=cost.price_source,
        )


class PackingExecutor(ParallelExecutor):
    """Runs a job of one-row embedding requests in packs: consecutive pending rows go in one
    request of at most ``max_inputs`` inputs and ``max_tokens`` tokens (:func:`pack`, with
    ``tokens(row)`` its count), ``max_concurrent`` packs in flight. ``process_fn`` gets the
    packed request (``params["input"]``) and answers with :func:`encode_vectors` of its
    vectors; each row gets its own result (its vector, its share of the reported tokens,
    its cost). A pack that fails gives each of its rows the error.
    """

    def __init__(
        self,
        max_concurrent: int,
        max_inputs: int,
        max_tokens: int,
        tokens: Callable[[BatchRequest], int],
    ) -> None:
        super().__init__(max_concurrent=max_concurrent)
        self.max_inputs = max_inputs
        self.max_tokens = max_tokens
        self.tokens = tokens

    def __repr__(self) -> str:
        return (
            f"PackingExecutor(max_concurrent={self.max_concurrent}, "
            f"max_inputs={self.max_inputs}, max_tokens={self.max_tokens})"
        )

    async def _run(self, job: BatchJob, fn: ProcessFn) -> None:
        pending = list(job.iter_pending())
        counts = [self.tokens(r) for r in pending]
        groups = iter(pack(counts, self.max_inputs, self.max_tokens))

        async def worker() -> None:
            for group in groups:
                if self._should_stop(job) or (job.paused and not await self._until_unpaused(job)):
                    return
                await self._send(job, [pending[i] for i in group], [counts[i] for i in group], fn)

        workers = [asyncio.ensure_future(worker()) for _ in range(self.max_concurrent)]
        await _wait_with_grace(workers, job, self.cancel_grace)

    async def _send(
        self, job: BatchJob, rows: list[BatchRequest], counts: list[int], fn: ProcessFn
    ) -> None:
        first = rows[0]
        packed = BatchRequest(
            prompt=first.prompt,
            model=first.model,
            custom_id=first.custom_id,
            params={**(first.params or {}), "input": [r.prompt for r in rows]},
        )
        t0 = time.perf_counter()
        results: list[BatchResult]
        try:
            out = await fn(packed)
            if not isinstance(out, ProviderResponse) or not isinstance(out.result, str):
                raise TypeError(f"the provider answered {type(out).__name__}, not vectors")
            try:
                vectors = decode_vectors(out.result, len(rows))
            except ValueError:
                raise ValueError(f"the provider's answer is not {len(rows)} vectors") from None
        except StopJob as exc:
            if self._stop is None:
                self._stop = exc
            if not exc.request_sent:
                return
            ms = (time.perf_counter() - t0) * 1000.0
            results = [error_result(r, exc, ms) for r in rows]
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            ms = (time.perf_counter() - t0) * 1000.0
            results = [error_result(r, exc, ms) for r in rows]
        else:
            ms = out.latency_ms if out.latency_ms is not None else (time.perf_counter() - t0) * 1e3
            model = out.model or first.model
            results = []
            for row, vector, n in zip(
                rows, vectors, _shares(counts, out.input_tokens), strict=True
            ):
                priced = cost_of(model, n, 0)
                results.append(
                    BatchResult(
                        request_id=row.id,
                        custom_id=row.custom_id,
                        status="success",
                        result=encode_vectors([vector]),
                        processing_time_ms=ms,
                        metadata=row.metadata,
                        input_tokens=n,
                        output_tokens=0,
                        cost_usd=priced.usd,
                        attempts=out.attempts,
                        model=model,
                        provider_request_id=out.provider_request_id,
                        price_source=priced.price_source,
                    )
                )
        added = [job.add_result(r) for r in results]
        if any(added):
            await self._notify(job)


class _EmbedRunner(JobRunner):
    """:class:`~brainbatch.runner.JobRunner` for embedding jobs: real time packs rows
    (:class:`PackingExecutor`); the response cache answers rows, not packs."""

    def __init__(
        self,
        job: BatchJob,
        settings: RunSettings,
        store: Any,
        lease: Any,
        *,
        packing: Callable[[int], PackingExecutor],
    ) -> None:
        super().__init__(job, settings, store, lease, release_lease=True)
        self.packing = packing

    async def wrap(self, provider: ProcessFn) -> ProcessFn | None:
        return None if self.settings.mode == "batch" else provider

    def make_executor(self, provider: Any) -> Any:
        if self.settings.mode == "batch":
            return super().make_executor(provider)
        return self.packing(self.settings.max_concurrent)

    async def execute_journaled(self, executor: Any, fn: ProcessFn | None) -> None:
        if self.store is None:
            await executor.execute(self.job, fn)
            return
        from .store import ResponseCache, cache_namespace

        job = self.job
        cache = ResponseCache(self.store, enabled=True) if self.settings.cache is True else None
        namespace = cache_namespace(self.provider)
        had = {r.request_id for r in job.results}
        journal = self.store.journal(job)
        try:
            if cache is not None:
                pending = list(job.iter_pending())
                await asyncio.to_thread(cache.prefetch, pending, namespace)
                for row in pending:
                    hit = cache.lookup(row, namespace)
                    if hit is not None:
                        job.add_result(make_result(row, hit, 0.0))
            await executor.execute(job, None if fn is None else journal.wrap(fn))
        finally:
            if cache is not None:  # this run's vectors, for later runs (any job)
                for res in job.results:
                    if res.ok and not res.cached and res.request_id not in had:
                        done = job.get_request(res.request_id)
                        if done is not None and isinstance(res.result, str):
                            cache.put(done, namespace, _response_of(res))
            await asyncio.to_thread(journal.close)


def _response_of(result: BatchResult) -> ProviderResponse:
    return ProviderResponse(
        result=result.result if isinstance(result.result, str) else "",
        model=result.model,
        input_tokens=result.input_tokens,
        output_tokens=0,
        provider_request_id=result.provider_request_id,
        cost_usd=result.cost_usd,
        price_source=result.price_source,
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


def _in_thread(coro: Any, job: BatchJob | None = None) -> Any:
    """Run ``coro`` on a private loop in a worker thread (works inside Jupyter's loop).

    A Ctrl-C (KeyboardInterrupt) while waiting cancels ``job``: requests in flight finish
    (their rows are kept) or are abandoned after the executor's grace, then it is raised.
    """
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    future = pool.submit(asyncio.run, coro)
    try:
        return _wait(future)
    except KeyboardInterrupt:
        if job is not None:
            job.request_cancel()
            _wait(future)
        raise
    finally:
        pool.shutdown(wait=False)


def _wait(future: concurrent.futures.Future[Any]) -> Any:
    """``future.result()``, waking every 0.1 s: a SIGINT that another thread received (its
    Python handler only runs on the main thread) is raised here within 0.1 s, not when the
    run ends."""
    while True:
        try:
            return future.result(timeout=0.1)
        except concurrent.futures.TimeoutError:
            continue


def _job_name(namespace: str, mode: str, requests: Sequence[BatchRequest]) -> str:
    """The name of an embedding job no ``name=`` names: the same call, the same name."""
    from .store import body_hash

    digest = hashlib.sha256(f"{namespace}\0{mode}\0".encode())
    for r in requests:
        digest.update(f"{r.custom_id}\0{body_hash(r)}\n".encode())
    model = requests[0].model if requests else ""
    return f"embed-{model}-{digest.hexdigest()[:16]}"


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
    mode: str = "realtime",
    store: Any = None,
    name: str | None = None,
    cache: bool | None = None,
    poll_interval: float | None = None,
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
        custom_id: a column of unique row ids (stored with the rows; the batch lines' ids).
        batch_size: most inputs per real-time request (default and at most 2,048).
        max_concurrent, rpm, tpm: requests in flight at once; requests / tokens per minute.
        seed: the offline simulation's seed.
        mode: ``"realtime"`` or ``"batch"`` (OpenAI's Batch API, half price, within 24 h).
        store: the job store (None: the default one, as for :func:`brainbatch.run`; False:
            none, nothing journaled or cached; a path or a ``JobStore``).
        name: the job's name in the store (default: made from the provider, the mode and
            the rows, so the same call continues its job).
        cache: True serves rows embedded before (same provider, model, dimensions, text)
            from the store's response cache.
        poll_interval: mode="batch": seconds between the first status checks.

    Raises:
        InputError: a bad row, a row over 8,192 tokens, a bad ``dimensions``,
            ``batch_size`` or ``mode``, ``cache=True`` without a store, before anything is
            sent (naming the rows).
        ConfigurationError: no API key (the message says how to run offline).
        StoreError: ``name`` names a stored job with other rows (naming the first one).
    """
    if mode not in ("realtime", "batch"):
        raise InputError(f"mode must be 'realtime' or 'batch', got {mode!r}")
    offline = model.startswith(_SIM_PREFIXES)
    bare = model.split("/", 1)[1] if offline or model.startswith(_PREFIXES) else model
    gemini = not offline and (model.startswith("gemini/") or bare.startswith("gemini-"))
    known, max_inputs, max_input_tokens, max_request_tokens = _limits(gemini)
    if gemini and mode == "batch":
        raise InputError(
            f"model {model!r}: mode='batch' is OpenAI's Batch API; Gemini embeddings run "
            "in real time here"
        )
    if offline and bare not in known:
        raise InputError(f"model {model!r}: the simulator embeds with {sorted(known)}")
    if offline and mode == "batch":
        raise InputError(
            f"model {model!r} embeds in process; mode='batch' needs a Batch API "
            "(base_url= of an OpenAI-compatible server, e.g. brainbatch.sim.SimServer)"
        )
    if cache is True and store is False:
        raise InputError("cache=True needs a store (store=None uses the default store)")
    _check_dimensions(bare, dimensions, known)
    if batch_size is not None and (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, int)
        or not 1 <= batch_size <= max_inputs
    ):
        raise InputError(
            f"batch_size must be an integer from 1 to {max_inputs}, got {batch_size!r}"
        )
    params = None if dimensions is None else {"dimensions": dimensions}
    requests = build_requests(
        df, PromptSpec(prompt=text, model=bare, params=params, custom_id=custom_id)
    )
    counts = estimate_tokens_many([r.prompt for r in requests], bare)
    too_long = [i for i, n in enumerate(counts) if n > max_input_tokens]
    if too_long:
        shown = ", ".join(repr(df.index[i]) for i in too_long[:5])
        raise InputError(
            f"rows {shown} have more than {max_input_tokens:,} tokens (the most one embedding "
            f"input may have; the longest has {max(counts[i] for i in too_long):,}); split or "
            "shorten those texts first"
        )
    owned = provider is None
    if offline:
        provider = SimEmbeddingProvider(seed)
    elif owned:
        cls = GeminiEmbeddingProvider if gemini else OpenAIEmbeddingProvider
        try:
            provider = cls(bare, max_concurrent=max_concurrent, rpm=rpm, tpm=tpm, **provider_kwargs)
        except TypeError as exc:
            raise ConfigurationError(f"embeddings provider: {exc}") from None
    try:
        job, runner = _session(
            requests,
            counts,
            provider,
            mode=mode,
            store=store,
            name=name,
            cache=cache,
            max_concurrent=max_concurrent,
            poll_interval=poll_interval,
            max_inputs=batch_size or max_inputs,
            max_tokens=max_request_tokens,
        )
    except BaseException:
        if owned:
            _in_thread(provider.aclose())
        raise

    async def go() -> None:
        try:
            await runner.run()
        finally:
            if owned:
                await provider.aclose()

    _in_thread(go(), job)
    return _frame(df, columns, job, bare)


def _session(
    requests: list[BatchRequest],
    counts: list[int],
    provider: Any,
    *,
    mode: str,
    store: Any,
    name: str | None,
    cache: bool | None,
    max_concurrent: int,
    poll_interval: float | None,
    max_inputs: int,
    max_tokens: int,
) -> tuple[BatchJob, _EmbedRunner]:
    """The job (new, or the stored one to continue) and the runner that will run it."""
    from .session import new_session
    from .store import cache_namespace

    settings = RunSettings(
        model=requests[0].model if requests else DEFAULT_EMBEDDING_MODEL,
        provider=provider,
        mode=mode,  # type: ignore[arg-type]
        max_concurrent=max_concurrent,
        cache=cache,
        poll_interval=poll_interval,
    )
    job_name = None
    if store is not False:
        job_name = name or _job_name(cache_namespace(provider), mode, requests)
    session = new_session(requests, settings, store=store, job_name=job_name)
    job = session.job
    positions = job.request_positions()

    def packing(concurrent: int) -> PackingExecutor:
        return PackingExecutor(
            concurrent, max_inputs, max_tokens, lambda r: counts[positions[r.id]]
        )

    runner = _EmbedRunner(job, settings, session.store, session.runner.lease, packing=packing)
    return job, runner


def _frame(
    df: pd.DataFrame, columns: Sequence[str] | None, job: BatchJob, model: str
) -> pd.DataFrame:
    """The input rows with :data:`EMBEDDING_COLUMNS`, in the job's row order."""
    n = job.total
    vectors: list[np.ndarray | None] = [None] * n
    status: list[str] = ["error"] * n
    error: list[str | None] = [None] * n
    tokens: list[int | None] = [None] * n
    cost = np.full(n, np.nan)
    paid = np.full(n, np.nan)
    source: list[str | None] = [None] * n
    cached = np.zeros(n, dtype=bool)
    not_sent = f"not sent ({job.error})" if job.error else "not sent"
    for i, row in enumerate(job.requests):
        res = job.get_result(row.id)
        if res is None:
            error[i] = not_sent
            continue
        if not res.ok or not isinstance(res.result, str):
            error[i] = res.error or "failed"
            continue
        status[i] = "success"
        vectors[i] = decode_vectors(res.result)[0]
        tokens[i] = res.input_tokens
        cost[i] = math.nan if res.cost_usd is None else res.cost_usd
        paid[i] = math.nan if res.paid_usd is None else res.paid_usd
        source[i] = res.price_source
        cached[i] = res.cached
    base = df if columns is None else df[list(columns)]
    data: dict[str, Any] = {
        "embedding": pd.array(vectors, dtype=object),
        "status": pd.array(status, dtype=object),
        "error": pd.array(error, dtype=object),
        "input_tokens": pd.array(tokens, dtype="Int64"),
        "cost_usd": cost,
        "price_source": pd.array(source, dtype=object),
        "model": pd.array([model] * n, dtype=object),
        "paid_usd": paid,
        "cached": cached,
    }
    clash = [c for c in data if c in base.columns]
    if clash:
        base = base.rename(columns={c: f"input_{c}" for c in clash})
    return base.assign(**data)
