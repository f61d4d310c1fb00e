"""The response cache: identical requests answered from the store instead of paid again.

A request's cache key is ``sha256(namespace + "\\0" + body_hash)`` where ``body_hash`` covers
model, system, messages and params (:func:`~brainbatch.store._codec.body_hash`) and the
namespace names the provider and endpoint (:func:`cache_namespace`). Each request has its own
key: changing a parameter of some rows only misses for those rows.

Which requests are cached (``enabled``, the ``cache=`` of ``bb.run`` / ``RunSettings``):

* ``True``: every request; a repeated request is answered from the store.
* ``None`` (the default) and ``False``: none; every request is sent (the cache is bypassed
  entirely, nothing is looked up or stored).

Why off unless asked: an answer from the cache is an old answer, and whether that is what the
user wants depends on the user, not on the request. The earlier default ("cache requests with
``temperature=0``") rested on a parameter that newer models no longer take (OpenAI's reasoning
models accept only the default temperature; Anthropic marks ``temperature`` and ``top_p``
deprecated on its newest models), so it silently stopped applying; and ``temperature=0`` or a
``seed`` does not make an answer repeatable anyway (OpenAI documents ``seed`` as best effort).
Re-running a named job does not need the cache: its stored rows come back and only the rows
without a result are sent.

Only successful answers are stored; errors are always sent again. A hit comes back as a
:class:`~brainbatch.models.ProviderResponse` with ``cached=True`` and the original
``cost_usd`` kept for reference (``BatchResult.paid_usd`` is 0 for it). Identical requests in
flight at the same time are sent once: the others wait for the first answer.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import hashlib
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..models import BatchRequest, ProviderResponse
from . import _codec

if TYPE_CHECKING:
    from ..executors import ProcessFn
    from .jobstore import JobStore

__all__ = ["ResponseCache", "cache_namespace"]

_CHUNK = 500


def cache_namespace(process_fn: Any) -> str:
    """Where answers come from, as a cache namespace: ``"<provider name>|<base_url>"``.

    A provider may define ``cache_namespace`` (a string or a method) to say it itself (the
    simulated provider adds its seed and answer length, which change its answers). The store
    imports no provider: this attribute is all it knows of them.
    """
    own = getattr(process_fn, "cache_namespace", None)
    if callable(own):
        own = own()
    if isinstance(own, str) and own:
        return own
    name = getattr(process_fn, "name", None) or type(process_fn).__qualname__
    return f"{name}|{getattr(process_fn, 'base_url', '') or ''}"


class ResponseCache:
    """Answers repeated requests from a :class:`~brainbatch.store.JobStore`.

    ``hits`` and ``misses`` count lookups of cacheable requests since this object was made.
    """

    def __init__(self, store: JobStore, *, enabled: bool | None = None) -> None:
        self.store = store
        self.enabled = enabled
        self.hits = 0
        self.misses = 0
        self._known: dict[str, ProviderResponse | None] = {}
        self._inflight: dict[str, asyncio.Future[ProviderResponse]] = {}

    def __repr__(self) -> str:
        return f"ResponseCache({str(self.store.path)!r}, hits={self.hits}, misses={self.misses})"

    def cacheable(self, request: BatchRequest) -> bool:
        """Whether this request is looked up and stored: only with ``enabled=True``."""
        return self.enabled is True

    @staticmethod
    def key(request: BatchRequest, namespace: str) -> str:
        """The request's cache key in ``namespace``."""
        return _key(namespace, _codec.body_hash(request))

    def prefetch(self, requests: Iterable[BatchRequest], namespace: str) -> int:
        """Look up every cacheable request at once (a few ``IN (...)`` queries).

        Afterwards lookups of these requests cost no SQL at all. Returns the number of hits.
        """
        keys = [self.key(r, namespace) for r in requests if self.cacheable(r)]
        found = 0
        for i in range(0, len(keys), _CHUNK):
            chunk = keys[i : i + _CHUNK]
            rows = self.store._read(
                f"SELECT key, response FROM cache WHERE key IN ({','.join('?' * len(chunk))})",
                chunk,
            )
            hits = {k: _codec.response_from_json(v) for k, v in rows}
            found += len(hits)
            for k in chunk:
                self._known[k] = hits.get(k)
        return found

    def lookup(self, request: BatchRequest, namespace: str) -> ProviderResponse | None:
        """The cached answer to ``request`` (``cached=True``), or None. One indexed SELECT."""
        return self._lookup(self.key(request, namespace))

    def _lookup(self, key: str) -> ProviderResponse | None:
        if key in self._known:
            hit = self._known[key]
        else:
            rows = self.store._read("SELECT response FROM cache WHERE key=?", (key,))
            hit = _codec.response_from_json(rows[0][0]) if rows else None
        if hit is None:
            return None
        return _copy(hit)

    def put(self, request: BatchRequest, namespace: str, response: ProviderResponse) -> None:
        """Store a successful answer (committed with the next journal group)."""
        bhash = _codec.body_hash(request)
        self._put(_key(namespace, bhash), namespace, bhash, response)

    def _put(self, key: str, namespace: str, bhash: str, response: ProviderResponse) -> None:
        self._known[key] = response
        self.store._queue(("cache", key, namespace, bhash, response))

    def wrap(self, process_fn: ProcessFn, namespace: str | None = None) -> ProcessFn:
        """``process_fn`` answered from the cache when it can.

        ``namespace`` defaults to :func:`cache_namespace` of ``process_fn``.
        """
        ns = namespace or cache_namespace(process_fn)
        if self.enabled is not True:
            return process_fn

        @functools.wraps(process_fn)
        async def cached(request: BatchRequest) -> str | dict[str, Any] | ProviderResponse:
            if not self.cacheable(request):
                return await process_fn(request)
            t0 = time.perf_counter()
            bhash = _codec.body_hash(request)
            key = _key(ns, bhash)
            hit = self._lookup(key)
            if hit is None and key in self._inflight:
                try:
                    first = await asyncio.shield(self._inflight[key])
                    hit = _copy(first)
                except Exception:
                    hit = None  # the first one failed: send this one ourselves
            if hit is not None:
                self.hits += 1
                hit.latency_ms = (time.perf_counter() - t0) * 1000.0
                return hit
            self.misses += 1
            fut: asyncio.Future[ProviderResponse] = asyncio.get_running_loop().create_future()
            self._inflight[key] = fut
            try:
                out = await process_fn(request)
            except BaseException as exc:
                fut.set_exception(exc if isinstance(exc, Exception) else RuntimeError("cancelled"))
                fut.exception()  # mark retrieved: nobody may be waiting
                raise
            finally:
                if self._inflight.get(key) is fut:
                    del self._inflight[key]
            resp = out if isinstance(out, ProviderResponse) else ProviderResponse(result=out)
            if not resp.cached:
                self._put(key, ns, bhash, resp)
            if not fut.done():
                fut.set_result(resp)
            return out

        return cached


def _key(namespace: str, bhash: str) -> str:
    return hashlib.sha256(f"{namespace}\0{bhash}".encode()).hexdigest()


def _copy(response: ProviderResponse) -> ProviderResponse:
    """A cached answer: the stored response, marked cached, with nothing sent or timed."""
    return dataclasses.replace(response, latency_ms=None, attempts=0, cached=True)
