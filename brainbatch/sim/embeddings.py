"""``POST /v1/embeddings`` of the simulated server, and the vectors it answers with.

Vectors are deterministic functions of (seed, model, text): each word of the text (lower
case, letters and digits) has its own pseudo-random direction, a text's vector is the sum
of its words' directions, normalised to length 1. So texts that share words are close
(cosine similarity), texts that share none are nearly orthogonal, and a similarity search
over simulated embeddings finds the texts with the most words in common. ``dimensions``
shortens a vector the way OpenAI's ``text-embedding-3`` models do: the first ``dimensions``
values, normalised again.

The route checks what OpenAI's API checks (its API document and reference): the body's keys,
a known embedding model, ``input`` a non-empty string or 1 to 2,048 of them (or token
arrays), at most 8,192 tokens per input and 300,000 per request, ``dimensions`` from 1 to
the model's size and only on models that take it, ``encoding_format`` ``float`` or
``base64``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import orjson
from aiohttp import web

from ..tokens import estimate_tokens
from .common import SIM_STATE, check_auth
from .state import body_hash
from .wire import WireError, openai_error

__all__ = [
    "EMBEDDING_MODELS",
    "GEMINI_EMBEDDING_MODELS",
    "GEMINI_MAX_REQUESTS",
    "MAX_INPUTS_PER_REQUEST",
    "MAX_TOKENS_PER_INPUT",
    "MAX_TOKENS_PER_REQUEST",
    "EmbeddingModel",
    "count_inputs",
    "embed_text",
    "embedding_answer",
    "embeddings",
    "gemini_batch_embed",
]


@dataclass(frozen=True, slots=True)
class EmbeddingModel:
    """An OpenAI embedding model: its native size and whether ``dimensions`` shortens it."""

    dimensions: int
    takes_dimensions: bool


EMBEDDING_MODELS: Mapping[str, EmbeddingModel] = {
    "text-embedding-3-small": EmbeddingModel(1536, True),
    "text-embedding-3-large": EmbeddingModel(3072, True),
    "text-embedding-ada-002": EmbeddingModel(1536, False),
}
"""OpenAI's embedding models (embeddings guide): native size, ``dimensions`` support."""

GEMINI_EMBEDDING_MODELS: Mapping[str, EmbeddingModel] = {
    "gemini-embedding-001": EmbeddingModel(3072, True),
}
"""Gemini's embedding model (``models/{model}:batchEmbedContents``; ``outputDimensionality``
shortens its 3,072 values)."""

GEMINI_MAX_REQUESTS = 100
"""Requests one ``batchEmbedContents`` call may carry (Google answers 400 "at most 100
requests can be in one batch" over it)."""

MAX_INPUTS_PER_REQUEST = 2048
"""Inputs one ``/v1/embeddings`` request may carry (OpenAI API document: ``maxItems``)."""

MAX_TOKENS_PER_INPUT = 8192
"""Tokens one input may have (OpenAI API document: "8192 tokens for all embedding models")."""

MAX_TOKENS_PER_REQUEST = 300_000
"""Tokens all inputs of one request may have together (OpenAI API document)."""

_WORD = re.compile(r"[^\W_]+")
_KEYS = frozenset({"input", "model", "encoding_format", "dimensions", "user"})


@lru_cache(maxsize=65_536)
def _direction(seed: int, model: str, word: str) -> np.ndarray:
    digest = hashlib.blake2b(f"{seed}\0{model}\0{word}".encode(), digest_size=8).digest()
    rng = np.random.default_rng(int.from_bytes(digest, "big"))
    spec = EMBEDDING_MODELS.get(model) or GEMINI_EMBEDDING_MODELS.get(model)
    size = spec.dimensions if spec is not None else 1536
    out = rng.standard_normal(size).astype(np.float32)
    out.setflags(write=False)
    return out


def embed_text(text: str, model: str, dimensions: int | None = None, seed: int = 0) -> np.ndarray:
    """The simulated embedding of ``text`` (float32, length 1; see the module docs)."""
    words = _WORD.findall(text.lower()) or [text]
    vec = np.zeros_like(_direction(seed, model, words[0]))
    for word in words:
        vec += _direction(seed, model, word)
    if dimensions is not None:
        vec = vec[:dimensions]
    norm = float(np.linalg.norm(vec))
    return vec / norm if norm else vec


def _error(status: int, message: str, param: str | None, code: str | None) -> web.Response:
    return web.Response(
        status=status,
        body=openai_error(status, message, param, code),
        content_type="application/json",
    )


