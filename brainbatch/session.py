"""The step every front takes before a job runs: store, new or resumed job, one running rule.

The notebook (``bb.submit`` / ``bb.run`` / ``bb.resume``) and the command line
(``brainbatch run`` / ``brainbatch resume``) differ only in where rows come from and how
progress is shown. Everything between "here are the requests and the settings" and "here is a
runner to start" happens here, once:

1. :func:`open_store`: ``None`` is the default store, ``False`` none, a path opens one (one
   open store per file in this process), a :class:`~brainbatch.store.JobStore` is used as is;
2. :func:`check_provider`: the provider is made (and closed) once, so a missing key or an
   unknown model is a clear error before the job is stored or anything is sent;
3. the job: a new one, or the stored job of that name (re-running a cell with the same
   ``job_name``), or a stored job to resume (:func:`resume_session`), whose rows that never
   reached a paid answer are sent again (rows refused for the API key always; every failed row
   with ``retry_failed=True``); succeeded rows are never sent again;
4. the one "already running" rule: the job's lease in the store (:func:`claim`), so a job
   runs in one place at a time, across processes;
5. the :class:`~brainbatch.runner.JobRunner` that will run it.

It imports no front: :mod:`brainbatch.notebook` and :mod:`brainbatch.cli` both build on it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .budget import require_answer_caps
from .errors import ConfigurationError, InputError
from .models import BatchJob, BatchRequest
from .runner import JobRunner, RunSettings
from .store import JobStore, Lease, default_store_path
from .structured import OutputSchema

__all__ = [
    "RESUMABLE_ERRORS",
    "RUN_OVERRIDES",
    "Session",
    "check_provider",
    "claim",
    "new_session",
    "open_store",
    "resume_session",
]

RESUMABLE_ERRORS = frozenset({"authentication"})
"""``error_type`` of failed rows a resume sends again by default: the provider refused them
before doing any work (a wrong key), so nothing was paid and nothing is lost by retrying."""

RUN_OVERRIDES = (
    "max_concurrent",
    "delay",
    "rpm",
    "tpm",
    "max_cost_usd",
    "cache",
    "poll_interval",
)
"""Run settings a resume may change (the rest of the stored settings are kept)."""


@dataclass
class Session:
    """A job ready to run: what both fronts start.

    Attributes:
        job: the job (new, or loaded from the store with its results).
        settings: how it runs.
        store: the store it is journaled in, or None.
        runner: the :class:`~brainbatch.runner.JobRunner` to start.
        name: the job's name, or the first 8 characters of its id.
        named: True when the user gave the name.
        resumed: True when the job came from the store (it may have results already).
        done_at_start: rows that had a result before this run.
        reset: rows whose earlier error result was dropped so they are sent again.
    """

    job: BatchJob
    settings: RunSettings
    store: JobStore | None
    runner: JobRunner
    name: str
    named: bool = False
    resumed: bool = False
    done_at_start: int = 0
    reset: int = 0
    spec: dict[str, Any] = field(default_factory=dict)

    def release(self) -> None:
        """Give up the job's lease without running it (a run releases it when it ends)."""
        lease = self.runner.lease
        if lease is not None:
            lease.release()


# -- 1. the store ---------------------------------------------------------------------------------

_STORES: dict[str, JobStore] = {}
_STORES_LOCK = threading.Lock()


def open_store(store: Any = None) -> JobStore | None:
    """``None``: the default store; ``False``: none; a path: that file (one open
    :class:`JobStore` per file in this process, reused by later calls); a JobStore: itself.

    Raises:
        InputError: ``store`` is none of these.
        StoreError: the file is not a usable brainbatch store.
    """
    if store is False:
        return None
    if store is not None and not isinstance(store, str | os.PathLike):
        if not isinstance(store, JobStore):
            raise InputError(
                f"store must be a JobStore, a path, None (default store) or False (none), "
                f"got {type(store).__name__}"
            )
        return store
    path = Path(os.fspath(store)) if store is not None else default_store_path()
    key = str(path.expanduser().absolute())
    with _STORES_LOCK:
        found = _STORES.get(key)
        if found is None or found._closed:
            found = _STORES[key] = JobStore(key)
        return found


