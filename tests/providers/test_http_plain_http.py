"""A key about to go over plain http:// to a host that is not loopback gives one warning.

Hosts that are not loopback cannot be reached from the tests, so these requests go to an
``httpx.MockTransport`` (nothing leaves the process); loopback ones go to the SimServer.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator

import httpx
import pytest
from http_testutil import FAST_RETRY, KEY

from brainbatch import BatchRequest
from brainbatch.batchapi import OpenAIBatchBackend
from brainbatch.errors import InsecureTransportWarning
from brainbatch.providers.http import is_loopback_host
from brainbatch.providers.openai import OpenAIProvider
from brainbatch.sim import SimServer

REQ = BatchRequest(prompt="Hi", model="gpt-4o-mini")
COMPLETION = {
    "id": "c1",
    "model": "gpt-4o-mini",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}}],
}


def answer(request: httpx.Request) -> httpx.Response:
    if request.url.path.endswith("/batches/b1"):
        return httpx.Response(200, json={"id": "b1", "status": "completed"})
    return httpx.Response(200, json=COMPLETION)


def mock(base_url: str, **kw: object) -> OpenAIProvider:
    kw.setdefault("api_key", KEY)
    return OpenAIProvider(
        base_url=base_url,
        transport=httpx.MockTransport(answer),
        retry=FAST_RETRY,
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture
def caught() -> Iterator[list[warnings.WarningMessage]]:
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        yield seen


def insecure(seen: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in seen if issubclass(w.category, InsecureTransportWarning)]


async def test_a_key_over_plain_http_to_another_host_warns_once(
    caught: list[warnings.WarningMessage],
) -> None:
    async with mock("http://llm.example:8000/v1") as p:
        await p(REQ)
        await p(REQ)
    (text,) = insecure(caught)
    assert "plain http://" in text and "llm.example" in text and "https://" in text
    assert KEY not in text


async def test_batch_calls_warn_too_and_only_once_with_the_requests(
    caught: list[warnings.WarningMessage],
) -> None:
    async with mock("http://llm.example/v1") as p:
        backend = OpenAIBatchBackend(p)
        await backend.call_json("GET", "/batches/b1", what="status of batch b1")
        await p(REQ)
    assert len(insecure(caught)) == 1


async def test_each_provider_warns_for_itself(caught: list[warnings.WarningMessage]) -> None:
    async with mock("http://llm.example/v1") as p1, mock("http://llm.example/v1") as p2:
        await p1(REQ)
        await p2(REQ)
    assert len(insecure(caught)) == 2


async def test_a_credential_in_extra_headers_counts_as_a_key(
    caught: list[warnings.WarningMessage],
) -> None:
    async with mock(
        "http://10.1.2.3/v1", api_key="", extra_headers={"Authorization": "Bearer abc"}
    ) as p:
        await p(REQ)
    assert len(insecure(caught)) == 1 and "10.1.2.3" in insecure(caught)[0]


async def test_no_warning_over_https(caught: list[warnings.WarningMessage]) -> None:
    async with mock("https://llm.example/v1") as p:
        await p(REQ)
    assert insecure(caught) == []


async def test_no_warning_without_a_key(caught: list[warnings.WarningMessage]) -> None:
    async with mock("http://llm.example/v1", api_key="") as p:
        await p(REQ)
    assert insecure(caught) == []


async def test_no_warning_for_a_server_on_this_machine(
    sim: SimServer,
    openai_at: Callable[..., OpenAIProvider],
    caught: list[warnings.WarningMessage],
) -> None:
    await openai_at()(REQ)  # the SimServer, http://127.0.0.1:..., with a key
    assert insecure(caught) == []


@pytest.mark.parametrize(
    "base_url",
    ["http://localhost:9/v1", "http://127.0.0.1:9/v1", "http://127.8.9.10/v1", "http://[::1]:9/v1"],
)
async def test_no_warning_for_loopback_hosts(
    base_url: str, caught: list[warnings.WarningMessage]
) -> None:
    async with mock(base_url) as p:
        await p(REQ)
    assert insecure(caught) == []


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("LOCALHOST.", True),
        ("127.0.0.1", True),
        ("127.255.0.9", True),
        ("::1", True),
        ("[::1]", True),
        ("128.0.0.1", False),
        ("10.0.0.1", False),
        ("localhost.example.com", False),
        ("example.com", False),
        ("", False),
    ],
)
def test_loopback_hosts_are_localhost_127_slash_8_and_ipv6_1(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback
