"""The ``brainbatch`` command line (also ``python -m brainbatch``).

Subcommands: ``run``, ``estimate``, ``jobs``, ``resume``, ``cancel``, ``sim``, ``demo``.

Exit codes: 0 every row succeeded (or the command did what it was asked); 1 some rows failed
or were not run (cancelled, Ctrl-C, budget, expired: the results file is written anyway);
2 bad input or arguments (one line on stderr naming the parameter, column or row; nothing was
sent); 3 the run failed (the store's disk is full, its journal could not write) or an
unexpected error (a bug: ``--debug`` shows the traceback); 4 the job is being run by another
process (nothing was sent; the message names it); 130 interrupted before the job started.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_BUSY",
    "EXIT_ERROR",
    "EXIT_OK",
    "EXIT_PARTIAL",
    "build_parser",
    "main",
]

EXIT_OK = 0
EXIT_PARTIAL = 1
EXIT_BAD_INPUT = 2
EXIT_ERROR = 3
EXIT_BUSY = 4
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (and exit code 2) instead of usage + error."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        raise SystemExit(EXIT_BAD_INPUT)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number > 0, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number > 0, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def _key_value(text: str) -> tuple[str, Any]:
    """``KEY=VALUE``; VALUE is read as JSON when it parses (numbers, true, {...}), else text."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        value: Any = json.loads(raw)
    except ValueError:
        value = raw
    return key.strip(), value


def _add_job_options(p: argparse.ArgumentParser, *, for_estimate: bool = False) -> None:
    _add_row_options(p)
    p.add_argument(
        "--images",
        metavar="COLUMN",
        help="column of images for each row: file paths, http(s) URLs or data URLs (several per "
        "row: a list column in Parquet or JSONL); relative paths are read from the current folder",
    )
    p.add_argument("--documents", metavar="COLUMN", help="column of PDF documents, as for --images")
    p.add_argument(
        "--detail",
        choices=("low", "high", "auto"),
        help="OpenAI image detail (default: the provider's, auto)",
    )
    p.add_argument("--provider", help="openai, anthropic, openrouter or sim (default: from model)")
    if not for_estimate:
        p.add_argument(
            "--mode",
            choices=("realtime", "batch", "flex"),
            default="realtime",
            help="realtime (default); batch: the provider's native Batch API, half price, "
            "results within 24 h; flex: OpenAI's flex processing, batch prices in real time, "
            "slower answers",
        )
    p.add_argument(
        "--concurrency", type=_positive_int, help="requests in flight at once (default 16)"
    )
    if for_estimate:
        p.add_argument("--rpm", type=_positive_float, help="requests per minute to stay under")
        p.add_argument("--tpm", type=_positive_float, help="tokens per minute to stay under")
    else:
        _add_rate_options(p)
    if not for_estimate:
        p.add_argument(
            "--schema",
            metavar="FILE.json",
            help="a JSON schema every answer must follow: sent as each provider's structured "
            "output, answers checked, typed response.<field> columns (invalid/refused rows "
            "say so in status)",
        )
        _add_run_limits(p)
    _add_provider_options(p)


def _add_row_options(p: argparse.ArgumentParser) -> None:
    """How rows become requests, and nothing about sending them (export, import)."""
    p.add_argument("input", metavar="INPUT", help="rows to run: a .csv, .parquet or .jsonl file")
    p.add_argument(
        "--prompt",
        required=True,
        help="a column name, or a template over columns such as 'Classify: {review}'",
    )
    p.add_argument(
        "--model",
        required=True,
        help="model name (gpt-4o-mini, claude-haiku-4-5, sim...); col:NAME takes it per row",
    )
    p.add_argument("--system", help="system prompt for every row")
    p.add_argument(
        "--param",
        dest="param_list",
        action="append",
        type=_key_value,
        default=[],
        metavar="KEY=VALUE",
        help="request parameter, e.g. --param temperature=0 --param max_tokens=200 (repeatable)",
    )
    p.add_argument("--id-column", help="column of unique row ids (default: the row number)")


def _rate(text: str) -> float | str:
    """A number > 0, or ``auto``."""
    return "auto" if text.strip().lower() == "auto" else _positive_float(text)


def _add_rate_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--rpm",
        type=_rate,
        help="requests per minute to stay under, or auto: the provider's own limit from its "
        "rate-limit headers, at 90%% (the default for HTTP providers)",
    )
    p.add_argument("--tpm", type=_rate, help="tokens per minute to stay under, or auto")


