"""Figures are plain matplotlib objects: no pyplot state, savable from a script."""

from __future__ import annotations

import io
import subprocess
import sys

import pandas as pd
import pytest

import brainbatch as bb

PLOTS = ["latency", "cost", "timeline", "savings"]


@pytest.mark.parametrize("name", PLOTS)
def test_figure_saves_as_png(results: pd.DataFrame, name: str) -> None:
    buffer = io.BytesIO()
    getattr(bb.plot, name)(results).savefig(buffer, format="png")
    assert buffer.getvalue().startswith(b"\x89PNG")


@pytest.mark.parametrize("name", PLOTS)
def test_figure_is_not_registered_with_pyplot(results: pd.DataFrame, name: str) -> None:
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    getattr(bb.plot, name)(results)
    assert plt.get_fignums() == before


def test_importing_brainbatch_does_not_import_matplotlib() -> None:
    code = "import sys, brainbatch; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_figure_displays_as_png_in_ipython() -> None:
    code = (
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "shell = InteractiveShell.instance()\n"
        "import pandas as pd, brainbatch as bb\n"
        "fig = bb.plot.latency(pd.DataFrame({'latency_ms': [1.0, 2.0, 3.0]}))\n"
        "data, _ = shell.display_formatter.format(fig)\n"
        "print(sorted(data))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['image/png', 'text/plain']"