# -- 2. the provider ------------------------------------------------------------------------------


def check_provider(settings: RunSettings, models: Sequence[str] = ()) -> None:
    """Make (and close) the provider once: a missing key, an unknown model or a provider
    option it does not take is a clear error now, before anything is stored or sent.

    Raises:
        ConfigurationError: unknown provider or model, missing API key, bad provider option.
    """
    probe = BatchJob([BatchRequest(prompt="-", model=m) for m in dict.fromkeys(models)])
    try:
        provider, owned = JobRunner(probe, settings).open_provider()
    except TypeError as exc:  # a provider option the provider does not take
        raise ConfigurationError(f"provider {settings.provider_name!r}: {exc}") from None
    if owned and hasattr(provider, "aclose"):
        _close_soon(provider)


def _close_soon(provider: Any) -> None:
    """Close a provider that never sent anything, from any thread (a notebook's loop runs)."""
    worker = threading.Thread(target=asyncio.run, args=(provider.aclose(),), daemon=True)
    worker.start()
    worker.join()


# -- 4. one job runs in one place at a time -------------------------------------------------------


def claim(store: JobStore | None, job: BatchJob, *, force: bool = False) -> Lease | None:
    """Take the job's lease in the store: the one "already running" rule, for every front.

    A second claim, from this process or another, is refused while the holder lives; a
    holder that died (its pid gone on this host, or its heartbeat older than the lease's
    ttl) does not block. ``force`` takes the lease even from a live holder (whose run then
    stops starting requests). If another process takes it by force, this job is cancelled.

    Raises:
        JobBusy: a live process holds the job (the message names it and what to do).
    """
    if store is None:
        return None
    return store.claim(job, steal=force, on_lost=lambda _: job.request_cancel())


# -- 3 + 5. new and resumed jobs ------------------------------------------------------------------


def new_session(
    requests: list[BatchRequest],
    settings: RunSettings,
    *,
    store: Any = None,
    job_name: str | None = None,
    extra_spec: Mapping[str, Any] | None = None,
    force: bool = False,
) -> Session:
    """A job for ``requests``: new, or the stored job called ``job_name`` to continue.

    Args:
        requests: the rows, already checked (:func:`brainbatch.frame.build_requests`).
        settings: how to run them.
        store: see :func:`open_store`.
        job_name: names the job in the store; a stored job of that name with the same rows
            continues (only rows without a result are sent).
        extra_spec: stored with the settings (the CLI keeps its input and output paths).
        force: run even if the job looks like it runs elsewhere.

    Raises:
        InputError: a bad name.
        JobBusy: the job runs elsewhere (another process, or a run in this one).
        ConfigurationError: see :func:`check_provider`.
        StoreError: ``job_name`` names a stored job whose rows differ (naming the first one).
    """
    if job_name is not None and (not isinstance(job_name, str) or not job_name.strip()):
        raise InputError(f"job_name must be a non-empty string, got {job_name!r}")
    if settings.max_cost_usd is not None:
        require_answer_caps(requests)  # a budget needs max_tokens: refused before any send
    check_provider(settings, [r.model for r in requests])
    job_store = open_store(store)
    job = BatchJob(requests, metadata={"job_name": job_name} if job_name else {})
    spec = {**settings.spec(), **(extra_spec or {})}
    resumed = False
    if job_store is not None:
        if job_name is None:
            job = job_store.create_job(job, spec=spec)
        else:
            stored = job_store.get_or_create_job(job, name=job_name, spec=spec)
            resumed = stored is not job
            job = stored
    name = job_name or job.job_id[:8]
    lease = claim(job_store, job, force=force)
    try:
        reset = _reset_unpaid_errors(job_store, job, retry_failed=False) if resumed else 0
    except BaseException:
        if lease is not None:
            lease.release()
        raise
    return Session(
        job,
        settings,
        job_store,
        JobRunner(job, settings, job_store, lease, release_lease=True),
        name,
        named=job_name is not None,
        resumed=resumed,
        done_at_start=job.done,
        reset=reset,
        spec=spec,
    )


