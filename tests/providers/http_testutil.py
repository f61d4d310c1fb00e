"""Constants and a hand-written local server shared by the HTTP tests (imported as a plain
module: tests/ has no packages)."""

from __future__ import annotations

import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import orjson
from aiohttp import web

from brainbatch.limits import RetryPolicy

KEY = "sk-test-SECRET0123456789abcdef"
"""The fake API key every test provider uses; leak checks look for it."""

FAST_RETRY = RetryPolicy(max_attempts=4, base_delay_s=0.005, max_delay_s=0.02)
"""Retries with millisecond backoffs, so retry tests take no time."""


# -- hand-written local servers -----------------------------------------------------------------


@dataclass
class Seen:
    """One request a :class:`LocalServer` received."""

    method: str
    path: str
    """Path and query, as sent."""
    headers: dict[str, str]
    """Header names in lower case."""
    body: bytes
    t: float
    """Arrival, ``time.monotonic()`` on the server."""


Answer = tuple[int, Mapping[str, str], Any]
"""(status, headers, body): a ``bytes`` body is sent as is, anything else as JSON."""


def script(*answers: Answer) -> Callable[[Seen], Answer]:
    """Answers in turn, the last one again for every later request."""
    left = list(answers)

    def answer(seen: Seen) -> Answer:
        return left.pop(0) if len(left) > 1 else left[0]

    return answer


class LocalServer:
    """A hand-written HTTP server on 127.0.0.1 in the test's own event loop.

    Every request is recorded in :attr:`seen`; ``answer(seen)`` (may be async) gives the
    reply. Use as ``async with LocalServer(answer) as srv: ... srv.url ...``.
    """

    def __init__(self, answer: Callable[[Seen], Answer | Awaitable[Answer]]) -> None:
        self.answer = answer
        self.seen: list[Seen] = []
        self.url = ""
        self._runner: web.ServerRunner | None = None

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        seen = Seen(
            method=request.method,
            path=request.raw_path,
            headers={k.lower(): v for k, v in request.headers.items()},
            body=await request.read(),
            t=time.monotonic(),
        )
        self.seen.append(seen)
        out = self.answer(seen)
        status, headers, body = await out if isinstance(out, Awaitable) else out
        data = body if isinstance(body, bytes) else orjson.dumps(body)
        return web.Response(status=status, headers=dict(headers), body=data)

    async def __aenter__(self) -> LocalServer:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self._runner = web.ServerRunner(web.Server(self._handle), handle_signals=False)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def free_port() -> int:
    """A 127.0.0.1 port nobody listens on (connections to it are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
