"""A minimal OpenAI-compatible chat server for benchmarks: uvloop + httptools, 0 ms latency.

It answers every ``POST .../chat/completions`` with one fixed, valid ``chat.completion`` body
(a short answer, usage counts) and every other request with 404. It does no validation and no
per-request work beyond parsing HTTP, so it costs a few tens of microseconds of CPU per
request: the client, not the server, is what a benchmark against it measures. (The simulated
server, ``brainbatch.sim``, validates every body against the API's rules and costs about
110 us per request: use it to test behaviour, this one to measure the client.)

    python bench/fast_server.py [--port 0]        # prints "listening on http://127.0.0.1:PORT"

Needs ``uvloop`` and ``httptools`` (the ``bench`` extra); falls back to the standard asyncio
loop without uvloop.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

import httptools
import orjson

try:
    import uvloop
except ImportError:  # pragma: no cover - the bench extra installs it
    uvloop = None  # type: ignore[assignment]


def _body() -> bytes:
    return orjson.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": "gpt-4o-mini",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "positive", "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 12, "completion_tokens": 2, "total_tokens": 14},
        }
    )


BODY = _body()
OK = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
    + b"content-length: "
    + str(len(BODY)).encode()
    + b"\r\nx-request-id: req-bench\r\n\r\n"
    + BODY
)
NOT_FOUND = b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.transport is not None:
                self.transport.close()

    def on_url(self, url: bytes) -> None:
        self.url = url

    def on_message_complete(self) -> None:
        assert self.transport is not None
        self.transport.write(OK if self.url.endswith(b"/chat/completions") else NOT_FOUND)


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Protocol, "127.0.0.1", port, backlog=4096)
    bound = server.sockets[0].getsockname()[1]
    print(f"listening on http://127.0.0.1:{bound}", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args(argv)
    if uvloop is not None:
        uvloop.run(serve(args.port))
    else:
        asyncio.run(serve(args.port))


if __name__ == "__main__":
    sys.exit(main())
