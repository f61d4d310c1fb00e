"""``images=`` with streamed input: each row's image goes with it, also after a resume."""

from __future__ import annotations

import struct
from pathlib import Path

import pandas as pd
import pyarrow.dataset as pads

import brainbatch as bb
from brainbatch import BatchStatus
from brainbatch.sim import SimServer

ROWS = 10


def _gif(width: int) -> bytes:
    """The header of a GIF (what the format checks and the simulator read)."""
    return b"GIF89a" + struct.pack("<HH", width, 8) + b"\x00\x00\x00;"


def test_a_streamed_image_job_stopped_by_its_budget_resumes_with_its_images(
    sim: SimServer, tmp_path: Path
) -> None:
    source = tmp_path / "in.parquet"
    pd.DataFrame(
        {"text": [f"item {i}" for i in range(ROWS)], "img": [_gif(8 + i) for i in range(ROWS)]}
    ).to_parquet(source)
    common = {
        "provider": "openai",
        "base_url": sim.openai_base_url,
        "api_key": "sk-test",
        "progress": "none",
    }
    first = bb.run(
        str(source),
        prompt="What is this? {text}",
        model="gpt-4o-mini",
        images="img",
        params={"max_tokens": 20},
        out=tmp_path / "out",
        chunk_size=3,
        max_concurrent=1,
        max_cost_usd=0.00003,  # a few rows' worth: the budget stops the stream early
        job_name="pics",
        store=tmp_path / "jobs.sqlite",
        **common,
    )
    assert first.status is BatchStatus.CANCELLED  # precondition: rows were left for the resume
    done = bb.resume("pics", store=tmp_path / "jobs.sqlite", max_cost_usd=1.0, wait=True, **common)
    assert done.status is BatchStatus.COMPLETED
    out = pads.dataset(tmp_path / "out").to_table().to_pandas()
    out = out[out["status"] == "success"]
    assert len(out) == ROWS
    media = out["response"].str.extract(r"\[media (\w+)\]")[0]
    assert media.notna().all() and media.nunique() == ROWS
