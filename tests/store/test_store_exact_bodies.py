"""A resumed row sends the very bytes an uninterrupted run sends for it.

Checked on the simulated HTTP server's request log (a hash of each raw body), with parameters
the store once mangled (a stop word, a JSON-schema enum value, metadata named like a
credential) and values a careless round trip changes (0.1, 2**53 + 1, non-ASCII text, key
order, nested lists), through ``JobRunner`` and through ``brainbatch run`` / ``resume``.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from brainbatch import BatchJob, BatchRequest, BatchStatus
from brainbatch.runner import JobRunner, RunSettings
from brainbatch.sim import SimServer
from brainbatch.store import JobStore

ROWS = 40
PARAMS = {
    "temperature": 0.1,
    "stop": ["task-list-end"],
    "seed": 9_007_199_254_740_993,
    "response_format": {
        "type": "json_schema",
        "json_schema": {
            "name": "risk",
            "schema": {
                "type": "object",
                "properties": {"level": {"enum": ["low", "high-risk-assessment"]}},
            },
        },
    },
    "max_tokens": 30,
    "logit_bias": {"50256": -100},
}
METADATA = {"session_key": "user-session-42", "token": "budget-7", "nested": [[1, 0.1], ["ü"]]}


def _text(i: int) -> str:
    return f"Zeile {i}: Lieferung pünktlich, Qualität très bien ✓ 東京"


def _job() -> BatchJob:
    return BatchJob(
        [
            BatchRequest(
                prompt=_text(i),
                model="gpt-4o-mini",
                custom_id=f"r{i}",
                params=dict(PARAMS),
                metadata=dict(METADATA),
            )
            for i in range(ROWS)
        ]
    )


def _settings(sim: SimServer, concurrency: int = 4) -> RunSettings:
    return RunSettings(
        model="gpt-4o-mini",
        provider="openai",
        max_concurrent=concurrency,
        provider_kwargs={"base_url": sim.openai_base_url, "api_key": "sk-exact-FAKE-000000"},
    )


def _bodies(sim: SimServer) -> dict[str | None, str]:
    """Body hash per prompt text, every row sent exactly once."""
    log = [r for r in sim.log if r.path == "/v1/chat/completions"]
    assert all(r.status == 200 for r in log)
    out = {r.user_text: r.body_hash for r in log}
    assert len(out) == len(log), "a row was sent twice"
    return out


def test_runner_resume_sends_the_bytes_an_uninterrupted_run_sends(
    sim: SimServer, store_path: Path
) -> None:
    asyncio.run(JobRunner(_job(), _settings(sim)).run())
    reference = _bodies(sim)
    assert len(reference) == ROWS
    sim.reset()
    sim.configure(latency_ms=20)

    async def cancelled_midway() -> BatchJob:
        with JobStore(store_path) as store:
            job = store.create_job(_job(), name="exact")

            async def cancel_after_ten() -> None:
                while job.done < 10:
                    await asyncio.sleep(0.005)
                job.request_cancel()

            watcher = asyncio.ensure_future(cancel_after_ten())
            await JobRunner(job, _settings(sim), store).run()
            await watcher
            return job

    first = asyncio.run(cancelled_midway())
    assert first.status == BatchStatus.CANCELLED and 10 <= first.done < ROWS
    sent_first = set(_bodies(sim))
    with JobStore(store_path) as store:
        again = store.load_job("exact")
        assert again.requests[3].metadata == METADATA
        asyncio.run(JobRunner(again, _settings(sim), store).run())
    assert again.status == BatchStatus.COMPLETED
    sent = _bodies(sim)
    resumed = set(sent) - sent_first
    assert len(resumed) == ROWS - first.done
    assert {t: sent[t] for t in resumed} == {t: reference[t] for t in resumed}


def test_cli_resume_sends_the_bytes_an_uninterrupted_run_sends(
    sim: SimServer, tmp_path: Path
) -> None:
    csv = tmp_path / "rows.csv"
    pd.DataFrame(
        {"id": [f"r{i}" for i in range(ROWS)], "text": [_text(i) for i in range(ROWS)]}
    ).to_csv(csv, index=False)
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env["BRAINBATCH_STORE"] = str(tmp_path / "store" / "jobs.sqlite")
    params = [a for k, v in PARAMS.items() for a in ("--param", f"{k}={json.dumps(v)}")]
    common = [
        "run", str(csv), "--prompt", "{text}", "--id-column", "id", "--model", "gpt-4o-mini",
        "--provider", "openai", "--base-url", sim.openai_base_url, "--concurrency", "4",
        "--progress-interval", "60", *params,
    ]  # fmt: skip

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "brainbatch", *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )

    done = run(*common, "--out", "ref.csv", "--no-store")
    assert done.returncode == 0, done.stderr
    reference = _bodies(sim)
    assert len(reference) == ROWS
    sim.reset()
    sim.configure(latency_ms=100)
    proc = subprocess.Popen(
        [sys.executable, "-m", "brainbatch", *common, "--out", "out.csv", "--job-name", "exact"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while sim.count() < 8:
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    sent_first = set(_bodies(sim))
    assert len(sent_first) < ROWS
    sim.configure(latency_ms=0)
    resumed_run = run("resume", "exact")
    assert resumed_run.returncode == 0, resumed_run.stderr
    sent = _bodies(sim)
    resumed = set(sent) - sent_first
    assert len(resumed) == ROWS - len(sent_first)
    assert {t: sent[t] for t in resumed} == {t: reference[t] for t in resumed}
