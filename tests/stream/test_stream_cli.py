"""``brainbatch run INPUT --out FOLDER/`` streams into a Parquet dataset."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from brainbatch.cli import main
from brainbatch.sim import SimServer
from brainbatch.stream import read_parts


@pytest.fixture
def prompts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "big.parquet"
    pd.DataFrame({"text": [f"review {i}" for i in range(260)]}).to_parquet(path)
    return path


def test_a_folder_out_streams_in_chunks_and_a_second_run_sends_nothing(
    prompts: Path, sim: SimServer, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["run", str(prompts), "--prompt", "Say {text}", "--model", "gpt-4o-mini"]
    args += ["--provider", "openai", "--base-url", sim.openai_base_url]
    args += ["--out", "results/", "--chunk-size", "100"]
    assert main(args) == 0
    assert "260 rows in chunks of 100" in capsys.readouterr().err
    assert sorted(read_parts(Path("results"))) == [0, 1, 2]
    frame = pd.read_parquet("results").sort_values("row")
    assert frame["text"].tolist() == [f"review {i}" for i in range(260)]
    assert sim.count("/v1/chat/completions") == 260
    assert main(args) == 0  # the same command again: every chunk is done, nothing is sent
    assert sim.count("/v1/chat/completions") == 260
    assert len(pd.read_parquet("results")) == 260


def test_a_missing_column_exits_2_naming_the_file_and_column_before_any_send(
    prompts: Path, sim: SimServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "run",
            str(prompts),
            "--prompt",
            "{review}",
            "--model",
            "gpt-4o-mini",
            "--provider",
            "openai",
            "--base-url",
            sim.openai_base_url,
            "--out",
            "results/",
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "big.parquet" in err and "'review'" in err
    assert sim.count("/v1/chat/completions") == 0
