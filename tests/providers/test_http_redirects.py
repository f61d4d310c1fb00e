"""API calls never follow redirects, on any HTTP path: server A redirects to server B (both
hand-written, on 127.0.0.1); B must receive nothing, and the call fails naming B."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from http_testutil import KEY, LocalServer, script

from brainbatch import BatchJob, BatchRequest, ParallelExecutor
from brainbatch.batchapi import AnthropicBatchBackend, OpenAIBatchBackend
from brainbatch.batchapi.records import ProviderBatch
from brainbatch.errors import PermanentError
from brainbatch.limits import RetryPolicy
from brainbatch.providers.anthropic import AnthropicProvider
from brainbatch.providers.openai import OpenAIProvider

FAST = RetryPolicy(max_attempts=3, base_delay_s=0.001, max_delay_s=0.005)
BATCH = {"id": "batch_1", "status": "validating"}


@asynccontextmanager
async def redirecting(status: int, path: str = "/x") -> AsyncIterator[tuple[LocalServer, str]]:
    """(A, B's URL + path): A answers every request with ``status`` to B, B records."""
    async with LocalServer(script((200, {}, BATCH))) as b:
        target = b.url + path
        async with LocalServer(script((status, {"Location": target}, BATCH))) as a:
            yield a, target
        assert b.seen == []  # B never got a request, nor the key


def assert_refused(error: PermanentError, status: int, target: str) -> None:
    assert error.kind == "redirect" and error.status_code == status
    assert f"HTTP {status}: the server redirected to {target}" in str(error)
    assert "never follows redirects" in str(error) and "fix base_url" in str(error)


def openai_clients() -> list[dict[str, Any]]:
    """The ways a provider can be given its HTTP client: brainbatch's aiohttp path, and the
    user's own httpx client even when it is set to follow redirects."""
    return [
        {},
        {"client": httpx.AsyncClient(follow_redirects=True)},
        {"transport": httpx.AsyncHTTPTransport()},
    ]


@pytest.mark.parametrize("status", [302, 307])
@pytest.mark.parametrize("how", range(3), ids=["aiohttp", "user-client", "transport"])
async def test_a_request_is_not_redirected(status: int, how: int) -> None:
    kw = openai_clients()[how]
    async with redirecting(status) as (a, target):
        async with OpenAIProvider(base_url=a.url + "/v1", api_key=KEY, retry=FAST, **kw) as p:
            with pytest.raises(PermanentError) as info:
                await p(BatchRequest(prompt="Hi", model="gpt-4o-mini"))
        if "client" in kw:
            await kw["client"].aclose()
    assert_refused(info.value, status, target)
    assert len(a.seen) == 1  # a redirect is permanent: not retried


async def test_each_redirected_row_fails_with_the_message() -> None:
    async with redirecting(302) as (a, target):
        job = BatchJob([BatchRequest(prompt=f"q{i}", model="gpt-4o-mini") for i in range(3)])
        async with OpenAIProvider(base_url=a.url + "/v1", api_key=KEY, retry=FAST) as p:
            await ParallelExecutor(max_concurrent=2).execute(job, p)
    assert len(job.results) == 3 and job.n_success == 0
    assert all(r.error and f"redirected to {target}" in r.error for r in job.results)


async def test_an_anthropic_request_is_not_redirected_with_its_x_api_key() -> None:
    async with (
        redirecting(307, "/v1/messages") as (a, target),
        AnthropicProvider(base_url=a.url, api_key=KEY, retry=FAST) as p,
    ):
        with pytest.raises(PermanentError) as info:
            await p(BatchRequest(prompt="Hi", model="claude-sonnet-4-5"))
    assert_refused(info.value, 307, target)


@pytest.mark.parametrize("status", [302, 307])
@pytest.mark.parametrize(
    ("method", "path", "idempotent"),
    [
        ("GET", "/batches/batch_1", True),
        ("POST", "/batches", False),
        ("POST", "/batches/batch_1/cancel", True),
    ],
)
@pytest.mark.parametrize("follow", [False, True], ids=["own-client", "user-client-follows"])
async def test_a_batch_call_is_not_redirected(
    status: int, method: str, path: str, idempotent: bool, follow: bool
) -> None:
    client = httpx.AsyncClient(follow_redirects=True) if follow else None
    async with redirecting(status) as (a, target):
        provider = OpenAIProvider(base_url=a.url + "/v1", api_key=KEY, client=client)
        backend = OpenAIBatchBackend(provider, retry=FAST)
        with pytest.raises(PermanentError) as info:
            await backend.call(method, path, what="the call", idempotent=idempotent, json={})
        await provider.aclose()
    if client is not None:
        await client.aclose()
    assert_refused(info.value, status, target)
    assert len(a.seen) == 1


async def test_a_302_to_a_post_is_not_taken_as_the_answer() -> None:
    # the redirect carries a body that looks like a created batch: it is still refused
    async with redirecting(302) as (a, _):
        provider = OpenAIProvider(base_url=a.url + "/v1", api_key=KEY)
        backend = OpenAIBatchBackend(provider, retry=FAST)
        with pytest.raises(PermanentError, match="redirected"):
            await backend.call_json("POST", "/batches", what="creation", idempotent=False)
        await provider.aclose()


@pytest.mark.parametrize("status", [302, 307])
async def test_a_results_download_is_not_redirected(status: int) -> None:
    async with redirecting(status) as (a, target):
        provider = AnthropicProvider(base_url=a.url, api_key=KEY)
        backend = AnthropicBatchBackend(provider, retry=FAST)
        with pytest.raises(PermanentError) as info:
            record = ProviderBatch(provider="anthropic", batch_id="msgbatch_1")
            async for _ in backend.outcomes(record):
                pass
        await provider.aclose()
    assert_refused(info.value, status, target)


async def test_a_relative_location_is_named_as_the_full_url() -> None:
    async with (
        LocalServer(script((301, {"Location": "/moved/here"}, b""))) as a,
        OpenAIProvider(base_url=a.url + "/v1", api_key=KEY, retry=FAST) as p,
    ):
        with pytest.raises(PermanentError) as info:
            await p(BatchRequest(prompt="Hi", model="gpt-4o-mini"))
    assert f"redirected to {a.url}/moved/here;" in str(info.value)
