"""The documented batch rules, enforced by the simulator with the providers' error shapes.

OpenAI: a bad input file is accepted by ``POST /v1/batches`` and the batch then fails its
validation (``status == "failed"``, ``errors.data[]`` of ``{code, message, param, line}``).
Anthropic: a bad message batch is refused by the create call (``{"type": "error", "error":
{"type": "invalid_request_error", ...}}``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from sim_helpers import ANTHROPIC_HEADERS, chat_body, message_body

from brainbatch.errors import InputError
from brainbatch.sim import SimConfig, SimServer
from brainbatch.sim.__main__ import _parser, config_from_args
from brainbatch.sim.batch_state import (
    ANTHROPIC_MAX_BYTES,
    ANTHROPIC_MAX_REQUESTS,
    OPENAI_MAX_BYTES,
    OPENAI_MAX_REQUESTS,
    BatchSimConfig,
    BatchSimState,
)
from brainbatch.sim.batches import SIM_BATCHES
from brainbatch.sim.config import OPENAI_TIER_1_ENQUEUED_TOKENS
from brainbatch.sim.process import cli_args


@pytest.fixture
def batches(sim: SimServer) -> Iterator[BatchSimState]:
    state = sim.app[SIM_BATCHES]
    state.reset()
    state.configure(validating_s=0.02, in_progress_s=0.1, finalizing_s=0.02, cancelling_s=0.02)
    yield state
    state.reset()


def line(cid: str, model: str = "gpt-4o-mini", url: str = "/v1/chat/completions") -> dict[str, Any]:
    return {"custom_id": cid, "method": "POST", "url": url, "body": chat_body(cid, model)}


def upload(client: httpx.Client, lines: list[dict[str, Any]]) -> str:
    content = b"".join(orjson.dumps(x) + b"\n" for x in lines)
    r = client.post("/v1/files", files={"file": ("in.jsonl", content)}, data={"purpose": "batch"})
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


def create(client: httpx.Client, lines: list[dict[str, Any]]) -> dict[str, Any]:
    r = client.post(
        "/v1/batches",
        json={
            "input_file_id": upload(client, lines),
            "endpoint": "/v1/chat/completions",
            "completion_window": "24h",
        },
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


def settle(client: httpx.Client, batch: dict[str, Any], *statuses: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while batch["status"] not in statuses and time.monotonic() < deadline:
        time.sleep(0.01)
        batch = client.get(f"/v1/batches/{batch['id']}").json()
    return batch


def failure(client: httpx.Client, lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The validation errors of a batch of ``lines`` (it must fail)."""
    batch = settle(client, create(client, lines), "failed", "in_progress", "completed")
    assert batch["status"] == "failed", batch
    return list(batch["errors"]["data"])


# -- OpenAI --------------------------------------------------------------------------------


def test_a_file_mixing_models_fails_validation_naming_the_first_other_line(batches, client):
    (err,) = failure(client, [line("a"), line("b"), line("c", model="gpt-4o")])
    assert (err["code"], err["line"], err["param"]) == ("model_mismatch", 3, "body.model")
    assert "'gpt-4o'" in err["message"] and "'gpt-4o-mini'" in err["message"]


def test_a_file_of_one_model_runs_and_the_batch_names_it(batches, client):
    batch = settle(client, create(client, [line("a"), line("b")]), "completed")
    assert (batch["status"], batch["model"]) == ("completed", "gpt-4o-mini")


def test_a_line_for_another_endpoint_fails_validation(batches, client):
    (err,) = failure(client, [line("a"), line("b", url="/v1/embeddings")])
    assert (err["code"], err["line"], err["param"]) == ("mismatched_endpoint", 2, "url")


def test_a_repeated_custom_id_fails_validation_naming_the_repeat(batches, client):
    (err,) = failure(client, [line("a"), line("b"), line("a")])
    assert (err["code"], err["line"], err["param"]) == ("duplicate_custom_id", 3, "custom_id")


def test_a_custom_id_over_64_characters_fails_validation(batches, client):
    (err,) = failure(client, [line("x" * 65)])
    assert (err["code"], err["param"]) == ("invalid_value", "custom_id")


def test_more_lines_than_a_batch_holds_fail_validation(batches, client):
    batches.configure(openai_max_requests=3)
    (err,) = failure(client, [line(f"r{i}") for i in range(4)])
    assert err["code"] == "too_many_requests" and err["line"] is None
    assert "at most 3" in err["message"]


def test_a_file_larger_than_a_batch_holds_fails_validation(batches, client):
    batches.configure(openai_max_bytes=200)
    (err,) = failure(client, [line("a"), line("b")])
    assert err["code"] == "file_too_large" and "200 maximum" in err["message"]


