"""The live panel as a person sees it: a real JupyterLab in headless Chromium.

One end-to-end story (each step needs the one before, so it is one test): open
``browser_panel.ipynb``, run the cell that submits a slow job (3,000 rows on the simulated
provider, 100 ms each, 8 at a time) and shows its handle; the panel renders as a widget and
moves; Cancel stops the job; the next cell's results DataFrame shows the cancelled rows; the
latency plot appears as an image. Screenshots: ``panel_running.png``, ``panel_cancelled.png``,
``plot.png`` under the test's folder and in ``out/browser/``.
"""

from __future__ import annotations

import time

import pytest
from browser_helpers import first_number, open_notebook, output, run_cell, wait_cell_done

pytestmark = pytest.mark.browser

TOTAL = 3000
NOTEBOOK = "browser_panel.ipynb"


def _panel_state(panel: object) -> tuple[int, float, float]:
    """(rows done, cost in USD, progress bar width in %) as shown by the panel."""
    text = panel.inner_text()  # type: ignore[attr-defined]
    done = int(first_number(text, r"([\d,]+)/3,000"))
    cost = first_number(text, r"\$([\d,.]+)")
    bar = panel.locator(".progress-bar").first  # type: ignore[attr-defined]
    width = first_number(bar.get_attribute("style") or "", r"width:\s*([\d.]+)%")
    return done, cost, width


def test_panel_moves_cancels_and_results_and_plot_show(jupyter_lab, browser_page, shots):
    page = browser_page
    open_notebook(page, jupyter_lab.notebook_url(NOTEBOOK))

    # 1. submit: the handle shows as a live widget, not as text
    run_cell(page, 0)
    panel = output(page, 0).locator(".jupyter-widgets.widget-vbox").first
    panel.wait_for(state="visible")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.jp-OutputArea-output')]"
        ".some(e => /\\/3,000/.test(e.textContent))"
    )
    assert "Loading widget" not in output(page, 0).inner_text()
    assert "<brainbatch job" not in output(page, 0).inner_text()  # the text repr
    assert panel.get_by_role("button", name="Cancel").is_visible()

    # 2. it moves: rows done, cost and the bar grow between two readings
    page.wait_for_function(
        "() => /[1-9][\\d,]*\\/3,000/.test(document.querySelector('.jp-OutputArea-output')"
        "?.textContent || '')"
    )
    first = _panel_state(panel)
    time.sleep(1.5)
    second = _panel_state(panel)
    assert second[0] > first[0], (first, second)
    assert second[1] > first[1], (first, second)
    assert second[2] > first[2], (first, second)
    assert "processing" in panel.inner_text()
    shots.save(panel, "panel_running.png")

    # 3. Cancel: the panel turns cancelled with fewer than all rows done
    panel.get_by_role("button", name="Cancel").click()
    page.wait_for_function(
        "() => /cancelled/.test(document.querySelector('.jp-OutputArea-output')"
        "?.textContent || '')",
        timeout=15_000,
    )
    done_at_cancel = _panel_state(panel)[0]
    assert 0 < done_at_cancel < TOTAL
    shots.save(panel, "panel_cancelled.png")

    # 4. the next cell's results DataFrame has every row, the rest marked cancelled
    run_cell(page, 1)
    wait_cell_done(page, 1)
    table = output(page, 1).locator("table.dataframe")
    table.wait_for(state="visible")
    rows = {
        r.locator("th").first.inner_text().strip(): int(r.locator("td").first.inner_text())
        for r in table.locator("tbody tr").all()
    }
    assert rows.get("success") == done_at_cancel, rows
    assert rows.get("cancelled") == TOTAL - done_at_cancel, rows

    # 5. the latency plot is drawn inline as an image
    run_cell(page, 2)
    wait_cell_done(page, 2)
    img = output(page, 2).locator("img").first
    img.wait_for(state="visible")
    assert img.evaluate("i => i.complete && i.naturalWidth > 100 && i.naturalHeight > 100")
    shots.save(output(page, 2), "plot.png")
    notebook_text = page.locator(".jp-Notebook").inner_text()
    assert "Traceback" not in notebook_text
    assert "Loading widget" not in notebook_text
