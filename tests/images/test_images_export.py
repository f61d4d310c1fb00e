"""``bb.export_batch`` with images and documents: the exported lines carry the parts batch
mode uploads, after the same checks."""

from __future__ import annotations

from pathlib import Path

import orjson
import pandas as pd
import pytest
from image_helpers import PDF, png

import brainbatch as bb
from brainbatch.errors import InputError
from brainbatch.sim import SimServer
from brainbatch.sim.batches import SIM_BATCHES


def _rows(tmp_path: Path) -> pd.DataFrame:
    (tmp_path / "red.png").write_bytes(png(4, 4, rgb=(255, 0, 0)))
    (tmp_path / "notes.pdf").write_bytes(PDF)
    return pd.DataFrame(
        {
            "name": ["a", "b", "c"],
            "pic": [str(tmp_path / "red.png"), png(8, 8, rgb=(0, 0, 255)), None],
            "doc": [str(tmp_path / "notes.pdf"), None, PDF],
        }
    )


def _bodies(content: bytes) -> dict[str, dict]:
    lines = [orjson.loads(line) for line in content.splitlines() if line.strip()]
    return {line["custom_id"]: line["body"] for line in lines}


def test_exported_lines_carry_the_bodies_batch_mode_uploads(sim: SimServer, tmp_path: Path) -> None:
    df = _rows(tmp_path)
    media = {"images": "pic", "documents": "doc", "detail": "low"}
    state = sim.app[SIM_BATCHES]
    state.reset()
    state.configure(validating_s=0.02, in_progress_s=0.05, finalizing_s=0.02, cancelling_s=0.02)
    try:
        out = bb.run(
            df,
            prompt="Describe {name}",
            model="gpt-4o-mini",
            provider="openai",
            base_url=sim.openai_base_url,
            api_key="sk-test",
            mode="batch",
            poll_interval=0.02,
            store=False,
            progress="none",
            **media,
        )
        (batch,) = state.batches.values()
        assert batch.input_file_id is not None
        uploaded = _bodies(state.files[batch.input_file_id].content)
    finally:
        state.reset()
    assert (out.status == "success").all()
    (written,) = bb.export_batch(df, "Describe {name}", "gpt-4o-mini", tmp_path / "out", **media)
    exported = _bodies(Path(written.path).read_bytes())
    assert exported == uploaded
    assert exported["0"]["messages"][0]["content"][1]["image_url"]["url"].startswith("data:")


def test_export_refuses_a_bad_image_naming_the_row_and_writes_nothing(tmp_path: Path) -> None:
    df = _rows(tmp_path)
    (tmp_path / "red.png").write_text("not an image any more")
    with pytest.raises(InputError, match=r"row 0, column 'pic'"):
        bb.export_batch(df, "Describe {name}", "gpt-4o-mini", tmp_path / "out", images="pic")
    assert not (tmp_path / "out").exists()
