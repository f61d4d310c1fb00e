"""Leases: one process at a time runs a job, so no row is ever paid for twice.

The multi-process tests run real processes (``store_worker.py``) against one simulated HTTP
server, whose request log says how often each row was sent.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest

from brainbatch import BatchJob, BatchRequest
from brainbatch.models import BatchStatus
from brainbatch.sim import SimServer
from brainbatch.store import JobBusy, JobStore

WORKER = Path(__file__).with_name("store_worker.py")
sys.path.insert(0, str(WORKER.parent))
from store_worker import lease_rows  # noqa: E402

Start = Callable[..., subprocess.Popen[str]]


@pytest.fixture
def start() -> Iterator[Start]:
    """``start(mode, *args)``: a ``store_worker.py`` process (stdout and stderr piped)."""
    procs: list[subprocess.Popen[str]] = []

    def run(*args: str) -> subprocess.Popen[str]:
        env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
        proc = subprocess.Popen(
            [sys.executable, str(WORKER), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        procs.append(proc)
        return proc

    yield run
    for proc in procs:
        if proc.poll() is None:
            with _suppress_lookup():
                os.kill(proc.pid, signal.SIGCONT)
            proc.kill()
        proc.communicate(timeout=30)


class _suppress_lookup:
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, *rest: object) -> bool:
        return kind is ProcessLookupError


def _line(proc: subprocess.Popen[str], prefix: str, timeout: float = 60.0) -> str:
    """The first stdout line of ``proc`` starting with ``prefix``."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.1)
        if ready:
            line = proc.stdout.readline()
            if line.startswith(prefix):
                return line.strip()
            if not line and proc.poll() is not None:
                break
    _, err = proc.communicate(timeout=10)
    raise AssertionError(f"no {prefix!r} line from the worker; stderr: {err}")


def _stored_job(store: JobStore, name: str, rows: int = 3) -> BatchJob:
    job = BatchJob([BatchRequest(prompt=f"p{i}", model="m", custom_id=str(i)) for i in range(rows)])
    return store.create_job(job, name=name)


def _sent_per_row(sim: SimServer) -> Counter[str | None]:
    return Counter(r.user_text for r in sim.log if r.path == "/v1/chat/completions")


# -- in one process ---------------------------------------------------------------------------


def test_a_held_job_cannot_be_claimed_again_and_the_refusal_names_the_holder(
    store: JobStore,
) -> None:
    _stored_job(store, "nb")
    with store.claim("nb"), pytest.raises(JobBusy) as info:
        store.claim("nb")
    message = str(info.value)
    assert f"pid {os.getpid()}" in message
    assert f"on host {socket.gethostname()}" in message
    assert "last heartbeat" in message
    assert "brainbatch cancel nb" in message
    assert "force=True / --force" in message


def test_a_released_lease_can_be_claimed_at_once(store: JobStore) -> None:
    _stored_job(store, "nb")
    store.claim("nb").release()
    with store.claim("nb") as lease:
        assert lease.held


def test_the_heartbeat_is_renewed_while_the_lease_is_held(store: JobStore) -> None:
    _stored_job(store, "nb")
    with store.claim("nb", ttl_s=0.3):
        first = store.lease_holder("nb")
        assert first is not None
        deadline = time.monotonic() + 10
        while (
            now := store.lease_holder("nb")
        ) is not None and now.heartbeat_at == first.heartbeat_at:
            assert time.monotonic() < deadline, "the heartbeat was never renewed"
            time.sleep(0.02)
        assert now is not None and now.token == first.token


def test_steal_takes_a_live_lease_and_the_holder_learns_it_at_its_next_heartbeat(
    store: JobStore,
) -> None:
    _stored_job(store, "nb")
    lost = threading.Event()
    first = store.claim("nb", ttl_s=0.3, on_lost=lambda _: lost.set())
    second = store.claim("nb", steal=True)
    assert lost.wait(10)
    assert first.lost and not first.held
    first.release()  # gives back nothing: the lease is the other one's now
    holder = store.lease_holder("nb")
    assert holder is not None and holder.token == second.token
    second.release()


def test_a_claimed_new_job_is_stored_first(store: JobStore) -> None:
    job = BatchJob([BatchRequest(prompt="p", model="m")])
    with store.claim(job):
        assert store.has_job(job.job_id)


def test_list_jobs_says_who_runs_a_job(store: JobStore) -> None:
    _stored_job(store, "nb")
    with store.claim("nb"):
        (row,) = store.list_jobs()
        assert f"pid {os.getpid()}" in row["running"]
    (row,) = store.list_jobs()
    assert row["running"] is None


# -- other processes --------------------------------------------------------------------------


