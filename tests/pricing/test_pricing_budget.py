"""The budget guard stops a job before its spend could pass max_cost_usd."""

from __future__ import annotations

import asyncio
import math

import pytest

from brainbatch import (
    BatchManager,
    BatchRequest,
    BatchStatus,
    BudgetExceeded,
    ConfigurationError,
    InputError,
    ParallelExecutor,
    ProviderResponse,
    SequentialExecutor,
    ServerError,
    SimulatedProvider,
)
from brainbatch.budget import BudgetGuard, worst_case_cost
from brainbatch.pricing import cost_of
from brainbatch.tokens import estimate_message_tokens


def _requests(n: int, max_tokens: int = 50) -> list[BatchRequest]:
    # Prompts whose approximate and exact token counts agree, and answers that always reach
    # max_tokens (see `sim`), so every reservation equals the request's actual cost.
    return [
        BatchRequest(
            prompt=f"Rate review {i}: {'great' if i % 2 else 'awful'} blender",
            model="sim",
            custom_id=f"r{i}",
            params={"max_tokens": max_tokens},
        )
        for i in range(n)
    ]


@pytest.fixture
def sim() -> SimulatedProvider:
    # answers average 2,000 tokens, so the 50-token cap always applies
    return SimulatedProvider(latency_ms=3, latency_sigma=0.5, mean_output_tokens=2000, seed=3)


async def test_under_concurrency_the_job_stops_within_one_request_of_the_limit(
    sim: SimulatedProvider,
) -> None:
    requests = _requests(1500)
    for r in requests:  # precondition: the reservation is exact for these prompts
        messages = r.chat_messages()
        assert estimate_message_tokens(messages) == estimate_message_tokens(
            messages, model="gpt-4o-mini"
        )
    limit = 0.01
    job = BatchManager().create_batch(requests)
    guard = BudgetGuard(limit)
    await ParallelExecutor(max_concurrent=32).execute(
        job, guard.wrap(sim, price_model=sim.price_model)
    )
    one_request = max(worst_case_cost(r, price_model=sim.price_model) for r in requests)
    assert job.status is BatchStatus.CANCELLED
    assert 0 < job.done < job.total
    assert job.paid_usd <= limit
    assert job.paid_usd > limit - one_request
    assert guard.spent_usd == pytest.approx(job.paid_usd)


async def test_the_cancelled_job_says_why_naming_max_cost_usd(sim: SimulatedProvider) -> None:
    job = BatchManager().create_batch(_requests(200))
    await ParallelExecutor(max_concurrent=8).execute(
        job, BudgetGuard(0.001).wrap(sim, price_model=sim.price_model)
    )
    assert job.status is BatchStatus.CANCELLED
    assert job.error is not None and "max_cost_usd=$0.0010" in job.error
    assert "budget reached" in job.error


async def test_refused_requests_stay_pending_and_all_results_are_kept(
    sim: SimulatedProvider,
) -> None:
    job = BatchManager().create_batch(_requests(200))
    await ParallelExecutor(max_concurrent=8).execute(
        job, BudgetGuard(0.001).wrap(sim, price_model=sim.price_model)
    )
    assert job.n_error == 0
    assert job.done == len(job.results) == job.n_success
    assert job.pending_requests == job.total - job.done > 0


async def test_a_job_within_budget_completes(sim: SimulatedProvider) -> None:
    job = BatchManager().create_batch(_requests(20))
    guard = BudgetGuard(1.0)
    await ParallelExecutor(max_concurrent=8).execute(
        job, guard.wrap(sim, price_model=sim.price_model)
    )
    assert job.status is BatchStatus.COMPLETED
    assert guard.reserved_usd == 0 and guard.spent_usd == pytest.approx(job.paid_usd)


async def test_sequential_jobs_stop_at_the_limit_too(sim: SimulatedProvider) -> None:
    one = worst_case_cost(_requests(1)[0], price_model=sim.price_model)
    job = BatchManager().create_batch(_requests(10))
    await SequentialExecutor().execute(
        job, BudgetGuard(one * 3.5).wrap(sim, price_model=sim.price_model)
    )
    assert job.done == 3
    assert job.status is BatchStatus.CANCELLED


async def test_a_resumed_job_counts_what_it_already_spent(sim: SimulatedProvider) -> None:
    one = worst_case_cost(_requests(1)[0], price_model=sim.price_model)
    job = BatchManager().create_batch(_requests(10))
    guard = BudgetGuard(one * 5.5, already_spent_usd=one * 2)
    await SequentialExecutor().execute(job, guard.wrap(sim, price_model=sim.price_model))
    assert job.done == 3


