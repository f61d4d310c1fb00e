"""``brainbatch run`` and ``brainbatch resume``: a job from a file, progress on stderr, a file out.

The parts are the notebook's: rows become requests with
:func:`brainbatch.frame.build_requests` (same checks, same errors), the job runs
through :class:`brainbatch.runner.JobRunner` (provider, limits, budget, cache, journal, batch
mode), and the results file has the columns of :func:`brainbatch.frame.results_frame`.

The job runs on this process's main thread (``asyncio.run``), with signal handlers:

* first Ctrl-C (SIGINT) or SIGTERM: cancel cleanly; requests in flight get a few seconds to
  finish (their answers are usually paid for), then the results file is written with the
  rows done and status ``cancelled`` for the rest;
* second Ctrl-C: stop at once (requests in flight are abandoned and stay pending);
* ``brainbatch cancel JOB`` from another shell: a flag in the store that the job's journal
  polls (``JobStore.request_cancel``) acts like the first Ctrl-C.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from ..budget import require_answer_caps
from ..errors import BrainbatchError, ConfigurationError, InputError
from ..frame import (
    MODEL_COLUMN_PREFIX,
    PromptSpec,
    build_requests,
    results_frame,
    row_keys,
)
from ..models import BatchJob, BatchStatus
from ..progress import snapshot
from ..runner import JobRunner, RunSettings
from ._io import check_output, read_table, write_table
from ._progress import TerminalProgress

__all__ = [
    "CliJob",
    "check_provider",
    "execute",
    "exit_code",
    "prepare_resume",
    "prepare_run",
]

EXIT_OK = 0
EXIT_PARTIAL = 1


@dataclass
class CliJob:
    """Everything a run needs: the job, how to run it, where results go."""

    job: BatchJob
    settings: RunSettings
    store: Any | None
    name: str
    out: Path
    inputs: pd.DataFrame | None
    keys: list[str] | None


def _spec(settings: RunSettings, cli: Mapping[str, Any]) -> dict[str, Any]:
    spec = settings.spec()
    spec["cli"] = dict(cli)
    return spec


def _open_store(path: str | None, use_store: bool) -> Any | None:
    if not use_store:
        return None
    from ..store import JobStore

    return JobStore(path) if path else JobStore()


def prepare_run(args: Any, settings_kwargs: Mapping[str, Any]) -> CliJob:
    """Read and check the input, the output and the prompt; store the job. Sends nothing.

    Raises:
        InputError: bad file, column, row or value, naming it.
        StoreError: the store file is unusable, or ``--job-name`` names a different job.
    """
    input_path = Path(args.input)
    out = Path(args.out)
    check_output(out, [input_path])
    df = read_table(input_path)
    spec = PromptSpec(
        prompt=args.prompt,
        model=args.model,
        system=args.system,
        params=args.params or None,
        custom_id=args.id_column,
    )
    requests = build_requests(df, spec)
    model = requests[0].model if args.model.startswith(MODEL_COLUMN_PREFIX) else args.model
    settings = RunSettings(model=model, **settings_kwargs)
    if settings.max_cost_usd is not None:
        require_answer_caps(requests)  # a budget needs max_tokens: refused before any send
    check_provider(settings)
    keys = [r.key for r in requests]
    store = _open_store(args.store, not args.no_store)
    name = args.job_name
    job = BatchJob(requests, metadata={"job_name": name} if name else {})
    if store is not None:
        stored_spec = _spec(
            settings,
            {
                "input": str(input_path.resolve()),
                "out": str(out.resolve()),
                "prompt": args.prompt,
                "system": args.system,
                "id_column": args.id_column,
            },
        )
        if name:
            job = store.get_or_create_job(job, name=name, spec=stored_spec)
            if not args.force:
                _refuse_if_running(store, job, name)
        else:
            job = store.create_job(job, spec=stored_spec)
    return CliJob(job, settings, store, name or job.job_id[:8], out, df, keys)


def prepare_resume(args: Any, overrides: Mapping[str, Any]) -> CliJob:
    """Load a stored job and its settings (keys come from the environment again).

    The input file recorded by ``brainbatch run`` is read again for the input columns when it
    still holds the same rows; otherwise the results have a ``custom_id`` index and no input
    columns.

    Raises:
        InputError: no ``--out`` given or recorded; a job run with a provider object.
        JobNotFound: no such job in the store.
    """
    from ..store import JobStore

    store = JobStore(args.store) if args.store else JobStore()
    job = store.load_job(args.job)
    if not args.force:
        _refuse_if_running(store, job, args.job)
    spec = store.job_spec(job.job_id)
    cli = spec.get("cli") or {}
    out_text = args.out or cli.get("out")
    if not out_text:
        raise InputError(
            f"job {args.job!r} was not started by `brainbatch run`: give --out FILE for its results"
        )
    out = Path(out_text)
    check_output(out, [])
    if spec.get("provider") is None and spec.get("provider_object"):
        raise ConfigurationError(
            f"job {args.job!r} ran with a provider object ({spec['provider_object']}); resume "
            "it from Python with bb.resume(..., provider=...)"
        )
    settings = RunSettings.from_spec(spec, **overrides)
    check_provider(settings)
    inputs, keys = _stored_inputs(job, cli)
    name = str(job.metadata.get("job_name") or job.job_id[:8])
    return CliJob(job, settings, store, name, out, inputs, keys)


RUNNING_RECENTLY_S = 30.0
"""A ``processing`` job whose journal wrote less than this long ago is taken to be running."""


def _refuse_if_running(store: Any, job: BatchJob, label: str) -> None:
    """Refuse to resume a job another process seems to be running (rows would be paid twice).

    Raises:
        InputError: the job is ``processing`` and its journal wrote recently.
    """
    if job.status != BatchStatus.PROCESSING:
        return
    row = next((r for r in store.list_jobs() if r["job_id"] == job.job_id), None)
    updated = row.get("updated_at") if row else None
    if updated is None:
        return
    age = (datetime.now(UTC) - updated).total_seconds()
    if age < RUNNING_RECENTLY_S:
        raise InputError(
            f"job {label!r} looks like it is running in another process (its journal wrote "
            f"{age:.0f} s ago); stop it first (brainbatch cancel {label}), or pass --force "
            "if that process is gone"
        )


def check_provider(settings: RunSettings) -> None:
    """Make (and close) the provider once, so a missing key or an unknown model is a clear
    error before the job is stored or anything is sent.

    Raises:
        ConfigurationError: unknown provider or model, missing API key, bad provider option.
    """
    probe = BatchJob([])
    try:
        provider, owned = JobRunner(probe, settings).open_provider()
    except TypeError as exc:  # a -o option the provider does not take
        raise ConfigurationError(f"provider {settings.provider_name!r}: {exc}") from None
    if owned and hasattr(provider, "aclose"):
        asyncio.run(provider.aclose())


def _stored_inputs(
    job: BatchJob, cli: Mapping[str, Any]
) -> tuple[pd.DataFrame | None, list[str] | None]:
    path = cli.get("input")
    if not path or not Path(path).is_file():
        return None, None
    try:
        df = read_table(Path(path))
        keys = row_keys(df, cli.get("id_column"))
    except InputError:
        return None, None
    if keys != [r.key for r in job.requests]:
        return None, None
    return df, keys


@dataclass
class _Stop:
    """How the job is being stopped: Ctrl-C / SIGTERM count, remote cancel already noted."""

    signals: int = 0
    noted: bool = False


def _note_remote_cancel(cli: CliJob, view: TerminalProgress, stop: _Stop) -> None:
    """Say so (once) when the job was cancelled from another process (``brainbatch cancel``)."""
    if cli.job.cancel_requested and not stop.signals and not stop.noted:
        stop.noted = True
        view.note(
            f"brainbatch: job {cli.name!r} cancelled from another process (brainbatch "
            "cancel); waiting for requests in flight"
        )


async def _watch(cli: CliJob, view: TerminalProgress, period: float, stop: _Stop) -> None:
    """Refresh the display; say so when the job was cancelled from another process."""
    job = cli.job
    done_at_start = job.done
    started = False
    while True:
        # a resumed job still carries its old final status until the executor starts it
        started = started or not job.status.is_terminal
        if started:
            view.update(snapshot(job, cli.name, done_at_start))
        _note_remote_cancel(cli, view, stop)
        await asyncio.sleep(period)


async def _run_async(cli: CliJob, view: TerminalProgress) -> None:
    job = cli.job
    loop = asyncio.get_running_loop()
    runner_task = asyncio.ensure_future(JobRunner(job, cli.settings, cli.store).run())
    stop = _Stop()

    def interrupt() -> None:
        stop.signals += 1
        if stop.signals == 1:
            job.request_cancel()
            view.note(
                "brainbatch: cancelling; waiting a few seconds for requests in flight "
                "(Ctrl-C again to stop at once)"
            )
        else:
            runner_task.cancel()

    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, interrupt)
            installed.append(sig)
    watcher = asyncio.ensure_future(_watch(cli, view, 0.1, stop))
    try:
        await runner_task
    except asyncio.CancelledError:
        if not runner_task.cancelled():
            raise
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        _note_remote_cancel(cli, view, stop)  # the job may have stopped between two ticks
        for sig in installed:
            loop.remove_signal_handler(sig)


def execute(cli: CliJob, view: TerminalProgress) -> pd.DataFrame:
    """Run the job (Ctrl-C / SIGTERM / ``brainbatch cancel`` cancel it), write ``--out``.

    The results file is written whatever happened to the run (the rows done so far, the
    others ``cancelled`` / ``not_run``); an error that stopped the run is raised after that.
    Returns the results DataFrame. The store (if any) is closed afterwards.

    Raises:
        BrainbatchError: ``--out`` could not be written (the results stay in the store).
    """
    job = cli.job
    done_at_start = job.done
    failure: Exception | None = None
    try:
        asyncio.run(_run_async(cli, view))
    except Exception as exc:  # written below first, so nothing done is lost
        failure = exc
    finally:
        if not job.status.is_terminal:  # aborted before the executor could say so
            job.status = BatchStatus.CANCELLED if failure is None else BatchStatus.FAILED
            job.error = job.error or ("cancelled" if failure is None else str(failure))
        view.update(snapshot(job, cli.name, done_at_start))
        if cli.store is not None:
            with contextlib.suppress(Exception):
                cli.store.update_status(job)
            cli.store.close()
    frame = results_frame(job, cli.inputs, cli.keys)
    try:
        write_table(frame, cli.out)
    except OSError as exc:
        ref = job.metadata.get("job_name") or job.job_id
        kept = (
            f"the results are kept in the store: brainbatch resume {ref} --out OTHER_FILE"
            if cli.store is not None
            else "run without --no-store to keep results in the store"
        )
        raise BrainbatchError(f"could not write --out {str(cli.out)!r}: {exc}; {kept}") from exc
    if failure is not None:
        raise failure
    return frame


def exit_code(job: BatchJob) -> int:
    """0 when every row succeeded, 1 when some failed or were not run (cancelled...)."""
    if job.status == BatchStatus.COMPLETED and job.n_error == 0 and job.done == job.total:
        return EXIT_OK
    return EXIT_PARTIAL
