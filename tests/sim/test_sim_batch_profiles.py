"""``SimServer(batch_profile=...)``: the simulated ``/files`` + ``/batches`` play another
OpenAI-format batch host (Groq), with its server path, windows and file size, and OpenAI's
error shape (every exchange is checked against the host's overlay document, tests/spec)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from sim_helpers import chat_body

from brainbatch.errors import InputError
from brainbatch.sim import SimServer
from brainbatch.sim.batches import SIM_BATCHES

GROQ = "/openai/v1"


@pytest.fixture(scope="module")
def groq() -> Iterator[SimServer]:
    with SimServer(batch_profile="groq") as server:
        yield server


@pytest.fixture
def client(groq: SimServer) -> Iterator[httpx.Client]:
    groq.app[SIM_BATCHES].reset()
    with httpx.Client(base_url=groq.url, timeout=5.0) as c:
        yield c


def _create(client: httpx.Client, prefix: str, window: str) -> httpx.Response:
    line = {"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": chat_body()}
    up = client.post(
        f"{prefix}/files",
        files={"file": ("in.jsonl", orjson.dumps(line) + b"\n")},
        data={"purpose": "batch"},
    )
    assert up.status_code == 200, up.text
    body: dict[str, Any] = {
        "input_file_id": up.json()["id"],
        "endpoint": "/v1/chat/completions",
        "completion_window": window,
    }
    return client.post(f"{prefix}/batches", json=body)


def test_groq_serves_its_batches_under_openai_v1(groq, client):
    assert groq.batch_base_url == groq.url + GROQ
    assert _create(client, GROQ, "24h").status_code == 200
    routes = {r.canonical for r in groq.app.router.resources()}
    assert f"{GROQ}/batches" in routes and "/v1/batches" not in routes


@pytest.mark.parametrize("window", ["24h", "48h", "7d"])
def test_groq_accepts_a_window_from_24h_to_7d(client, window):
    r = _create(client, GROQ, window)
    assert r.status_code == 200, r.text
    assert r.json()["completion_window"] == window


@pytest.mark.parametrize("window", ["12h", "8d", "169h", "soon"])
def test_groq_refuses_a_window_outside_24h_to_7d_with_openais_error_shape(client, window):
    r = _create(client, GROQ, window)
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["param"] == "completion_window"
    assert error["code"] == "invalid_value"
    assert "24h to 7d" in error["message"]


def test_the_openai_profile_still_takes_only_24h(sim, client):
    with httpx.Client(base_url=sim.url, timeout=5.0) as plain:
        sim.app[SIM_BATCHES].reset()
        r = _create(plain, "/v1", "48h")
    assert r.status_code == 400
    assert "['24h']" in r.json()["error"]["message"]
    assert sim.batch_base_url == sim.openai_base_url


def test_groqs_input_files_are_limited_to_100_mb(groq, sim):
    assert groq.app[SIM_BATCHES].limits().openai_max_bytes == 100 * 1024 * 1024
    assert sim.app[SIM_BATCHES].limits().openai_max_bytes == 200 * 1024 * 1024


def test_a_file_over_the_hosts_size_fails_its_validation(groq, client):
    state = groq.app[SIM_BATCHES]
    state.configure(openai_max_bytes=10)  # the lower of this and the profile's 100 MB
    batch = _create(client, GROQ, "24h").json()
    state.configure(validating_s=0.0)
    for _ in range(200):
        if batch["status"] == "failed":
            break
        batch = client.get(f"{GROQ}/batches/{batch['id']}").json()
    assert batch["status"] == "failed"
    assert [e["code"] for e in batch["errors"]["data"]] == ["file_too_large"]


def test_reset_keeps_the_profile(groq):
    state = groq.app[SIM_BATCHES]
    state.reset()
    assert state.profile.name == "groq"


def test_an_unknown_profile_is_refused_naming_the_known_ones():
    with pytest.raises(InputError, match=r"batch_profile must be one of \['groq', 'openai'\]"):
        SimServer(batch_profile="fireworks")
