"""The session step both fronts share: store, new or resumed job, rows sent again, settings."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

import brainbatch as bb
from brainbatch.errors import InputError
from brainbatch.models import BatchRequest
from brainbatch.runner import RunSettings
from brainbatch.session import new_session, open_store, resume_session
from brainbatch.sim import SimServer
from brainbatch.store import JobBusy

KEY = "sk-sim-right-key-0001"


def frame(n: int) -> pd.DataFrame:
    return pd.DataFrame({"text": [f"row {i}" for i in range(n)]})


def test_open_store_returns_one_store_per_file_in_a_process(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite"
    assert open_store(path) is open_store(str(path))
    assert open_store(False) is None


def test_a_job_claimed_and_not_released_is_refused_a_second_time(tmp_path: Path) -> None:
    requests = [BatchRequest(prompt="p", model="sim", custom_id="0")]
    new_session(requests, RunSettings(), store=tmp_path / "s.sqlite", job_name="busy")
    again = [BatchRequest(prompt="p", model="sim", custom_id="0")]
    with pytest.raises(JobBusy, match="busy"):
        new_session(again, RunSettings(), store=tmp_path / "s.sqlite", job_name="busy")


def test_open_store_refuses_something_that_is_not_a_store() -> None:
    with pytest.raises(InputError, match="store must be a JobStore"):
        open_store(42)


def test_a_named_job_run_again_is_the_stored_job_resumed(tmp_path: Path) -> None:
    requests = [BatchRequest(prompt=f"p{i}", model="sim", custom_id=str(i)) for i in range(3)]
    first = new_session(requests, RunSettings(), store=tmp_path / "s.sqlite", job_name="same")
    first.release()
    again_requests = [BatchRequest(prompt=f"p{i}", model="sim", custom_id=str(i)) for i in range(3)]
    again = new_session(again_requests, RunSettings(), store=tmp_path / "s.sqlite", job_name="same")
    assert (first.resumed, again.resumed) == (False, True)
    assert again.job.job_id == first.job.job_id


def test_resume_takes_run_settings_as_run_settings_not_provider_options(tmp_path: Path) -> None:
    store = tmp_path / "s.sqlite"
    bb.run(frame(4), prompt="text", model="sim", job_name="r", store=store, progress="none")
    session = resume_session(
        "r",
        store=store,
        run_overrides={"max_cost_usd": 2.0, "rpm": 600, "tpm": 10**6, "max_concurrent": 3},
    )
    s = session.settings
    assert (s.max_cost_usd, s.rpm, s.tpm, s.max_concurrent) == (2.0, 600, 10**6, 3)
    assert "max_cost_usd" not in s.provider_kwargs


def test_bb_resume_accepts_every_run_setting(tmp_path: Path) -> None:
    store = tmp_path / "s.sqlite"
    bb.run(frame(4), prompt="text", model="sim", job_name="r", store=store, progress="none")
    out = bb.resume(
        "r",
        store=store,
        max_cost_usd=1.0,
        rpm=6000,
        tpm=10**7,
        max_concurrent=2,
        delay=None,
        cache=False,
        wait=True,
        progress="none",
    )
    assert isinstance(out, pd.DataFrame) and (out.status == "success").all()


def test_resume_refuses_to_change_the_model(tmp_path: Path) -> None:
    store = tmp_path / "s.sqlite"
    bb.run(frame(2), prompt="text", model="sim", job_name="r", store=store, progress="none")
    with pytest.raises(InputError, match=r"resume cannot change \['model'\]"):
        resume_session("r", store=store, run_overrides={"model": "gpt-4o"})


def test_rows_refused_for_a_wrong_key_are_sent_again_once_the_key_is_fixed(
    sim: SimServer, tmp_path: Path
) -> None:
    sim.configure(api_key=KEY)
    store = tmp_path / "s.sqlite"
    common = {
        "prompt": "text",
        "model": "gpt-4o-mini",
        "provider": "openai",
        "base_url": sim.openai_base_url,
        "job_name": "keyed",
        "store": store,
        "progress": "none",
        "max_concurrent": 8,
    }
    first = bb.run(frame(40), api_key="sk-sim-wrong-key-0000", **common)
    refused = (first.status == "error").sum()
    assert refused >= 1 and (first.status == "success").sum() == 0
    assert sim.count("/v1/chat/completions") == refused
    sim.reset()
    out = bb.resume("keyed", store=store, api_key=KEY, wait=True, progress="none")
    assert (out.status == "success").sum() == 40
    assert sim.count("/v1/chat/completions") == 40  # the refused rows too, each once


class FlakyOnce:
    """A provider that fails rows whose text ends in 0 or 5 the first time it sees them."""

    name = "flaky"

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    async def __call__(self, request: BatchRequest) -> str:
        self.calls[request.prompt] += 1
        if request.prompt[-1] in "05" and self.calls[request.prompt] == 1:
            raise bb.PermanentError("HTTP 400: try later", status_code=400)
        return request.prompt.upper()


def test_retry_failed_sends_only_the_failed_rows_again_in_real_time(tmp_path: Path) -> None:
    store = tmp_path / "s.sqlite"
    provider = FlakyOnce()
    first = bb.run(frame(20), prompt="text", provider=provider, job_name="f", store=store)
    assert (first.status == "error").sum() == 4
    plain = bb.resume("f", store=store, provider=provider, wait=True, progress="none")
    assert (plain.status == "error").sum() == 4  # without retry_failed, failed rows stay
    out = bb.resume(
        "f", store=store, provider=provider, retry_failed=True, wait=True, progress="none"
    )
    assert (out.status == "success").sum() == 20
    assert max(provider.calls.values()) == 2
    assert sum(provider.calls.values()) == 24  # 20 once, the 4 failed ones once more
