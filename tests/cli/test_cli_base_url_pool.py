"""``brainbatch run --base-url A --base-url B``: the rows are spread over both replicas."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from cli_helpers import N_ROWS, run_args

from brainbatch.sim import SimServer

CHAT = "/v1/chat/completions"


def test_a_repeated_base_url_spreads_the_rows_over_both_replicas(
    in_process, prompts_csv: Path
) -> None:
    with SimServer() as a, SimServer() as b:
        pool = ("--base-url", a.openai_base_url, "--base-url", b.openai_base_url)
        code, _, err = in_process(
            *run_args(prompts_csv, "--provider", "openai", *pool, model="gpt-4o-mini")
        )
        assert code == 0, err
        assert a.count(CHAT) > 0 and b.count(CHAT) > 0
        assert a.count(CHAT) + b.count(CHAT) == N_ROWS
    out = pd.read_csv(prompts_csv.parent / "results.csv")
    assert (out["status"] == "success").all()
