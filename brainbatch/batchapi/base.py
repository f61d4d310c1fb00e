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

import logging
import random
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import datetime
from typing import Any, NamedTuple, Protocol
from urllib.parse import urljoin, urlsplit

import httpx
import orjson

from ..errors import ConnectionFailed, PermanentError, ProviderError
from ..limits import RetryPolicy, retry_allowed
from ..models import BatchRequest, ProviderResponse
from ..providers._status import body_message, header_secrets, status_error
from ..secrets import redact
from .jsonl import BatchLimits, Chunk
from .records import ProviderBatch

__all__ = ["BATCH_RETRY", "BatchBackend", "Outcome", "WireProvider", "to_epoch"]

log = logging.getLogger("brainbatch.batchapi")


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


BATCH_RETRY = RetryPolicy(
    max_attempts=5,
    base_delay_s=1.0,
    max_delay_s=30.0,
    max_retry_after_s=120.0,
    max_total_wait_s=300.0,
)
"""The default retry rule of Batch API calls: 5 tries, waits of at most 30 s (120 s when the
provider asks with ``Retry-After``), 5 minutes of waiting in all; the executor's polling
loop tolerates further failures on top (``max_poll_failures``)."""


class BatchBackend(ABC):
    """One provider's batch protocol. Subclasses fill in the wire details."""

    name: str = "provider"
    default_limits: BatchLimits
    retry: RetryPolicy = BATCH_RETRY
    """The retry rule of this back end's API calls (:meth:`call`); set per instance to change it."""

    def __init__(
        self,
        provider: WireProvider,
        limits: BatchLimits | None = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.provider = provider
        self.limits = limits or self.default_limits
        if retry is not None:
            self.retry = retry
        self._rng = random.Random()

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

    def url(self, path: str, *, what: str | None = None) -> str:
        """The absolute URL of an API path, or of a URL the provider gave (``results_url``).

        * ``/files``, ``/v1/messages/batches``: an API path under ``base_url``
          (``https://api.openai.com/v1`` + ``/files``). A path that already starts with
          ``base_url``'s own path (``/v1/files/f1/content`` under ``.../v1``), or any path
          when ``base_url`` has none (Anthropic's), is a path on ``base_url``'s origin.
        * ``https://api.anthropic.com/v1/...``: used as it is, if it is on ``base_url``'s
          origin (same scheme, host and port).
        * ``msgbatch_1/results``: relative to ``base_url + "/"`` (urljoin semantics).

        Raises:
            PermanentError: (``kind="bad_url"``) an empty value, a scheme other than http(s),
                an unusable URL, or one on another origin than ``base_url``: the key is sent
                to ``base_url``'s origin only, never to a host the provider's answer names.
        """
        base = self.provider.base_url.rstrip("/")
        if path.startswith("/") and not path.startswith("//"):
            base_path = urlsplit(base).path
            if base_path and not path.startswith(base_path + "/"):
                return base + path
        problem = _url_problem(path)
        if problem is None:
            joined = urljoin(base + "/", path)
            problem = _url_problem(joined, absolute=True)
            if problem is None and _origin(joined) != _origin(base):
                problem = (
                    f"it is not on the origin of base_url ({_origin_text(base)}), and the API "
                    "key is never sent to another host"
                )
            if problem is None:
                return joined
        where = f"{what}: " if what else ""
        raise PermanentError(
            f"{where}{self.provider.name}: unusable URL {redact(path)!r} in the provider's "
            f"answer: {problem}",
            kind="bad_url",
        )

    def _request_headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        return {**self.extra_headers(), **self.provider.auth_headers(), **(extra or {})}

    def _before_send(self, url: str) -> None:
        warn = getattr(self.provider, "warn_if_insecure", None)
        if callable(warn):
            warn(url)

    def _on_retry(self, what: str) -> Callable[[ProviderError, int, float], None]:
        def note(error: ProviderError, attempt: int, delay: float) -> None:
            log.debug(  # never headers: no key reaches a log
                "%s: %s attempt %d failed (%s: %s); retrying in %.2f s",
                self.name,
                what,
                attempt,
                error.kind,
                error,
                delay,
            )

        return note

    async def call(
        self, method: str, path: str, *, what: str, idempotent: bool = True, **kw: Any
    ) -> httpx.Response:
        """Send one API call under the retry rule (:class:`~brainbatch.limits.RetryPolicy`,
        :attr:`retry`); any 2xx is the answer.

        Idempotent calls (status checks, downloads, cancels) are sent again after transient
        failures (408, 409, 429, 5xx, timeouts, dropped connections), after the provider's
        ``Retry-After`` when it sends one, else after a jittered exponential backoff, within
        ``retry.max_attempts`` and ``retry.max_total_wait_s``. A call that must not run twice
        (``idempotent=False``: uploading the input file, creating a batch) is sent again only
        when the provider certainly did not act on it: the connection was refused or could
        not be opened in time, or it answered 429. Never after a 5xx, a read timeout or a
        dropped connection, since the provider may have accepted it and a second batch would
        be paid twice; such an error says so.

        Redirects are never followed (the key would go with them): a 3xx is a
        :class:`~brainbatch.errors.PermanentError` with ``kind="redirect"`` naming the
        location.

        Raises:
            ProviderError: the class the status maps to
                (:func:`~brainbatch.providers._status.status_error`), with the provider's
                error text (redacted).
        """
        return await self._call(method, path, what=what, idempotent=idempotent, kw=kw)

    async def call_json(
        self, method: str, path: str, *, what: str, idempotent: bool = True, **kw: Any
    ) -> dict[str, Any]:
        """:meth:`call` and decode a JSON object (an answer that is not one is retried as a
        transient failure, if the call may be retried)."""
        resp = await self._call(method, path, what=what, idempotent=idempotent, kw=kw, json=True)
        body: dict[str, Any] = orjson.loads(resp.content)
        return body

    async def _call(
        self,
        method: str,
        path: str,
        *,
        what: str,
        idempotent: bool,
        kw: dict[str, Any],
        json: bool = False,
    ) -> httpx.Response:
        url = self.url(path, what=what)
        headers = self._request_headers(kw.pop("headers", None))
        self._before_send(url)
        client = self.provider.client
        async for attempt in self.retry.attempts(
            idempotent=idempotent, rng=self._rng, on_retry=self._on_retry(what)
        ):
            with attempt:
                try:
                    try:
                        resp = await client.request(
                            method, url, headers=headers, follow_redirects=False, **kw
                        )
                    except httpx.TransportError as exc:
                        raise self._transport_error(what, exc) from None
                    if not 200 <= resp.status_code < 300:
                        raise _http_error(self.provider, what, resp)
                    if json:
                        _check_json_object(what, resp)
                except ProviderError as exc:
                    if not idempotent:
                        _note_not_resent(exc)
                    raise
                return resp
        raise AssertionError("unreachable")  # pragma: no cover

    def _transport_error(self, what: str, exc: httpx.TransportError) -> ConnectionFailed:
        never_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
        timeout = isinstance(exc, httpx.TimeoutException)
        return ConnectionFailed(
            f"{what}: {self.provider.name}: {type(exc).__name__}: {redact(str(exc))}",
            kind="timeout" if timeout else "connection",
            maybe_sent=not never_sent,
        )

    async def stream_lines(self, path: str, *, what: str) -> AsyncIterator[bytes]:
        """The lines of a (possibly large) download, without holding it all in memory.

        Opening the download follows the retry rule of :meth:`call` (a GET: idempotent);
        redirects are never followed. A failure after lines were given is raised as
        :class:`~brainbatch.errors.ConnectionFailed` (the executor downloads again later and
        records no line twice).
        """
        url = self.url(path, what=what)
        headers = self._request_headers()
        self._before_send(url)
        client = self.provider.client
        resp: httpx.Response | None = None
        async for attempt in self.retry.attempts(rng=self._rng, on_retry=self._on_retry(what)):
            with attempt:
                request = client.build_request("GET", url, headers=headers)
                try:
                    resp = await client.send(request, stream=True, follow_redirects=False)
                except httpx.TransportError as exc:
                    raise self._transport_error(what, exc) from None
                if not 200 <= resp.status_code < 300:
                    try:
                        await resp.aread()
                    except httpx.TransportError as exc:
                        raise self._transport_error(what, exc) from None
                    finally:
                        await resp.aclose()
                    raise _http_error(self.provider, what, resp)
        if resp is None:  # pragma: no cover - the loop either returns a response or raises
            raise AssertionError("unreachable")
        try:
            rest = b""
            async for block in resp.aiter_bytes():
                lines = (rest + block).split(b"\n")
                rest = lines.pop()
                for line in lines:
                    if line.strip():
                        yield line
            if rest.strip():
                yield rest
        except httpx.TransportError as exc:
            raise self._transport_error(what, exc) from None
        finally:
            await resp.aclose()


_NOT_RESENT = (
    " (not sent again: the provider may have acted on it, and sending it twice could create "
    "and bill a second batch; check the provider's batch list before running again)"
)


def _note_not_resent(error: ProviderError) -> None:
    """Say in the message of a transient failure of a call that must not run twice that it
    was not retried, and why."""
    if error.retryable and not retry_allowed(error, idempotent=False) and error.args:
        error.args = (str(error.args[0]) + _NOT_RESENT, *error.args[1:])


def _check_json_object(what: str, resp: httpx.Response) -> None:
    try:
        body = orjson.loads(resp.content)
    except orjson.JSONDecodeError:
        raise ConnectionFailed(
            f"{what}: the answer is not JSON", kind="malformed_response"
        ) from None
    if not isinstance(body, dict):
        raise ConnectionFailed(
            f"{what}: the answer is not a JSON object", kind="malformed_response"
        )


def _url_problem(url: str, *, absolute: bool = False) -> str | None:
    """Why ``url`` cannot be called (None when it can)."""
    if not url or not url.strip():
        return "it is empty"
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        return "it contains spaces or control characters"
    try:
        parts = urlsplit(url)
        _ = parts.port  # a port that is not a number or out of range raises here
    except ValueError as exc:
        return f"it is not a valid URL ({exc})"
    if parts.scheme and parts.scheme.lower() not in ("http", "https"):
        return f"its scheme is {parts.scheme!r}, not http or https"
    if absolute or parts.scheme:
        if not parts.scheme:
            return "it has no scheme"
        if not parts.hostname:
            return "it has no host"
    if parts.username is not None or parts.password is not None:
        return "it carries a user name or password"
    return None


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or (443 if scheme == "https" else 80)


def _origin_text(url: str) -> str:
    scheme, host, port = _origin(url)
    return f"{scheme}://{host}:{port}"


def _http_error(provider: WireProvider, what: str, resp: httpx.Response) -> ProviderError:
    """The one status map (:func:`~brainbatch.providers._status.status_error`) for a call."""
    key_env = getattr(provider, "key_env_var", None)
    return status_error(
        resp.status_code,
        body_message(resp.content),
        resp.headers,
        source=provider.name,
        what=what,
        url=str(resp.request.url),
        key_env=key_env() if callable(key_env) else None,
        secrets=header_secrets(provider.auth_headers()),
        request_id_header=getattr(provider, "request_id_header", "x-request-id"),
    )
