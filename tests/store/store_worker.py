"""A job run in its own process, for the store tests that need real processes.

python store_worker.py crash <store> <openai_base_url> <rows> <concurrency> [slow-commits]
    Open (or resume) the job named "crash" in <store> and run it journaled against the
    simulated server through OpenAIProvider. Killed at random moments by
    test_store_crash.py; every run after a kill resumes the stored job. With
    ``slow-commits`` (see :func:`slow_commits`) results wait long for their commit unless
    a slot asks for it, so a journal that let slots send before their results are on disk
    would lose many more than the requests in flight.

python store_worker.py writer <store> <tag> <jobs> <rows>
    Create <jobs> jobs named "<tag>-<k>" and run each journaled on the in-process
    simulated provider, listing the store between jobs: two of these run at once in
    test_store_processes.py.

python store_worker.py hold <store> <job> <ttl_s> [<host name to pretend>]
    Claim the lease of the stored job <job> (ttl <ttl_s>), print "held <pid>", and wait
    until the lease is taken away ("lost") or the process is killed. With a host name the
    process passes for another machine (socket.gethostname() is replaced).

python store_worker.py create <store> <name> <go file>
    Wait for <go file>, then get_or_create_job(<a new 5-row job>, name=<name>) and print
    the id of the job it got.

python store_worker.py bbrun <store> <name> <openai base url> <rows> <go file>
    Wait for <go file>, then bb.run() the rows of lease_rows(<rows>) on the simulated
    server as job <name>; print "done <n>" or "busy <message>" (exit code 4).

python store_worker.py cli <go file> <brainbatch arguments...>
    Import the command line (pandas and all), wait for <go file>, then run
    ``brainbatch <arguments>``: lets two commands start within milliseconds.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from pathlib import Path

from brainbatch import BatchJob, BatchRequest, SimulatedProvider
from brainbatch.runner import JobRunner, RunSettings
from brainbatch.store import JobStore

FAKE_KEY = "sk-crash-test-FAKE-0123456789"


SLOW_COMMITS = """
import brainbatch.store.journal as _journal

_init = _journal.Writer.__init__


def _slow_commits(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    self.eager = False  # no commit at the end of each loop iteration: the thread's turn
    self.flush_interval = 1.0  # ... comes when a group is full or after 0.5 s
    self.flush_size = 256


_journal.Writer.__init__ = _slow_commits
"""
"""Test instrumentation, run before a job (``exec`` it): results are committed only when a
slot waits for them (the strict journal), a group of 256 is full, or after 0.5 s, as when the
loop finds the store's thread mid-commit and leaves the results to it."""


def slow_commits() -> None:
    """Apply :data:`SLOW_COMMITS` in this process."""
    exec(SLOW_COMMITS, {})


def crash_job(rows: int) -> BatchJob:
    return BatchJob(
        [
            BatchRequest(
                prompt=f"row-{i}: summarise this review in five words",
                model="gpt-4o-mini",
                custom_id=f"row-{i}",
                params={"temperature": 0, "max_tokens": 40},
            )
            for i in range(rows)
        ]
    )


async def crash(path: str, base_url: str, rows: int, concurrency: int) -> None:
    from brainbatch.providers.openai import OpenAIProvider

    with JobStore(path) as store:
        job = store.get_or_create_job(
            crash_job(rows), name="crash", spec={"provider": "openai", "base_url": base_url}
        )
        provider = OpenAIProvider(base_url=base_url, api_key=FAKE_KEY, max_attempts=1)
        try:
            settings = RunSettings(provider=provider, max_concurrent=concurrency)
            await JobRunner(job, settings, store).run()
        finally:
            await provider.aclose()
    print(f"finished {job.status.value} {job.done}/{job.total}", flush=True)


async def writer(path: str, tag: str, jobs: int, rows: int) -> None:
    provider = SimulatedProvider(latency_ms=0.5, latency_sigma=0.5)
    with JobStore(path, flush_interval=0.01, flush_size=8) as store:
        for k in range(jobs):
            job = BatchJob(
                [
                    BatchRequest(prompt=f"{tag} {k} {i}", model="gpt-4o-mini", custom_id=str(i))
                    for i in range(rows)
                ]
            )
            store.create_job(job, name=f"{tag}-{k}")
            await JobRunner(job, RunSettings(provider=provider, max_concurrent=4), store).run()
            store.list_jobs()


def lease_rows(rows: int) -> list[str]:
    """The prompts of the lease tests: one distinct text per row."""
    return [f"lease row {i}: is this review positive?" for i in range(rows)]


def wait_for(go: str) -> None:
    while not Path(go).exists():
        time.sleep(0.005)


def hold(path: str, job: str, ttl_s: float, host: str | None) -> None:
    if host is not None:
        import socket

        socket.gethostname = lambda: host  # type: ignore[assignment]
    with JobStore(path) as store:
        lease = store.claim(job, ttl_s=ttl_s)
        print(f"held {os.getpid()}", flush=True)
        while not lease.lost:
            time.sleep(0.02)
        print("lost", flush=True)


def create(path: str, name: str, go: str) -> None:
    job = BatchJob(
        [BatchRequest(prompt=f"p{i}", model="m", custom_id=str(i)) for i in range(5)],
        job_id=str(uuid.uuid4()),
    )
    with JobStore(path) as store:
        wait_for(go)
        got = store.get_or_create_job(job, name=name)
    print(got.job_id, flush=True)


def bbrun(path: str, name: str, base_url: str, rows: int, go: str) -> int:
    import pandas as pd

    import brainbatch as bb
    from brainbatch.store import JobBusy

    df = pd.DataFrame({"text": lease_rows(rows)})
    wait_for(go)
    try:
        out = bb.run(
            df,
            prompt="{text}",
            model="gpt-4o-mini",
            provider="openai",
            base_url=base_url,
            api_key="sk-lease-test-FAKE-0000",
            job_name=name,
            store=path,
            max_concurrent=4,
            progress=False,
        )
    except JobBusy as exc:
        print(f"busy {exc}", flush=True)
        return 4
    print(f"done {int((out['status'] == 'success').sum())}", flush=True)
    return 0


def cli(go: str, args: list[str]) -> int:
    import brainbatch.cli._run  # noqa: F401  (the slow imports, before the start signal)
    from brainbatch.cli import main as cli_main

    wait_for(go)
    return cli_main(args)


def open_new(folder: str, rounds: int, start: float) -> None:
    """Open store ``folder/s<i>`` for each round i at the same instant as the other workers."""
    for i in range(rounds):
        time.sleep(max(0.0, start + i * 0.05 - time.time()))
        with JobStore(Path(folder) / f"s{i}.sqlite"):
            pass
    print("opened", flush=True)


def main(argv: list[str]) -> None:
    mode, path, *rest = argv
    if mode == "hold":
        hold(path, rest[0], float(rest[1]), rest[2] if len(rest) > 2 else None)
    elif mode == "create":
        create(path, rest[0], rest[1])
    elif mode == "bbrun":
        sys.exit(bbrun(path, rest[0], rest[1], int(rest[2]), rest[3]))
    elif mode == "cli":
        sys.exit(cli(path, rest))
    elif mode == "crash":
        if rest[3:] == ["slow-commits"]:
            slow_commits()
        asyncio.run(crash(path, rest[0], int(rest[1]), int(rest[2])))
    elif mode == "open_new":
        open_new(path, int(rest[0]), float(rest[1]))
    elif mode == "writer":
        asyncio.run(writer(path, rest[0], int(rest[1]), int(rest[2])))
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