def test_another_process_cannot_write_the_status_of_a_job_it_does_not_hold(
    store: JobStore, start: Start
) -> None:
    job = _stored_job(store, "nb")
    holder = start("hold", str(store.path), "nb", "30")
    _line(holder, "held")
    job.status = BatchStatus.FAILED
    with pytest.raises(JobBusy, match=f"pid {holder.pid}"):
        store.update_status(job)
    with pytest.raises(JobBusy):
        store.journal(job)
    with pytest.raises(JobBusy):
        store.delete_job("nb")
    assert store.load_job("nb").status == BatchStatus.PENDING


def test_a_sigkilled_holder_on_this_host_frees_the_lease_at_once(
    store: JobStore, start: Start
) -> None:
    _stored_job(store, "nb")
    holder = start("hold", str(store.path), "nb", "30")
    _line(holder, "held")
    with pytest.raises(JobBusy, match=f"pid {holder.pid} on host"):
        store.claim("nb")
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    with store.claim("nb") as lease:  # its heartbeat is fresh, but its pid is gone
        assert lease.held


def test_a_silent_holder_on_another_host_expires_after_its_ttl(
    store: JobStore, start: Start
) -> None:
    _stored_job(store, "nb")
    ttl = 1.0
    holder = start("hold", str(store.path), "nb", str(ttl), "other-host")
    _line(holder, "held")
    os.kill(holder.pid, signal.SIGSTOP)  # alive, but no heartbeat any more
    with pytest.raises(JobBusy, match="on host other-host") as info:
        store.claim("nb")
    last_beat = info.value.holder.heartbeat_at
    deadline = time.monotonic() + 30
    while True:
        try:
            lease = store.claim("nb")
            break
        except JobBusy as exc:
            last_beat = exc.holder.heartbeat_at
            assert time.monotonic() < deadline, "the stale lease never expired"
            time.sleep(0.05)
    assert time.time() - last_beat > ttl
    os.kill(holder.pid, signal.SIGCONT)  # it wakes up and finds the lease gone
    assert _line(holder, "lost") == "lost"
    lease.release()


def test_processes_creating_one_new_named_job_at_once_get_the_same_job(
    store_path: Path, tmp_path: Path, start: Start
) -> None:
    go = tmp_path / "go"
    procs = [start("create", str(store_path), "same", str(go)) for _ in range(4)]
    time.sleep(0)  # nothing to wait for: each worker waits for the go file itself
    go.touch()
    ids = {_line(p, "") for p in procs}
    for p in procs:
        assert p.wait(timeout=60) == 0
    assert len(ids) == 1
    with JobStore(store_path) as store:
        assert [j["job_id"] for j in store.list_jobs()] == list(ids)


def test_two_python_processes_running_one_named_job_never_send_a_row_twice(
    sim: SimServer, store_path: Path, tmp_path: Path, start: Start
) -> None:
    rows = 60
    sim.configure(latency_ms=150)  # 60 rows, 4 at a time: about 2.3 s of sending
    go_a, go_b = tmp_path / "go-a", tmp_path / "go-b"
    args = (str(store_path), "nb", sim.openai_base_url, str(rows))
    first = start("bbrun", *args, str(go_a))
    second = start("bbrun", *args, str(go_b))
    go_a.touch()
    deadline = time.monotonic() + 60
    while sim.count() == 0:  # the first is sending: now start the second
        assert time.monotonic() < deadline and first.poll() is None
        time.sleep(0.01)
    go_b.touch()
    assert _line(second, "busy").startswith("busy job 'nb' is being run by pid")
    assert second.wait(timeout=60) == 4
    assert _line(first, "done") == f"done {rows}"
    assert first.wait(timeout=60) == 0
    sent = _sent_per_row(sim)
    assert set(sent) == set(lease_rows(rows))
    assert max(sent.values()) == 1


# -- the command line -------------------------------------------------------------------------


@pytest.fixture
def rows_csv(tmp_path: Path) -> Path:
    path = tmp_path / "rows.csv"
    pd.DataFrame({"id": [f"r{i}" for i in range(60)], "text": lease_rows(60)}).to_csv(
        path, index=False
    )
    return path


def _run_args(csv: Path, sim: SimServer, store_path: Path, out: Path, *extra: str) -> list[str]:
    return [
        "run",
        str(csv),
        "--prompt",
        "{text}",
        "--id-column",
        "id",
        "--model",
        "gpt-4o-mini",
        "--provider",
        "openai",
        "--base-url",
        sim.openai_base_url,
        "--out",
        str(out),
        "--job-name",
        "X",
        "--store",
        str(store_path),
        "--concurrency",
        "4",
        "--progress-interval",
        "60",
        *extra,
    ]


def _together(start: Start, go: Path, *commands: list[str]) -> list[tuple[int, str]]:
    """Start each ``brainbatch`` command, let them go at the same moment; (code, stderr)."""
    procs = [start("cli", str(go), *command) for command in commands]
    time.sleep(0)
    go.touch()
    out = []
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        out.append((proc.returncode, err))
    return out