async def test_reservation_is_replaced_by_the_actual_cost() -> None:
    request = BatchRequest(prompt="hi", model="gpt-4o-mini", params={"max_tokens": 1000})
    guard = BudgetGuard(1.0)
    seen: list[float] = []

    async def provider(r: BatchRequest) -> ProviderResponse:
        seen.append(guard.reserved_usd)
        return ProviderResponse(result="ok", input_tokens=10, output_tokens=5)

    await guard.wrap(provider)(request)
    assert seen == [pytest.approx(worst_case_cost(request))]
    assert guard.reserved_usd == 0
    assert guard.spent_usd == pytest.approx(cost_of("gpt-4o-mini", 10, 5).usd)


async def test_requests_the_provider_refused_cost_nothing() -> None:
    guard = BudgetGuard(1.0)

    async def failing(r: BatchRequest) -> ProviderResponse:
        raise ServerError("500", status_code=500)

    with pytest.raises(ServerError):
        await guard.wrap(failing)(_requests(1)[0])
    assert guard.spent_usd == 0 and guard.reserved_usd == 0


async def test_timed_out_requests_keep_their_reservation_as_spent() -> None:
    guard = BudgetGuard(1.0)
    request = BatchRequest(prompt="hi", model="gpt-4o-mini", params={"max_tokens": 100})

    async def hangs(r: BatchRequest) -> ProviderResponse:
        await asyncio.sleep(10)
        raise AssertionError("unreachable")

    with pytest.raises(TimeoutError):
        await asyncio.wait_for(guard.wrap(hangs)(request), 0.01)
    assert guard.spent_usd == pytest.approx(worst_case_cost(request))


async def test_cached_answers_cost_nothing() -> None:
    guard = BudgetGuard(1.0)

    async def cache(r: BatchRequest) -> ProviderResponse:
        return ProviderResponse(result="ok", cost_usd=0.5, cached=True)

    request = BatchRequest(prompt="hi", model="gpt-4o-mini", params={"max_tokens": 10})
    await guard.wrap(cache)(request)
    assert guard.spent_usd == 0


async def test_an_unpriced_model_stops_the_job_before_sending() -> None:
    calls: list[BatchRequest] = []

    async def provider(r: BatchRequest) -> str:
        calls.append(r)
        return "ok"

    with pytest.raises(BudgetExceeded, match=r"acme-llm.*set_price"):
        await BudgetGuard(1.0).wrap(provider)(BatchRequest(prompt="hi", model="acme-llm"))
    assert calls == []


def test_an_unpriced_price_model_is_refused_when_wrapping() -> None:
    async def provider(r: BatchRequest) -> str:
        return "ok"

    with pytest.raises(ConfigurationError, match="acme-llm"):
        BudgetGuard(1.0).wrap(provider, price_model="acme-llm")


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"max_cost_usd": 0}, "max_cost_usd"),
        ({"max_cost_usd": float("nan")}, "max_cost_usd"),
        ({"max_cost_usd": "5"}, "max_cost_usd"),
        ({"max_cost_usd": 1.0, "already_spent_usd": -1}, "already_spent_usd"),
    ],
)
def test_bad_settings_are_refused_naming_the_parameter(
    kwargs: dict[str, object], named: str
) -> None:
    with pytest.raises(InputError, match=named):
        BudgetGuard(**kwargs)  # type: ignore[arg-type]


def test_check_before_submit_refuses_a_batch_over_the_limit_with_estimate_and_limit() -> None:
    requests = [
        BatchRequest(prompt="hello world", model="gpt-4o", params={"max_tokens": 1000})
        for _ in range(100)
    ]
    # worst case, batch prices ($1.25 / $5 per Mtok): 100 x (8 x 1.25 + 1000 x 5) / 1e6
    expected = 100 * (8 * 1.25 + 1000 * 5.0) / 1e6
    with pytest.raises(BudgetExceeded) as caught:
        BudgetGuard(0.25).check_before_submit(requests)
    message = str(caught.value)
    assert f"${expected:.4f}" in message and "max_cost_usd=$0.2500" in message
    assert "Nothing was uploaded" in message


