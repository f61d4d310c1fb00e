"""``brainbatch run --images COLUMN``: an image column from the command line."""

from __future__ import annotations

import struct

import pandas as pd
from cli_helpers import run_args, sim_openai


def _gif(width: int, height: int) -> bytes:
    """The header of a GIF (what the format checks and the simulator read)."""
    return b"GIF89a" + struct.pack("<HH", width, height) + b"\x00\x00\x00;"


def test_run_with_an_image_column_sends_each_rows_image(cli, sim, tmp_path):
    for i in range(3):
        (tmp_path / f"img{i}.gif").write_bytes(_gif(8 + i, 8))
    pd.DataFrame({"text": ["what is this?"] * 3, "img": [f"img{i}.gif" for i in range(3)]}).to_csv(
        tmp_path / "rows.csv", index=False
    )
    proc = cli(
        *run_args(tmp_path / "rows.csv", *sim_openai(sim), "--images", "img", model="gpt-4o-mini")
    )
    assert proc.returncode == 0, proc.stderr
    out = pd.read_csv(tmp_path / "results.csv")
    assert (out["status"] == "success").all()
    # the simulator's answer names a digest of the image bytes it received: one per image
    media = out["response"].str.extract(r"\[media (\w+)\]")[0]
    assert media.notna().all() and media.nunique() == 3


def test_a_missing_image_file_is_refused_naming_the_row_before_sending(cli, sim, tmp_path):
    (tmp_path / "img0.gif").write_bytes(_gif(8, 8))
    pd.DataFrame({"text": ["a", "b"], "img": ["img0.gif", "nowhere.gif"]}).to_csv(
        tmp_path / "rows.csv", index=False
    )
    proc = cli(
        *run_args(tmp_path / "rows.csv", *sim_openai(sim), "--images", "img", model="gpt-4o-mini")
    )
    assert proc.returncode == 2, proc.stderr
    assert "row 1, column 'img'" in proc.stderr and "nowhere.gif" in proc.stderr
    assert sim.count("/v1/chat/completions") == 0
