"""Shared HTTP machinery of the HTTP providers: one connection pool per provider, a lean send.

Users see httpx: a provider accepts an ``httpx.AsyncClient`` (``client=``) or an httpx
transport (``transport=``, e.g. ``httpx.MockTransport`` in tests), and ``provider.client`` is
always an ``httpx.AsyncClient`` for anything beyond chat requests (file uploads, batch polls).

By default, though, chat requests do not go through httpx's request/response objects: plain
httpx costs milliseconds of CPU per request at high concurrency, and even over an aiohttp
transport its own layers cost about as much CPU again as the network I/O (see
``bench/realtime.py``). So when the user passed neither a client nor a transport, requests are
sent with one shared ``aiohttp.ClientSession`` (prebuilt headers, bodies already encoded with
orjson, bodies read whole), and ``provider.client`` is an ``httpx.AsyncClient`` whose transport
is :class:`SessionTransport` over that same session: one pool, one set of limits.

Every path here (the aiohttp hot path, httpx with brainbatch's client or the user's own,
:class:`SessionTransport`) never follows redirects: a 3xx answer is an error naming the new
location (:mod:`._status`), since the key would go with the request. A key about to go over
plain ``http://`` to a host that is not loopback gives one
:class:`~brainbatch.errors.InsecureTransportWarning` per provider and host.

Nothing here logs or formats request headers, so API keys never reach a message.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import random
import time
import warnings
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal
from urllib.parse import urlsplit

import aiohttp
import httpx
import orjson

from ..errors import (
    ConfigurationError,
    ConnectionFailed,
    DeprecatedFieldWarning,
    InsecureTransportWarning,
    ProviderError,
    RateLimitError,
)
from ..limits import Limiter, RetryPolicy
from ..models import BatchRequest, ProviderResponse
from ..secrets import Secret, is_secret_header, redact
from ..tokens import estimate_message_tokens
from ._status import body_message, error_code, status_error
from .base import Provider

if TYPE_CHECKING:
    from .pool import ReplicaPool

__all__ = [
    "HttpProvider",
    "HttpSession",
    "RawResponse",
    "Secret",
    "SessionTransport",
    "is_loopback_host",
    "parse_json_text",
    "redact",
]

log = logging.getLogger("brainbatch.http")

DEFAULT_TIMEOUT_S = 120.0
DEFAULT_CONNECT_TIMEOUT_S = 10.0


def is_loopback_host(host: str | None) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ``::1``): this machine."""
    if not host:
        return False
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@dataclass(slots=True)
class RawResponse:
    """One HTTP answer: status, case-insensitive headers and the whole body."""

    status: int
    headers: Mapping[str, str]
    content: bytes
    url: str | None = None
    """The replica that answered, when the provider has several (see :mod:`.pool`)."""


class _AiohttpStream(httpx.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_chunked(65536):
                yield chunk
        except aiohttp.ClientPayloadError as exc:
            raise httpx.ReadError(str(exc)) from exc

    async def aclose(self) -> None:
        self._response.release()


class SessionTransport(httpx.AsyncBaseTransport):
    """An httpx transport over an aiohttp session it does not own (closing it is a no-op).

    Used for ``provider.client`` so that httpx requests share the provider's connection pool.
    """

    def __init__(self, session: HttpSession) -> None:
        self._owner = session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._owner.aiohttp_session()
        timeout = request.extensions.get("timeout", {})
        try:
            data = request.content or None
        except httpx.RequestNotRead:
            data = await request.aread() or None
        try:
            resp = await session.request(
                request.method,
                str(request.url),
                headers=request.headers.multi_items(),
                data=data,
                allow_redirects=False,
                auto_decompress=False,
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    sock_connect=timeout.get("connect"),
                    sock_read=timeout.get("read"),
                ),
            )
        except aiohttp.ConnectionTimeoutError as exc:
            raise httpx.ConnectTimeout(str(exc) or "timed out", request=request) from exc
        except TimeoutError as exc:
            raise httpx.ReadTimeout(str(exc) or "timed out", request=request) from exc
        except aiohttp.ClientConnectorError as exc:
            raise httpx.ConnectError(str(exc), request=request) from exc
        except aiohttp.ClientError as exc:
            raise httpx.ReadError(str(exc), request=request) from exc
        return httpx.Response(
            status_code=resp.status,
            headers=list(resp.raw_headers),
            stream=_AiohttpStream(resp),
            request=request,
        )