def resume_session(
    job_id_or_name: str,
    *,
    store: Any = None,
    provider: Any = None,
    retry_failed: bool = False,
    force: bool = False,
    run_overrides: Mapping[str, Any] | None = None,
    provider_kwargs: Mapping[str, Any] | None = None,
    schema: Any = None,
) -> Session:
    """A stored job, to continue with its stored settings (keys come from the environment).

    Args:
        job_id_or_name: the job's id or name.
        store: see :func:`open_store` (``False`` is refused: a resume needs a store).
        provider: a provider object (needed again for a job that ran with one).
        retry_failed: also send again the rows that failed (succeeded rows never are).
        force: run even if the job looks like it runs elsewhere.
        run_overrides: run settings to change (:data:`RUN_OVERRIDES`); None values ignored.
        provider_kwargs: provider settings to add or change (``api_key=``, ``base_url=``).
        schema: the Pydantic model (or schema) a typed job ran with, so answers come back
            as model instances; it must ask for the same JSON as the stored schema.

    Raises:
        InputError: no store; an unknown run setting.
        JobBusy: the job runs elsewhere (another process, or a run in this one).
        JobNotFound: no such job.
        ConfigurationError: the job ran with a provider object and none is given; see
            :func:`check_provider`.
    """
    job_store = open_store(store)
    if job_store is None:
        raise InputError("resuming a job needs a store (store=None uses the default store)")
    overrides = dict(run_overrides or {})
    unknown = sorted(set(overrides) - set(RUN_OVERRIDES))
    if unknown:
        raise InputError(
            f"resume cannot change {unknown}; it can change {list(RUN_OVERRIDES)} "
            "(the rows and the model are the job's own)"
        )
    job = job_store.load_job(job_id_or_name)
    spec = job_store.job_spec(job.job_id)
    if provider is None and spec.get("provider") is None and spec.get("provider_object"):
        raise ConfigurationError(
            f"job {job_id_or_name!r} ran with a provider object ({spec['provider_object']}); "
            "pass it again with provider=..."
        )
    settings = RunSettings.from_spec(
        spec,
        provider=provider,
        provider_kwargs=dict(provider_kwargs or {}),
        **{k: v for k, v in overrides.items() if v is not None},
    )
    if schema is not None:
        settings = _same_schema(settings, schema, job_id_or_name)
    if settings.max_cost_usd is not None:
        require_answer_caps(job.iter_pending())
    check_provider(settings, [r.model for r in job.requests])
    name = str(job.metadata.get("job_name") or job.job_id[:8])
    lease = claim(job_store, job, force=force)
    try:
        reset = _reset_unpaid_errors(job_store, job, retry_failed=retry_failed)
    except BaseException:
        if lease is not None:
            lease.release()
        raise
    return Session(
        job,
        settings,
        job_store,
        JobRunner(job, settings, job_store, lease, release_lease=True),
        name,
        named=bool(job.metadata.get("job_name")),
        resumed=True,
        done_at_start=job.done,
        reset=reset,
        spec=spec,
    )


def _same_schema(settings: RunSettings, schema: Any, job: str) -> RunSettings:
    """``settings`` with the user's schema object (its class gives model instances)."""
    given = OutputSchema.of(schema)
    stored = settings.schema
    if stored is None or not stored.same_as(given):
        what = "no schema" if stored is None else f"schema {stored.name!r}"
        raise InputError(
            f"schema={given.name} asks for other JSON than job {job!r} was run with ({what}); "
            "resume with the model the job was started with, or without schema="
        )
    return dataclasses.replace(settings, schema=given)


def _reset_unpaid_errors(store: JobStore | None, job: BatchJob, *, retry_failed: bool) -> int:
    """Drop the error results a resume sends again (from the job and the store); returns how
    many. Rows refused for the key (:data:`RESUMABLE_ERRORS`) always, every failed row with
    ``retry_failed``; succeeded rows never."""
    ids = [
        r.request_id
        for r in job.results
        if not r.ok and (retry_failed or r.error_type in RESUMABLE_ERRORS)
    ]
    if not ids:
        return 0
    if store is not None:
        store.forget_results(job, ids)
    job.discard_results(ids)
    return len(ids)
