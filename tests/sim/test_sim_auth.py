"""With an API key configured, the server refuses other keys, and never records any key."""

from __future__ import annotations

import pytest
from sim_helpers import ANTHROPIC_HEADERS, chat_body, message_body

KEY = "sk-sim-secret-123"


@pytest.fixture
def keyed(sim):
    sim.configure(api_key=KEY)
    return sim


@pytest.mark.parametrize("auth", [None, "Bearer sk-wrong"])
def test_openai_path_without_the_right_key_gets_401(keyed, client, auth):
    headers = {"Authorization": auth} if auth else {}
    r = client.post("/v1/chat/completions", json=chat_body(), headers=headers)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "invalid_api_key"


def test_openai_path_with_the_right_key_is_answered(keyed, client):
    r = client.post(
        "/v1/chat/completions", json=chat_body(), headers={"Authorization": f"Bearer {KEY}"}
    )
    assert r.status_code == 200


def test_anthropic_path_with_a_wrong_x_api_key_gets_401_in_anthropic_shape(keyed, client):
    headers = {**ANTHROPIC_HEADERS, "x-api-key": "sk-wrong"}
    r = client.post("/v1/messages", json=message_body(), headers=headers)
    assert r.status_code == 401
    assert r.json()["error"]["type"] == "authentication_error"


def test_anthropic_path_with_the_right_x_api_key_is_answered(keyed, client):
    headers = {**ANTHROPIC_HEADERS, "x-api-key": KEY}
    assert client.post("/v1/messages", json=message_body(), headers=headers).status_code == 200


def test_anthropic_path_also_takes_the_key_as_a_bearer_token(keyed, client):
    headers = {**ANTHROPIC_HEADERS, "Authorization": f"Bearer {KEY}"}
    assert client.post("/v1/messages", json=message_body(), headers=headers).status_code == 200


def test_models_list_needs_the_key_too(keyed, client):
    assert client.get("/v1/models").status_code == 401


def test_keys_never_appear_in_the_log_or_the_repr(keyed, client):
    for key in (KEY, "sk-wrong-456"):
        client.post(
            "/v1/chat/completions", json=chat_body(), headers={"Authorization": f"Bearer {key}"}
        )
        client.post(
            "/v1/messages", json=message_body(), headers={**ANTHROPIC_HEADERS, "x-api-key": key}
        )
    dumped = repr(keyed.log) + repr(keyed) + repr(keyed.config)
    assert len(keyed.log) == 4
    assert KEY not in dumped
    assert "sk-wrong-456" not in dumped
