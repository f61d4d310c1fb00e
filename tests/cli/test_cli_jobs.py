"""``brainbatch jobs``, ``resume`` and ``cancel`` on stored jobs; ``estimate``; ``sim``."""

from __future__ import annotations

import json
import re
import signal

import httpx
import pytest
from cli_helpers import INSTANT, N_ROWS, run_args, sim_openai


def _run_named(in_process, prompts_csv, name: str) -> None:
    code, _, err = in_process(*run_args(prompts_csv, *INSTANT, "--job-name", name))
    assert code == 0, err


def test_jobs_lists_a_finished_run_with_its_counts_and_cost(cli, in_process, prompts_csv):
    _run_named(in_process, prompts_csv, "reviews")
    proc = cli("jobs")
    assert proc.returncode == 0
    header, row = proc.stdout.splitlines()
    assert header.split()[:4] == ["ID", "NAME", "STATUS", "DONE"]
    assert re.search(rf"reviews\s+completed\s+{N_ROWS}/{N_ROWS}\s+{N_ROWS}\s+0\s+\$0\.\d+", row)


def test_jobs_json_gives_one_object_per_job(in_process, prompts_csv):
    _run_named(in_process, prompts_csv, "first")
    _run_named(in_process, prompts_csv, "second")
    code, out, _ = in_process("jobs", "--json")
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["name"] for r in rows] == ["first", "second"]
    assert all(r["succeeded"] == N_ROWS for r in rows)


def test_jobs_without_a_store_says_so_and_succeeds(in_process, tmp_path):
    code, _, err = in_process("jobs", "--store", str(tmp_path / "none.sqlite"))
    assert code == 0
    assert "does not exist yet" in err
    assert not (tmp_path / "none.sqlite").exists()


def test_running_the_same_job_name_again_sends_nothing_new(in_process, prompts_csv, sim):
    args = run_args(prompts_csv, *sim_openai(sim), "--job-name", "again", model="gpt-4o-mini")
    assert in_process(*args)[0] == 0
    code, _, err = in_process(*args)
    assert code == 0, err
    assert f"0 of {N_ROWS} rows to send, {N_ROWS} already done" in err
    assert sim.count("/v1/chat/completions") == N_ROWS


def test_resume_of_an_unknown_job_exits_2_naming_it(in_process):
    code, _, err = in_process("resume", "no-such-job")
    assert code == 2
    assert "'no-such-job'" in err


def test_cancel_of_a_finished_job_says_it_already_ended(in_process, prompts_csv):
    _run_named(in_process, prompts_csv, "done")
    code, out, _ = in_process("cancel", "done")
    assert code == 0
    assert "already ended: completed" in out


def test_estimate_prints_real_time_and_batch_cost_and_sends_nothing(in_process, prompts_csv, sim):
    code, out, err = in_process(
        "estimate",
        str(prompts_csv),
        "--prompt",
        "Classify: {text}",
        "--model",
        "gpt-4o-mini",
        "--param",
        "max_tokens=20",
        "--concurrency",
        "8",
    )
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["MODEL", "MODE", "ROWS"]
    realtime = next(ln for ln in lines if " realtime " in ln)
    batch = next(ln for ln in lines if " batch " in ln)
    rt_cost = float(re.findall(r"\$([\d.]+)", realtime)[0])
    batch_cost = float(re.findall(r"\$([\d.]+)", batch)[0])
    assert f" {N_ROWS} " in realtime
    assert batch_cost == pytest.approx(rt_cost / 2, rel=0.05)
    assert sim.count() == 0


def test_sim_subcommand_serves_until_interrupted(start_cli):
    proc = start_cli("sim", "--port", "0")
    assert proc.stdout is not None
    banner = proc.stdout.readline()
    url = re.search(r"http://127\.0\.0\.1:\d+", banner)
    assert url, banner
    r = httpx.post(
        url.group() + "/v1/chat/completions",
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
        timeout=10,
    )
    assert r.status_code == 200
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=20)
    assert proc.returncode == 0


def test_resume_without_the_input_file_writes_results_by_custom_id(in_process, tmp_path):
    from cli_helpers import make_prompts

    src = tmp_path / "gone.csv"
    make_prompts(5).to_csv(src, index=False)
    code, _, err = in_process(
        *run_args(src, *INSTANT, "--id-column", "id", "--job-name", "gone", out="first.csv")
    )
    assert code == 0, err
    src.unlink()
    code, _, err = in_process("resume", "gone", "--out", "again.jsonl")
    assert code == 0, err
    rows = [json.loads(line) for line in (tmp_path / "again.jsonl").open()]
    assert [r["custom_id"] for r in rows] == [f"r{i:04d}" for i in range(5)]
    assert all(r["status"] == "success" for r in rows)


def test_resume_refuses_a_job_whose_lease_a_live_run_holds(in_process, tmp_path):
    from brainbatch.models import BatchJob, BatchRequest
    from brainbatch.store import JobStore

    job = BatchJob([BatchRequest(prompt="hi", model="sim", custom_id="a")])
    with JobStore(tmp_path / "store" / "jobs.sqlite") as store:
        store.create_job(job, name="busy", spec={"model": "sim", "provider": "sim"})
        lease = store.claim("busy")
        code, _, err = in_process("resume", "busy", "--out", "r.csv")
        assert code == 4
        assert "busy" in err and "--force" in err
        lease.release()
    code, _, err = in_process("resume", "busy", "--out", "r.csv", "-o", "latency_ms=0")
    assert code == 0, err


def test_resume_retry_failed_sends_the_failed_rows_again_and_nothing_else(
    in_process, prompts_csv, sim
):
    sim.configure(fail_first_n=1, fail_status=400)  # each row's first attempt is refused
    args = run_args(prompts_csv, *sim_openai(sim), "--job-name", "redo", model="gpt-4o-mini")
    code, _, err = in_process(*args)
    assert code == 1, err
    assert sim.count("/v1/chat/completions") == N_ROWS
    code, _, err = in_process("resume", "redo")
    assert code == 1 and sim.count("/v1/chat/completions") == N_ROWS  # failed rows stay failed
    code, _, err = in_process("resume", "redo", "--retry-failed")
    assert code == 0, err
    assert f"({N_ROWS} failed rows sent again)" in err
    assert sim.count("/v1/chat/completions") == 2 * N_ROWS
    answered = sim.received_bodies_count_by_hash(status=200)
    assert len(answered) == N_ROWS and max(answered.values()) == 1
