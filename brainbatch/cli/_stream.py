"""``brainbatch run INPUT --out FOLDER/``: stream the input into a Parquet dataset.

An ``--out`` that names a folder (ends with ``/``, is an existing folder, or has no file
extension) streams (:mod:`brainbatch.stream`): the input is read in chunks of
``--chunk-size`` rows, each chunk is journaled as it runs and written to the folder as a
Parquet part file when done, so memory does not grow with the input. Running the same
command again continues at the first row without a result. Ctrl-C / SIGTERM cancel cleanly
(the chunk that runs writes its finished rows); a second Ctrl-C stops at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..frame import PromptSpec
from ..models import BatchStatus
from ..progress import snapshot
from ..runner import RunSettings
from ..stream import StreamResult, StreamRun, prepare_stream, resume_stream
from ._io import FORMATS, media_options
from ._progress import TerminalProgress

__all__ = ["is_folder_out", "is_stream_job", "resume_stream_job", "run_stream"]


def is_folder_out(out: str) -> bool:
    """True when ``--out`` names a folder: the results are streamed into it."""
    if out.endswith(("/", os.sep)) or Path(out).is_dir():
        return True
    return Path(out).suffix.lower() not in FORMATS and not Path(out).suffix


def prepare(args: Any, settings_kwargs: Mapping[str, Any]) -> StreamRun:
    """Check the input, the folder and the settings; sends nothing."""
    spec = PromptSpec(
        prompt=args.prompt,
        model=args.model,
        system=args.system,
        params=args.params or None,
        custom_id=args.id_column,
        **media_options(args),
    )
    settings = RunSettings(model=args.model, **settings_kwargs)
    store: Any = False if args.no_store else args.store
    return prepare_stream(
        args.input,
        spec,
        settings,
        out=args.out,
        store=store,
        job_name=args.job_name,
        chunk_size=args.chunk_size,
        force=args.force,
    )


async def _run(run: StreamRun, view: TerminalProgress) -> StreamResult | None:
    job = run.job
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(run.run())
    signals = 0

    def interrupt() -> None:
        nonlocal signals
        signals += 1
        if signals == 1:
            job.request_cancel()
            view.note(
                "brainbatch: cancelling; the chunk running writes its finished rows "
                "(Ctrl-C again to stop at once)"
            )
        else:
            task.cancel()

    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, interrupt)
            installed.append(sig)

    async def watch() -> None:
        while True:
            view.update(snapshot(job, run.name, job.done_before))
            await asyncio.sleep(0.1)

    watcher = asyncio.ensure_future(watch())
    try:
        return await task
    except asyncio.CancelledError:
        if not task.cancelled():
            raise
        return None
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        for sig in installed:
            loop.remove_signal_handler(sig)


def is_stream_job(store: Any, job: str) -> bool:
    """True when the stored job ``job`` is a streamed one (``brainbatch resume`` continues it
    into its folder)."""
    return bool(store.job_spec(job).get("stream"))


def resume_stream_job(args: Any, store: Any, overrides: Mapping[str, Any]) -> int:
    """``brainbatch resume STREAM``: continue it into its folder from its input file."""
    overrides = dict(overrides)
    provider_kwargs = overrides.pop("provider_kwargs", None) or {}
    if getattr(args, "retry_failed", False):
        raise InputError("--retry-failed is not available for a streamed job")
    if args.out:
        raise InputError(f"job {args.job!r} is streamed into its own folder: leave --out out")
    run = resume_stream(
        args.job,
        store=store,
        force=args.force,
        run_overrides=overrides,
        provider_kwargs=provider_kwargs,
    )
    return _execute(run, args)


def run_stream(args: Any, settings_kwargs: Mapping[str, Any]) -> int:
    """Stream ``args.input`` into the folder ``args.out``; 0 when every row succeeded."""
    return _execute(prepare(args, settings_kwargs), args)


def _execute(run: StreamRun, args: Any) -> int:
    view = TerminalProgress(interval=args.progress_interval)
    job = run.job
    total = "?" if job.known_total is None else f"{job.known_total:,}"
    again = f", {job.done:,} already done" if job.done else ""
    view.note(
        f"brainbatch: stream {run.name!r}: {total} rows in chunks of {run.chunk_size:,}{again}"
        f" · model {run.settings.model} · {run.settings.mode} · concurrency "
        f"{run.settings.max_concurrent} -> {run.out}/"
    )
    try:
        asyncio.run(_run(run, view))
    finally:
        run.release()
        if not job.status.is_terminal:
            job.status = BatchStatus.CANCELLED
        view.update(snapshot(job, run.name, job.done_before))
        if run.store is not None:
            run.store.close()
    view.note(f"brainbatch: results in {run.out}/ ({job.done:,} rows)")
    complete = job.status == BatchStatus.COMPLETED and job.done == job.total
    return 0 if complete and job.n_error == 0 else 1