def test_the_limits_are_the_documented_ones_unless_lowered():
    config = BatchSimConfig()
    assert (config.openai_max_requests, config.openai_max_bytes) == (50_000, 209_715_200)
    assert (config.anthropic_max_requests, config.anthropic_max_bytes) == (100_000, 268_435_456)
    assert (OPENAI_MAX_REQUESTS, OPENAI_MAX_BYTES) == (50_000, 200 * 1024**2)
    assert (ANTHROPIC_MAX_REQUESTS, ANTHROPIC_MAX_BYTES) == (100_000, 256 * 1024**2)


def test_50001_lines_fail_validation_at_the_real_limit(batches, client):
    (err,) = failure(client, [line(f"r{i}") for i in range(50_001)])
    assert err["code"] == "too_many_requests" and "50,000" in err["message"]


def _tokens_of(client: httpx.Client, lines: list[dict[str, Any]]) -> int:
    """The prompt tokens the simulator counts for ``lines`` (from a real-time answer)."""
    return sum(
        client.post("/v1/chat/completions", json=x["body"]).json()["usage"]["prompt_tokens"]
        for x in lines
    )


def test_a_batch_over_the_enqueued_token_limit_fails_with_token_limit_exceeded(
    sim, batches, client
):
    batches.configure(in_progress_s=30)
    first, second = [line("a"), line("b")], [line("c")]
    limit = _tokens_of(client, first) + _tokens_of(client, second) - 1
    sim.configure(enqueued_token_limit={"gpt-4o-mini": limit})
    assert settle(client, create(client, first), "in_progress")["status"] == "in_progress"
    (err,) = failure(client, second)
    assert err == {
        "code": "token_limit_exceeded",
        "message": f"Enqueued token limit reached for gpt-4o-mini in organization org-sim. "
        f"Limit: {limit:,} enqueued tokens. Please try again once some in_progress batches "
        "have been completed.",
        "param": None,
        "line": None,
    }


def test_enqueued_tokens_are_freed_when_a_batch_ends(sim, batches, client):
    first, second = [line("a"), line("b")], [line("c")]
    limit = _tokens_of(client, first) + _tokens_of(client, second) - 1
    sim.configure(enqueued_token_limit=limit)
    assert settle(client, create(client, first), "completed")["status"] == "completed"
    assert settle(client, create(client, second), "completed")["status"] == "completed"


def test_a_failed_batch_enqueues_nothing(sim, batches, client):
    batches.configure(in_progress_s=30)
    limit = _tokens_of(client, [line("a")])
    sim.configure(enqueued_token_limit=limit)
    failure(client, [line("a"), line("b")])  # over the limit alone
    assert settle(client, create(client, [line("c")]), "in_progress")["status"] == "in_progress"


def test_the_token_limit_counts_each_model_apart(sim, batches, client):
    batches.configure(in_progress_s=30)
    limit = _tokens_of(client, [line("a")])
    sim.configure(enqueued_token_limit={"gpt-4o-mini": limit})
    assert settle(client, create(client, [line("a")]), "in_progress")["status"] == "in_progress"
    other = create(client, [line("b", model="gpt-4o"), line("c", model="gpt-4o")])
    assert settle(client, other, "in_progress")["status"] == "in_progress"


def test_a_single_request_over_the_limit_fails(sim, batches, client):
    sim.configure(enqueued_token_limit=1)
    (err,) = failure(client, [line("a")])
    assert err["code"] == "token_limit_exceeded"


def test_without_a_limit_the_queue_is_unlimited(sim):
    assert sim.config.enqueued_token_limit is None
    assert sim.config.token_limit("gpt-4o-mini") is None


def test_the_documented_tier_1_limits_can_be_configured():
    config = SimConfig(enqueued_token_limit=OPENAI_TIER_1_ENQUEUED_TOKENS)
    assert config.token_limit("gpt-4o-mini") == 2_000_000
    assert config.token_limit("gpt-4o") == 90_000
    assert config.token_limit("gpt-4.1-mini") is None


@pytest.mark.parametrize("bad", [0, -5, 1.5, "many", {"gpt-4o": 0}, True])
def test_a_bad_enqueued_token_limit_is_refused(bad):
    with pytest.raises(InputError, match="enqueued_token_limit"):
        SimConfig(enqueued_token_limit=bad)


@pytest.mark.parametrize(
    ("flag", "limit"), [("500", 500), ('{"gpt-4o-mini": 7}', {"gpt-4o-mini": 7})]
)
def test_the_cli_takes_an_enqueued_token_limit(flag, limit):
    args = _parser().parse_args(["--enqueued-token-limit", flag])
    config = config_from_args(args)
    assert config.enqueued_token_limit == limit
    again = config_from_args(_parser().parse_args(cli_args(config)))
    assert again.enqueued_token_limit == limit