def _add_run_limits(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--max-cost",
        type=_positive_float,
        metavar="USD",
        help="stop before spending more (needs --param max_tokens=N)",
    )
    p.add_argument(
        "--poll-interval",
        type=_positive_float,
        metavar="S",
        help="--mode batch: seconds between the first status checks (default 5)",
    )


def _add_provider_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--base-url",
        action="append",
        metavar="URL",
        help="API root of an OpenAI/Anthropic-compatible server; repeat it for replicas of "
        "one server (requests go to the least busy, a failing one is skipped)",
    )
    p.add_argument(
        "--api-key-env",
        metavar="VAR",
        help="read the API key from this environment variable (default: the provider's, "
        "e.g. OPENAI_API_KEY); keys are never accepted on the command line",
    )
    p.add_argument(
        "-o",
        "--provider-option",
        dest="provider_options",
        action="append",
        type=_key_value,
        default=[],
        metavar="KEY=VALUE",
        help="provider setting, e.g. -o max_attempts=3, or -o latency_ms=100 for sim",
    )


def _add_store_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--store",
        metavar="PATH",
        help="job journal (SQLite); default $BRAINBATCH_STORE or ./.brainbatch/jobs.sqlite",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    from ._commands import (
        cmd_cancel,
        cmd_demo,
        cmd_estimate,
        cmd_export,
        cmd_import,
        cmd_jobs,
        cmd_resume,
        cmd_run,
    )

    parser = _Parser(
        prog="brainbatch",
        description="Run batches of LLM prompts from files: progress, cost, cancel, resume.",
        epilog="exit codes: 0 all rows succeeded, 1 some rows failed or were cancelled, "
        "2 bad input or arguments, 3 the run failed (e.g. disk full) or unexpected error, "
        "4 the job is being run by another process",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="run a file of prompts and write the results",
        description="Run one request per row of INPUT and write the results to --out "
        "(the input columns, then response, status, error, latency_ms, tokens, cost...).",
    )
    _add_job_options(run)
    run.add_argument(
        "--out",
        required=True,
        help="results file (.csv, .parquet or .jsonl), or a folder (results/) to stream the "
        "input in chunks into a Parquet dataset, in memory that does not grow with the input",
    )
    run.add_argument(
        "--chunk-size",
        type=_positive_int,
        help="rows per chunk when --out is a folder (default 10000)",
    )
    run.add_argument("--job-name", help="name the job in the store; the same name continues it")
    _add_store_option(run)
    run.add_argument("--no-store", action="store_true", help="keep results in memory only")
    run.add_argument(
        "--force",
        action="store_true",
        help="continue --job-name even if it looks like it is running in another process",
    )
    run.add_argument(
        "--progress-interval",
        type=_positive_float,
        default=5.0,
        metavar="S",
        help="seconds between progress lines when stderr is not a terminal (default 5)",
    )
    run.set_defaults(func=cmd_run)

    est = sub.add_parser(
        "estimate",
        help="cost and time of a run, before sending anything",
        description="Estimate tokens, cost (real time and batch) and duration of a run.",
    )
    _add_job_options(est, for_estimate=True)
    est.add_argument(
        "--expected-output-tokens",
        type=_positive_float,
        metavar="N",
        help="typical answer length in tokens (default: half the prompt, capped by max_tokens)",
    )
    est.set_defaults(func=cmd_estimate)

    export = sub.add_parser(
        "export",
        help="write the batch input files for a run elsewhere (vllm run-batch...)",
        description="Write INPUT's rows as OpenAI batch input files in --out-dir (one model "
        "per file, at most 50,000 requests and 200 MB each), for a run brainbatch does not "
        "drive, such as vllm run-batch. Read the answers back with brainbatch import.",
    )
    _add_row_options(export)
    export.add_argument("--out-dir", required=True, help="folder for the .jsonl files")
    export.add_argument("--prefix", default="batch", help="file name prefix (default batch)")
    export.add_argument("--overwrite", action="store_true", help="replace files already there")
    export.set_defaults(func=cmd_export)

    imp = sub.add_parser(
        "import",
        help="read batch output files back into a results file",
        description="Join batch output files (OpenAI Batch API or vllm run-batch) with "
        "INPUT's rows on custom_id and write the results (as brainbatch run writes them). "
        "Give the same INPUT, --prompt, --model, --system, --param and --id-column as to "
        "brainbatch export.",
    )
    _add_row_options(imp)
    imp.add_argument(
        "--results", nargs="+", required=True, metavar="FILE", help="the output .jsonl files"
    )
    imp.add_argument("--out", required=True, help="results file: .csv, .parquet or .jsonl")
    imp.add_argument(
        "--realtime-price",
        action="store_true",
        help="price answers at the real-time price (default: the batch price)",
    )
    imp.set_defaults(func=cmd_import)

    jobs = sub.add_parser("jobs", help="list the jobs in the store")
    _add_store_option(jobs)
    jobs.add_argument("--json", action="store_true", help="one JSON object per line")
    jobs.set_defaults(func=cmd_jobs)

    resume = sub.add_parser(
        "resume",
        help="continue a stored job (only rows without a result are sent)",
        description="Continue a cancelled, interrupted or crashed job and write its results.",
    )
    resume.add_argument("job", metavar="JOB", help="job id or name")
    resume.add_argument("--out", help="results file (default: the one given to `run`)")
    resume.add_argument(
        "--retry-failed",
        action="store_true",
        help="send the failed rows again too (succeeded rows never are)",
    )
    resume.add_argument("--concurrency", type=_positive_int, help="requests in flight at once")
    _add_rate_options(resume)
    _add_run_limits(resume)
    _add_provider_options(resume)
    _add_store_option(resume)
    resume.add_argument("--progress-interval", type=_positive_float, default=5.0, metavar="S")
    resume.add_argument(
        "--force",
        action="store_true",
        help="resume even if the job looks like it is running in another process",
    )
    resume.set_defaults(func=cmd_resume)

    cancel = sub.add_parser(
        "cancel",
        help="cancel a job running in another process",
        description="Ask the process running JOB to cancel it (results so far are kept), "
        "and wait until it stopped.",
    )
    cancel.add_argument("job", metavar="JOB", help="job id or name")
    _add_store_option(cancel)
    cancel.add_argument(
        "--wait",
        type=float,
        default=15.0,
        metavar="S",
        help="seconds to wait for the job to stop (default 15; 0: do not wait)",
    )
    cancel.set_defaults(func=cmd_cancel)

    # `brainbatch sim ...` is handed to python -m brainbatch.sim by main(); listed for --help
    sub.add_parser(
        "sim",
        help="serve the simulated OpenAI/Anthropic API: brainbatch sim --port 8000 "
        "(options: brainbatch sim --help)",
        add_help=False,
    )

    demo = sub.add_parser("demo", help="run the demo job on the simulated provider (offline)")
    demo.add_argument("--out", default="out", help="folder for results.csv and the PNG")
    demo.add_argument("--concurrency", type=int, default=32)
    demo.add_argument("--latency-ms", type=float, default=300.0)
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    from ..errors import BrainbatchError, ConfigurationError, InputError, StoreError
    from ..store import JobBusy, JournalError, StoreFull

    argv = list(sys.argv[1:] if argv is None else argv)
    words = [a for a in argv if not a.startswith("-")]
    if words and words[0] == "sim":  # every option after it is the simulated server's
        from ..sim.__main__ import main as sim_main

        return sim_main(argv[argv.index("sim") + 1 :])
    parser = build_parser()
    args = parser.parse_args(argv)
    prog = f"brainbatch {args.command}"
    try:
        code: int = args.func(args)
    except JobBusy as exc:
        if args.debug:
            raise
        sys.stderr.write(f"{prog}: error: {_one_line(exc)}\n")
        return EXIT_BUSY
    except (StoreFull, JournalError) as exc:
        if args.debug:
            raise
        sys.stderr.write(f"{prog}: error: {_one_line(exc)}\n")
        return EXIT_ERROR
    except (InputError, ConfigurationError, StoreError, FileNotFoundError) as exc:
        if args.debug:
            raise
        sys.stderr.write(f"{prog}: error: {_one_line(exc)}\n")
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        sys.stderr.write(f"{prog}: interrupted\n")
        return EXIT_INTERRUPTED
    except BrainbatchError as exc:
        if args.debug:
            raise
        sys.stderr.write(f"{prog}: error: {_one_line(exc)}\n")
        return EXIT_ERROR
    except Exception as exc:
        if args.debug:
            raise
        sys.stderr.write(
            f"{prog}: unexpected error: {type(exc).__name__}: {_one_line(exc)} "
            "(run with --debug for the traceback)\n"
        )
        return EXIT_ERROR
    return code


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
