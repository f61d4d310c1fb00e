"""BatchRequest, BatchResult and BatchJob: construction, validation, lookups and counters."""

from __future__ import annotations

import math
import uuid

import pytest

from brainbatch import BatchJob, BatchRequest, BatchResult, BatchStatus, InputError


def ok(req: BatchRequest, cost: float | None = 0.001, **kw: object) -> BatchResult:
    return BatchResult(
        request_id=req.id,
        custom_id=req.custom_id,
        status="success",
        result="hi",
        cost_usd=cost,
        **kw,
    )  # type: ignore[arg-type]


def err(req: BatchRequest) -> BatchResult:
    return BatchResult(request_id=req.id, custom_id=req.custom_id, status="error", error="boom")


def test_request_gets_a_uuid4_id() -> None:
    req = BatchRequest(prompt="hi", model="m")
    assert uuid.UUID(req.id).version == 4
    assert BatchRequest(prompt="hi", model="m").id != req.id


def test_request_positional_fields_follow_the_documented_order() -> None:
    req = BatchRequest("hi", "m", {"k": 1}, "c1")
    assert (req.prompt, req.model, req.metadata, req.custom_id) == ("hi", "m", {"k": 1}, "c1")


@pytest.mark.parametrize("prompt", ["", "   "])
def test_empty_prompt_is_rejected_naming_the_field(prompt: str) -> None:
    with pytest.raises(ValueError, match="prompt"):
        BatchRequest(prompt=prompt, model="m")


def test_empty_model_is_rejected_naming_the_field() -> None:
    with pytest.raises(InputError, match="model"):
        BatchRequest(prompt="hi", model="")


def test_messages_replace_the_prompt() -> None:
    msgs = [{"role": "user", "content": "hello"}]
    req = BatchRequest(model="m", messages=msgs)
    assert req.chat_messages() == msgs


def test_malformed_messages_are_rejected() -> None:
    with pytest.raises(InputError, match="messages"):
        BatchRequest(model="m", messages=[{"content": "no role"}])


def test_prompt_becomes_one_user_message() -> None:
    assert BatchRequest(prompt="hi", model="m").chat_messages() == [
        {"role": "user", "content": "hi"}
    ]


def test_status_values_and_terminal_states() -> None:
    assert [s.value for s in BatchStatus] == [
        "pending",
        "processing",
        "completed",
        "failed",
        "cancelled",
        "expired",
    ]
    assert not BatchStatus.PROCESSING.is_terminal
    assert BatchStatus.EXPIRED.is_terminal


def test_job_rejects_duplicate_custom_ids_naming_both_rows() -> None:
    reqs = [
        BatchRequest(prompt="a", model="m", custom_id="x"),
        BatchRequest(prompt="b", model="m", custom_id="x"),
    ]
    with pytest.raises(InputError, match=r"'x'.*#0 and #1"):
        BatchJob(reqs)


def test_new_job_is_pending_with_zero_progress() -> None:
    job = BatchJob([BatchRequest(prompt="a", model="m")])
    assert job.status is BatchStatus.PENDING
    assert (job.progress, job.progress_percent, job.is_complete) == (0.0, 0.0, False)


def test_empty_job_counts_as_fully_progressed() -> None:
    assert BatchJob([]).progress == 1.0


def test_add_result_updates_progress_and_counters() -> None:
    reqs = [BatchRequest(prompt=str(i), model="m") for i in range(4)]
    job = BatchJob(reqs)
    job.add_result(ok(reqs[0], input_tokens=3, output_tokens=5))
    job.add_result(err(reqs[1]))
    assert job.progress == 0.5
    assert job.progress_percent == 50.0
    assert (job.n_success, job.n_error) == (1, 1)
    assert (job.input_tokens, job.output_tokens) == (3, 5)
    assert [r.id for r in job.get_pending_requests()] == [reqs[2].id, reqs[3].id]


def test_add_result_refuses_unknown_and_repeated_ids() -> None:
    req = BatchRequest(prompt="a", model="m")
    job = BatchJob([req])
    assert job.add_result(ok(req))
    assert not job.add_result(ok(req))
    stranger = BatchRequest(prompt="b", model="m")
    assert not job.add_result(ok(stranger))
    assert job.done == 1


def test_get_result_by_request_id_or_custom_id() -> None:
    req = BatchRequest(prompt="a", model="m", custom_id="row-7")
    job = BatchJob([req])
    res = ok(req)
    job.add_result(res)
    assert job.get_result(req.id) is res
    assert job.get_result("row-7") is res
    assert job.get_result("nope") is None


