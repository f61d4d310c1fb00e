"""``/v1/embeddings`` lines in the simulated OpenAI Batch API: the rules OpenAI documents,
with its error shapes (a bad file is accepted, then the batch fails its validation with
``errors.data[]``); answers and output lines checked against OpenAI's API document (the
suite's spec recorder)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import orjson
import pytest

from brainbatch.sim import SimServer
from brainbatch.sim.batch_state import OPENAI_MAX_EMBEDDING_INPUTS, BatchSimConfig, BatchSimState
from brainbatch.sim.batches import SIM_BATCHES
from brainbatch.sim.embeddings import embed_text

URL = "/v1/embeddings"


@pytest.fixture
def batches(sim: SimServer) -> Iterator[BatchSimState]:
    state = sim.app[SIM_BATCHES]
    state.reset()
    state.configure(validating_s=0.02, in_progress_s=0.1, finalizing_s=0.02, cancelling_s=0.02)
    yield state
    state.reset()


@pytest.fixture
def client(sim: SimServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.url, timeout=5.0) as c:
        yield c


def line(cid: str, text: Any = "green pears", model: str = "text-embedding-3-small", **kw: Any):
    body = {"model": model, "input": text, "encoding_format": "float", **kw}
    return {"custom_id": cid, "method": "POST", "url": URL, "body": body}


def create(client: httpx.Client, lines: list[dict[str, Any]], endpoint: str = URL) -> dict:
    content = b"".join(orjson.dumps(x) + b"\n" for x in lines)
    r = client.post("/v1/files", files={"file": ("in.jsonl", content)}, data={"purpose": "batch"})
    assert r.status_code == 200, r.text
    r = client.post(
        "/v1/batches",
        json={"input_file_id": r.json()["id"], "endpoint": endpoint, "completion_window": "24h"},
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


def settle(client: httpx.Client, batch: dict[str, Any]) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while batch["status"] not in ("failed", "completed") and time.monotonic() < deadline:
        time.sleep(0.01)
        batch = client.get(f"/v1/batches/{batch['id']}").json()
    return batch


def lines_of(client: httpx.Client, file_id: str) -> dict[str, dict[str, Any]]:
    raw = client.get(f"/v1/files/{file_id}/content").content
    return {x["custom_id"]: x for x in map(orjson.loads, raw.splitlines())}


def test_an_embeddings_batch_answers_each_line_with_the_real_time_vectors(batches, client):
    batch = settle(client, create(client, [line("a"), line("b", "a fast car", dimensions=8)]))
    assert batch["status"] == "completed" and batch["endpoint"] == URL
    out = lines_of(client, batch["output_file_id"])
    body = out["b"]["response"]["body"]
    assert body["object"] == "list" and body["usage"]["prompt_tokens"] > 0
    vec = np.asarray(body["data"][0]["embedding"], dtype=np.float32)
    assert np.array_equal(vec, embed_text("a fast car", "text-embedding-3-small", 8))


def test_an_embeddings_file_mixing_models_fails_validation(batches, client):
    batch = settle(client, create(client, [line("a"), line("b", model="text-embedding-3-large")]))
    assert batch["status"] == "failed"
    (err,) = batch["errors"]["data"]
    assert (err["code"], err["line"], err["param"]) == ("model_mismatch", 2, "body.model")


def test_a_chat_line_in_an_embeddings_batch_fails_validation(batches, client):
    chat = {
        "custom_id": "c",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": "text-embedding-3-small", "messages": [{"role": "user", "content": "x"}]},
    }
    batch = settle(client, create(client, [line("a"), chat]))
    (err,) = batch["errors"]["data"]
    assert (err["code"], err["line"], err["param"]) == ("mismatched_endpoint", 2, "url")


def test_more_embedding_inputs_than_a_batch_holds_fail_validation(batches, client):
    batches.configure(openai_max_embedding_inputs=5)
    batch = settle(client, create(client, [line("a", ["x", "y", "z"]), line("b", ["u", "v", "w"])]))
    assert batch["status"] == "failed"
    (err,) = batch["errors"]["data"]
    assert err["code"] == "too_many_inputs" and "6 embedding inputs" in err["message"]


def test_inputs_up_to_the_limit_run(batches, client):
    batches.configure(openai_max_embedding_inputs=6)
    batch = settle(client, create(client, [line("a", ["x", "y", "z"]), line("b", ["u", "v", "w"])]))
    assert batch["status"] == "completed"


def test_the_embedding_input_limit_is_openais_50000():
    assert OPENAI_MAX_EMBEDDING_INPUTS == 50_000
    assert BatchSimConfig().openai_max_embedding_inputs == 50_000


def test_a_line_openai_would_refuse_becomes_that_lines_error(batches, client):
    batch = settle(client, create(client, [line("a"), line("b", dimensions=99_999)]))
    assert batch["status"] == "completed"
    assert batch["request_counts"] == {"total": 2, "completed": 1, "failed": 1}
    err = lines_of(client, batch["error_file_id"])["b"]["response"]
    assert err["status_code"] == 400 and err["body"]["error"]["param"] == "dimensions"
