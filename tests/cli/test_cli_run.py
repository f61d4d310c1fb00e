"""``brainbatch run``: a file of prompts in, a results file out, through a subprocess."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from cli_helpers import INSTANT, N_ROWS, make_prompts, run_args, sim_openai

from brainbatch.frame import RESULT_COLUMNS


def test_run_against_the_simulated_server_writes_every_row_with_the_result_columns(
    cli, prompts_csv, sim
):
    proc = cli(
        *run_args(
            prompts_csv,
            *sim_openai(sim),
            prompt="Classify the sentiment of: {text}",
            model="gpt-4o-mini",
        )
    )
    assert proc.returncode == 0, proc.stderr
    out = pd.read_csv(prompts_csv.parent / "results.csv")
    assert list(out.columns) == ["id", "text", *RESULT_COLUMNS]
    assert (out["status"] == "success").all()
    assert out["response"].str.startswith("[simulated]").all()
    assert out["id"].tolist() == [f"r{i:04d}" for i in range(N_ROWS)]
    assert sim.count("/v1/chat/completions") == N_ROWS


def test_run_sends_each_row_through_the_template(cli, prompts_csv, sim):
    proc = cli(
        *run_args(
            prompts_csv,
            *("--system", "Answer in one word.", "--param", "max_tokens=5"),
            *sim_openai(sim),
            prompt="Classify: {text}",
            model="gpt-4o-mini",
        )
    )
    assert proc.returncode == 0, proc.stderr
    sent = sorted(r.user_text for r in sim.log)
    expected = sorted(f"Classify: {t}" for t in make_prompts()["text"])
    assert sent == expected


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl"])
def test_run_reads_and_writes_parquet_and_jsonl(cli, tmp_path, suffix):
    src = tmp_path / f"prompts{suffix}"
    frame = make_prompts(10)
    if suffix == ".parquet":
        frame.to_parquet(src, index=False)
    else:
        frame.to_json(src, orient="records", lines=True)
    proc = cli(*run_args(src, *INSTANT, out=f"results{suffix}"))
    assert proc.returncode == 0, proc.stderr
    dest = tmp_path / f"results{suffix}"
    out = pd.read_parquet(dest) if suffix == ".parquet" else pd.read_json(dest, lines=True)
    assert len(out) == 10
    assert (out["status"] == "success").all()
    assert out["text"].tolist() == frame["text"].tolist()


def test_id_column_becomes_the_results_index(cli, prompts_csv):
    proc = cli(*run_args(prompts_csv, "--id-column", "id", *INSTANT, out="results.jsonl"))
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in (prompts_csv.parent / "results.jsonl").open()]
    assert [r["id"] for r in rows] == [f"r{i:04d}" for i in range(N_ROWS)]


def test_failed_rows_give_exit_code_1_and_are_written_with_their_error(cli, prompts_csv, sim):
    sim.configure(fail_first_n=1, fail_status=400)
    proc = cli(*run_args(prompts_csv, *sim_openai(sim), model="gpt-4o-mini"))
    assert proc.returncode == 1, proc.stderr
    out = pd.read_csv(prompts_csv.parent / "results.csv")
    assert len(out) == N_ROWS
    assert (out["status"] == "error").all()
    assert out["error"].str.contains("400").all()


def test_progress_goes_to_stderr_as_plain_lines_when_not_a_terminal(cli, prompts_csv):
    proc = cli(
        *run_args(
            prompts_csv,
            *("-o", "latency_ms=20", "--concurrency", "4"),
            *("--job-name", "plain", "--progress-interval", "0.05"),
        )
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert "\r" not in proc.stderr
    progress = [ln for ln in proc.stderr.splitlines() if ln.startswith("brainbatch plain: [")]
    assert len(progress) >= 2
    assert "$" in progress[-1] and "ETA" in progress[-1]
    assert f"job 'plain' completed: {N_ROWS}/{N_ROWS} rows" in proc.stderr


def test_api_key_from_the_environment_never_shows_in_output_files_or_store(
    cli, prompts_csv, sim, tmp_path
):
    secret = "sk-test-DoNotLeak-0123456789abcdef"
    sim.configure(api_key=secret)
    proc = cli(
        *run_args(prompts_csv, *sim_openai(sim), "--api-key-env", "MY_KEY", model="gpt-4o-mini"),
        MY_KEY=secret,
    )
    assert proc.returncode == 0, proc.stderr
    assert secret not in proc.stdout + proc.stderr
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def test_batch_mode_runs_through_the_native_batch_api_at_the_batch_price(cli, prompts_csv, sim):
    proc = cli(
        *run_args(
            prompts_csv,
            *sim_openai(sim),
            *("--mode", "batch", "--poll-interval", "0.1"),
            model="gpt-4o-mini",
        )
    )
    assert proc.returncode == 0, proc.stderr
    out = pd.read_csv(prompts_csv.parent / "results.csv")
    assert (out["status"] == "success").all()
    assert out["price_source"].str.contains("batch").all()
    assert sim.count("/v1/batches") >= 1
    assert sim.count("/v1/chat/completions") == 0


def test_max_cost_stops_before_spending_more_and_exits_1(cli, prompts_csv):
    proc = cli(
        *run_args(prompts_csv, *INSTANT, "--param", "max_tokens=50", "--max-cost", "0.0000001")
    )
    assert proc.returncode == 1, proc.stderr
    assert "budget reached" in proc.stderr
    out = pd.read_csv(prompts_csv.parent / "results.csv")
    assert len(out) == N_ROWS
    assert (out["status"] == "cancelled").all()
