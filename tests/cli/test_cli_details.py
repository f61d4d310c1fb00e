"""``brainbatch run`` prints the grouped errors and per-model lines under its summary."""

from __future__ import annotations

import re

import pandas as pd
from cli_helpers import INSTANT, run_args


def test_run_prints_each_error_kind_with_a_full_example_under_the_summary(in_process, tmp_path):
    src = tmp_path / "mixed.csv"
    pd.DataFrame(
        {
            "id": [f"r{i:03d}" for i in range(120)],
            "text": [f"Review {i}: fine" for i in range(120)],
            "model": ["gpt-4o-mini", "claude-haiku-4-5"] * 60,
        }
    ).to_csv(src, index=False)
    code, _, err = in_process(
        *run_args(
            src,
            *INSTANT,
            *("-o", "error_rate=0.2", "--provider", "sim", "--id-column", "id"),
            model="col:model",
        )
    )
    assert code == 1, err
    out = pd.read_csv(tmp_path / "results.csv")
    failed = out[out["status"] == "error"]
    lines = err.splitlines()
    summary = next(
        i for i, line in enumerate(lines) if re.match(r"brainbatch: job '.+' failed: ", line)
    )
    head = re.fullmatch(r"errors: (\d+) in (\d) kinds?", lines[summary + 1])
    assert head is not None and int(head.group(1)) == len(failed) > 0
    example = re.search(r"e\.g\. row '(r\d+)': (.+)$", lines[summary + 2])
    assert example is not None
    row = out.set_index("id").loc[example.group(1)]
    assert row["status"] == "error" and row["error"] == example.group(2)
    assert "per model:" in err and "claude-haiku-4-5" in err and "gpt-4o-mini" in err


def test_a_clean_run_prints_only_the_summary(in_process, prompts_csv):
    code, _, err = in_process(*run_args(prompts_csv, *INSTANT))
    assert code == 0, err
    assert "errors:" not in err and "per model:" not in err