def test_an_upload_that_is_not_multipart_is_refused(client):
    r = client.post("/v1/files", content=b"file=x", headers={"content-type": "text/plain"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "file"


# -- Anthropic -----------------------------------------------------------------------------


def message_batch(client: httpx.Client, requests: list[dict[str, Any]]) -> httpx.Response:
    return client.post(
        "/v1/messages/batches", json={"requests": requests}, headers=ANTHROPIC_HEADERS
    )


def item(cid: str, model: str = "claude-haiku-4-5") -> dict[str, Any]:
    return {"custom_id": cid, "params": message_body(cid, model)}


def ended(client: httpx.Client, batch_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while True:
        b = client.get(f"/v1/messages/batches/{batch_id}", headers=ANTHROPIC_HEADERS).json()
        if b["processing_status"] == "ended" or time.monotonic() > deadline:
            return dict(b)
        time.sleep(0.01)


def results(client: httpx.Client, batch_id: str) -> list[dict[str, Any]]:
    r = client.get(f"/v1/messages/batches/{batch_id}/results", headers=ANTHROPIC_HEADERS)
    return [orjson.loads(x) for x in r.content.splitlines() if x.strip()]


def refusal(r: httpx.Response) -> str:
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    return str(body["error"]["message"])


def test_a_message_batch_may_mix_models(batches, client):
    r = message_batch(client, [item("a"), item("b", model="claude-sonnet-4-6")])
    assert ended(client, r.json()["id"])["request_counts"]["succeeded"] == 2
    models = {
        x["custom_id"]: x["result"]["message"]["model"] for x in results(client, r.json()["id"])
    }
    assert models == {"a": "claude-haiku-4-5", "b": "claude-sonnet-4-6"}


@pytest.mark.parametrize("cid", ["has.dot", "has space", "x" * 65, ""])
def test_a_custom_id_outside_the_pattern_is_refused(batches, client, cid):
    message = refusal(message_batch(client, [item("ok"), item(cid)]))
    assert message.startswith("requests.1.custom_id: String should match pattern")


def test_a_repeated_custom_id_is_refused(batches, client):
    assert "Duplicate custom_id 'a'" in refusal(message_batch(client, [item("a"), item("a")]))


def test_more_requests_than_a_message_batch_holds_are_refused(batches, client):
    batches.configure(anthropic_max_requests=2)
    message = refusal(message_batch(client, [item("a"), item("b"), item("c")]))
    assert "at most 2 items" in message


def test_a_message_batch_over_the_size_limit_is_refused_with_413(batches, client):
    batches.configure(anthropic_max_bytes=500)
    r = message_batch(client, [item(f"r{i}") for i in range(5)])
    assert r.status_code == 413
    assert r.json()["error"]["type"] == "invalid_request_error"


def test_an_empty_message_batch_is_refused(batches, client):
    assert refusal(message_batch(client, [])).startswith("requests")


def _result_order(seed: int) -> list[str]:
    with SimServer(seed=seed) as server, httpx.Client(base_url=server.url) as c:
        server.app[SIM_BATCHES].configure(validating_s=0, in_progress_s=0, finalizing_s=0)
        r = message_batch(c, [item(f"r{i}") for i in range(20)])
        ended(c, r.json()["id"])
        return [x["custom_id"] for x in results(c, r.json()["id"])]


def test_results_come_out_of_order_the_same_way_for_the_same_seed():
    order = _result_order(seed=0)
    assert sorted(order) == sorted(f"r{i}" for i in range(20))
    assert order != [f"r{i}" for i in range(20)]
    assert _result_order(seed=0) == order
    assert _result_order(seed=1) != order


def test_openai_output_lines_come_out_of_order(batches, client):
    batch = settle(client, create(client, [line(f"r{i}") for i in range(20)]), "completed")
    content = client.get(f"/v1/files/{batch['output_file_id']}/content").content
    order = [orjson.loads(x)["custom_id"] for x in content.splitlines()]
    assert sorted(order) == sorted(f"r{i}" for i in range(20)) and order != sorted(
        order, key=lambda c: int(c[1:])
    )


def test_100001_requests_are_refused_at_the_real_limit(sim, batches):
    small = {
        "model": "claude-haiku-4-5",
        "max_tokens": 1,
        "messages": [{"role": "user", "content": "x"}],
    }
    with httpx.Client(base_url=sim.url, timeout=60) as client:  # a 13 MB body
        r = message_batch(client, [{"custom_id": f"r{i}", "params": small} for i in range(100_001)])
    assert "at most 100,000 items" in refusal(r)
