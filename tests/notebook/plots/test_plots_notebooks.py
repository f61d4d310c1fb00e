"""The notebooks in notebooks/ are stored executed, clean and self-explanatory.

nbval (``pytest --nbval notebooks/``) re-runs them and compares outputs; these checks make
sure there is something to compare and nothing that should not be there.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[3] / "notebooks"
EXPECTED = [
    "01-quickstart.ipynb",
    "02-cost-analysis.ipynb",
    "03-native-batch.ipynb",
    "04-cancel-and-resume.ipynb",
    "05-your-own-provider.ipynb",
    "06-scale-out-with-dask.ipynb",
    "07-typed-images-embeddings.ipynb",
]
KEYLIKE = re.compile(r"\b(sk-[A-Za-z0-9_\-]{8,}|sk-ant-[A-Za-z0-9_\-]{8,}|Bearer [A-Za-z0-9]{8,})")


def _load(name: str) -> dict[str, Any]:
    book: dict[str, Any] = json.loads((NOTEBOOKS / name).read_text(encoding="utf-8"))
    return book


def _code_cells(name: str) -> list[dict[str, Any]]:
    return [c for c in _load(name)["cells"] if c["cell_type"] == "code"]


def _outputs_text(name: str) -> str:
    return json.dumps([c.get("outputs", []) for c in _code_cells(name)])


def test_the_notebooks_are_there() -> None:
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == EXPECTED


@pytest.mark.parametrize("name", EXPECTED)
def test_notebook_is_stored_executed_in_order(name: str) -> None:
    counts = [c["execution_count"] for c in _code_cells(name)]
    assert counts == list(range(1, len(counts) + 1))


@pytest.mark.parametrize("name", EXPECTED)
def test_notebook_has_no_error_output(name: str) -> None:
    assert '"output_type": "error"' not in _outputs_text(name)


@pytest.mark.parametrize("name", EXPECTED)
def test_notebook_tells_what_to_change_for_real_keys(name: str) -> None:
    headings = [
        line
        for cell in _load(name)["cells"]
        if cell["cell_type"] == "markdown"
        for line in "".join(cell["source"]).splitlines()
    ]
    assert "## With real keys" in headings


@pytest.mark.parametrize("name", EXPECTED)
def test_notebook_outputs_hold_no_key_or_machine_path(name: str) -> None:
    text = _outputs_text(name)
    assert not KEYLIKE.search(text)
    assert "/work/" not in text and "/root/" not in text and "/tmp/" not in text


@pytest.mark.parametrize("name", ["01-quickstart.ipynb", "02-cost-analysis.ipynb"])
def test_plots_are_stored_as_images(name: str) -> None:
    assert '"image/png"' in _outputs_text(name)