def test_check_before_submit_returns_the_estimate_when_it_fits() -> None:
    requests = [BatchRequest(prompt="hello world", model="gpt-4o", params={"max_tokens": 10})]
    estimate = BudgetGuard(1.0).check_before_submit(requests)
    assert estimate == pytest.approx((8 * 1.25 + 10 * 5.0) / 1e6)


def test_check_before_submit_refuses_requests_without_max_tokens_naming_them() -> None:
    requests = [
        BatchRequest(prompt="hello world", model="gpt-4o", custom_id="a", params={"max_tokens": 5}),
        BatchRequest(prompt="hello world", model="gpt-4o", custom_id="b"),
    ]
    with pytest.raises(BudgetExceeded, match=r"params=\{'max_tokens': N\}.*'b'") as caught:
        BudgetGuard(1.0).check_before_submit(requests)
    assert "Nothing was uploaded" in str(caught.value) and "'a'" not in str(caught.value)


def test_check_before_submit_counts_money_a_resumed_job_already_spent() -> None:
    requests = [BatchRequest(prompt="hello world", model="gpt-4o", params={"max_tokens": 1000})]
    worst = BudgetGuard(1.0).check_before_submit(requests)  # ~$0.0050
    limit = worst * 1.5
    BudgetGuard(limit, already_spent_usd=worst * 0.4).check_before_submit(requests)  # fits
    with pytest.raises(BudgetExceeded, match="already spent"):
        BudgetGuard(limit, already_spent_usd=worst * 0.6).check_before_submit(requests)


def test_check_before_submit_adds_a_margin_to_approximated_prompts() -> None:
    request = BatchRequest(
        prompt="word " * 100, model="claude-3-5-haiku-20241022", params={"max_tokens": 1}
    )
    guard = BudgetGuard(1.0)
    approx = estimate_message_tokens(request.chat_messages())
    estimate = guard.check_before_submit([request])
    batch_in, batch_out = 0.8 * 0.5, 4.0 * 0.5
    assert estimate == pytest.approx((math.ceil(approx * 1.35) * batch_in + batch_out) / 1e6)


async def test_guard_job_counts_what_the_job_already_paid_and_prices_like_the_provider(
    sim: SimulatedProvider,
) -> None:
    from brainbatch.budget import guard_job

    one = worst_case_cost(_requests(1)[0], price_model=sim.price_model)
    first = BatchManager().create_batch(_requests(10))
    fn, _ = guard_job(sim, first, one * 4.5)
    await SequentialExecutor().execute(first, fn)
    assert first.done == 4 and first.status is BatchStatus.CANCELLED
    fn, guard = guard_job(sim, first, one * 6.5)  # resume with a higher limit
    await SequentialExecutor().execute(first, fn)
    assert first.done == 6
    assert guard.spent_usd == pytest.approx(first.paid_usd)


async def test_a_request_without_max_tokens_is_refused_before_sending() -> None:
    calls: list[BatchRequest] = []

    async def provider(r: BatchRequest) -> ProviderResponse:
        calls.append(r)
        return ProviderResponse(result="ok", input_tokens=10, output_tokens=20_000)

    request = BatchRequest(prompt="hi", model="gpt-4o-mini", custom_id="row-7")
    with pytest.raises(BudgetExceeded, match=r"max_cost_usd needs a cap.*'row-7'"):
        await BudgetGuard(1.0).wrap(provider)(request)
    assert calls == []


async def test_a_custom_estimator_lifts_the_max_tokens_rule() -> None:
    async def provider(r: BatchRequest) -> ProviderResponse:
        return ProviderResponse(result="ok", cost_usd=0.01)

    guard = BudgetGuard(1.0, estimator=lambda r: 0.02)
    await guard.wrap(provider)(BatchRequest(prompt="hi", model="gpt-4o-mini"))
    assert guard.spent_usd == pytest.approx(0.01)


def test_require_answer_caps_names_the_rows_without_max_tokens() -> None:
    from brainbatch.budget import require_answer_caps

    requests = [
        BatchRequest(prompt="a", model="m", custom_id="ok", params={"max_completion_tokens": 9}),
        BatchRequest(prompt="b", model="m", custom_id="no-cap", params={"temperature": 0}),
    ]
    with pytest.raises(InputError, match=r"max_cost_usd needs a cap.*1 of 2 requests.*'no-cap'"):
        require_answer_caps(requests)
    require_answer_caps(requests[:1])  # capped: fine


def test_worst_case_without_max_tokens_is_unbounded() -> None:
    assert worst_case_cost(BatchRequest(prompt="hi", model="gpt-4o-mini")) == math.inf
