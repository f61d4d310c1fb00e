"""The official SDKs drive the simulated batch endpoints through a whole lifecycle:
a wire-compatibility check of the simulated server (SDK retries off)."""

from __future__ import annotations

import io
import time

import anthropic
import openai
import orjson

from brainbatch.sim import SimServer
from brainbatch.sim.batches import BatchSimState


def _wait(fetch, done, timeout=10.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    obj = fetch()
    while not done(obj) and time.monotonic() < deadline:
        time.sleep(0.02)
        obj = fetch()
    return obj


def _jsonl(n: int) -> bytes:
    lines = [
        {
            "custom_id": f"q{i}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"hi {i}"}]},
        }
        for i in range(n)
    ]
    return b"\n".join(orjson.dumps(x) for x in lines) + b"\n"


def test_openai_sdk_runs_a_batch_from_upload_to_output_file(
    sim: SimServer, batch_sim: BatchSimState
) -> None:
    client = openai.OpenAI(base_url=sim.openai_base_url, api_key="sk-test", max_retries=0)
    f = client.files.create(file=("in.jsonl", io.BytesIO(_jsonl(5))), purpose="batch")
    assert client.files.retrieve(f.id).bytes == len(_jsonl(5))
    batch = client.batches.create(
        input_file_id=f.id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        metadata={"who": "sdk-test"},
    )
    assert batch.status == "validating" and batch.metadata == {"who": "sdk-test"}
    batch = _wait(lambda: client.batches.retrieve(batch.id), lambda b: b.status == "completed")
    assert batch.request_counts is not None and batch.request_counts.completed == 5
    assert batch.completed_at is not None and batch.output_file_id
    lines = [orjson.loads(x) for x in client.files.content(batch.output_file_id).text.splitlines()]
    assert sorted(x["custom_id"] for x in lines) == [f"q{i}" for i in range(5)]
    assert lines[0]["response"]["body"]["object"] == "chat.completion"
    assert batch.id in [b.id for b in client.batches.list(limit=10)]


def test_openai_sdk_cancels_a_batch(sim: SimServer, batch_sim: BatchSimState) -> None:
    batch_sim.configure(in_progress_s=5.0)
    client = openai.OpenAI(base_url=sim.openai_base_url, api_key="sk-test", max_retries=0)
    f = client.files.create(file=("in.jsonl", io.BytesIO(_jsonl(3))), purpose="batch")
    batch = client.batches.create(
        input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    assert client.batches.cancel(batch.id).status == "cancelling"
    batch = _wait(lambda: client.batches.retrieve(batch.id), lambda b: b.status == "cancelled")
    assert batch.status == "cancelled" and batch.cancelled_at is not None


def test_openai_sdk_sees_validation_errors(sim: SimServer, batch_sim: BatchSimState) -> None:
    client = openai.OpenAI(base_url=sim.openai_base_url, api_key="sk-test", max_retries=0)
    dup = _jsonl(2).replace(b'"q1"', b'"q0"')
    f = client.files.create(file=("in.jsonl", io.BytesIO(dup)), purpose="batch")
    batch = client.batches.create(
        input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    batch = _wait(lambda: client.batches.retrieve(batch.id), lambda b: b.status == "failed")
    assert batch.errors is not None and batch.errors.data
    assert batch.errors.data[0].code == "duplicate_custom_id" and batch.errors.data[0].line == 2


def test_anthropic_sdk_runs_a_message_batch_and_reads_its_results(
    sim: SimServer, batch_sim: BatchSimState
) -> None:
    client = anthropic.Anthropic(base_url=sim.anthropic_base_url, api_key="k", max_retries=0)
    batch = client.messages.batches.create(
        requests=[
            {
                "custom_id": f"m{i}",
                "params": {
                    "model": "claude-haiku-4-5",
                    "max_tokens": 50,
                    "messages": [{"role": "user", "content": f"hi {i}"}],
                },
            }
            for i in range(4)
        ]
    )
    assert batch.processing_status == "in_progress" and batch.request_counts.processing == 4
    batch = _wait(
        lambda: client.messages.batches.retrieve(batch.id),
        lambda b: b.processing_status == "ended",
    )
    assert batch.request_counts.succeeded == 4 and batch.ended_at is not None
    results = list(client.messages.batches.results(batch.id))
    assert sorted(r.custom_id for r in results) == ["m0", "m1", "m2", "m3"]
    assert all(r.result.type == "succeeded" for r in results)
    assert batch.id in [b.id for b in client.messages.batches.list(limit=5)]
    assert client.messages.batches.delete(batch.id).type == "message_batch_deleted"


def test_anthropic_sdk_cancels_a_message_batch(sim: SimServer, batch_sim: BatchSimState) -> None:
    batch_sim.configure(in_progress_s=5.0)
    client = anthropic.Anthropic(base_url=sim.anthropic_base_url, api_key="k", max_retries=0)
    batch = client.messages.batches.create(
        requests=[
            {
                "custom_id": "only",
                "params": {
                    "model": "claude-haiku-4-5",
                    "max_tokens": 10,
                    "messages": [{"role": "user", "content": "hi"}],
                },
            }
        ]
    )
    assert client.messages.batches.cancel(batch.id).processing_status == "canceling"
    batch = _wait(
        lambda: client.messages.batches.retrieve(batch.id),
        lambda b: b.processing_status == "ended",
    )
    assert batch.request_counts.canceled == 1 and batch.cancel_initiated_at is not None
    (result,) = list(client.messages.batches.results(batch.id))
    assert result.result.type == "canceled"


def test_openai_sdk_picks_a_scenario_per_batch_through_metadata(
    sim: SimServer, batch_sim: BatchSimState
) -> None:
    client = openai.OpenAI(base_url=sim.openai_base_url, api_key="sk-test", max_retries=0)
    f = client.files.create(file=("in.jsonl", io.BytesIO(_jsonl(4))), purpose="batch")
    batch = client.batches.create(
        input_file_id=f.id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        metadata={"sim_scenario": "expire"},
    )
    batch = _wait(lambda: client.batches.retrieve(batch.id), lambda b: b.status == "expired")
    assert batch.expired_at is not None and batch.output_file_id and batch.error_file_id
    errors = [orjson.loads(x) for x in client.files.content(batch.error_file_id).text.splitlines()]
    assert {e["error"]["code"] for e in errors} == {"batch_expired"}
