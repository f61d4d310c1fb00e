"""The explorers are part of the public API without making ``import brainbatch`` heavier."""

from __future__ import annotations

import subprocess
import sys

import brainbatch as bb


def test_explorers_are_exported():
    assert {"explore_cost", "explore_results"} <= set(bb.__all__)


def test_importing_brainbatch_loads_neither_ipywidgets_nor_matplotlib():
    code = (
        "import sys, brainbatch\n"
        "print(sorted(m for m in ('ipywidgets', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
