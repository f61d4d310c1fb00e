"""Native batch mode on a streamed table: one provider batch file per chunk, mapped back."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

import brainbatch as bb
from brainbatch import BatchStatus
from brainbatch.sim import SimServer
from brainbatch.stream import read_parts


def test_each_chunk_is_its_own_batch_file_open_at_once_and_results_land_in_their_rows(
    tmp_path: Path, sim: SimServer
) -> None:
    source = tmp_path / "big.parquet"
    pd.DataFrame({"text": [f"review {i}" for i in range(250)]}).to_parquet(source)
    result = bb.run(
        source,
        prompt="Say {text}",
        model="gpt-4o-mini",
        provider="openai",
        mode="batch",
        base_url=sim.openai_base_url,
        api_key="sk-test",
        poll_interval=0.05,
        out=tmp_path / "out",
        chunk_size=100,
        progress="none",
    )
    assert result.status == BatchStatus.COMPLETED and result.done == 250
    uploads = [r for r in sim.log if r.path == "/v1/files"]
    assert len(uploads) == 3  # one input file per chunk, never the whole job at once
    assert sim.count("/v1/chat/completions") == 0
    paths = [r.path for r in sim.log]
    first_download = next(i for i, p in enumerate(paths) if p.endswith("/content"))
    assert paths[:first_download].count("/v1/batches") == 3  # the chunks' batches overlap
    frame = pd.read_parquet(tmp_path / "out").sort_values("row")
    assert frame["row"].tolist() == list(range(250))
    assert frame["price_source"].str.contains("batch").all()
    assert [m["rows"] for _, m in sorted(read_parts(tmp_path / "out").items())] == [100, 100, 50]
