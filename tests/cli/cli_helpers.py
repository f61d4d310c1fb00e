"""Helpers of the command-line tests: the sample prompts, ``run`` arguments, reading progress."""

from __future__ import annotations

import re
import subprocess
import time
from typing import Any

import pandas as pd

N_ROWS = 40
INSTANT = ("-o", "latency_ms=0")
"""Options for the in-process ``sim`` provider: answer at once."""


def make_prompts(n: int = N_ROWS) -> pd.DataFrame:
    """``n`` rows with an ``id`` (r0000...) and a ``text`` column."""
    return pd.DataFrame(
        {
            "id": [f"r{i:04d}" for i in range(n)],
            "text": [f"Review {i}: the parcel came late but the lamp works." for i in range(n)],
        }
    )


def run_args(
    src: object, *options: str, prompt: str = "{text}", model: str = "sim", out: str = "results.csv"
) -> list[str]:
    """Arguments of ``brainbatch run SRC --prompt PROMPT --model MODEL OPTIONS... --out OUT``."""
    return ["run", str(src), "--prompt", prompt, "--model", model, *options, "--out", out]


def sim_openai(sim: Any) -> tuple[str, ...]:
    """Options that send ``run`` to the simulated server's OpenAI endpoint."""
    return ("--provider", "openai", "--base-url", sim.openai_base_url)


def read_progress(proc: subprocess.Popen[str], min_done: int, timeout: float = 30.0) -> list[str]:
    """Read ``proc``'s stderr lines until a progress line shows ``min_done`` rows done."""
    assert proc.stderr is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        m = re.search(r"\] ([\d,]+)/", line)
        if m and int(m.group(1).replace(",", "")) >= min_done:
            return lines
    raise AssertionError("no progress line with enough rows done:\n" + "".join(lines))
