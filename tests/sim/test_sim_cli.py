"""``python -m brainbatch.sim`` serves until interrupted and prints its base URLs."""

from __future__ import annotations

import re
import signal
import subprocess
import sys

import httpx
import pytest
from sim_helpers import chat_body

from brainbatch.sim.__main__ import _parser, config_from_args


def test_cli_serves_on_the_printed_url_until_interrupted():
    proc = subprocess.Popen(
        [sys.executable, "-m", "brainbatch.sim", "--port", "0", "--seed", "3"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        banner = [proc.stdout.readline() for _ in range(5)]
        url = re.search(r"http://127\.0\.0\.1:\d+", banner[0]).group()
        assert httpx.post(url + "/v1/chat/completions", json=chat_body()).status_code == 200
        proc.send_signal(signal.SIGINT)
        out = "".join(banner) + proc.communicate(timeout=20)[0]
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0
    assert url + "/v1" in out
    assert f"Gemini base URL:    {url}\n" in out
    assert "stopped after 1 requests" in out


def test_cli_error_rate_is_spread_over_server_errors_and_429():
    config = config_from_args(_parser().parse_args(["--error-rate", "0.2", "--hang", "0.1"]))
    assert (
        config.http_500,
        config.http_502,
        config.http_503,
        config.rate_limit_429,
    ) == pytest.approx((0.05, 0.05, 0.05, 0.05))
    assert config.hang == 0.1
