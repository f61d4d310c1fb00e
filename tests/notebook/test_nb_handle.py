"""submit / run / JobHandle: where jobs run, waiting, cancelling, interrupting, continuing."""

from __future__ import annotations

import _thread
import asyncio
import threading
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

import brainbatch as bb
from brainbatch.errors import ConfigurationError, InputError
from brainbatch.models import BatchStatus
from brainbatch.providers import SimulatedProvider
from brainbatch.store import JobBusy

Prompts = Callable[[int], pd.DataFrame]


def slow_sim(latency_ms: float = 50.0) -> SimulatedProvider:
    return SimulatedProvider(latency_ms=latency_ms, latency_sigma=0.0)


# -- submit outside any event loop (a script): a worker thread ---------------------------------


def test_submit_without_a_loop_returns_before_the_job_ends(prompts: Prompts) -> None:
    job = bb.submit(prompts(40), prompt="text", provider=slow_sim(), max_concurrent=4)
    assert not job.done()
    assert job._thread is not None and job._thread is not threading.current_thread()
    out = job.result(timeout=30)
    assert job.status == BatchStatus.COMPLETED
    assert (out.status == "success").all()


def test_result_times_out_with_a_clear_error(prompts: Prompts) -> None:
    job = bb.submit(prompts(40), prompt="text", provider=slow_sim(), max_concurrent=1)
    with pytest.raises(TimeoutError, match=r"still running after 0.05 s"):
        job.result(timeout=0.05)
    job.cancel()
    job.result(timeout=30)


def test_stats_and_progress_reflect_the_finished_job(prompts: Prompts) -> None:
    job = bb.submit(prompts(10), prompt="text", provider=slow_sim(1))
    job.result(timeout=30)
    assert job.progress == 1.0
    assert job.stats()["succeeded"] == 10


# -- submit inside a running loop (a notebook cell): a task on that loop -----------------------


async def test_submit_inside_a_loop_runs_as_a_task_and_the_loop_stays_free(
    prompts: Prompts,
) -> None:
    job = bb.submit(prompts(60), prompt="text", provider=slow_sim(20), max_concurrent=4)
    assert job._task is not None and job._thread is None
    ticks = 0

    async def other_work() -> None:
        nonlocal ticks
        while not job.done():
            ticks += 1
            await asyncio.sleep(0.01)

    await asyncio.gather(other_work(), asyncio.wait_for(asyncio.shield(job._task), 30))
    assert ticks > 10  # the loop ran other code while the job ran
    assert job.status == BatchStatus.COMPLETED


async def test_await_job_gives_the_results_frame(prompts: Prompts) -> None:
    df = prompts(12)
    out = await bb.submit(df, prompt="text", provider=slow_sim(5))
    assert list(out.index) == list(df.index)
    assert (out.status == "success").all()


async def test_result_on_the_jobs_own_loop_while_running_says_to_await(prompts: Prompts) -> None:
    job = bb.submit(prompts(20), prompt="text", provider=slow_sim(50), max_concurrent=1)
    with pytest.raises(RuntimeError, match=r"Use `await job`"):
        job.result()
    job.cancel()
    out = await job
    assert "cancelled" in set(out.status)


async def test_result_on_the_jobs_loop_after_it_ended_returns_the_frame(prompts: Prompts) -> None:
    job = bb.submit(prompts(5), prompt="text", provider=slow_sim(1))
    await job
    assert len(job.result()) == 5


# -- run: blocking, anywhere --------------------------------------------------------------------


def test_run_returns_the_results_frame(prompts: Prompts) -> None:
    out = bb.run(prompts(30), prompt="Answer: {text}", model="sim", latency_ms=1)
    assert len(out) == 30
    assert (out.status == "success").all()
    assert out["completed_at"].dt.tz is not None


async def test_run_works_inside_a_running_loop(prompts: Prompts) -> None:
    out = bb.run(prompts(8), prompt="text", model="sim", latency_ms=1)
    assert (out.status == "success").all()


def test_run_prints_only_the_final_summary_when_not_interactive(
    prompts: Prompts, capsys: pytest.CaptureFixture[str]
) -> None:
    bb.run(prompts(8), prompt="text", model="sim", latency_ms=1, job_name="quiet")
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("brainbatch: job 'quiet' completed: 8/8 rows, 8 ok")


def test_bad_setting_is_refused_before_anything_is_sent(prompts: Prompts) -> None:
    provider = slow_sim(1)
    with pytest.raises(InputError, match=r"max_concurrent must be an integer > 0, got 0"):
        bb.submit(prompts(5), prompt="text", provider=provider, max_concurrent=0)
    assert provider.calls == 0


def test_bad_row_is_refused_before_anything_is_sent(prompts: Prompts) -> None:
    df = prompts(5)
    df.loc[3, "text"] = None
    provider = slow_sim(1)
    with pytest.raises(InputError, match=r"rows 3"):
        bb.run(df, prompt="text", provider=provider)
    assert provider.calls == 0


