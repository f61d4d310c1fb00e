"""An intent left without a batch id (the create call's answer never arrived) is looked up in
the provider's batch list on the next run: re-attached when the provider made the batch,
submitted when it did not, never guessed when several batches fit. A transport in front of the
real simulated server loses the answer (or the call) once."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import orjson
import pytest

from brainbatch import BatchJob, BatchStatus, ConnectionFailed, PermanentError
from brainbatch.batchapi import NOT_SUBMITTED, BatchAPIExecutor
from brainbatch.providers.anthropic import AnthropicProvider
from brainbatch.providers.openai import OpenAIProvider
from brainbatch.sim import SimServer
from brainbatch.sim.batches import BatchSimState

MakeJob = Callable[..., BatchJob]
FAST = {"poll_interval": 0.02, "max_poll_interval": 0.1}
"""Executor polling that suits the simulated clock."""

OPENAI_CREATE = "/v1/batches"
ANTHROPIC_CREATE = "/v1/messages/batches"


class LoseOnce(httpx.AsyncBaseTransport):
    """Fails the first ``POST path`` with a dropped connection: after the server answered
    it (``reached=True``: the batch exists, the client never hears of it) or before."""

    def __init__(self, path: str, *, reached: bool) -> None:
        self.path, self.reached, self.armed = path, reached, True
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.armed and request.method == "POST" and request.url.path == self.path:
            self.armed = False
            if self.reached:
                resp = await self.inner.handle_async_request(request)
                await resp.aread()
            raise httpx.ReadError("connection lost")
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
async def lossy(
    sim: SimServer, batch_sim: BatchSimState
) -> AsyncIterator[Callable[..., OpenAIProvider | AnthropicProvider]]:
    clients: list[httpx.AsyncClient] = []

    def make(kind: str, *, reached: bool) -> OpenAIProvider | AnthropicProvider:
        path = OPENAI_CREATE if kind == "openai" else ANTHROPIC_CREATE
        client = httpx.AsyncClient(transport=LoseOnce(path, reached=reached))
        clients.append(client)
        if kind == "openai":
            return OpenAIProvider(base_url=sim.openai_base_url, client=client)
        return AnthropicProvider(base_url=sim.anthropic_base_url, client=client)

    yield make
    for c in clients:
        await c.aclose()


async def _lose_then_resume(provider: OpenAIProvider | AnthropicProvider, job: BatchJob) -> None:
    with pytest.raises(ConnectionFailed):
        await BatchAPIExecutor(provider, **FAST).execute(job)
    (intent,) = job.metadata["provider_batches"]
    assert intent.is_intent  # the answer was lost: no batch id
    await BatchAPIExecutor(provider, **FAST).execute(job)


@pytest.mark.parametrize(
    ("kind", "model"), [("openai", "gpt-4o-mini"), ("anthropic", "claude-haiku-4-5")]
)
async def test_batch_accepted_but_answer_lost_is_reattached_not_resubmitted(
    lossy: Callable[..., OpenAIProvider | AnthropicProvider],
    make_job: MakeJob,
    batch_sim: BatchSimState,
    kind: str,
    model: str,
) -> None:
    job = make_job(7, model)
    await _lose_then_resume(lossy(kind, reached=True), job)
    (created,) = batch_sim.batches.values()
    (record,) = job.metadata["provider_batches"]
    assert record.batch_id == created.id
    assert job.status == BatchStatus.COMPLETED and job.n_success == 7


async def test_batch_the_provider_never_got_is_submitted_on_resume(
    lossy: Callable[..., OpenAIProvider | AnthropicProvider],
    make_job: MakeJob,
    batch_sim: BatchSimState,
) -> None:
    job = make_job(5)
    await _lose_then_resume(lossy("openai", reached=False), job)
    (created,) = batch_sim.batches.values()
    lost, sent = job.metadata["provider_batches"]
    assert lost.state == NOT_SUBMITTED and lost.batch_id is None
    assert sent.batch_id == created.id and lost.part != sent.part
    assert job.status == BatchStatus.COMPLETED and job.n_success == 5


async def test_recovery_pages_through_the_batch_list(
    lossy: Callable[..., OpenAIProvider | AnthropicProvider],
    make_job: MakeJob,
    batch_sim: BatchSimState,
    sim: SimServer,
) -> None:
    provider = lossy("openai", reached=True)
    job = make_job(3)
    with pytest.raises(ConnectionFailed):
        await BatchAPIExecutor(provider, **FAST).execute(job)
    async with httpx.AsyncClient(base_url=sim.openai_base_url) as other:  # 120 newer batches
        f = (
            await other.post(
                "/files",
                files={"file": ("x.jsonl", _line(), "application/jsonl")},
                data={"purpose": "batch"},
            )
        ).json()
        for _ in range(120):
            body = {"input_file_id": f["id"], "endpoint": "/v1/chat/completions"}
            r = await other.post("/batches", json={**body, "completion_window": "24h"})
            assert r.status_code == 200
    ours = next(b for b in batch_sim.batches.values() if b.metadata)
    await BatchAPIExecutor(provider, **FAST).execute(job)
    assert job.metadata["provider_batches"][0].batch_id == ours.id
    assert len(batch_sim.batches) == 121 and job.n_success == 3


async def test_several_anthropic_batches_that_fit_an_intent_are_not_guessed(
    lossy: Callable[..., OpenAIProvider | AnthropicProvider],
    make_job: MakeJob,
    batch_sim: BatchSimState,
    sim: SimServer,
) -> None:
    provider = lossy("anthropic", reached=True)
    job = make_job(2, "claude-haiku-4-5")
    with pytest.raises(ConnectionFailed):
        await BatchAPIExecutor(provider, **FAST).execute(job)
    async with httpx.AsyncClient(base_url=sim.anthropic_base_url) as other:
        hi = [{"role": "user", "content": "hi"}]
        params = {"model": "claude-haiku-4-5", "max_tokens": 5, "messages": hi}
        reqs = [{"custom_id": f"o{i}", "params": params} for i in range(2)]
        r = await other.post(
            "/v1/messages/batches",
            json={"requests": reqs},
            headers={"anthropic-version": "2023-06-01"},
        )
        assert r.status_code == 200  # someone else's batch of the same size, same minute
    with pytest.raises(PermanentError, match="2 message batches at the provider fit it"):
        await BatchAPIExecutor(provider, **FAST).execute(job)
    assert len(batch_sim.batches) == 2  # nothing submitted again
    assert job.metadata["provider_batches"][0].is_intent


def _line() -> bytes:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    line = {"custom_id": "x", "method": "POST", "url": "/v1/chat/completions", "body": body}
    return orjson.dumps(line) + b"\n"
