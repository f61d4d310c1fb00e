"""What the OpenAI and Anthropic batch back ends share: the provider they talk through, the
HTTP helper, the per-line outcome, and the protocol each provider batch goes through.

Each provider batch is a typed :class:`~brainbatch.batchapi.records.ProviderBatch` in
``job.metadata["provider_batches"]`` (dicts at rest: ``to_dict`` / ``from_dict``), so a
journal can store it and a later run can re-attach. The executor writes the record as an
intent (state ``"submitting"``, its ``part`` label, its rows) before calling :meth:`submit`,
which fills in what the provider answered (``batch_id``, files, status, counts, times);
:meth:`refresh` and :meth:`cancel` keep it current; :meth:`recover` finds the batch of an
intent whose answer was never seen (the process died mid-submit).
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, NamedTuple, Protocol

import httpx
import orjson

from ..errors import (
    AuthenticationError,
    ConnectionFailed,
    PermanentError,
    ProviderError,
    RateLimitError,
    ServerError,
)
from ..models import BatchRequest, ProviderResponse
from .jsonl import BatchLimits, Chunk
from .records import ProviderBatch

__all__ = ["BatchBackend", "Outcome", "WireProvider", "to_epoch"]


class WireProvider(Protocol):
    """What the batch back ends need from an HTTP provider (``OpenAIProvider``,
    ``AnthropicProvider`` or a compatible one)."""

    @property
    def name(self) -> str: ...

    @property
    def base_url(self) -> str: ...

    @property
    def client(self) -> httpx.AsyncClient: ...

    def auth_headers(self) -> dict[str, str]: ...

    def build_body(self, request: BatchRequest) -> dict[str, Any]: ...

    def parse_response(
        self,
        body: dict[str, Any],
        *,
        latency_ms: float | None = None,
        batch: bool = False,
        json_output: bool | None = None,
    ) -> ProviderResponse: ...


class Outcome(NamedTuple):
    """One result line, provider-neutral.

    ``kind`` is ``"success"`` (``body`` is the completion/message), ``"error"`` (the request
    ran and failed: ``error`` is the provider's text verbatim, ``error_type`` its code),
    ``"expired"`` (the window closed first) or ``"not_run"`` (cancelled before it ran: the
    request stays pending, nothing was paid).
    """

    custom_id: str
    kind: str
    body: dict[str, Any] | None = None
    error: str | None = None
    error_type: str | None = None


def to_epoch(value: Any) -> float | None:
    """Unix seconds from an epoch number or an RFC 3339 string (None stays None)."""
    if value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        return datetime.fromisoformat(value).timestamp()
    return None


def _error_text(resp: httpx.Response) -> str:
    try:
        body = orjson.loads(resp.content)
    except orjson.JSONDecodeError:
        return resp.text[:500] or resp.reason_phrase
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict):
        msg = err.get("message")
        kind = err.get("type") or err.get("code")
        if msg:
            return f"{kind}: {msg}" if kind else str(msg)
    return resp.text[:500]


class BatchBackend(ABC):
    """One provider's batch protocol. Subclasses fill in the wire details."""

    name: str = "provider"
    default_limits: BatchLimits
    retries: int = 3
    retry_backoff_s: float = 0.5

    def __init__(self, provider: WireProvider, limits: BatchLimits | None = None) -> None:
        self.provider = provider
        self.limits = limits or self.default_limits

    # -- wire details ---------------------------------------------------------------------

    @abstractmethod
    def encode(self, custom_id: str, request: BatchRequest) -> bytes:
        """One request as it goes into the batch (JSONL line or inline request object)."""

    @abstractmethod
    async def submit(
        self, record: ProviderBatch, chunk: Chunk, *, job_id: str, completion_window: str
    ) -> None:
        """Create the provider batch for ``chunk`` and fill in ``record`` (the journaled
        intent, whose ``part`` labels the batch) from the provider's answer."""

    @abstractmethod
    async def refresh(self, record: ProviderBatch) -> None:
        """Fetch the batch and update ``record`` (status, state, counts, file ids...)."""

    @abstractmethod
    async def cancel(self, record: ProviderBatch) -> None:
        """Ask the provider to cancel the batch."""

    @abstractmethod
    def outcomes(self, record: ProviderBatch) -> AsyncIterator[Outcome]:
        """Every result line of an ended batch."""

    @abstractmethod
    async def recover(self, intent: ProviderBatch, *, job_id: str, known_ids: set[str]) -> bool:
        """Find the batch the provider created for ``intent`` (an intent without a batch
        id), among the batches at the provider not in ``known_ids``; fill in ``intent`` and
        return True, or return False when the provider has none (nothing was paid)."""

    # -- HTTP ----------------------------------------------------------------------------------

    def extra_headers(self) -> dict[str, str]:
        """Headers every call of this API needs besides the key (e.g. a version)."""
        return {}

    def url(self, path: str) -> str:
        """Absolute URL of ``path`` under the provider's base URL."""
        if path.startswith(("http://", "https://")):
            return path
        return self.provider.base_url.rstrip("/") + path

    async def call(
        self, method: str, path: str, *, what: str, idempotent: bool = True, **kw: Any
    ) -> httpx.Response:
        """Send one API call; retry transient failures of idempotent calls.

        Raises:
            ProviderError: a subclass by status, with the provider's error text verbatim.
        """
        headers = {
            **self.extra_headers(),
            **self.provider.auth_headers(),
            **kw.pop("headers", {}),
        }
        attempts = self.retries + 1 if idempotent else 1
        for attempt in range(1, attempts + 1):
            try:
                resp = await self.provider.client.request(
                    method, self.url(path), headers=headers, **kw
                )
            except httpx.TransportError as exc:
                if attempt < attempts:
                    await asyncio.sleep(self.retry_backoff_s * attempt)
                    continue
                raise ConnectionFailed(f"{what}: {type(exc).__name__}: {exc}") from None
            code = resp.status_code
            if code < 400:
                return resp
            if (code == 429 or code >= 500) and attempt < attempts:
                await asyncio.sleep(self.retry_backoff_s * attempt)
                continue
            raise _http_error(what, resp)
        raise AssertionError("unreachable")  # pragma: no cover

    async def call_json(self, method: str, path: str, *, what: str, **kw: Any) -> dict[str, Any]:
        """:meth:`call` and decode a JSON object."""
        resp = await self.call(method, path, what=what, **kw)
        try:
            body = orjson.loads(resp.content)
        except orjson.JSONDecodeError:
            raise ConnectionFailed(f"{what}: the answer is not JSON") from None
        if not isinstance(body, dict):
            raise ConnectionFailed(f"{what}: the answer is not a JSON object")
        return body

    async def stream_lines(self, path: str, *, what: str) -> AsyncIterator[bytes]:
        """The lines of a (possibly large) download, without holding it all in memory."""
        headers = {**self.extra_headers(), **self.provider.auth_headers()}
        async with self.provider.client.stream("GET", self.url(path), headers=headers) as resp:
            if resp.status_code >= 400:
                await resp.aread()
                raise _http_error(what, resp)
            rest = b""
            async for block in resp.aiter_bytes():
                lines = (rest + block).split(b"\n")
                rest = lines.pop()
                for line in lines:
                    if line.strip():
                        yield line
            if rest.strip():
                yield rest


def _http_error(what: str, resp: httpx.Response) -> ProviderError:
    code = resp.status_code
    msg = f"{what}: HTTP {code}: {_error_text(resp)}"
    rid = resp.headers.get("x-request-id") or resp.headers.get("request-id")
    if code in (401, 403):
        return AuthenticationError(msg, status_code=code, provider_request_id=rid)
    if code == 429:
        return RateLimitError(msg, status_code=code, provider_request_id=rid)
    if code >= 500:
        return ServerError(msg, status_code=code, provider_request_id=rid)
    return PermanentError(msg, status_code=code, provider_request_id=rid)