def test_results_by_status() -> None:
    reqs = [BatchRequest(prompt=str(i), model="m") for i in range(3)]
    job = BatchJob(reqs)
    for r in (ok(reqs[0]), err(reqs[1]), ok(reqs[2])):
        job.add_result(r)
    assert len(job.get_successful_results()) == 2
    assert [r.request_id for r in job.get_failed_results()] == [reqs[1].id]
    assert job.get_results_by_status("error") == job.get_failed_results()


def test_nan_costs_do_not_poison_the_running_total() -> None:
    reqs = [BatchRequest(prompt=str(i), model="m") for i in range(2)]
    job = BatchJob(reqs)
    job.add_result(ok(reqs[0], cost=0.5))
    job.add_result(ok(reqs[1], cost=math.nan))
    assert job.cost_usd == 0.5


def test_cached_results_cost_nothing_in_this_run() -> None:
    req = BatchRequest(prompt="a", model="m")
    job = BatchJob([req])
    job.add_result(ok(req, cost=0.25, cached=True))
    assert (job.cost_usd, job.paid_usd, job.n_cached) == (0.25, 0.0, 1)
    assert job.results[0].paid_usd == 0.0


def test_listeners_see_every_recorded_result() -> None:
    reqs = [BatchRequest(prompt=str(i), model="m") for i in range(2)]
    job = BatchJob(reqs)
    seen: list[str] = []
    job.add_listener(lambda r: seen.append(r.request_id))
    job.add_result(ok(reqs[1]))
    job.add_result(ok(reqs[1]))  # repeated: not recorded, not announced
    assert seen == [reqs[1].id]


def test_results_given_at_construction_are_indexed() -> None:
    req = BatchRequest(prompt="a", model="m")
    job = BatchJob([req], results=[ok(req)])
    assert job.has_result(req.id) and job.n_success == 1


class _Reads:
    """Counts attribute reads of watched requests and results while ``on``."""

    on = False
    count = 0


class _WatchedRequest(BatchRequest):
    def __getattribute__(self, name: str) -> object:
        if _Reads.on:
            _Reads.count += 1
        return super().__getattribute__(name)


class _WatchedResult(BatchResult):
    def __getattribute__(self, name: str) -> object:
        if _Reads.on:
            _Reads.count += 1
        return super().__getattribute__(name)


def test_lookups_touch_at_most_the_request_they_find_whatever_the_job_size() -> None:
    # A lookup that scans (a loop over requests or results, list.index, a comparison with
    # each) reads an attribute of every request it passes; a dict lookup reads none, or
    # one of the request it returns. No timing involved: reads are counted.
    n = 200_000
    reqs = [_WatchedRequest(prompt="p", model="m", id=f"r{i}", custom_id=f"c{i}") for i in range(n)]
    job = BatchJob(reqs)
    for r in reqs[::1000]:
        job.add_result(
            _WatchedResult(request_id=r.id, custom_id=r.custom_id, status="success", result="x")
        )
    last = reqs[n - 1000]
    _Reads.count, _Reads.on = 0, True
    try:
        found = [
            job.get_result("c199000"),
            job.get_result(last.id),
            job.get_request("r100000"),
            job.get_request("c150000"),
            job.has_result("r199000"),
            job.get_result("no-such-id"),
            job.get_request("no-such-id"),
            job.has_result("no-such-id"),
        ]
    finally:
        _Reads.on = False
    assert found[2] is reqs[100_000] and found[3] is reqs[150_000]
    assert found[0] is not None and found[1] is found[0] and found[4] is True
    assert found[5:] == [None, None, False]
    assert _Reads.count <= 8  # a handful, not 200,000


def test_pending_requests_is_a_count_as_in_the_seed_api() -> None:
    reqs = [BatchRequest(prompt=str(i), model="m") for i in range(3)]
    job = BatchJob(reqs)
    job.add_result(ok(reqs[0]))
    assert job.pending_requests == 2
    assert [r.id for r in job.get_pending_requests()] == [reqs[1].id, reqs[2].id]


def test_a_failed_result_carries_its_error_message_in_result() -> None:
    req = BatchRequest(prompt="a", model="m")
    failed = BatchResult(req.id, None, "error", error="HTTP 400: bad request")
    assert failed.result == "HTTP 400: bad request"
    assert f"Error: {failed.result}" == "Error: HTTP 400: bad request"
