"""Observers: callbacks that see every request the simulated server answers, and the answer.

A test suite installs one to check the traffic, e.g. against the providers' OpenAPI
documents (brainbatch's own tests do, see ``tests/spec``)::

    with SimServer(observers=[seen.append]) as sim:   # or sim.observe(fn)
        ...
    assert all(x.status == 200 for x in seen)

``SimServer.default_observers`` are given to every server created afterwards (also those a
test builds itself). An observer is called on the server's event-loop thread, once per
:class:`Exchange`, after the handler chose its answer and before it is sent: keep it quick
and let it record rather than raise (an exception becomes that request's 500).

Besides HTTP requests (``source == "http"``), the requests a batch runs are reported too,
one exchange each as if it had come over HTTP: ``source == "openai-batch"`` with the input
line's ``url`` as path and its ``body``, ``"anthropic-batch"`` with path ``/v1/messages``
and the request's ``params``; ``status`` and ``response_body`` are what the batch recorded
for it (the body inside the output-file line or the result).

Credentials never reach an observer: the values of credential headers are masked.
Without observers the server does no extra work (benchmarks are unaffected).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from ..secrets import MASK, is_secret_header

__all__ = ["SIM_NOTE", "SIM_OBSERVERS", "Exchange", "Observer", "Observers", "note"]


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request the simulated server answered, and its answer.

    Attributes:
        source: ``"http"``, or ``"openai-batch"`` / ``"anthropic-batch"`` for a request a
            batch ran.
        method, path, query: the request line (``query`` decoded, one value per name).
        headers: request headers with lower-case names; credential values masked.
        body: the raw request body.
        status: the status sent; 0 when none was (the connection was dropped).
        response_headers: response headers with lower-case names.
        response_body: the bytes sent.
        fault: an injected fault the answer carries on purpose (``"malformed"``,
            ``"drop"``, ``"hang"``): then the answer is not meant to conform.
        file_purpose: for a file download, the file's ``purpose`` (``"batch"``,
            ``"batch_output"``...).
        custom_id, batch_id: for a request a batch ran.
    """

    source: str
    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes
    status: int
    response_headers: Mapping[str, str]
    response_body: bytes
    fault: str | None = None
    file_purpose: str | None = None
    custom_id: str | None = None
    batch_id: str | None = None

    @property
    def content_type(self) -> str:
        """The request's media type, without parameters (``""`` if none)."""
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    @property
    def response_content_type(self) -> str:
        """The response's media type, without parameters (``""`` if none)."""
        return self.response_headers.get("content-type", "").split(";")[0].strip().lower()


Observer = Callable[[Exchange], None]
"""What an observer is: called with each :class:`Exchange`."""


@dataclass(slots=True)
class Notes:
    """What a handler tells the observers beyond the response itself."""

    fault: str | None = None
    file_purpose: str | None = None


#: Per-request :class:`Notes` (set with :func:`note`).
SIM_NOTE = web.RequestKey("brainbatch_sim_note", Notes)


def note(
    request: web.Request, *, fault: str | None = None, file_purpose: str | None = None
) -> None:
    """Tell the observers that this request's answer carries ``fault`` on purpose, or that
    it downloads a file of ``file_purpose``."""
    n = request.get(SIM_NOTE)
    if n is None:
        n = request[SIM_NOTE] = Notes()
    if fault is not None:
        n.fault = fault
    if file_purpose is not None:
        n.file_purpose = file_purpose


def _headers(items: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): (MASK if is_secret_header(k) else v) for k, v in items.items()}


@dataclass(slots=True)
class Observers:
    """The observers of one app (``app[SIM_OBSERVERS]``); safe to change from any thread
    (each change swaps one tuple)."""

    callbacks: tuple[Observer, ...] = field(default_factory=tuple)

    def add(self, observer: Observer) -> None:
        self.callbacks = (*self.callbacks, observer)

    def remove(self, observer: Observer) -> None:
        self.callbacks = tuple(c for c in self.callbacks if c is not observer)

    def notify(self, exchange: Exchange) -> None:
        for callback in self.callbacks:
            callback(exchange)

    def batch_request(
        self,
        source: str,
        path: str,
        body: Any,
        status: int,
        response: Any,
        custom_id: str,
        batch_id: str,
    ) -> None:
        """Report one request a batch ran (``body`` and ``response`` as JSON values)."""
        if not self.callbacks:
            return
        json_type = {"content-type": "application/json"}
        self.notify(
            Exchange(
                source,
                "POST",
                path,
                {},
                json_type,
                orjson.dumps(body),
                status,
                json_type,
                orjson.dumps(response),
                custom_id=custom_id,
                batch_id=batch_id,
            )
        )


#: The app's :class:`Observers`.
SIM_OBSERVERS = web.AppKey("brainbatch_sim_observers", Observers)

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def observe_middleware(request: web.Request, handler: _Handler) -> web.StreamResponse:
    """Report each request and its answer to the app's observers (none: just answer)."""
    observers = request.app[SIM_OBSERVERS]
    if not observers.callbacks:
        return await handler(request)
    raw = await request.read()
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # aiohttp's own answers (404 for unknown routes...)
        _report(observers, request, raw, exc)
        raise
    _report(observers, request, raw, response)
    return response


def _report(
    observers: Observers, request: web.Request, raw: bytes, response: web.StreamResponse
) -> None:
    notes = request.get(SIM_NOTE) or Notes()
    body = response.body if isinstance(response, web.Response) else None
    sent = bytes(body) if isinstance(body, bytes | bytearray) else b""
    dropped = notes.fault in ("drop", "hang")
    observers.notify(
        Exchange(
            "http",
            request.method,
            request.path,
            {k: v for k, v in request.query.items()},
            _headers(request.headers),
            raw,
            0 if dropped else response.status,
            _headers(response.headers),
            b"" if dropped else sent,
            fault=notes.fault,
            file_purpose=notes.file_purpose,
        )
    )
