"""The subcommands of the ``brainbatch`` command line; each returns an exit code."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..secrets import is_credential

__all__ = [
    "cmd_cancel",
    "cmd_demo",
    "cmd_estimate",
    "cmd_jobs",
    "cmd_resume",
    "cmd_run",
]

# -- shared option handling ----------------------------------------------------------------------


def _provider_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """``--base-url``, ``--api-key-env`` and ``-o KEY=VALUE`` as provider keyword arguments.

    Raises:
        InputError: a key-like ``-o`` setting (keys belong in the environment), a repeated
            setting, or an unset ``--api-key-env`` variable.
    """
    kwargs: dict[str, Any] = {}
    for key, value in args.provider_options:
        if is_credential(key):
            raise InputError(
                f"-o {key}=...: secrets are not accepted on the command line (they end up in "
                "shell history and process lists); put the key in an environment variable "
                "and name it with --api-key-env VAR"
            )
        if key in kwargs:
            raise InputError(f"-o {key} is given twice")
        kwargs[key] = value
    if args.base_url:  # repeated: replicas of one server (brainbatch.providers.pool)
        urls = list(args.base_url)
        kwargs["base_url"] = urls[0] if len(urls) == 1 else urls
    if args.api_key_env:
        key = os.environ.get(args.api_key_env, "")
        if not key.strip():
            raise InputError(f"--api-key-env {args.api_key_env}: that variable is not set")
        kwargs["api_key"] = key
    return kwargs


def _params(args: argparse.Namespace) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for key, value in args.param_list:
        if key in params:
            raise InputError(f"--param {key} is given twice")
        params[key] = value
    return params


def _settings_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """:class:`~brainbatch.runner.RunSettings` arguments from the options (all but model)."""
    from ..runner import DEFAULT_MAX_CONCURRENT

    return {
        "provider": args.provider,
        "mode": args.mode,
        "max_concurrent": args.concurrency or DEFAULT_MAX_CONCURRENT,
        "rpm": args.rpm,
        "tpm": args.tpm,
        "max_cost_usd": getattr(args, "max_cost", None),
        "poll_interval": getattr(args, "poll_interval", None),
        "provider_kwargs": _provider_kwargs(args),
    }


# -- run / resume --------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    """``brainbatch run``: check everything, run, write ``--out``; 0 / 1 / 2."""
    from ._progress import TerminalProgress
    from ._run import execute, exit_code, prepare_run

    args.params = _params(args)
    from ._stream import is_folder_out, run_stream

    if is_folder_out(args.out):  # a folder: stream the input into a Parquet dataset
        return run_stream(args, _settings_kwargs(args))
    cli = prepare_run(args, _settings_kwargs(args))
    view = TerminalProgress(interval=args.progress_interval)
    _announce(cli, view)
    execute(cli, view)
    view.note(f"brainbatch: results in {cli.out}")
    return exit_code(cli.job)


def cmd_resume(args: argparse.Namespace) -> int:
    """``brainbatch resume JOB``: send the rows without a result, write the results file."""
    from ._progress import TerminalProgress
    from ._run import execute, exit_code, prepare_resume

    overrides: dict[str, Any] = {"provider_kwargs": _provider_kwargs(args)}
    overrides.update(
        max_concurrent=args.concurrency,
        rpm=args.rpm,
        tpm=args.tpm,
        max_cost_usd=args.max_cost,
        poll_interval=args.poll_interval,
    )
    from ..session import open_store
    from ._stream import is_stream_job, resume_stream_job

    job_store = open_store(args.store)
    if job_store is not None and is_stream_job(job_store, args.job):
        return resume_stream_job(args, job_store, overrides)
    cli = prepare_resume(args, overrides)
    view = TerminalProgress(interval=args.progress_interval)
    _announce(cli, view)
    execute(cli, view)
    view.note(f"brainbatch: results in {cli.out}")
    return exit_code(cli.job)


def _announce(cli: Any, view: Any) -> None:
    from ..providers.registry import provider_for_model

    job = cli.job
    s = cli.settings
    provider = s.provider if isinstance(s.provider, str) else None
    provider = provider or provider_for_model(s.model) or s.provider_name
    pending = job.total - job.done
    again = f", {job.done:,} already done" if job.done else ""
    if cli.session.reset:
        again += f" ({cli.session.reset:,} failed rows sent again)"
    view.note(
        f"brainbatch: job {cli.name!r} (id {job.job_id}): {pending:,} of {job.total:,} rows to "
        f"send{again} · model {s.model} · provider {provider} · {s.mode} · "
        f"concurrency {s.max_concurrent}"
    )


# -- estimate ------------------------------------------------------------------------------------


def cmd_estimate(args: argparse.Namespace) -> int:
    """``brainbatch estimate``: the estimate table on stdout (real time vs batch); nothing is
    sent."""
    from ..estimate import estimate_requests
    from ..frame import PromptSpec, build_requests
    from ._io import media_options, read_table

    df = read_table(Path(args.input))
    limits: dict[str, Any] = {}
    if args.concurrency:
        limits["max_concurrent"] = args.concurrency
    if args.rpm:
        limits["rpm"] = args.rpm
    if args.tpm:
        limits["tpm"] = args.tpm
    if args.expected_output_tokens:
        limits["expected_output_tokens"] = args.expected_output_tokens
    spec = PromptSpec(
        prompt=args.prompt,
        model=args.model,
        system=args.system,
        params=_params(args) or None,
        custom_id=args.id_column,
        **media_options(args),
    )
    table = estimate_requests(build_requests(df, spec), **limits)
    print(_estimate_text(table))
    return 0


# -- export / import ------------------------------------------------------------------------------


def cmd_export(args: argparse.Namespace) -> int:
    """``brainbatch export``: the batch input files in ``--out-dir``, one line each on stdout."""
    from ..offline import export_batch
    from ._io import read_table

    df = read_table(Path(args.input))
    files = export_batch(
        df,
        args.prompt,
        args.model,
        args.out_dir,
        system=args.system,
        params=_params(args) or None,
        custom_id=args.id_column,
        prefix=args.prefix,
        overwrite=args.overwrite,
    )
    for f in files:
        print(f"{f.path}\t{f.model}\t{f.requests} requests\t{f.bytes:,} bytes")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    """``brainbatch import``: the results file from batch output files; 0 when every row
    succeeded, else 1."""
    from ..offline import import_batch_results
    from ._io import check_output, read_table, write_table

    out = Path(args.out)
    check_output(out, [Path(args.input), *map(Path, args.results)])
    df = read_table(Path(args.input))
    results = import_batch_results(
        args.results,
        df,
        args.prompt,
        args.model,
        system=args.system,
        params=_params(args) or None,
        custom_id=args.id_column,
        batch=not args.realtime_price,
    )
    write_table(results, out)
    counts = results["status"].value_counts()
    summary = ", ".join(f"{int(n):,} {status}" for status, n in counts.items())
    print(f"brainbatch: {len(results):,} rows ({summary}); results in {out}", file=sys.stderr)
    return 0 if bool((results["status"] == "success").all()) else 1


_ESTIMATE_COLUMNS = {
    "model": "MODEL",
    "mode": "MODE",
    "requests": "ROWS",
    "input_tokens": "INPUT TOK",
    "output_tokens_expected": "OUTPUT TOK (EXP)",
    "cost_expected_usd": "COST (EXP)",
    "cost_max_usd": "COST (MAX)",
    "saving_pct": "SAVING",
    "duration": "DURATION",
}


def _estimate_text(table: Any) -> str:
    """The estimate as an aligned table (all of it, as CSV-ready columns, with ``--debug``)."""
    cols = [c for c in _ESTIMATE_COLUMNS if c in table.columns]
    rows = []
    for rec in table[cols].to_dict("records"):
        cells = []
        for c in cols:
            v = rec[c]
            if c.endswith("_usd"):
                cells.append(_money(float(v)))
            elif c == "saving_pct":
                cells.append("-" if v != v or not v else f"{float(v):.0f}%")
            elif isinstance(v, int | float) and not isinstance(v, bool):
                cells.append("-" if v != v else f"{round(float(v)):,}")
            else:
                cells.append(str(v))
        rows.append(tuple(cells))
    headers = tuple(_ESTIMATE_COLUMNS[c] for c in cols)
    text = _table(headers, rows, right=set(range(2, len(cols) - 1)))
    note = ""
    if "tokens_exact" in table.columns and not bool(table["tokens_exact"].all()):
        note = "\ninput tokens are approximate for this model (no exact tokenizer offline)"
    return text + "\nCOST (MAX) assumes every answer uses max_tokens (- : no max_tokens set)" + note


# -- jobs / cancel -------------------------------------------------------------------------------


def _store(args: argparse.Namespace) -> Any:
    from ..store import JobStore

    return JobStore(args.store) if args.store else JobStore()


def _money(value: float) -> str:
    """Dollars with the precision small batches need: $0.000251, $0.0251, $2.5100, $251.00."""
    if value != value:
        return "-"
    if abs(value) >= 100:
        return f"${value:,.2f}"
    return f"${value:,.4f}" if abs(value) >= 0.1 else f"${value:.6f}"


def cmd_jobs(args: argparse.Namespace) -> int:
    """``brainbatch jobs``: a table (or JSON lines) of the stored jobs, oldest first."""
    store_path = Path(args.store) if args.store else None
    from ..store import default_store_path

    path = store_path or default_store_path()
    if not path.exists():
        print(f"no jobs: the store {path} does not exist yet", file=sys.stderr)
        return 0
    with _store(args) as store:
        rows = store.list_jobs()
    if args.json:
        for row in rows:
            print(json.dumps(row, default=str))
        return 0
    if not rows:
        print(f"no jobs in {path}", file=sys.stderr)
        return 0
    table = [
        (
            r["job_id"],
            r["name"] or "-",
            r["status"],
            f"{r['done']:,}/{r['total']:,}",
            f"{r['succeeded']:,}",
            f"{r['failed']:,}",
            _money(r["cost_usd"]),
            r["created_at"].astimezone().strftime("%Y-%m-%d %H:%M:%S") if r["created_at"] else "-",
        )
        for r in rows
    ]
    headers = ("ID", "NAME", "STATUS", "DONE", "OK", "FAILED", "COST", "CREATED")
    print(_table(headers, table, right={3, 4, 5, 6}))
    return 0


def _table(
    headers: tuple[str, ...], rows: Sequence[tuple[str, ...]], right: set[int] | None = None
) -> str:
    """Columns aligned with two spaces between; ``right``: indexes of right-aligned columns."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    right = right or set()
    lines = []
    for row in (headers, *rows):
        cells = [
            c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def cmd_cancel(args: argparse.Namespace) -> int:
    """``brainbatch cancel JOB``: flag the job in the store; wait until its process stopped.

    0: the job stopped (or had already ended); 1: it did not stop within ``--wait`` seconds
    (no process is running it, or it is still finishing requests in flight); 2: no such job.
    """
    from ..models import BatchStatus

    if args.wait < 0 or math.isinf(args.wait) or args.wait != args.wait:
        raise InputError(f"--wait must be a number of seconds >= 0, got {args.wait!r}")
    with _store(args) as store:
        job = store.load_job(args.job)
        label = f"{args.job!r} (id {job.job_id})"
        if job.status.is_terminal:
            print(f"job {label} already ended: {job.status.value}; nothing to cancel")
            return 0
        store.request_cancel(job.job_id)
        print(f"cancel requested for job {label}", flush=True)
        deadline = time.monotonic() + args.wait
        while time.monotonic() < deadline:
            row = next((r for r in store.list_jobs() if r["job_id"] == job.job_id), None)
            if row is not None and BatchStatus(row["status"]).is_terminal:
                print(
                    f"job {label} {row['status']}: {row['done']:,}/{row['total']:,} rows done; "
                    f"continue it with `brainbatch resume {args.job}`"
                )
                return 0
            if not store.cancel_requested(job.job_id):
                # a run that was only starting cleared the old flag as it began: set it again
                store.request_cancel(job.job_id)
            time.sleep(0.2)
    if args.wait:
        print(
            f"job {label} has not stopped after {args.wait:g} s: no process may be running it "
            "(it stays resumable), or it is still finishing requests in flight",
            file=sys.stderr,
        )
        return 1
    return 0


# -- sim / demo ----------------------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace) -> int:
    """``brainbatch demo``: the offline demo job (``make demo``)."""
    from ..demo import run_demo

    stats = run_demo(Path(args.out), concurrency=args.concurrency, latency_ms=args.latency_ms)
    return 0 if stats["done"] == stats["total"] else 1
