"""brainbatch and the official SDKs speak the documents' language: their requests for the
same small job validate clean, and the simulator refuses both the same way when a job
breaks a batch rule."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import openai
import orjson
import pytest

from brainbatch import BatchJob, BatchRequest, ParallelExecutor
from brainbatch.batchapi import BatchAPIExecutor
from brainbatch.batchapi.jsonl import Chunk
from brainbatch.batchapi.openai import OpenAIBatchBackend
from brainbatch.batchapi.records import ProviderBatch
from brainbatch.providers.anthropic import AnthropicProvider
from brainbatch.providers.openai import OpenAIProvider
from brainbatch.sim import SimServer
from brainbatch.sim.batch_state import BatchSimState
from brainbatch.sim.batches import SIM_BATCHES

from .conformance import Recorder

FAST = {"poll_interval": 0.02, "max_poll_interval": 0.1}
PROMPTS = ["one", "two", "three"]


@pytest.fixture
def batches(sim: SimServer) -> Iterator[BatchSimState]:
    state = sim.app[SIM_BATCHES]
    state.reset()
    state.configure(validating_s=0.02, in_progress_s=0.05, finalizing_s=0.02, cancelling_s=0.02)
    yield state
    state.reset()


def _job(model: str, models: list[str] | None = None) -> BatchJob:
    return BatchJob(
        [
            BatchRequest(
                prompt=p,
                model=(models or [model] * 3)[i],
                custom_id=f"q{i}",
                params={"max_tokens": 30},
            )
            for i, p in enumerate(PROMPTS)
        ]
    )


def _clean(recorder: Recorder, *operations: str) -> None:
    """Nothing the documents refuse was sent or answered, and ``operations`` were seen."""
    assert recorder.request_findings == [] and recorder.violations == []
    seen = {where.split(" ")[0] for where in recorder.checked}
    assert set(operations) <= seen, seen


def _wait(fetch: Callable[[], Any], done: Callable[[Any], bool]) -> Any:
    deadline = time.monotonic() + 10
    obj = fetch()
    while not done(obj) and time.monotonic() < deadline:
        time.sleep(0.02)
        obj = fetch()
    return obj


OPENAI_BATCH_OPS = ("createFile", "createBatch", "retrieveBatch", "downloadFile")
ANTHROPIC_BATCH_OPS = (
    "message_batches_post",
    "message_batches_retrieve",
    "message_batches_results",
)


async def test_brainbatch_openai_batch_requests_conform(sim, batches, spec_recorder):
    provider = OpenAIProvider(base_url=sim.openai_base_url, max_attempts=1)
    try:
        job = _job("gpt-4o-mini")
        await BatchAPIExecutor(provider, **FAST).execute(job)
    finally:
        await provider.aclose()
    assert job.n_success == 3
    _clean(spec_recorder, *OPENAI_BATCH_OPS, "createChatCompletion")


def test_sdk_openai_batch_requests_conform(sim, batches, spec_recorder):
    client = openai.OpenAI(base_url=sim.openai_base_url, api_key="sk-x", max_retries=0)
    body = OpenAIProvider(base_url=sim.openai_base_url).build_body(_job("gpt-4o-mini").requests[0])
    lines = [
        {
            "custom_id": f"q{i}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {**body, "messages": [{"role": "user", "content": p}]},
        }
        for i, p in enumerate(PROMPTS)
    ]
    data = b"".join(orjson.dumps(x) + b"\n" for x in lines)
    f = client.files.create(file=("in.jsonl", io.BytesIO(data)), purpose="batch")
    batch = client.batches.create(
        input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    batch = _wait(lambda: client.batches.retrieve(batch.id), lambda b: b.status == "completed")
    assert batch.output_file_id is not None
    client.files.content(batch.output_file_id)
    _clean(spec_recorder, *OPENAI_BATCH_OPS, "createChatCompletion")


async def test_brainbatch_anthropic_batch_requests_conform(sim, batches, spec_recorder):
    provider = AnthropicProvider(base_url=sim.anthropic_base_url, max_attempts=1)
    try:
        job = _job("claude-haiku-4-5")
        await BatchAPIExecutor(provider, **FAST).execute(job)
    finally:
        await provider.aclose()
    assert job.n_success == 3
    _clean(spec_recorder, *ANTHROPIC_BATCH_OPS, "messages_post")


def test_sdk_anthropic_batch_requests_conform(sim, batches, spec_recorder):
    client = anthropic.Anthropic(base_url=sim.anthropic_base_url, api_key="k", max_retries=0)
    batch = client.messages.batches.create(
        requests=[
            {
                "custom_id": f"q{i}",
                "params": {
                    "model": "claude-haiku-4-5",
                    "max_tokens": 30,
                    "messages": [{"role": "user", "content": p}],
                },
            }
            for i, p in enumerate(PROMPTS)
        ]
    )
    _wait(
        lambda: client.messages.batches.retrieve(batch.id), lambda b: b.processing_status == "ended"
    )
    assert len(list(client.messages.batches.results(batch.id))) == 3
    _clean(spec_recorder, *ANTHROPIC_BATCH_OPS, "messages_post")


@pytest.mark.parametrize(
    ("provider_cls", "model", "operation"),
    [
        (OpenAIProvider, "gpt-4o-mini", "createChatCompletion"),
        (AnthropicProvider, "claude-haiku-4-5", "messages_post"),
    ],
)
async def test_brainbatch_real_time_requests_conform(
    sim, spec_recorder, provider_cls, model, operation
):
    base = sim.openai_base_url if provider_cls is OpenAIProvider else sim.anthropic_base_url
    provider = provider_cls(base_url=base, max_attempts=1)
    try:
        job = BatchJob(
            [
                BatchRequest(
                    prompt="hi", model=model, system="Be brief", params={"max_tokens": 20}
                ),
                BatchRequest(prompt="json", model=model, params={"temperature": 0.5}),
            ]
        )
        await ParallelExecutor(max_concurrent=2).execute(job, provider)
    finally:
        await provider.aclose()
    assert job.n_success == 2
    _clean(spec_recorder, operation)


def test_sdk_real_time_requests_conform(sim, spec_recorder):
    oa = openai.OpenAI(base_url=sim.openai_base_url, api_key="sk-x", max_retries=0)
    oa.chat.completions.create(
        model="gpt-4o-mini",
        max_tokens=20,
        temperature=0.5,
        messages=[{"role": "system", "content": "Be brief"}, {"role": "user", "content": "hi"}],
    )
    an = anthropic.Anthropic(base_url=sim.anthropic_base_url, api_key="k", max_retries=0)
    an.messages.create(
        model="claude-haiku-4-5",
        max_tokens=20,
        system="Be brief",
        messages=[{"role": "user", "content": "hi"}],
    )
    _clean(spec_recorder, "createChatCompletion", "messages_post")


# -- the same refusal whoever sends it ---------------------------------------------------


def _mixed_lines(backend: OpenAIBatchBackend, job: BatchJob) -> Chunk:
    chunk = Chunk()
    for row, r in enumerate(job.requests):
        line = backend.encode(r.key, r)
        chunk.rows.append(row)
        chunk.custom_ids.append(r.key)
        chunk.lines.append(line)
        chunk.nbytes += len(line) + 1
    return chunk


async def _brainbatch_errors(sim: SimServer, job: BatchJob) -> list[str]:
    """The validation errors of one provider batch of ``job`` sent by brainbatch's HTTP
    backend as it is (no splitting by model)."""
    provider = OpenAIProvider(base_url=sim.openai_base_url, max_attempts=1)
    try:
        backend = OpenAIBatchBackend(provider)
        record = ProviderBatch(provider="openai", part="1/1")
        await backend.submit(
            record, _mixed_lines(backend, job), job_id="j", completion_window="24h"
        )
        deadline = time.monotonic() + 10
        while not record.ended and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
            await backend.refresh(record)
    finally:
        await provider.aclose()
    assert record.status == "failed"
    return list(record.errors)


def _sdk_errors(sim: SimServer, job: BatchJob) -> list[str]:
    client = openai.OpenAI(base_url=sim.openai_base_url, api_key="sk-x", max_retries=0)
    builder = OpenAIProvider(base_url=sim.openai_base_url)
    data = b"".join(
        orjson.dumps(
            {
                "custom_id": r.key,
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": builder.build_body(r),
            }
        )
        + b"\n"
        for r in job.requests
    )
    f = client.files.create(file=("in.jsonl", io.BytesIO(data)), purpose="batch")
    batch = client.batches.create(
        input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    batch = _wait(
        lambda: client.batches.retrieve(batch.id), lambda b: b.status in ("failed", "completed")
    )
    assert batch.status == "failed" and batch.errors is not None
    return [
        f"{e.code}: {e.message}" + (f" (line {e.line}, param {e.param})" if e.line else "")
        for e in batch.errors.data or []
    ]


async def test_a_mixed_model_file_is_refused_alike_from_brainbatch_and_the_sdk(
    sim, batches, spec_recorder
):
    job = _job("", models=["gpt-4o-mini", "gpt-4o", "gpt-4o-mini"])
    ours = await _brainbatch_errors(sim, job)
    theirs = await asyncio.to_thread(_sdk_errors, sim, job)
    assert len(ours) == 1 and ours[0].startswith("model_mismatch: ")
    assert ours == theirs
    assert spec_recorder.violations == []


async def test_a_file_over_the_token_limit_is_refused_alike_from_brainbatch_and_the_sdk(
    sim, batches, spec_recorder
):
    sim.configure(enqueued_token_limit={"gpt-4o-mini": 5})
    job = _job("gpt-4o-mini")
    ours = await _brainbatch_errors(sim, job)
    theirs = await asyncio.to_thread(_sdk_errors, sim, job)
    assert len(ours) == 1 and ours[0].startswith("token_limit_exceeded: Enqueued token limit")
    assert ours == theirs
    assert spec_recorder.violations == []
