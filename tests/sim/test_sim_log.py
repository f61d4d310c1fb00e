"""The request log: what arrived, how often, and what was answered."""

from __future__ import annotations

from sim_helpers import ANTHROPIC_HEADERS, chat_body, message_body


def test_count_counts_requests_per_path(sim, client):
    client.post("/v1/chat/completions", json=chat_body("a"))
    client.post("/v1/chat/completions", json=chat_body("b"))
    client.post("/v1/messages", json=message_body(), headers=ANTHROPIC_HEADERS)
    assert sim.count() == 3
    assert sim.count("/v1/chat/completions") == 2
    assert sim.count("/v1/messages") == 1


def test_record_holds_path_status_user_text_and_custom_id(sim, client):
    body = {
        "model": "m",
        "messages": [
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": [{"type": "text", "text": "last"}]},
        ],
    }
    client.post("/v1/chat/completions", json=body, headers={"x-brainbatch-custom-id": "row-7"})
    (record,) = sim.log
    assert (record.path, record.status, record.user_text, record.custom_id, record.fault) == (
        "/v1/chat/completions",
        200,
        "last",
        "row-7",
        None,
    )


def test_the_same_body_sent_twice_has_one_hash_counted_twice(sim, client):
    client.post("/v1/chat/completions", json=chat_body("a"))
    client.post("/v1/chat/completions", json=chat_body("a"))
    client.post("/v1/chat/completions", json=chat_body("b"))
    counts = sim.received_bodies_count_by_hash()
    assert sorted(counts.values()) == [1, 2]


def test_counts_by_hash_can_keep_only_answered_requests(sim, client):
    sim.configure(fail_first_n=1)
    client.post("/v1/chat/completions", json=chat_body("a"))
    client.post("/v1/chat/completions", json=chat_body("a"))
    assert list(sim.received_bodies_count_by_hash().values()) == [2]
    assert list(sim.received_bodies_count_by_hash(status=200).values()) == [1]


def test_records_arrive_in_time_order(sim, client):
    for i in range(5):
        client.post("/v1/chat/completions", json=chat_body(str(i)))
    times = [r.t for r in sim.log]
    assert times == sorted(times)
    assert [r.user_text for r in sim.log] == ["0", "1", "2", "3", "4"]


def test_reset_forgets_the_log(sim, client):
    client.post("/v1/chat/completions", json=chat_body())
    sim.reset()
    assert sim.count() == 0
    assert sim.log == []


def test_count_by_custom_id(sim, client):
    for cid in ("a", "a", "b"):
        client.post(
            "/v1/chat/completions", json=chat_body(cid), headers={"x-brainbatch-custom-id": cid}
        )
    assert sim.count_by_custom_id() == {"a": 2, "b": 1}
