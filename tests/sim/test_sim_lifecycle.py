"""SimServer life cycle: free port, addresses, runtime configuration, clean stop."""

from __future__ import annotations

import socket
import threading

import httpx
import pytest
from sim_helpers import chat_body

from brainbatch.errors import ConfigurationError, InputError
from brainbatch.sim import SimConfig, SimServer


def test_addresses_point_at_a_loopback_port(sim):
    assert sim.url == f"http://127.0.0.1:{sim.port}"
    assert sim.openai_base_url == sim.url + "/v1"
    assert sim.anthropic_base_url == sim.url


def test_stop_releases_the_port_and_the_thread():
    before = {t.name for t in threading.enumerate()}
    server = SimServer().start()
    port = server.port
    assert httpx.post(server.url + "/v1/chat/completions", json=chat_body()).status_code == 200
    server.stop()
    assert {t.name for t in threading.enumerate()} == before
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection(("127.0.0.1", port), timeout=1),
    ):
        pass


@pytest.mark.parametrize("config", [{"hang": 1.0, "max_hang_s": 600}, {"latency_ms": 600_000}])
def test_stop_drops_waiting_requests_instead_of_waiting_for_them(config):
    server = SimServer(**config).start()
    errors: list[Exception] = []

    def call() -> None:
        try:
            httpx.post(server.url + "/v1/chat/completions", json=chat_body(), timeout=600)
        except httpx.HTTPError as e:
            errors.append(e)

    caller = threading.Thread(target=call)
    caller.start()
    while server.count() == 0:
        threading.Event().wait(0.01)
    server.stop()
    caller.join(timeout=30)
    assert not caller.is_alive()
    assert isinstance(errors[0], httpx.RemoteProtocolError)


def test_a_stopped_server_has_no_address():
    with pytest.raises(ConfigurationError, match="not running"):
        _ = SimServer().url


def test_overrides_apply_on_top_of_a_config():
    server = SimServer(SimConfig(seed=3, latency_ms=5), latency_ms=0)
    assert (server.config.seed, server.config.latency_ms) == (3, 0)


def test_unknown_settings_are_refused(sim):
    with pytest.raises(InputError, match="bogus"):
        sim.configure(bogus=1)


def test_configure_changes_behaviour_while_running(sim, client):
    sim.configure(http_502=1.0)
    assert client.post("/v1/chat/completions", json=chat_body()).status_code == 502
    sim.configure(http_502=0.0)
    assert client.post("/v1/chat/completions", json=chat_body()).status_code == 200


def test_latency_delays_answers(sim, client):
    sim.configure(latency_ms=50)
    client.post("/v1/chat/completions", json=chat_body())
    # measured on the server side: its log records arrival, the client sees the answer later
    assert client.post("/v1/chat/completions", json=chat_body()).elapsed.total_seconds() >= 0.045


async def test_async_with_serves_from_async_code():
    async with SimServer() as server, httpx.AsyncClient() as c:
        r = await c.post(server.url + "/v1/chat/completions", json=chat_body())
    assert r.status_code == 200