def _texts(value: Any) -> list[str] | str:
    """The inputs as strings, or an error message."""
    items = value if isinstance(value, list) else [value]
    if isinstance(value, list) and not 1 <= len(value) <= MAX_INPUTS_PER_REQUEST:
        return f"'input' must hold 1 to {MAX_INPUTS_PER_REQUEST} items, got {len(value)}."
    if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
        return [" ".join(map(str, value))]  # one token array
    out: list[str] = []
    for item in items:
        if isinstance(item, str):
            if not item:
                return "'$.input' is invalid: an input cannot be an empty string."
            out.append(item)
        elif isinstance(item, list) and item and all(isinstance(v, int) for v in item):
            out.append(" ".join(map(str, item)))
        else:
            return "'$.input' is invalid: expected a string, strings or token arrays."
    return out


def embedding_answer(body: Any, seed: int) -> dict[str, Any]:
    """The answer to one ``/v1/embeddings`` body (a ``list`` object, vectors as numpy
    arrays or base64 text), checked as OpenAI checks it; the real-time route and the
    simulated Batch API (lines with ``"url": "/v1/embeddings"``) both answer with it.

    Raises:
        WireError: what OpenAI refuses (status, message, parameter and code).
    """
    return _answer(body, seed)[0]


def _answer(body: Any, seed: int) -> tuple[dict[str, Any], list[str]]:
    if not isinstance(body, dict):
        raise WireError(400, "The request body must be a JSON object.", None, "invalid_json")
    extra = sorted(set(body) - _KEYS)
    if extra:
        raise WireError(400, f"Unrecognized request argument supplied: {extra[0]}", extra[0])
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise WireError(400, "you must provide a model parameter", "model")
    spec = EMBEDDING_MODELS.get(model)
    if spec is None:
        raise WireError(
            404,
            f"The model `{model}` does not exist or you do not have access to it.",
            "model",
            "model_not_found",
        )
    if "input" not in body:
        raise WireError(400, "'input' is a required property", "input")
    texts = _texts(body["input"])
    if isinstance(texts, str):
        raise WireError(400, texts, "input", "invalid_value")
    dims = body.get("dimensions")
    if dims is not None:
        if isinstance(dims, bool) or not isinstance(dims, int) or dims < 1:
            raise WireError(400, "'dimensions' must be an integer >= 1.", "dimensions")
        if not spec.takes_dimensions:
            raise WireError(400, "This model does not support specifying dimensions.", "dimensions")
        if dims > spec.dimensions:
            raise WireError(
                400,
                f"This model's maximum dimensions is {spec.dimensions}; {dims} were asked for.",
                "dimensions",
            )
    fmt = body.get("encoding_format", "float")
    if fmt not in ("float", "base64"):
        raise WireError(400, "'encoding_format' must be 'float' or 'base64'.", "encoding_format")
    counts = [estimate_tokens(text, model) for text in texts]
    for i, n in enumerate(counts):
        if n > MAX_TOKENS_PER_INPUT:
            raise WireError(
                400,
                f"This model's maximum context length is {MAX_TOKENS_PER_INPUT} tokens, however "
                f"input {i} has {n} tokens. Please reduce the length of the input.",
                "input",
            )
    total = sum(counts)
    if total > MAX_TOKENS_PER_REQUEST:
        raise WireError(
            400,
            f"Requested {total} tokens, max {MAX_TOKENS_PER_REQUEST} tokens per request.",
            "input",
            "max_tokens_per_request",
        )
    data = []
    for i, text in enumerate(texts):
        vec = embed_text(text, model, dims, seed)
        value: Any = base64.b64encode(vec.tobytes()).decode() if fmt == "base64" else vec
        data.append({"object": "embedding", "index": i, "embedding": value})
    out = {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": total, "total_tokens": total},
    }
    return out, texts


def count_inputs(body: Any) -> int:
    """How many embedding inputs a body carries (a string or one token array: 1)."""
    value = body.get("input") if isinstance(body, dict) else None
    if isinstance(value, list) and value and not all(isinstance(v, int) for v in value):
        return len(value)
    return 1


async def embeddings(request: web.Request) -> web.Response:
    """``POST /v1/embeddings``: embeddings in OpenAI's shape."""
    t = time.monotonic()
    state = request.app[SIM_STATE]
    cfg = state.config
    raw = await request.read()
    h = body_hash(raw)

    def refuse(
        status: int, message: str, param: str | None = None, code: str | None = None
    ) -> web.Response:
        state.record(t, request.path, status, h, None, None, "invalid" if status == 400 else None)
        return _error(status, message, param, code)

    if not check_auth(request, cfg, anthropic=False):
        return refuse(401, "Incorrect API key provided.", None, "invalid_api_key")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return refuse(400, "We could not parse the JSON body of your request.", code="invalid_json")
    try:
        out, texts = _answer(body, cfg.seed)
    except WireError as e:
        return refuse(e.status, e.message, e.param, e.code)
    state.record(t, request.path, 200, h, texts[0][:200], None, None)
    delay = state.draw_latency_s()
    if delay:
        await asyncio.sleep(delay)
    return web.Response(
        body=orjson.dumps(out, option=orjson.OPT_SERIALIZE_NUMPY),
        content_type="application/json",
        headers={"x-request-id": state.new_id("req_")},
    )


