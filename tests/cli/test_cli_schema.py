"""``brainbatch run --schema FILE.json``: typed answers from the command line."""

from __future__ import annotations

import json

import pandas as pd
from cli_helpers import N_ROWS, run_args, sim_openai

SCHEMA = {
    "title": "Sentiment",
    "type": "object",
    "properties": {"label": {"enum": ["positive", "negative"]}, "stars": {"type": "integer"}},
    "required": ["label", "stars"],
    "additionalProperties": False,
}


def test_run_with_schema_writes_typed_columns(cli, prompts_csv, sim, tmp_path):
    (tmp_path / "schema.json").write_text(json.dumps(SCHEMA))
    proc = cli(
        *run_args(prompts_csv, *sim_openai(sim), "--schema", "schema.json", model="gpt-4o-mini")
    )
    assert proc.returncode == 0, proc.stderr
    out = pd.read_csv(tmp_path / "results.csv")
    assert (out["status"] == "success").all()
    assert set(out["response.label"]) <= {"positive", "negative"}
    assert out["response.stars"].dtype == "int64"
    assert len(out) == N_ROWS


def test_run_with_invalid_answers_says_so_in_status_and_exit_code(cli, prompts_csv, sim, tmp_path):
    (tmp_path / "schema.json").write_text(json.dumps(SCHEMA))
    sim.configure(invalid_output=1.0)
    proc = cli(
        *run_args(
            prompts_csv,
            *sim_openai(sim),
            "--schema",
            "schema.json",
            model="gpt-4o-mini",
        )
    )
    assert proc.returncode == 1, proc.stderr
    out = pd.read_csv(tmp_path / "results.csv")
    assert (out["status"] == "invalid").all()
    assert out["raw_response"].str.startswith("{").all()


def test_schema_file_that_is_not_json_is_refused_before_sending(cli, prompts_csv, sim, tmp_path):
    (tmp_path / "schema.json").write_text("{not json")
    proc = cli(
        *run_args(prompts_csv, *sim_openai(sim), "--schema", "schema.json", model="gpt-4o-mini")
    )
    assert proc.returncode == 2
    assert "--schema 'schema.json' is not JSON" in proc.stderr
    assert sim.count("/v1/chat/completions") == 0