class HttpSession:
    """The connection pool of one provider and the lean ``post`` its hot path uses.

    Args:
        base_url: prefix of every path (``https://api.openai.com/v1``).
        headers: headers sent with every request, auth included (kept private, never shown).
        client: the user's own ``httpx.AsyncClient``; used as is and never closed here (its
            requests are sent with ``follow_redirects=False`` whatever the client's setting).
        transport: an httpx transport to build the client on (closed by :meth:`aclose`).
        max_connections: size of the pool (keep-alive connections kept up to the same number).
        timeout: seconds for one attempt, from sending to the last byte of the answer.
        connect_timeout: seconds to open a connection.
    """

    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str],
        *,
        client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        max_connections: int = 1024,
        timeout: float = DEFAULT_TIMEOUT_S,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_S,
    ) -> None:
        if client is not None and transport is not None:
            raise ConfigurationError("give either client= or transport=, not both")
        self.base_url = base_url.rstrip("/")
        self._headers = dict(headers)
        self._user_client = client
        self._transport = transport
        self.max_connections = max_connections
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._client: httpx.AsyncClient | None = client
        self._session: aiohttp.ClientSession | None = None
        self._session_loop: asyncio.AbstractEventLoop | None = None
        self._aio_timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=connect_timeout)
        self._urls: dict[str, str] = {}

    def __repr__(self) -> str:
        mode = "httpx" if self.uses_httpx else "aiohttp"
        return f"HttpSession(base_url={self.base_url!r}, mode={mode})"

    @property
    def uses_httpx(self) -> bool:
        """True when chat requests go through httpx (the user gave a client or transport)."""
        return self._user_client is not None or self._transport is not None

    def url(self, path: str) -> str:
        """``base_url`` + ``path`` (cached)."""
        url = self._urls.get(path)
        if url is None:
            url = self._urls[path] = self.base_url + path
        return url

    # -- pools -----------------------------------------------------------------------------

    def aiohttp_session(self) -> aiohttp.ClientSession:
        """The shared aiohttp session, created on first use in the running loop."""
        session = self._session
        loop = asyncio.get_running_loop()
        if session is not None and self._session_loop is loop and not session.closed:
            return session
        if session is not None:
            _abandon(session)
        connector = aiohttp.TCPConnector(
            limit=self.max_connections,
            limit_per_host=0,
            keepalive_timeout=30.0,
            ttl_dns_cache=300,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=self._aio_timeout,
            auto_decompress=True,
            skip_auto_headers=("User-Agent",),
        )
        self._session_loop = loop
        return self._session

    @property
    def client(self) -> httpx.AsyncClient:
        """The shared ``httpx.AsyncClient`` (the user's own, or one over this pool)."""
        if self._client is None:
            transport = self._transport or SessionTransport(self)
            self._client = httpx.AsyncClient(
                transport=transport,
                follow_redirects=False,
                timeout=httpx.Timeout(self.timeout, connect=self.connect_timeout),
                limits=httpx.Limits(
                    max_connections=self.max_connections,
                    max_keepalive_connections=self.max_connections,
                ),
            )
        return self._client

    # -- the hot path ----------------------------------------------------------------------

    async def post(self, path: str, content: bytes) -> RawResponse:
        """POST ``content`` (JSON bytes) to ``base_url + path``; the whole answer, any status.

        Redirects are never followed (a 3xx comes back as it is).

        Raises:
            ConnectionFailed: timeouts (``kind="timeout"``), refused, reset or dropped
                connections (``kind="connection"``); ``maybe_sent`` is False when the
                connection could not be opened at all.
        """
        if self.uses_httpx:
            return await self._post_httpx(path, content)
        session = self.aiohttp_session()
        try:
            async with session.post(
                self.url(path), data=content, headers=self._headers, allow_redirects=False
            ) as resp:
                body = await resp.read()
                return RawResponse(resp.status, resp.headers, body)
        except aiohttp.ConnectionTimeoutError as exc:
            raise self._connect_timeout() from exc
        except TimeoutError as exc:
            raise self._timeout() from exc
        except aiohttp.ClientConnectorError as exc:
            raise self._failed(exc, maybe_sent=False) from exc
        except aiohttp.ClientError as exc:
            raise self._failed(exc) from exc
        except OSError as exc:
            raise ConnectionFailed(
                f"connection to {self.base_url} failed: {type(exc).__name__}", kind="connection"
            ) from exc

    async def _post_httpx(self, path: str, content: bytes) -> RawResponse:
        try:
            resp = await self.client.post(
                self.url(path), content=content, headers=self._headers, follow_redirects=False
            )
        except (httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise self._connect_timeout() from exc
        except httpx.TimeoutException as exc:
            raise self._timeout() from exc
        except httpx.ConnectError as exc:
            raise self._failed(exc, maybe_sent=False) from exc
        except httpx.TransportError as exc:
            raise self._failed(exc) from exc
        return RawResponse(resp.status_code, resp.headers, resp.content)

    def _timeout(self) -> ConnectionFailed:
        return ConnectionFailed(
            f"no answer within {self.timeout:g} s from {self.base_url}", kind="timeout"
        )

    def _connect_timeout(self) -> ConnectionFailed:
        return ConnectionFailed(
            f"could not connect to {self.base_url} within {self.connect_timeout:g} s",
            kind="timeout",
            maybe_sent=False,
        )

    def _failed(self, exc: Exception, *, maybe_sent: bool = True) -> ConnectionFailed:
        return ConnectionFailed(
            f"connection to {self.base_url} failed: {type(exc).__name__}: {redact(str(exc))}",
            kind="connection",
            maybe_sent=maybe_sent,
        )

    async def aclose(self) -> None:
        """Close the pool and the httpx client (unless the user passed their own client)."""
        client, self._client = self._client, self._user_client
        if client is not None and client is not self._user_client:
            await client.aclose()
        session, self._session = self._session, None
        if session is not None:
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:  # pragma: no cover - aclose is async, a loop runs
                running = None
            if running is self._session_loop:
                await session.close()
            else:
                _abandon(session)


def _abandon(session: aiohttp.ClientSession) -> None:
    """Drop a session made on another (maybe closed) event loop without warnings."""
    connector: Any = session.connector
    try:
        if connector is not None:
            connector._close()
        session._connector = None
    except Exception:  # pragma: no cover - best effort on a dead loop
        pass


# -- the base of the HTTP providers ------------------------------------------------------------


class HttpProvider(Provider):
    """What OpenAI-compatible and Anthropic providers share: keys, pool, limits, retries.

    Subclasses set :attr:`name`, :attr:`path`, :attr:`key_env`, :attr:`request_id_header`,
    and implement :meth:`build_body`, :meth:`parse_response` and :meth:`_auth`.
    """

    path: ClassVar[str] = ""
    key_env: ClassVar[str] = ""
    request_id_header: ClassVar[str] = "x-request-id"
    default_base_url: ClassVar[str] = ""
    official_hosts: ClassVar[frozenset[str]] = frozenset()
    """The provider's own API hosts, where :attr:`deprecated_fields` apply."""
    deprecated_fields: ClassVar[Mapping[str, str]] = {}
    """Request fields the provider's API document marks deprecated -> what to do instead."""

    def __init__(
        self,
        model: str | None = None,
        *,
        base_url: str | Sequence[str] | None = None,
        api_key: str | None = None,
        client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        max_concurrent: int | None = 1024,
        rpm: float | Literal["auto"] | None = "auto",
        tpm: float | Literal["auto"] | None = "auto",
        max_attempts: int = 6,
        timeout: float = DEFAULT_TIMEOUT_S,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_S,
        batch: bool = False,
        retry: RetryPolicy | None = None,
        rate_window_s: float = 60.0,
        adapt_to_headers: bool = True,
        default_output_tokens: int = 256,
        extra_headers: Mapping[str, str] | None = None,
        service_tier: str | None = None,
    ) -> None:
        self.model = model
        if base_url is not None and not isinstance(base_url, str):
            from .pool import check_base_urls

            self.base_urls: tuple[str, ...] = check_base_urls(base_url)
            self.base_url = self.base_urls[0]
        else:
            self.base_url = (base_url or self.default_base_url).rstrip("/")
            self.base_urls = (self.base_url,)
        """Every replica's API root (one unless ``base_url`` was a list: :mod:`.pool`);
        :attr:`base_url` is the first, used for anything but real-time requests."""
        if not self.base_url.startswith(("http://", "https://")):
            raise ConfigurationError(
                f"base_url must start with http:// or https://, got {self.base_url!r}"
            )
        for name, value in (("timeout", timeout), ("connect_timeout", connect_timeout)):
            if not isinstance(value, int | float) or not value > 0:
                raise ConfigurationError(f"{name} must be a number of seconds > 0, got {value!r}")
        if not isinstance(default_output_tokens, int) or default_output_tokens < 1:
            raise ConfigurationError(
                f"default_output_tokens must be an integer >= 1, got {default_output_tokens!r}"
            )
        if service_tier is not None and (not isinstance(service_tier, str) or not service_tier):
            raise ConfigurationError(
                f"service_tier must be a non-empty string or None, got {service_tier!r}"
            )
        self.service_tier = service_tier
        self._key = Secret(self._find_key(api_key))
        self.batch = batch
        self.retry = retry or RetryPolicy(max_attempts=max_attempts)
        self.limiter = Limiter(
            rpm=rpm, tpm=tpm, max_concurrent=max_concurrent, window_s=rate_window_s
        )
        self.adapt_to_headers = adapt_to_headers
        self.default_output_tokens = default_output_tokens
        headers = {"content-type": "application/json", "accept": "application/json"}
        headers.update(extra_headers or {})
        headers.update(self.auth_headers())
        self._sends_credentials = any(is_secret_header(name) and v for name, v in headers.items())
        self._warned_hosts: set[str] = set()
        self._check_plain_http = self._sends_credentials and any(
            url.startswith("http://") for url in self.base_urls
        )
        host = (urlsplit(self.base_url).hostname or "").lower()
        self._deprecated_unwarned = (
            dict(self.deprecated_fields) if host in self.official_hosts else {}
        )
        self.pool: ReplicaPool | None = None
        """The replicas real-time requests are spread over (None: one ``base_url``)."""
        if len(self.base_urls) > 1:
            from .pool import ReplicaPool

            self.pool = ReplicaPool.build(
                self.base_urls,
                headers,
                retry=self.retry,
                client=client,
                transport=transport,
                max_connections=max_concurrent or 1024,
                timeout=timeout,
                connect_timeout=connect_timeout,
            )
            self.http = self.pool.replicas[0].http
        else:
            self.http = HttpSession(
                self.base_url,
                headers,
                client=client,
                transport=transport,
                max_connections=max_concurrent or 1024,
                timeout=timeout,
                connect_timeout=connect_timeout,
            )
        self._rng = random.Random()

    # -- keys ------------------------------------------------------------------------------

    def key_env_var(self) -> str:
        """The environment variable the key is read from for this ``base_url``."""
        return self.key_env

    def _find_key(self, api_key: str | None) -> str:
        if api_key is not None:
            if not isinstance(api_key, str):
                raise ConfigurationError("api_key must be a string")
            return api_key
        env = self.key_env_var()
        key = os.environ.get(env, "")
        if key:
            return key
        if all(is_loopback_host(urlsplit(url).hostname) for url in self.base_urls):
            return ""  # local servers (vLLM, Ollama, LM Studio, SimServer) need no key
        raise ConfigurationError(
            f"no API key for {self.name} at {self.base_url}: set the {env} environment "
            f"variable or pass api_key=... . To try brainbatch offline without a key, use "
            f'provider="sim" (or a model named "sim/<model>"), which answers from the '
            f"built-in simulated provider."
        )

    def warn_if_insecure(self, url: str) -> None:
        """Warn, once per host, before the key goes over plain ``http://`` off this machine.

        An :class:`~brainbatch.errors.InsecureTransportWarning` when ``url`` is ``http://``
        on a host that is not loopback (``localhost``, 127.0.0.0/8, ``::1``) and this provider
        sends a key (``api_key`` or a credential header in ``extra_headers``). Nothing for
        ``https://``, loopback hosts, or when no key is sent.
        """
        parts = urlsplit(url)
        if not self._sends_credentials or parts.scheme.lower() != "http":
            return
        host = (parts.hostname or "").lower()
        if host in self._warned_hosts or is_loopback_host(host):
            return
        self._warned_hosts.add(host)
        warnings.warn(
            InsecureTransportWarning(
                f"{self.name}: the API key is about to be sent over plain http:// to {host}, "
                "which is not this machine: anyone on the network path can read it. Use an "
                "https:// base_url (plain http:// is fine for a server on localhost)."
            ),
            stacklevel=3,
        )

    def warn_deprecated_fields(self, body: Mapping[str, Any]) -> None:
        """Warn once per field when ``body`` uses a field the provider's official API marks
        deprecated (:attr:`deprecated_fields`; only on :attr:`official_hosts`). The body is
        never changed."""
        unwarned = self._deprecated_unwarned
        if not unwarned:
            return
        for name in [n for n in unwarned if n in body]:
            advice = unwarned.pop(name)
            warnings.warn(
                DeprecatedFieldWarning(
                    f"{self.name}: the request field {name!r} is deprecated in the "
                    f"{self.name} API: {advice}. brainbatch sends it as you wrote it."
                ),
                stacklevel=3,
            )

    def auth_headers(self) -> dict[str, str]:
        """The headers that carry the API key. Never log them."""
        return self._auth(self._key.reveal()) if self._key else {}

    def _auth(self, key: str) -> dict[str, str]:
        raise NotImplementedError

    def cache_namespace(self) -> str:
        """``"<name>|<base_url>"``; a replica pool's URLs sorted (one service, any order)."""
        return f"{self.name}|{' '.join(sorted(self.base_urls))}"

    def __repr__(self) -> str:
        where = self.base_url if self.pool is None else list(self.base_urls)
        return (
            f"{type(self).__name__}(model={self.model!r}, base_url={where!r}, "
            f"api_key={'***' if self._key else None}, {self.limiter!r}, "
            f"max_attempts={self.retry.max_attempts}, batch={self.batch})"
        )

    # -- wire format (subclasses) ----------------------------------------------------------

    def build_body(self, request: BatchRequest) -> dict[str, Any]:
        """The JSON body for one request (also one line of a native batch file)."""
        raise NotImplementedError

    def parse_response(
        self,
        body: dict[str, Any],
        *,
        latency_ms: float | None = None,
        batch: bool = False,
        json_output: bool | None = None,
    ) -> ProviderResponse:
        """A completion body -> :class:`ProviderResponse`, priced real time or ``batch``."""
        raise NotImplementedError

    def request_path(self, request: BatchRequest) -> str:
        """The path (after ``base_url``) one request is sent to: :attr:`path`, unless the
        wire protocol puts the model in the URL (Gemini's ``models/{model}:generateContent``)."""
        return self.path

    def max_output_tokens(self, body: Mapping[str, Any]) -> int:
        """The output tokens to reserve under a TPM limit for this body."""
        for name in ("max_completion_tokens", "max_tokens"):
            value = body.get(name)
            if isinstance(value, int) and value > 0:
                return value
        return self.default_output_tokens

    # -- the shared pool -------------------------------------------------------------------

    @property
    def client(self) -> httpx.AsyncClient:
        """The shared ``httpx.AsyncClient`` of this provider (created on first use)."""
        return self.http.client

    async def aclose(self) -> None:
        """Close this event loop's connections (and the httpx client brainbatch made).

        The provider stays usable: a later request (in this loop or another) opens new ones.
        """
        if self.pool is not None:
            await self.pool.aclose()
        else:
            await self.http.aclose()

    # -- errors ----------------------------------------------------------------------------

    def error_for(self, raw: RawResponse) -> ProviderError:
        """Classify an HTTP answer that is not a success (see :mod:`._status` for the map)."""
        return status_error(
            raw.status,
            body_message(raw.content),
            raw.headers,
            source=self.name,
            url=(raw.url + self.path) if raw.url else self.http.url(self.path),
            key_env=self.key_env_var(),
            secrets=(self._key,),
            request_id_header=self.request_id_header,
            code=error_code(raw.content) if raw.status == 429 else None,
        )

    # -- one request -----------------------------------------------------------------------

    async def __call__(self, request: BatchRequest) -> ProviderResponse:
        """Send one request; retry it under :attr:`retry` (a
        :class:`~brainbatch.limits.RetryPolicy`).

        Transient failures (408, 409, 429, 5xx, timeouts, dropped connections, malformed
        answers) are sent again after the provider's ``Retry-After`` / ``retry-after-ms``
        when it gives one (a 429 also holds every other worker of this provider for that
        long), else after a jittered exponential backoff; at most ``retry.max_attempts``
        tries and ``retry.max_total_wait_s`` of waiting. Other errors are raised at once.
        The error raised carries ``attempts``.

        Raises:
            ProviderError: the class the failure maps to (:mod:`._status`).
        """
        body = self.build_body(request)
        if self.service_tier is not None:  # a request's own service_tier wins
            body.setdefault("service_tier", self.service_tier)
        content = orjson.dumps(body)
        json_output = _wants_json(body)
        limiter = self.limiter
        estimate = 0
        if limiter.counts_tokens:
            estimate = estimate_message_tokens(
                request.chat_messages(), request.system
            ) + self.max_output_tokens(body)
        if self._check_plain_http:
            self._check_plain_http = False
            for url in self.base_urls:
                self.warn_if_insecure(url)
        http: HttpSession | ReplicaPool = self.pool or self.http
        path, policy = self.request_path(request), self.retry
        attempt = 0
        waited = 0.0
        while True:
            attempt += 1
            ticket = await limiter.acquire(estimate)
            t0 = time.perf_counter()
            try:
                raw = await http.post(path, content)
            except ConnectionFailed as exc:
                error: ProviderError = exc
            else:
                latency_ms = (time.perf_counter() - t0) * 1000.0
                if raw.status == 200:
                    try:
                        payload = orjson.loads(raw.content)
                        out = self.parse_response(
                            payload,
                            latency_ms=latency_ms,
                            batch=self.batch,
                            json_output=json_output,
                        )
                    except orjson.JSONDecodeError:
                        error = ConnectionFailed(
                            f"{self.name}: malformed response: the body is not JSON",
                            kind="malformed_response",
                            provider_request_id=raw.headers.get(self.request_id_header),
                        )
                    except ProviderError as exc:  # a malformed field, or an error body
                        error = exc
                        if error.provider_request_id is None:
                            error.provider_request_id = raw.headers.get(self.request_id_header)
                    else:
                        out.attempts = attempt
                        if ticket is not None:
                            limiter.record_usage(
                                ticket, estimate, (out.input_tokens or 0) + (out.output_tokens or 0)
                            )
                        if limiter.auto_rpm or limiter.auto_tpm:
                            limiter.learn(raw.headers)
                        if self.adapt_to_headers:
                            limiter.observe_headers(raw.headers, estimate or 1)
                        return out
                else:
                    error = self.error_for(raw)
            finally:
                limiter.release()
            if ticket is not None:
                limiter.record_usage(ticket, estimate, 0)  # failed attempts use no tokens
            error.attempts = attempt
            delay = policy.retry_in(error, attempt, waited, rng=self._rng)
            if delay is None:
                raise error
            waited += delay
            retry_after = error.retry_after
            if error.kind == "capacity":
                pass  # no capacity for this tier now: this request backs off, the others go on
            elif retry_after is not None or isinstance(error, RateLimitError):
                if isinstance(error, RateLimitError):
                    limiter.shrink()  # learned limits: run slower from now on
                hint = retry_after if retry_after is not None else policy.ceiling(attempt)
                limiter.cool_down(min(hint, policy.max_retry_after_s))
            if log.isEnabledFor(logging.DEBUG):  # never headers: no key reaches a log
                log.debug(
                    "%s: request %s attempt %d failed (%s: %s); retrying in %.2f s",
                    self.name,
                    request.key,
                    attempt,
                    error.kind,
                    error,
                    delay,
                )
            await asyncio.sleep(delay)


def _wants_json(body: Mapping[str, Any]) -> bool:
    fmt = body.get("response_format")
    if isinstance(fmt, Mapping):
        return fmt.get("type") in ("json_object", "json_schema")
    config = body.get("output_config")
    if isinstance(config, Mapping) and isinstance(config.get("format"), Mapping):
        return True
    generation = body.get("generationConfig")  # Gemini
    return isinstance(generation, Mapping) and generation.get("responseMimeType") == (
        "application/json"
    )


def parse_json_text(text: str) -> dict[str, Any] | None:
    """``text`` parsed as a JSON object (fences like ```json ... ``` allowed), else None."""
    s = text.strip()
    if s.startswith("```"):
        s = s.strip("`")
        s = s.removeprefix("json").strip()
    if not (s.startswith("{") and s.endswith("}")):
        return None
    try:
        value = orjson.loads(s)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None
