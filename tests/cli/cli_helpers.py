"""Helpers of the command-line tests: the sample prompts and reading progress from stderr."""

from __future__ import annotations

import re
import subprocess
import time

import pandas as pd

N_ROWS = 40


def make_prompts(n: int = N_ROWS) -> pd.DataFrame:
    """``n`` rows with an ``id`` (r0000...) and a ``text`` column."""
    return pd.DataFrame(
        {
            "id": [f"r{i:04d}" for i in range(n)],
            "text": [f"Review {i}: the parcel came late but the lamp works." for i in range(n)],
        }
    )


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
