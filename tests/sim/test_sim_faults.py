"""Injected faults: every kind is produced, in the provider's own error shape."""

from __future__ import annotations

import httpx
import orjson
import pytest
from sim_helpers import ANTHROPIC_HEADERS, chat_body, message_body

from brainbatch.errors import InputError


@pytest.mark.parametrize(
    ("kind", "status"), [("http_500", 500), ("http_502", 502), ("http_503", 503)]
)
def test_server_error_fault_answers_its_status_with_openai_error_json(sim, client, kind, status):
    sim.configure(**{kind: 1.0})
    r = client.post("/v1/chat/completions", json=chat_body())
    assert r.status_code == status
    assert r.json()["error"]["type"] == "server_error"
    assert sim.log[-1].fault == kind


def test_server_error_on_messages_uses_the_anthropic_error_shape(sim, client):
    sim.configure(http_500=1.0)
    r = client.post("/v1/messages", json=message_body(), headers=ANTHROPIC_HEADERS)
    assert r.status_code == 500
    assert r.json() == {
        "type": "error",
        "error": {"type": "api_error", "message": r.json()["error"]["message"]},
        "request_id": r.headers["request-id"],
    }


def test_rate_limit_fault_says_when_to_retry(sim, client):
    sim.configure(rate_limit_429=1.0, retry_after=2.5)
    r = client.post("/v1/chat/completions", json=chat_body())
    assert r.status_code == 429
    assert r.headers["Retry-After"] == "3"
    assert r.headers["retry-after-ms"] == "2500"
    assert r.json()["error"]["code"] == "rate_limit_exceeded"


def test_hang_fault_never_answers_before_the_client_times_out(sim):
    sim.configure(hang=1.0)
    with httpx.Client(base_url=sim.url, timeout=0.2) as c, pytest.raises(httpx.ReadTimeout):
        c.post("/v1/chat/completions", json=chat_body())
    assert sim.log[-1].status == 0
    assert sim.log[-1].fault == "hang"


def test_hang_is_bounded_by_max_hang_then_the_connection_closes(sim, client):
    sim.configure(hang=1.0, max_hang_s=0.05)
    with pytest.raises(httpx.RemoteProtocolError):
        client.post("/v1/chat/completions", json=chat_body())


def test_drop_fault_closes_the_connection_without_a_response(sim, client):
    sim.configure(drop=1.0)
    with pytest.raises(httpx.RemoteProtocolError):
        client.post("/v1/chat/completions", json=chat_body())
    assert sim.log[-1].fault == "drop"


def test_malformed_fault_answers_200_with_unparsable_json(sim, client):
    sim.configure(malformed=1.0)
    r = client.post("/v1/chat/completions", json=chat_body())
    assert r.status_code == 200
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(r.content)


def test_fail_first_n_fails_each_distinct_body_n_times_then_answers(sim, client):
    sim.configure(fail_first_n=2, fail_status=503)
    statuses = [
        client.post("/v1/chat/completions", json=chat_body("a")).status_code for _ in range(3)
    ]
    other = client.post("/v1/chat/completions", json=chat_body("b")).status_code
    assert statuses == [503, 503, 200]
    assert other == 503


def test_fail_first_n_with_429_carries_retry_after(sim, client):
    sim.configure(fail_first_n=1, fail_status=429, retry_after=0.25)
    r = client.post("/v1/chat/completions", json=chat_body())
    assert r.status_code == 429
    assert r.headers["retry-after-ms"] == "250"


def test_fault_rates_mix_in_proportion(sim, client):
    sim.configure(http_503=0.5, seed=7)
    statuses = [
        client.post("/v1/chat/completions", json=chat_body(str(i))).status_code for i in range(200)
    ]
    assert 60 < statuses.count(503) < 140
    assert set(statuses) == {200, 503}


def test_fault_rates_adding_up_to_more_than_one_are_refused(sim):
    with pytest.raises(InputError, match="add up"):
        sim.configure(http_500=0.6, drop=0.6)
    assert sim.config.http_500 == 0.0