def test_unknown_model_is_refused_by_submit_before_anything_is_stored(
    prompts: Prompts, tmp_path: Path
) -> None:
    store = tmp_path / "jobs.sqlite"
    with pytest.raises(ConfigurationError, match=r"no provider known for model"):
        bb.submit(prompts(3), prompt="text", model="llama-nobody-knows", store=store)
    assert bb.jobs(store).empty


# -- cancel and interrupt -----------------------------------------------------------------------


def test_cancel_keeps_partial_results_and_marks_the_rest_cancelled(prompts: Prompts) -> None:
    job = bb.submit(prompts(200), prompt="text", provider=slow_sim(20), max_concurrent=4)
    while job.job.done < 8:
        threading.Event().wait(0.01)
    assert job.cancel()
    out = job.result(timeout=30)
    assert job.status == BatchStatus.CANCELLED
    counts = out.status.value_counts()
    assert counts["success"] >= 8
    assert counts["cancelled"] > 0
    assert counts["success"] + counts["cancelled"] == 200


def test_cancel_after_the_end_returns_false(prompts: Prompts) -> None:
    job = bb.submit(prompts(2), prompt="text", provider=slow_sim(1))
    job.result(timeout=30)
    assert job.cancel() is False


def test_keyboard_interrupt_in_run_returns_partial_results(
    prompts: Prompts, capsys: pytest.CaptureFixture[str]
) -> None:
    timer = threading.Timer(0.4, _thread.interrupt_main)
    timer.start()
    try:
        out = bb.run(prompts(400), prompt="text", provider=slow_sim(20), max_concurrent=4)
    finally:
        timer.cancel()
    counts = out.status.value_counts()
    assert counts["success"] > 0
    assert counts["cancelled"] > 0
    assert "interrupted; job" in capsys.readouterr().err


# -- continuing a job by name, resume, jobs ----------------------------------------------------


def test_same_job_name_continues_sending_only_rows_without_result(prompts: Prompts) -> None:
    df = prompts(60)
    first = bb.submit(df, prompt="text", provider=slow_sim(20), max_concurrent=2, job_name="j")
    while first.job.done < 6:
        threading.Event().wait(0.01)
    first.cancel()
    done_before = int((first.result(timeout=30).status == "success").sum())
    provider = slow_sim(1)
    out = bb.run(df, prompt="text", provider=provider, job_name="j")
    assert (out.status == "success").all()
    assert provider.calls == 60 - done_before


def test_same_job_name_with_other_rows_is_refused(prompts: Prompts) -> None:
    bb.run(prompts(3), prompt="text", model="sim", latency_ms=1, job_name="k")
    other = prompts(3).assign(text=["a", "b", "c"])
    with pytest.raises(bb.StoreError, match=r"'k'"):
        bb.run(other, prompt="text", model="sim", latency_ms=1, job_name="k")


def test_resume_finishes_a_cancelled_job_from_the_store(prompts: Prompts) -> None:
    job = bb.submit(prompts(50), prompt="text", model="sim", latency_ms=30, job_name="later")
    while job.job.done < 4:
        threading.Event().wait(0.01)
    job.cancel()
    job.result(timeout=30)
    out = bb.resume("later", wait=True, latency_ms=1)
    assert isinstance(out, pd.DataFrame)
    assert (out.status == "success").all()
    assert out.index.name == "custom_id"
    assert out.loc["7", "prompt"] == "prompt number 7"


def test_jobs_lists_the_stored_jobs_by_name(prompts: Prompts) -> None:
    bb.run(prompts(2), prompt="text", model="sim", latency_ms=1, job_name="one")
    bb.run(prompts(3), prompt="text", model="sim", latency_ms=1, job_name="two")
    listing = bb.jobs()
    assert list(listing["name"]) == ["one", "two"]
    assert list(listing["status"]) == ["completed", "completed"]


def test_store_false_keeps_everything_in_memory(prompts: Prompts, tmp_path: Path) -> None:
    bb.run(prompts(2), prompt="text", model="sim", latency_ms=1, store=False)
    assert not (tmp_path / "store").exists()


def test_store_path_puts_the_journal_there(prompts: Prompts, tmp_path: Path) -> None:
    path = tmp_path / "mine.sqlite"
    bb.run(prompts(2), prompt="text", model="sim", latency_ms=1, store=path, job_name="p")
    assert list(bb.jobs(store=path)["name"]) == ["p"]


def test_a_named_job_still_running_cannot_be_started_twice(prompts: Prompts) -> None:
    job = bb.submit(prompts(100), prompt="text", provider=slow_sim(20), job_name="once")
    with pytest.raises(JobBusy, match=r"job 'once' is being run by this process"):
        bb.submit(prompts(100), prompt="text", provider=slow_sim(20), job_name="once")
    job.cancel()
    job.result(timeout=30)


def test_calls_share_one_open_store_per_file(prompts: Prompts) -> None:
    first = bb.submit(prompts(2), prompt="text", model="sim", latency_ms=1)
    second = bb.submit(prompts(2), prompt="text", model="sim", latency_ms=1)
    first.result(timeout=30)
    second.result(timeout=30)
    assert first.runner.store is second.runner.store
