"""``brainbatch run`` and ``brainbatch resume``: a job from a file, progress on stderr, a file out.

The parts are the notebook's: rows become requests with :func:`brainbatch.frame.build_requests`
(same checks, same errors), :mod:`brainbatch.session` opens the store and decides new, resumed
or already running, the job runs through :class:`brainbatch.runner.JobRunner` (provider,
limits, budget, cache, journal, batch mode), and the results file has the columns of
:func:`brainbatch.frame.results_frame`.

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
from pathlib import Path
from typing import Any

import orjson
import pandas as pd

from ..errors import BrainbatchError, ConfigurationError, InputError
from ..frame import (
    MODEL_COLUMN_PREFIX,
    PromptSpec,
    build_requests,
    results_frame,
    row_keys,
)
from ..models import BatchJob, BatchStatus
from ..monitor import JobMonitor, details_text
from ..progress import snapshot
from ..runner import RunSettings
from ..session import Session, new_session, open_store, resume_session
from ..store import JobStore
from ..structured import OutputSchema
from ._io import check_output, media_options, read_table, write_table
from ._progress import TerminalProgress

__all__ = [
    "CliJob",
    "execute",
    "exit_code",
    "prepare_resume",
    "prepare_run",
]

EXIT_OK = 0
EXIT_PARTIAL = 1


@dataclass
class CliJob:
    """Everything a run needs: the session (job, settings, store, runner), where results go."""

    session: Session
    out: Path
    inputs: pd.DataFrame | None
    keys: list[str] | None

    @property
    def job(self) -> BatchJob:
        return self.session.job

    @property
    def settings(self) -> RunSettings:
        return self.session.settings

    @property
    def store(self) -> JobStore | None:
        return self.session.store

    @property
    def name(self) -> str:
        return self.session.name


def prepare_run(args: Any, settings_kwargs: Mapping[str, Any]) -> CliJob:
    """Read and check the input, the output and the prompt; store the job. Sends nothing.

    Raises:
        InputError: bad file, column, row or value, naming it; the job already runs.
        StoreError: the store file is unusable, or ``--job-name`` names a different job.
    """
    input_path = Path(args.input)
    out = Path(args.out)
    check_output(out, [input_path])
    df = read_table(input_path)
    schema = _read_schema(args.schema) if getattr(args, "schema", None) else None
    params = args.params or None
    spec = PromptSpec(
        prompt=args.prompt,
        model=args.model,
        system=args.system,
        params=params if schema is None else schema.add_to(params),
        custom_id=args.id_column,
        **media_options(args),
    )
    requests = build_requests(df, spec)
    model = requests[0].model if args.model.startswith(MODEL_COLUMN_PREFIX) else args.model
    settings = RunSettings(model=model, schema=schema, **settings_kwargs)
    cli = {
        "input": str(input_path.resolve()),
        "out": str(out.resolve()),
        "prompt": args.prompt,
        "system": args.system,
        "id_column": args.id_column,
    }
    session = new_session(
        requests,
        settings,
        store=_store_arg(args.store, not args.no_store),
        job_name=args.job_name,
        extra_spec={"cli": cli},
        force=args.force,
    )
    return CliJob(session, out, df, [r.key for r in requests])


def _read_schema(path: str) -> OutputSchema:
    """``--schema FILE.json``: the JSON schema in that file.

    Raises:
        InputError: the file cannot be read, is not JSON, or is not a usable schema.
    """
    try:
        data = orjson.loads(Path(path).read_bytes())
    except OSError as exc:
        raise InputError(f"--schema {path!r}: cannot read it: {exc.strerror or exc}") from None
    except orjson.JSONDecodeError as exc:
        raise InputError(f"--schema {path!r} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InputError(f"--schema {path!r} must hold a JSON object (a JSON schema)")
    return OutputSchema.of(data)


def prepare_resume(args: Any, overrides: Mapping[str, Any]) -> CliJob:
    """Load a stored job and its settings (keys come from the environment again).

    The input file recorded by ``brainbatch run`` is read again for the input columns when it
    still holds the same rows; otherwise the results have a ``custom_id`` index and no input
    columns.

    Raises:
        InputError: no ``--out`` given or recorded; the job already runs.
        ConfigurationError: a job run with a provider object.
        JobNotFound: no such job in the store.
    """
    overrides = dict(overrides)
    provider_kwargs = overrides.pop("provider_kwargs", None) or {}
    store = _store_arg(args.store, True)
    job_store = open_store(store)
    assert job_store is not None
    spec = job_store.job_spec(args.job)
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
    session = resume_session(
        args.job,
        store=job_store,
        retry_failed=getattr(args, "retry_failed", False),
        force=args.force,
        run_overrides=overrides,
        provider_kwargs=provider_kwargs,
    )
    inputs, keys = _stored_inputs(session.job, cli)
    return CliJob(session, out, inputs, keys)


def _store_arg(path: str | None, use_store: bool) -> Any:
    """``--store PATH`` / ``--no-store`` as the session's ``store=`` argument."""
    if not use_store:
        return False
    return path


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
            limits = cli.session.runner.limits_in_force
            view.update(snapshot(job, cli.name, done_at_start, limits=limits))
        _note_remote_cancel(cli, view, stop)
        await asyncio.sleep(period)


async def _run_async(cli: CliJob, view: TerminalProgress) -> None:
    job = cli.job
    loop = asyncio.get_running_loop()
    runner_task = asyncio.ensure_future(cli.session.runner.run())
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
    monitor = JobMonitor(job)
    if view.details is None:
        view.details = lambda: details_text(monitor)
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
    frame = results_frame(job, cli.inputs, cli.keys, schema=cli.session.settings.schema)
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
