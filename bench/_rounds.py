"""Shared by the benchmarks: rounds that alternate the compared variants, and spreads.

On a shared machine the noise (other work on the same cores) is larger than many of the
effects measured, so every bench here runs each variant once per round, in an order that
rotates from round to round, computes ratios within a round (against the baseline measured
in that same round), and reports min-median-max over the rounds.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


def rotated(items: Sequence[T], k: int) -> list[T]:
    """``items`` starting at position ``k % len(items)``: no variant always runs first."""
    k %= len(items)
    return [*items[k:], *items[:k]]


def spread(values: Sequence[float], fmt: str = ",.0f", unit: str = "") -> str:
    """``min-median-max`` of ``values`` (just the value when there is one)."""
    if len(values) == 1:
        return f"{values[0]:{fmt}}{unit}"
    lo, med, hi = min(values), statistics.median(values), max(values)
    return f"{lo:{fmt}}-{med:{fmt}}-{hi:{fmt}}{unit}"


def run_rounds(variants: dict[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """Call each variant once per round (rotating order); returns its values per round."""
    names = list(variants)
    out: dict[str, list[float]] = {n: [] for n in names}
    for k in range(rounds):
        for name in rotated(names, k):
            out[name].append(variants[name]())
    return out


def ratios(values: dict[str, list[float]], name: str, base: str) -> list[float]:
    """Per-round ratio ``values[name][k] / values[base][k]``."""
    return [a / b for a, b in zip(values[name], values[base], strict=True)]


def machine_note() -> str:
    """CPUs and load average now (other engineers' work shares this machine)."""
    return f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
