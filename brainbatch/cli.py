"""The ``brainbatch`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main"]


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    stats = run_demo(Path(args.out), concurrency=args.concurrency, latency_ms=args.latency_ms)
    return 0 if stats["done"] == stats["total"] else 1


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="brainbatch", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the demo job on the simulated provider (offline)")
    demo.add_argument("--out", default="out", help="folder for results.csv and the PNG")
    demo.add_argument("--concurrency", type=int, default=32)
    demo.add_argument("--latency-ms", type=float, default=300.0)
    demo.set_defaults(func=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
