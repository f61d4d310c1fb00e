"""JobMonitor: latest answers, grouped errors, timeline and per-model figures, and their text."""

from __future__ import annotations

import itertools

from brainbatch.models import BatchJob, BatchRequest, BatchResult
from brainbatch.monitor import (
    LATEST_KEPT,
    TIMELINE_POINTS,
    JobMonitor,
    details_text,
    errors_text,
    excerpt,
    timeline_frame,
)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def make_job(n: int, models: tuple[str, ...] = ("gpt-4o-mini",)) -> BatchJob:
    return BatchJob(
        [
            BatchRequest(
                prompt=f"Classify review {i}:   a  long text " + "word " * 30,
                model=models[i % len(models)],
                custom_id=f"r{i}",
            )
            for i in range(n)
        ]
    )


def ok(job: BatchJob, i: int, *, cost: float = 0.01, ms: float = 100.0) -> None:
    req = job.requests[i]
    job.add_result(
        BatchResult(
            request_id=req.id,
            custom_id=req.custom_id,
            status="success",
            result=f"answer {i} " + "blah " * 40,
            processing_time_ms=ms,
            cost_usd=cost,
            model=req.model,
        )
    )


def fail(job: BatchJob, i: int, message: str, kind: str = "invalid_request") -> None:
    req = job.requests[i]
    job.add_result(
        BatchResult(
            request_id=req.id,
            custom_id=req.custom_id,
            status="error",
            error=message,
            error_type=kind,
            processing_time_ms=5.0,
            model=req.model,
        )
    )


def test_latest_gives_the_newest_results_first_with_cut_text() -> None:
    job = make_job(100)
    monitor = JobMonitor(job)
    for i in range(100):
        ok(job, i)
    rows = monitor.latest(3, width=40)
    assert [r.row for r in rows] == ["r99", "r98", "r97"]
    assert all(len(r.input) <= 40 and len(r.answer) <= 40 for r in rows)
    assert rows[0].input.startswith("Classify review 99: a long text")  # whitespace folded
    assert rows[0].answer.endswith("…") and rows[0].status == "success"
    assert len(monitor.latest(1000)) == LATEST_KEPT  # bounded memory


def test_errors_are_grouped_by_kind_with_count_full_example_and_row() -> None:
    job = make_job(10)
    monitor = JobMonitor(job)
    long_msg = "400 invalid parameter 'temprature': did you mean 'temperature'? " + "x" * 300
    fail(job, 2, long_msg)
    for i in (3, 5, 7):
        fail(job, i, f"503 server busy (request id req_{i}a8f3c2d9e1b7)", kind="server_error")
    fail(job, 8, long_msg)
    ok(job, 0)
    groups = monitor.errors()
    assert [(g.error_type, g.count) for g in groups] == [
        ("server_error", 3),
        ("invalid_request", 2),
    ]
    assert groups[0].row == "r3" and groups[0].message.startswith("503 server busy")
    assert groups[1].message == long_msg  # the provider's words, whole
    assert groups[1].row == "r2"


def test_timeline_is_cumulative_and_bounded_for_a_long_job() -> None:
    job = make_job(5000)
    clock = Clock()
    monitor = JobMonitor(job, interval_s=0.1, clock=clock)
    for i in range(5000):
        clock.now = i * 0.05
        ok(job, i, cost=0.001)
    points = monitor.timeline()
    assert len(points) <= TIMELINE_POINTS + 1
    assert points[0].done == 0 and points[-1].done == 5000
    assert abs(points[-1].cost_usd - 5.0) < 1e-9
    assert all(a.t_s < b.t_s and a.done <= b.done for a, b in itertools.pairwise(points))
    frame = timeline_frame(points)
    assert abs(frame["rows_per_s"].iloc[1:].median() - 20.0) < 1.0  # one row per 0.05 s


def test_sample_adds_a_point_during_a_stall() -> None:
    job = make_job(3)
    clock = Clock()
    monitor = JobMonitor(job, interval_s=0.1, clock=clock)
    ok(job, 0)
    clock.now = 5.0
    monitor.sample()
    assert monitor.timeline()[-1].t_s == 5.0
    assert monitor.timeline()[-1].done == 1


def test_models_give_counts_cost_and_latency_per_model() -> None:
    job = make_job(40, models=("gpt-4o-mini", "claude-haiku-4-5"))
    monitor = JobMonitor(job)
    for i in range(40):
        if i % 10 == 1:
            fail(job, i, "boom")
        else:
            ok(job, i, cost=0.01 if i % 2 == 0 else 0.02, ms=100.0 if i % 2 == 0 else 300.0)
    by_model = {s.model: s for s in monitor.models()}
    gpt, claude = by_model["gpt-4o-mini"], by_model["claude-haiku-4-5"]
    assert (gpt.rows, gpt.ok, gpt.failed) == (20, 20, 0)
    assert (claude.rows, claude.ok, claude.failed) == (20, 16, 4)
    assert abs(gpt.cost_usd - 0.2) < 1e-9 and abs(claude.cost_usd - 0.32) < 1e-9
    assert gpt.latency_p50_ms == 100.0 and claude.latency_p95_ms == 300.0


def test_a_monitor_on_a_resumed_job_counts_the_results_it_already_has() -> None:
    job = make_job(10)
    for i in range(4):
        ok(job, i)
    fail(job, 4, "boom")
    monitor = JobMonitor(job)
    assert monitor.timeline()[0].done == 5
    assert monitor.errors()[0].count == 1
    assert monitor.latest(1)[0].row == "r4"


def test_details_text_shows_errors_and_models_only_when_there_is_something_to_say() -> None:
    job = make_job(4)
    monitor = JobMonitor(job)
    for i in range(4):
        ok(job, i)
    assert details_text(monitor) == ""
    mixed = make_job(4, models=("gpt-4o-mini", "claude-haiku-4-5"))
    monitor = JobMonitor(mixed)
    ok(mixed, 0)
    ok(mixed, 1)
    fail(mixed, 2, "400 unknown parameter 'temprature'")
    text = details_text(monitor)
    assert "errors: 1 in 1 kind" in text
    assert "1 × invalid_request, e.g. row 'r2': 400 unknown parameter 'temprature'" in text
    assert "per model:" in text and "claude-haiku-4-5" in text and "gpt-4o-mini" in text


def test_errors_text_lists_the_largest_kinds_and_counts_the_rest() -> None:
    job = make_job(20)
    monitor = JobMonitor(job)
    for i in range(8):
        fail(job, i, f"problem {chr(97 + i)}", kind=f"kind{i}")
    text = errors_text(monitor.errors(), limit=5)
    assert text.count(" × ") == 5
    assert "… 3 more kinds (3 rows)" in text


def test_excerpt_cuts_at_a_word_and_shows_structured_answers_as_fields() -> None:
    assert excerpt("short") == "short"
    cut = excerpt("the quick brown fox jumps over the lazy dog", 20)
    assert cut == "the quick brown fox…"
    assert excerpt({"label": "good", "score": 3}) == "label: good, score: 3"


def test_start_counts_time_from_when_the_job_starts_sending() -> None:
    job = make_job(3)
    clock = Clock()
    monitor = JobMonitor(job, clock=clock)
    clock.now = 7.0  # the job waited before its first request
    monitor.start()
    clock.now = 7.5
    fail(job, 0, "boom")
    assert monitor.timeline()[0].t_s == 0.0 and monitor.timeline()[-1].t_s == 0.5
    assert monitor.errors()[0].first_at_s == 0.5