OLD_RULE = "looks like it is running in another process (its journal wrote"
"""The CLI's own older check (a ``processing`` job written to less than 30 s ago), which
refuses a second command that arrives once the first one's journal has started writing.
It is being replaced by the lease; until then a second command that loses the race by a few
milliseconds may be refused by it instead (exit 2). The refusal with the lease's message is
checked without a race by ``test_cli_on_a_job_held_elsewhere_exits_4_...``."""


def _one_ran_one_was_refused(outcomes: list[tuple[int, str]]) -> None:
    codes = sorted(code for code, _ in outcomes)
    assert codes in ([0, 4], [0, 2]), outcomes
    refused = next(err for code, err in outcomes if code != 0)
    if codes == [0, 2]:
        assert OLD_RULE in refused, refused
        return
    assert "job 'X' is being run by pid" in refused
    assert "brainbatch cancel X" in refused


def test_two_cli_runs_started_together_on_a_new_job_send_each_row_once(
    sim: SimServer, rows_csv: Path, store_path: Path, tmp_path: Path, start: Start
) -> None:
    sim.configure(latency_ms=100)
    outcomes = _together(
        start,
        tmp_path / "go",
        _run_args(rows_csv, sim, store_path, tmp_path / "a.csv"),
        _run_args(rows_csv, sim, store_path, tmp_path / "b.csv"),
    )
    _one_ran_one_was_refused(outcomes)
    sent = _sent_per_row(sim)
    assert set(sent) == set(lease_rows(60))
    assert max(sent.values()) == 1


def _cancelled_job_with_nothing_sent(
    cli_run: Callable[..., subprocess.CompletedProcess[str]],
    rows_csv: Path,
    sim: SimServer,
    store_path: Path,
    tmp_path: Path,
) -> None:
    """Job X stored, every row pending, status cancelled (a budget too small to start)."""
    done = cli_run(
        *_run_args(
            rows_csv,
            sim,
            store_path,
            tmp_path / "results.csv",
            "--max-cost",
            "0.0000000001",
            "--param",
            "max_tokens=50",
        )
    )
    assert done.returncode == 1, done.stderr
    assert sim.count() == 0


@pytest.fixture
def cli_run() -> Callable[..., subprocess.CompletedProcess[str]]:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
        return subprocess.run(
            [sys.executable, "-m", "brainbatch", *args],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )

    return run


def test_two_cli_resumes_of_a_cancelled_job_send_each_pending_row_once(
    sim: SimServer, rows_csv: Path, store_path: Path, tmp_path: Path, start: Start, cli_run
) -> None:
    _cancelled_job_with_nothing_sent(cli_run, rows_csv, sim, store_path, tmp_path)
    sim.configure(latency_ms=100)
    resume = ["resume", "X", "--store", str(store_path), "--max-cost", "100"]
    outcomes = _together(start, tmp_path / "go", resume, resume)
    _one_ran_one_was_refused(outcomes)
    sent = _sent_per_row(sim)
    assert set(sent) == set(lease_rows(60))
    assert max(sent.values()) == 1


def test_cli_on_a_job_held_elsewhere_exits_4_naming_the_holder_and_sends_nothing(
    sim: SimServer, rows_csv: Path, store_path: Path, tmp_path: Path, cli_run
) -> None:
    _cancelled_job_with_nothing_sent(cli_run, rows_csv, sim, store_path, tmp_path)
    with JobStore(store_path) as store, store.claim("X"):
        resumed = cli_run("resume", "X", "--store", str(store_path), "--max-cost", "100")
        again = cli_run(
            *_run_args(
                rows_csv, sim, store_path, tmp_path / "again.csv", "--param", "max_tokens=50"
            )
        )
        for done in (resumed, again):
            assert done.returncode == 4, done.stderr
            assert f"job 'X' is being run by pid {os.getpid()} on host" in done.stderr
        assert store.load_job("X").status == BatchStatus.CANCELLED  # left as it was
    assert sim.count() == 0


def test_cancel_still_stops_a_leased_run(
    sim: SimServer, rows_csv: Path, store_path: Path, tmp_path: Path, start: Start, cli_run
) -> None:
    # slow answers: the run must still be going when the cancel command (a new Python
    # process, seconds to start on a loaded machine) arrives
    sim.configure(latency_ms=800)
    runner = start(
        "cli", str(tmp_path / "go"), *_run_args(rows_csv, sim, store_path, tmp_path / "a.csv")
    )
    (tmp_path / "go").touch()
    deadline = time.monotonic() + 60
    while sim.count() == 0:
        assert time.monotonic() < deadline and runner.poll() is None
        time.sleep(0.01)
    cancelled = cli_run("cancel", "X", "--store", str(store_path), "--wait", "30")
    assert cancelled.returncode == 0, cancelled.stderr
    runner.communicate(timeout=60)
    assert runner.returncode == 1
    with JobStore(store_path) as store:
        (row,) = store.list_jobs()
    assert row["status"] == "cancelled" and row["pending"] > 0
    assert row["running"] is None  # the lease went with the run
