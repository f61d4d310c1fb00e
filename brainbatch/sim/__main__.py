"""``python -m brainbatch.sim``: serve the simulated OpenAI/Anthropic API until Ctrl-C.

Examples::

    python -m brainbatch.sim --port 8000
    python -m brainbatch.sim --latency-ms 300 --latency-sigma 0.4 --error-rate 0.05 --rpm 500
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

import orjson

from ..errors import InputError
from .config import FAULT_KINDS, SimConfig
from .runner import SimServer

_SPREAD = ("http_500", "http_502", "http_503", "rate_limit_429")


def _token_limit(text: str) -> int | dict[str, int]:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError('expected a number or a JSON object {"model": N}')
    return value


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m brainbatch.sim",
        description="Serve a simulated OpenAI- and Anthropic-compatible API on this machine.",
    )
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 = any free)")
    p.add_argument("--latency-ms", type=float, default=0.0, help="median latency in ms")
    p.add_argument("--latency-sigma", type=float, default=0.0, help="lognormal spread (0 = fixed)")
    p.add_argument("--seed", type=int, default=0, help="changes every answer and random draw")
    p.add_argument("--mean-output-tokens", type=int, default=60, help="typical answer length")
    p.add_argument(
        "--error-rate",
        type=float,
        default=0.0,
        help="share of requests that fail, spread evenly over 500, 502, 503 and 429",
    )
    for kind in FAULT_KINDS:
        flag = "--" + kind.replace("_", "-")
        p.add_argument(flag, type=float, default=None, help=f"share of requests with fault {kind}")
    p.add_argument(
        "--retry-after", type=float, default=1.0, help="Retry-After of injected 429s (s)"
    )
    p.add_argument("--max-hang-s", type=float, default=30.0, help="longest a hanging request hangs")
    p.add_argument("--fail-first-n", type=int, default=0, help="fail each distinct body N times")
    p.add_argument("--fail-status", type=int, default=500, help="status of those failures")
    p.add_argument("--rpm", type=int, default=None, help="requests per minute to enforce")
    p.add_argument("--tpm", type=int, default=None, help="tokens per minute to enforce")
    p.add_argument(
        "--flex-unavailable",
        type=float,
        default=0.0,
        help="share of service_tier=flex requests refused with 429 resource_unavailable",
    )
    p.add_argument(
        "--invalid-output",
        type=float,
        default=0.0,
        help="share of structured (JSON-schema) answers that break their schema",
    )
    p.add_argument(
        "--refusal",
        type=float,
        default=0.0,
        help="share of structured (JSON-schema) answers that are refusals",
    )
    p.add_argument(
        "--enqueued-token-limit",
        type=_token_limit,
        default=None,
        help='batch queue limit in prompt tokens: N for every model, or JSON {"model": N}',
    )
    p.add_argument(
        "--require-api-key",
        action="store_true",
        help="require the key in the BRAINBATCH_SIM_API_KEY environment variable",
    )
    return p


def config_from_args(args: argparse.Namespace) -> SimConfig:
    """The :class:`SimConfig` the command-line options describe."""
    settings: dict[str, Any] = {
        "latency_ms": args.latency_ms,
        "latency_sigma": args.latency_sigma,
        "seed": args.seed,
        "mean_output_tokens": args.mean_output_tokens,
        "retry_after": args.retry_after,
        "max_hang_s": args.max_hang_s,
        "fail_first_n": args.fail_first_n,
        "fail_status": args.fail_status,
        "rpm": args.rpm,
        "tpm": args.tpm,
        "enqueued_token_limit": args.enqueued_token_limit,
        "flex_unavailable": args.flex_unavailable,
        "invalid_output": args.invalid_output,
        "refusal": args.refusal,
    }
    if not 0.0 <= args.error_rate <= 1.0:
        raise InputError(f"--error-rate must be between 0 and 1, got {args.error_rate!r}")
    for kind in _SPREAD:
        settings[kind] = args.error_rate / len(_SPREAD)
    for kind in FAULT_KINDS:
        value = getattr(args, kind)
        if value is not None:
            settings[kind] = value
    if args.require_api_key:
        key = os.environ.get("BRAINBATCH_SIM_API_KEY")
        if not key:
            raise InputError("--require-api-key needs the BRAINBATCH_SIM_API_KEY variable set")
        settings["api_key"] = key
    return SimConfig(**settings)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server until interrupted; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        config = config_from_args(args)
        server = SimServer(config, host=args.host, port=args.port).start()
    except (InputError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"brainbatch simulated server on {server.url}")
    print(f"  OpenAI base URL:    {server.openai_base_url}")
    print(f"  Anthropic base URL: {server.anthropic_base_url}")
    print(f"  Gemini base URL:    {server.gemini_base_url}")
    print(f"  {config!r}")
    print("Ctrl-C to stop.", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    print(f"stopped after {server.count()} requests", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
