"""OpenAI flex processing: ``service_tier: "flex"`` is served as flex, and refused with 429
``resource_unavailable`` for the configured share when capacity is short."""

from __future__ import annotations

import pytest
from sim_helpers import chat_body

from brainbatch.errors import InputError
from brainbatch.sim.__main__ import _parser, config_from_args


def test_a_flex_request_is_served_in_the_flex_tier(client):
    r = client.post("/v1/chat/completions", json=chat_body(service_tier="flex"))
    assert r.status_code == 200 and r.json()["service_tier"] == "flex"


def test_a_request_without_a_tier_is_served_in_the_default_tier(client):
    assert client.post("/v1/chat/completions", json=chat_body()).json()["service_tier"] == "default"


def test_without_flex_capacity_a_flex_request_gets_429_resource_unavailable(sim, client):
    sim.configure(flex_unavailable=1.0)
    r = client.post("/v1/chat/completions", json=chat_body(service_tier="flex"))
    assert r.status_code == 429
    assert r.json()["error"]["code"] == "resource_unavailable"
    assert sim.log[-1].fault == "flex"


def test_missing_flex_capacity_leaves_default_requests_alone(sim, client):
    sim.configure(flex_unavailable=1.0)
    assert client.post("/v1/chat/completions", json=chat_body()).status_code == 200


def test_flex_refusals_come_in_the_configured_share(sim, client):
    sim.configure(flex_unavailable=0.5, seed=3)
    statuses = [
        client.post("/v1/chat/completions", json=chat_body(str(i), service_tier="flex")).status_code
        for i in range(100)
    ]
    assert set(statuses) == {200, 429} and 25 < statuses.count(429) < 75


@pytest.mark.parametrize("bad", [-0.1, 1.5])
def test_a_flex_share_outside_0_to_1_is_refused(sim, bad):
    with pytest.raises(InputError, match="flex_unavailable"):
        sim.configure(flex_unavailable=bad)


def test_the_cli_takes_the_flex_share():
    args = _parser().parse_args(["--flex-unavailable", "0.25"])
    assert config_from_args(args).flex_unavailable == 0.25
