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
"""

from __future__ import annotations

import asyncio
import sys

from brainbatch import BatchJob, BatchRequest, ParallelExecutor, SimulatedProvider
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
            await store.execute(job, ParallelExecutor(concurrency), provider, cache=False)
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
            await store.execute(job, ParallelExecutor(4), provider, cache=False)
            store.list_jobs()


def main(argv: list[str]) -> None:
    mode, path, *rest = argv
    if mode == "crash":
        if rest[3:] == ["slow-commits"]:
            slow_commits()
        asyncio.run(crash(path, rest[0], int(rest[1]), int(rest[2])))
    elif mode == "writer":
        asyncio.run(writer(path, rest[0], int(rest[1]), int(rest[2])))
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
