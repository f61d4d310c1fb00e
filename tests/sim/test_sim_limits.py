"""RPM/TPM enforcement over a sliding 60 s window, and the rate-limit headers."""

from __future__ import annotations

import pytest
from sim_helpers import ANTHROPIC_HEADERS, chat_body, message_body

from brainbatch.sim.server import _go_duration


def test_requests_over_the_rpm_limit_get_429_with_retry_after(sim, client):
    sim.configure(rpm=2)
    statuses = [
        client.post("/v1/chat/completions", json=chat_body(str(i))).status_code for i in range(3)
    ]
    r = client.post("/v1/chat/completions", json=chat_body("x"))
    assert statuses == [200, 200, 429]
    assert r.status_code == 429
    assert 55 <= int(r.headers["Retry-After"]) <= 60
    assert 0 < int(r.headers["retry-after-ms"]) <= 60_000
    assert sim.log[-1].fault == "rpm"


def test_refused_requests_do_not_use_up_the_window(sim, client):
    sim.configure(rpm=1)
    for i in range(3):
        client.post("/v1/chat/completions", json=chat_body(str(i)))
    sim.configure(rpm=2)  # a new limit restarts the window
    assert client.post("/v1/chat/completions", json=chat_body("a")).status_code == 200
    assert client.post("/v1/chat/completions", json=chat_body("b")).status_code == 200


def test_tokens_over_the_tpm_limit_get_429(sim, client):
    first = client.post("/v1/chat/completions", json=chat_body("a")).json()["usage"]["total_tokens"]
    sim.configure(tpm=first + 5)
    assert client.post("/v1/chat/completions", json=chat_body("a")).status_code == 200
    r = client.post("/v1/chat/completions", json=chat_body("a"))
    assert r.status_code == 429
    assert sim.log[-1].fault == "tpm"
    assert "Retry-After" in r.headers


def test_openai_answers_carry_x_ratelimit_headers(sim, client):
    sim.configure(rpm=10, tpm=100_000)
    r = client.post("/v1/chat/completions", json=chat_body())
    used = r.json()["usage"]["total_tokens"]
    assert r.headers["x-ratelimit-limit-requests"] == "10"
    assert r.headers["x-ratelimit-remaining-requests"] == "9"
    assert r.headers["x-ratelimit-reset-requests"].endswith("s")
    assert r.headers["x-ratelimit-limit-tokens"] == "100000"
    assert r.headers["x-ratelimit-remaining-tokens"] == str(100_000 - used)
    assert r.headers["x-ratelimit-reset-tokens"].endswith("s")


def test_anthropic_answers_carry_anthropic_ratelimit_headers(sim, client):
    sim.configure(rpm=10, tpm=100_000)
    r = client.post("/v1/messages", json=message_body(), headers=ANTHROPIC_HEADERS)
    assert r.headers["anthropic-ratelimit-requests-limit"] == "10"
    assert r.headers["anthropic-ratelimit-requests-remaining"] == "9"
    assert r.headers["anthropic-ratelimit-requests-reset"].endswith("Z")
    assert r.headers["anthropic-ratelimit-tokens-limit"] == "100000"
    assert "x-ratelimit-limit-requests" not in r.headers


def test_without_limits_no_ratelimit_headers_are_sent(client):
    r = client.post("/v1/chat/completions", json=chat_body())
    assert not [h for h in r.headers if h.startswith("x-ratelimit")]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.12, "120ms"), (0.0, "0ms"), (2.4, "2.4s"), (59.5, "59.5s"), (60.0, "1m0s")],
)
def test_reset_headers_use_openais_duration_format(seconds, text):
    assert _go_duration(seconds) == text
