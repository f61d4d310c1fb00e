"""A dask frame with ``base_url=[a, b]``: each partition's provider builds its own replica
pool on its worker, and both simulated replicas answer rows (brainbatch/providers/pool.py)."""

from __future__ import annotations

import pandas as pd
import pytest

import brainbatch as bb
from brainbatch.sim import SimServer

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

CHAT = "/v1/chat/completions"


def test_a_dask_frame_spreads_its_rows_over_a_replica_pool() -> None:
    pdf = pd.DataFrame({"text": [f"row {i}" for i in range(40)]})
    with (
        SimServer() as a,
        SimServer() as b,
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster),
    ):
        out = bb.run(
            dd.from_pandas(pdf, npartitions=4),
            prompt="Say: {text}",
            model="gpt-4o-mini",
            provider="openai",
            base_url=[a.openai_base_url, b.openai_base_url],
            store=False,
            progress="none",
        ).compute()
        assert (out["status"] == "success").all() and len(out) == 40
        assert a.count(CHAT) > 0 and b.count(CHAT) > 0
        assert a.count(CHAT) + b.count(CHAT) == 40