_GEMINI_KEYS = frozenset(
    {"model", "content", "taskType", "title", "outputDimensionality", "embedContentConfig"}
)


def _gemini_text(i: int, item: Any, model: str) -> tuple[str, int | None]:
    """One ``EmbedContentRequest``: its text and ``outputDimensionality``, or a GeminiWireError."""
    from .gemini import GeminiWireError

    where = f"requests[{i}]"
    if not isinstance(item, dict):
        raise GeminiWireError(400, f"Invalid value at '{where}': expected an object.")
    extra = sorted(set(item) - _GEMINI_KEYS)
    if extra:
        raise GeminiWireError(
            400,
            f"Invalid JSON payload received. Unknown name \"{extra[0]}\" at '{where}': "
            "Cannot find field.",
        )
    if item.get("model") != f"models/{model}":
        raise GeminiWireError(
            400,
            f"Model in {where} ({item.get('model')!r}) does not match the model of the "
            f"BatchEmbedContentsRequest (models/{model}).",
        )
    content = item.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    found = [p.get("text") for p in parts or [] if isinstance(p, dict)]
    texts = [t for t in found if isinstance(t, str)]
    if not texts or len(texts) != len(found) or not "".join(texts):
        raise GeminiWireError(400, f"* {where}.content: contents must not be empty")
    config = item.get("embedContentConfig")
    dims = item.get("outputDimensionality")
    if isinstance(config, dict) and config.get("outputDimensionality") is not None:
        dims = config["outputDimensionality"]
    if dims is not None and (isinstance(dims, bool) or not isinstance(dims, int) or dims < 1):
        raise GeminiWireError(
            400, f"* {where}.outputDimensionality: must be a positive integer, got {dims!r}"
        )
    return "".join(texts), dims


async def gemini_batch_embed(request: web.Request) -> web.Response:
    """``POST /v1beta/models/{model}:batchEmbedContents``: Gemini embeddings (the vectors of
    :func:`embed_text`, one per request, in order)."""
    from .gemini import GeminiWireError, check_gemini_auth, gemini_error

    t = time.monotonic()
    state = request.app[SIM_STATE]
    cfg = state.config
    raw = await request.read()
    h = body_hash(raw)
    model = request.match_info["model"]
    headers = {"Content-Type": "application/json"}

    def fail(status: int, body: bytes) -> web.Response:
        state.record(t, request.path, status, h, None, None, "invalid" if status == 400 else None)
        return web.Response(status=status, body=body, headers=headers)

    refused = check_gemini_auth(request, cfg)
    if refused is not None:
        return fail(*refused)
    spec = GEMINI_EMBEDDING_MODELS.get(model)
    if spec is None:
        return fail(
            404,
            gemini_error(
                404,
                f"models/{model} is not found for API version v1beta, or is not supported "
                "for batchEmbedContents.",
            ),
        )
    try:
        body = orjson.loads(raw)
        if not isinstance(body, dict) or set(body) - {"requests"}:
            raise GeminiWireError(400, "Invalid JSON payload received.")
        items = body.get("requests")
        if not isinstance(items, list) or not items:
            raise GeminiWireError(400, "* BatchEmbedContentsRequest.requests: is required")
        if len(items) > GEMINI_MAX_REQUESTS:
            raise GeminiWireError(
                400,
                "* BatchEmbedContentsRequest.requests: at most "
                f"{GEMINI_MAX_REQUESTS} requests can be in one batch",
            )
        parsed = [_gemini_text(i, item, model) for i, item in enumerate(items)]
    except orjson.JSONDecodeError:
        return fail(400, gemini_error(400, "Invalid JSON payload received."))
    except GeminiWireError as e:
        return fail(e.status, gemini_error(e.status, e.message))
    values = [
        {"values": embed_text(text, model, min(dims or spec.dimensions, spec.dimensions), cfg.seed)}
        for text, dims in parsed
    ]
    total = sum(estimate_tokens(text, model) for text, _ in parsed)
    state.record(t, request.path, 200, h, parsed[0][0][:200], None, None)
    delay = state.draw_latency_s()
    if delay:
        await asyncio.sleep(delay)
    out = {"embeddings": values, "usageMetadata": {"promptTokenCount": total}}
    return web.Response(body=orjson.dumps(out, option=orjson.OPT_SERIALIZE_NUMPY), headers=headers)
