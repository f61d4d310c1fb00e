"""Bad input or arguments: exit code 2, one line on stderr naming the culprit, nothing sent."""

from __future__ import annotations

import pandas as pd
import pytest
from cli_helpers import INSTANT, run_args, sim_openai

from brainbatch.cli import main


def _run(capsys, *argv: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        raise SystemExit(main(list(argv)))
    err = capsys.readouterr().err
    code = exit_info.value.code
    assert isinstance(code, int)
    return code, err


@pytest.fixture
def store_env(tmp_path, monkeypatch):
    monkeypatch.setenv("BRAINBATCH_STORE", str(tmp_path / "jobs.sqlite"))
    monkeypatch.chdir(tmp_path)
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(var, raising=False)


def test_bad_input_is_one_line_without_traceback_through_a_subprocess(cli, prompts_csv, sim):
    proc = cli(
        *run_args(prompts_csv, *sim_openai(sim), prompt="Classify: {review}", model="gpt-4o-mini")
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1
    assert proc.stderr.startswith("brainbatch run: error: ")
    assert "'review'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert sim.count() == 0
    assert not (prompts_csv.parent / "results.csv").exists()


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--prompt", "{missing}"], "'missing'"),
        (["--out", "results.txt"], "--out"),
        (["--out", "no/such/folder/results.csv"], "does not exist"),
        (["--concurrency", "0"], "--concurrency"),
        (["--rpm", "-5"], "--rpm"),
        (["--max-cost", "abc"], "--max-cost"),
        (["--max-cost", "5"], "--param max_tokens=N"),
        (["--model", "llama3"], "'llama3'"),
        (["--provider", "nosuch"], "'nosuch'"),
        (["-o", "api_key=sk-abc"], "--api-key-env"),
        (["--param", "temperature"], "KEY=VALUE"),
        (["--id-column", "nosuch"], "'nosuch'"),
        (["--mode", "later"], "--mode"),
    ],
)
def test_bad_argument_exits_2_naming_it(capsys, store_env, prompts_csv, args, named):
    base = {"--prompt": "{text}", "--model": "sim", "--out": "results.csv"}
    for flag in list(base):
        if flag in args:
            del base[flag]
    argv = ["run", str(prompts_csv), *[x for kv in base.items() for x in kv], *args]
    code, err = _run(capsys, *argv)
    assert code == 2
    assert named in err
    assert err.count("\n") == 1


def test_empty_prompt_names_the_row(capsys, store_env, tmp_path):
    src = tmp_path / "blank.jsonl"
    pd.DataFrame({"text": ["fine", "  ", "also fine"]}).to_json(src, orient="records", lines=True)
    code, err = _run(
        capsys, "run", str(src), "--prompt", "text", "--model", "sim", "--out", "o.csv"
    )
    assert code == 2
    assert "rows 1" in err


def test_missing_value_names_the_column_and_row(capsys, store_env, tmp_path):
    src = tmp_path / "nan.csv"
    pd.DataFrame({"text": ["a", None, "c"], "n": [1, 2, 3]}).to_csv(src, index=False)
    code, err = _run(
        capsys, "run", str(src), "--prompt", "Say {text}", "--model", "sim", "--out", "o.csv"
    )
    assert code == 2
    assert "'text'" in err
    assert "rows 1" in err


def test_missing_input_file_is_named(capsys, store_env):
    code, err = _run(
        capsys, "run", "nope.csv", "--prompt", "{t}", "--model", "sim", "--out", "o.csv"
    )
    assert code == 2
    assert "'nope.csv': no such file" in err


def test_unreadable_input_file_is_named(capsys, store_env, tmp_path):
    src = tmp_path / "broken.jsonl"
    src.write_text('{"text": "ok"}\n{not json\n')
    code, err = _run(
        capsys, "run", str(src), "--prompt", "{text}", "--model", "sim", "--out", "o.csv"
    )
    assert code == 2
    assert "broken.jsonl" in err
    assert "cannot be read as jsonl" in err


def test_missing_api_key_is_reported_before_the_job_is_stored(capsys, store_env, prompts_csv):
    code, err = _run(capsys, *run_args(prompts_csv, model="gpt-4o-mini", out="o.csv"))
    assert code == 2
    assert "OPENAI_API_KEY" in err
    assert main(["jobs", "--json"]) == 0
    assert capsys.readouterr().out == ""


def test_unknown_subcommand_exits_2(capsys):
    code, err = _run(capsys, "fly")
    assert code == 2
    assert "'fly'" in err


def test_an_unwritable_out_file_says_how_to_get_the_results_from_the_store(
    in_process, prompts_csv, monkeypatch
):
    import brainbatch.cli._run as run_module

    def disk_full(frame, path):
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(run_module, "write_table", disk_full)
        code, _, err = in_process(*run_args(prompts_csv, *INSTANT, "--job-name", "kept"))
    assert code == 3
    assert "No space left on device" in err
    assert "brainbatch resume kept --out OTHER_FILE" in err
    code, _, err = in_process("resume", "kept", "--out", "other.csv")
    assert code == 0, err
    assert "0 of 40 rows to send, 40 already done" in err


def test_provider_options_about_tokens_are_not_mistaken_for_secrets(in_process, prompts_csv):
    code, _, err = in_process(*run_args(prompts_csv, *INSTANT, "-o", "mean_output_tokens=5"))
    assert code == 0, err
