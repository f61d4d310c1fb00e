"""Replica pools: one provider, several replicas of one self-hosted server.

``base_url=["http://gpu1:8000/v1", "http://gpu2:8000/v1"]`` on an HTTP provider (and so in
``bb.run`` / ``bb.submit`` and the CLI's repeated ``--base-url``) spreads the real-time
requests over replicas of one OpenAI-compatible server (vLLM, SGLang, TGI...):

* **least outstanding requests**: each request goes to the healthy replica with the fewest
  requests in flight (ties in turn), so a slow replica gets fewer;
* **a failing replica is taken out**: a refused, reset or dropped connection, a timeout or a
  5xx answer takes it out of the choice for a back-off (the provider's
  :class:`~brainbatch.limits.RetryPolicy` ceiling for its count of failures in a row: the one
  retry rule), after which one request probes it; a success puts it back, a failure doubles
  the back-off;
* **a failed attempt goes to another replica**: the provider's retry loop (same policy, same
  attempts) sends it again, and the failed replica is out of the choice by then. A row is
  sent once, except a failed attempt that is retried; when no replica is up, the attempt fails
  at once (``ConnectionFailed``, never sent) and the retry rule decides when to try again.

Every replica gets the same headers, key included: the replicas are one service the user
named. Redirects are never followed (a 3xx is an error), so the key never goes anywhere else.
Each replica has its own connection pool (:class:`~brainbatch.providers.http.HttpSession`).
Each process builds its own pool (on Dask: each worker, from the run's settings).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from ..errors import ConnectionFailed, InputError
from ..limits import RetryPolicy
from .http import HttpSession, RawResponse

__all__ = ["Replica", "ReplicaPool", "check_base_urls"]


def check_base_urls(value: object) -> tuple[str, ...]:
    """A list of replica URLs, checked: non-empty, each ``http(s)://host...`` without
    credentials in it, no URL twice (trailing ``/`` ignored). Returns them without the
    trailing ``/``, in order.

    Raises:
        InputError: naming ``base_url`` and the item at fault.
    """
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise InputError(f"base_url must be a URL or a list of URLs, got {type(value).__name__}")
    if not value:
        raise InputError("base_url is an empty list: give at least one URL")
    urls: list[str] = []
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise InputError(f"base_url[{i}] must be a URL string, got {type(item).__name__}")
        url = item.strip().rstrip("/")
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise InputError(
                f"base_url[{i}] must start with http:// or https:// and name a host, got {item!r}"
            )
        if parts.username is not None or parts.password is not None:
            raise InputError(
                f"base_url[{i}] carries credentials (user:password@): put the key in "
                "api_key= or the provider's environment variable instead"
            )
        if url in urls:
            raise InputError(
                f"base_url[{i}] {item!r} is given twice (also base_url[{urls.index(url)}])"
            )
        urls.append(url)
    return tuple(urls)


@dataclass(eq=False)
class Replica:
    """One replica: its connection pool and what the pool knows of its health."""

    url: str
    http: HttpSession
    outstanding: int = 0
    """Requests sent to it and not answered yet."""
    failures: int = 0
    """Failed attempts in a row (0: healthy)."""
    retry_at: float = 0.0
    """``time.monotonic()`` from which a replica that failed may be probed again."""
    probing: bool = False
    """A probe (one request) is in flight: no other request goes there until it ends."""
    sent: int = 0
    """Attempts sent to it (for stats and tests)."""
    failed: int = 0
    """Attempts that failed there."""

    def available(self, now: float) -> bool:
        return self.failures == 0 or (not self.probing and now >= self.retry_at)


@dataclass(eq=False)
class ReplicaPool:
    """Sends each attempt to one replica: the healthy one with the fewest requests in
    flight; a replica that fails is left out for a back-off, then probed (module docs).

    ``post`` and ``url`` are what :class:`~brainbatch.providers.http.HttpProvider` uses of an
    :class:`~brainbatch.providers.http.HttpSession`.
    """

    replicas: list[Replica]
    retry: RetryPolicy
    _turn: int = field(default=0, repr=False)

    @classmethod
    def build(
        cls,
        urls: Sequence[str],
        headers: Mapping[str, str],
        *,
        retry: RetryPolicy,
        client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        max_connections: int,
        timeout: float,
        connect_timeout: float,
    ) -> ReplicaPool:
        replicas = [
            Replica(
                url,
                HttpSession(
                    url,
                    headers,
                    client=client,
                    transport=transport,
                    max_connections=max_connections,
                    timeout=timeout,
                    connect_timeout=connect_timeout,
                ),
            )
            for url in urls
        ]
        return cls(replicas, retry)

    def __repr__(self) -> str:
        return f"ReplicaPool({[r.url for r in self.replicas]!r})"

    @property
    def urls(self) -> list[str]:
        return [r.url for r in self.replicas]

    def choose(self, now: float | None = None) -> Replica | None:
        """The replica for the next attempt (None when every replica is out)."""
        now = time.monotonic() if now is None else now
        replicas = self.replicas
        n = len(replicas)
        start = self._turn
        self._turn = (start + 1) % n
        best: Replica | None = None
        for i in range(n):
            r = replicas[(start + i) % n]
            if r.available(now) and (best is None or r.outstanding < best.outstanding):
                best = r
        return best

    async def post(self, path: str, content: bytes) -> RawResponse:
        """POST to one replica (see :meth:`choose`); its answer, whatever the status.

        Raises:
            ConnectionFailed: the replica's connection failure (as
                :meth:`HttpSession.post <brainbatch.providers.http.HttpSession.post>`), or,
                never sent (``maybe_sent=False``), no replica is up now.
        """
        now = time.monotonic()
        replica = self.choose(now)
        if replica is None:
            wait = max(0.0, min(r.retry_at for r in self.replicas) - now)
            raise ConnectionFailed(
                f"no replica of base_url is up ({len(self.replicas)} failing; the next "
                f"is probed in {wait:.2f} s)",
                kind="connection",
                maybe_sent=False,
            )
        probe = replica.failures > 0
        if probe:
            replica.probing = True
        replica.outstanding += 1
        replica.sent += 1
        try:
            raw = await replica.http.post(path, content)
        except ConnectionFailed:  # refused, reset, dropped, timed out
            self._failed(replica)
            raise
        finally:  # (a cancelled attempt says nothing of the replica's health)
            replica.outstanding -= 1
            if probe:
                replica.probing = False
        if raw.status >= 500:
            self._failed(replica)
        else:
            replica.failures = 0
        raw.url = replica.url
        return raw

    def _failed(self, replica: Replica) -> None:
        replica.failed += 1
        replica.failures += 1
        replica.retry_at = time.monotonic() + self.retry.ceiling(replica.failures)

    def url(self, path: str) -> str:
        """The first replica's URL for ``path`` (errors name the replica that answered)."""
        return self.replicas[0].http.url(path)

    async def aclose(self) -> None:
        for replica in self.replicas:
            await replica.http.aclose()
