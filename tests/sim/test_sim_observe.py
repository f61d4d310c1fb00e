"""Observers see every request the simulated server answers, and the answer."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import orjson
import pytest
from sim_helpers import ANTHROPIC_HEADERS, chat_body, message_body

from brainbatch.sim import SimServer
from brainbatch.sim.batches import SIM_BATCHES
from brainbatch.sim.observe import Exchange


@pytest.fixture
def seen(sim: SimServer) -> Iterator[list[Exchange]]:
    got: list[Exchange] = []
    stop = sim.observe(got.append)
    yield got
    stop()


def test_an_observer_sees_the_request_and_the_answer(seen, client):
    r = client.post("/v1/chat/completions?x=1", json=chat_body("hello"))
    (x,) = seen
    assert (x.source, x.method, x.path, dict(x.query)) == (
        "http",
        "POST",
        "/v1/chat/completions",
        {"x": "1"},
    )
    assert orjson.loads(x.body) == chat_body("hello")
    assert x.content_type == "application/json"
    assert (x.status, x.response_body) == (200, r.content)
    assert x.response_content_type == "application/json"
    assert x.fault is None


def test_an_observer_never_sees_credentials(sim, seen, client):
    sim.configure(api_key="sk-secret-observed")
    client.post(
        "/v1/messages",
        json=message_body(),
        headers={**ANTHROPIC_HEADERS, "x-api-key": "sk-secret-observed"},
    )
    assert "sk-secret-observed" not in repr(seen)
    assert seen[0].headers["x-api-key"] != "sk-secret-observed"


def test_a_dropped_answer_is_reported_with_status_0_and_its_fault(sim, seen, client):
    sim.configure(drop=1.0)
    with pytest.raises(httpx.RemoteProtocolError):
        client.post("/v1/chat/completions", json=chat_body())
    assert (seen[0].status, seen[0].fault, seen[0].response_body) == (0, "drop", b"")


def test_a_malformed_answer_is_reported_as_a_fault_on_purpose(sim, seen, client):
    sim.configure(malformed=1.0)
    client.post("/v1/chat/completions", json=chat_body())
    assert (seen[0].status, seen[0].fault) == (200, "malformed")


def test_a_file_download_says_the_files_purpose(seen, client):
    f = client.post(
        "/v1/files", files={"file": ("a.jsonl", b"{}\n")}, data={"purpose": "batch"}
    ).json()
    client.get(f"/v1/files/{f['id']}/content")
    assert seen[-1].file_purpose == "batch"


def test_each_request_a_batch_runs_is_reported_like_a_request(sim, seen, client):
    sim.app[SIM_BATCHES].configure(validating_s=0, in_progress_s=0, finalizing_s=0)
    r = client.post(
        "/v1/messages/batches",
        json={"requests": [{"custom_id": "a", "params": message_body("hi")}]},
        headers=ANTHROPIC_HEADERS,
    )
    client.get(f"/v1/messages/batches/{r.json()['id']}", headers=ANTHROPIC_HEADERS)
    (run,) = [x for x in seen if x.source == "anthropic-batch"]
    assert (run.path, run.custom_id, run.batch_id) == ("/v1/messages", "a", r.json()["id"])
    assert orjson.loads(run.body) == message_body("hi")
    assert run.status == 200 and orjson.loads(run.response_body)["type"] == "message"
    sim.app[SIM_BATCHES].reset()


def test_a_stopped_observer_sees_nothing_more(sim, client):
    got: list[Exchange] = []
    stop = sim.observe(got.append)
    client.get("/v1/models")
    stop()
    client.get("/v1/models")
    assert len(got) == 1


def test_default_observers_watch_every_server_created_afterwards(monkeypatch):
    got: list[Exchange] = []
    monkeypatch.setattr(SimServer, "default_observers", [got.append])
    with SimServer() as server:
        httpx.get(server.url + "/v1/models")
    deadline = time.monotonic() + 5
    while not got and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [x.path for x in got] == ["/v1/models"]
