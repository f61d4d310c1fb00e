"""Stores that cannot be written, or are damaged: brainbatch says exactly that.

Read-only stores are checked in a subprocess that cannot write them. When the tests run as
root, chmod alone does not stop writes (root ignores file modes), so that subprocess runs as
the unprivileged user ``nobody`` instead: the kernel then refuses the writes for real.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from brainbatch import BatchJob, BatchRequest, BatchResult
from brainbatch.store import JobStore, StoreDamaged
from brainbatch.store.recover import recover

NOBODY = 65534


def _unprivileged() -> list[str]:
    """A command prefix that runs the child as a user who cannot write what it does not own."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip(
            "running as root, where file modes do not stop writes, and setpriv (util-linux) "
            "is not installed to run the check as an unprivileged user"
        )
    import brainbatch

    code = Path(brainbatch.__file__).resolve().parent
    closed = [str(p) for p in (code, *code.parents) if not p.stat().st_mode & 0o001]
    if closed:  # e.g. a checkout under a 0700 mktemp folder: the child could not import us
        pytest.skip(
            f"the unprivileged child cannot reach the code: {closed[-1]} is closed to others"
        )
    return [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder the unprivileged child can reach (pytest's tmp folders are root-only)."""
    path = Path(tempfile.mkdtemp(prefix="bb-store-ro-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        for p in [path, *path.rglob("*")]:
            if p.is_dir():
                p.chmod(0o755)
        shutil.rmtree(path)


CHILD = r"""
import json, sys
from brainbatch import BatchJob, BatchRequest
from brainbatch.store import JobStore, StoreReadOnly
path = sys.argv[1]
out = {}
with JobStore(path) as store:
    out["read_only"] = store.read_only
    out["names"] = [j["name"] for j in store.list_jobs()]
    out["rows"] = len(store.load_job("kept").results)
    try:
        store.create_job(BatchJob([BatchRequest(prompt="p", model="m")]), name="new")
    except StoreReadOnly as exc:
        out["write_error"] = str(exc)
    try:
        store.claim("kept")
    except StoreReadOnly as exc:
        out["claim_error"] = str(exc)
print(json.dumps(out))
"""


def _store_with_a_job(folder: Path) -> Path:
    folder.mkdir(mode=0o755)
    path = folder / "jobs.sqlite"
    job = BatchJob([BatchRequest(prompt=f"p{i}", model="sim", custom_id=str(i)) for i in range(5)])
    for r in job.requests[:3]:
        job.add_result(BatchResult(request_id=r.id, custom_id=r.custom_id, status="success"))
    with JobStore(path) as store:
        store.create_job(job, name="kept")
    assert not Path(str(path) + "-wal").exists()  # closed cleanly: nothing but the file
    path.chmod(0o644)
    return path


def _child(*args: str, code: str = CHILD) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*_unprivileged(), sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd="/",
        env={"PATH": os.environ.get("PATH", ""), "HOME": "/"},
    )


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return _child(*args, code="import sys; from brainbatch.cli import main; sys.exit(main())")


@pytest.mark.parametrize("what", ["file", "folder"])
def test_a_read_only_store_is_read_and_writes_are_refused_saying_why(
    shared_dir: Path, what: str
) -> None:
    path = _store_with_a_job(shared_dir / "store")
    if what == "file":
        path.chmod(0o444)
    else:  # the file itself writable by anyone: only the folder stands in the way
        path.chmod(0o666)
        path.parent.chmod(0o555)
    before = path.read_bytes()
    done = _child(str(path))
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["read_only"] is True
    assert (out["names"], out["rows"]) == (["kept"], 3)
    for key in ("write_error", "claim_error"):
        assert out[key].startswith(f"permission denied: cannot write the store at {path}")
        assert f"(read-only {what}" in out[key]
    assert path.read_bytes() == before


def test_brainbatch_jobs_lists_a_read_only_store(shared_dir: Path) -> None:
    path = _store_with_a_job(shared_dir / "store")
    path.parent.chmod(0o555)
    done = _cli("jobs", "--store", str(path))
    assert done.returncode == 0, done.stderr
    assert "kept" in done.stdout and "3/5" in done.stdout


def test_resuming_from_a_read_only_store_says_permission_denied(shared_dir: Path) -> None:
    path = _store_with_a_job(shared_dir / "store")
    path.chmod(0o444)
    out = shared_dir / "out"
    out.mkdir()
    out.chmod(0o777)
    done = _cli("resume", "kept", "--store", str(path), "--out", str(out / "results.csv"))
    assert done.returncode == 2
    assert f"permission denied: cannot write the store at {path} (read-only file)" in done.stderr
    assert "Traceback" not in done.stderr


# -- damaged pages ------------------------------------------------------------------------------


def _store_with_two_jobs(path: Path) -> tuple[BatchJob, BatchJob]:
    """A small job written first, a large one after it (its pages at the end of the file)."""

    def job(n: int, tag: str) -> BatchJob:
        j = BatchJob(
            [
                BatchRequest(prompt=f"{tag} {i} " + "words " * 30, model="m", custom_id=str(i))
                for i in range(n)
            ]
        )
        for r in j.requests:
            j.add_result(
                BatchResult(
                    request_id=r.id, custom_id=r.custom_id, status="success", result="yes " * 20
                )
            )
        return j

    small, large = job(20, "small"), job(400, "large")
    with JobStore(path) as store:
        store.create_job(small, name="small")
        store.create_job(large, name="large")
    return small, large


def _damage_a_page_at(path: Path, fraction: float) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    raw = bytearray(path.read_bytes())
    page = int(len(raw) // 4096 * fraction)
    raw[page * 4096 + 100 : page * 4096 + 3000] = b"\xff" * 2900
    path.write_bytes(bytes(raw))


def test_a_damaged_page_is_reported_as_damage_with_the_recovery_command(
    store_path: Path,
) -> None:
    _store_with_two_jobs(store_path)
    _damage_a_page_at(store_path, 0.8)
    with JobStore(store_path) as store, pytest.raises(StoreDamaged) as info:
        store.load_job("large")
    message = str(info.value)
    assert message.startswith(f"the store {store_path} is damaged (SQLite: ")
    assert f"python -m brainbatch.store.recover {shlex.quote(str(store_path))}" in message
    assert "not a SQLite database" not in message


def test_the_suggested_recovery_command_gives_a_store_with_every_readable_job(
    store_path: Path, tmp_path: Path
) -> None:
    small, large = _store_with_two_jobs(store_path)
    _damage_a_page_at(store_path, 0.8)
    with JobStore(store_path) as store, pytest.raises(StoreDamaged) as info:
        store.load_job("large")
    command = str(info.value).split("recover what can be read with `", 1)[1].split("`", 1)[0]
    argv = shlex.split(command)
    assert argv[:3] == ["python", "-m", "brainbatch.store.recover"]
    done = subprocess.run(
        [sys.executable, *argv[1:]], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    recovered = Path(str(store_path) + ".recovered")
    with JobStore(recovered) as store:
        names = {j["name"] for j in store.list_jobs()}
        back = store.load_job("small")
        assert [r.prompt for r in back.requests] == [r.prompt for r in small.requests]
        assert {r.custom_id: r.result for r in back.results} == {
            r.custom_id: r.result for r in small.results
        }
        if "large" in names:  # its requests survived: some results may be lost, none wrong
            again = store.load_job("large")
            assert again.total == large.total
            assert {(r.custom_id, r.result) for r in again.results} <= {
                (r.custom_id, r.result) for r in large.results
            }
        else:
            assert "left out job 'large'" in done.stdout
    assert "damaged span" in done.stdout or "fails SQLite's integrity check" in done.stdout


def test_recovery_never_overwrites_an_existing_file(store_path: Path) -> None:
    _store_with_two_jobs(store_path)
    target = store_path.with_name("taken.sqlite")
    target.write_bytes(b"keep me")
    with pytest.raises(Exception, match="exists already"):
        recover(store_path, target)
    assert target.read_bytes() == b"keep me"
    assert stat.S_ISREG(target.stat().st_mode)
