"""SimProcess: the simulated server in a child process, with the same wire and its stats."""

from __future__ import annotations

import httpx
from sim_helpers import chat_body

from brainbatch.sim import SimConfig, SimProcess
from brainbatch.sim.process import cli_args


def test_sim_process_serves_and_reports_what_it_received():
    with SimProcess(seed=5, http_503=0.0) as server:
        r = httpx.post(server.openai_base_url + "/chat/completions", json=chat_body())
        stats = server.stats()
    assert r.status_code == 200
    assert stats == {"requests": 1, "by_status": {"200": 1}}


def test_sim_process_passes_the_api_key_through_the_environment():
    with SimProcess(api_key="sk-child") as server:
        denied = httpx.post(server.openai_base_url + "/chat/completions", json=chat_body())
        allowed = httpx.post(
            server.openai_base_url + "/chat/completions",
            json=chat_body(),
            headers={"Authorization": "Bearer sk-child"},
        )
    assert (denied.status_code, allowed.status_code) == (401, 200)


def test_cli_args_reproduce_the_config():
    args = cli_args(SimConfig(latency_ms=5, rpm=10, api_key="sk-x"))
    assert args[args.index("--latency-ms") + 1] == "5"
    assert args[args.index("--rpm") + 1] == "10"
    assert "--tpm" not in args
    assert "sk-x" not in args
