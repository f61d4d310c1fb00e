"""The quickstart as a new user meets it: JupyterLab in headless Chromium, Run All Cells.

Proves the "done when" of the notebook front: the live panel shows (as a widget, not text),
every cell runs without an error, and the results table and the plots are drawn.
Screenshots: ``quickstart_panel.png``, ``quickstart_cockpit.png`` (the cockpit section's job,
errors open), ``quickstart_cost_plot.png`` under the test's folder and
in ``out/browser/``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from browser_helpers import open_notebook

pytestmark = pytest.mark.browser

NOTEBOOK = "01-quickstart.ipynb"
REPO = Path(__file__).resolve().parents[2]


def test_quickstart_runs_top_to_bottom_in_jupyterlab(jupyter_lab, browser_page, shots):
    page = browser_page
    page.set_default_timeout(30_000)
    shutil.copy(REPO / "notebooks" / NOTEBOOK, jupyter_lab.root / NOTEBOOK)
    # every cell kept in the page (no windowing), so all prompts and plots can be read
    jupyter_lab.put_settings("@jupyterlab/notebook-extension:tracker", {"windowingMode": "none"})
    open_notebook(page, jupyter_lab.notebook_url(NOTEBOOK))
    # start from a clean notebook (it is stored with outputs for nbval), then run everything
    page.locator(".lm-MenuBar-itemLabel", has_text="Edit").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Clear Outputs of All Cells").first.click()
    assert page.locator(".jp-OutputArea-output").count() == 0
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()

    panel = page.locator(".jp-OutputArea .jupyter-widgets.widget-vbox").first
    panel.wait_for(state="visible", timeout=60_000)
    shots.save(panel, "quickstart_panel.png")

    cells = page.locator(".jp-Notebook .jp-CodeCell")
    n = cells.count()
    page.wait_for_function(
        f"""() => {{
            const p = [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')];
            return p.length === {n} && p.every(e => /^\\[\\d+\\]:$/.test(e.textContent.trim()));
        }}""",
        timeout=120_000,
    )
    # the cockpit section's job (two models, 10% simulated errors): chart and error line
    cockpit = page.locator(".jp-OutputArea .jupyter-widgets.widget-vbox").nth(1)
    cockpit.locator(".bb-errors-headline").wait_for(state="visible")
    assert cockpit.locator("svg.bb-chart-rate polyline").count() >= 1
    cockpit.locator(".jupyter-widget-Collapse-header", has_text="Errors (").first.click()
    cockpit.locator(".bb-error").first.wait_for(state="visible")
    shots.save(cockpit, "quickstart_cockpit.png")
    plots = page.locator(".jp-OutputArea-output img")
    shots.save(plots.nth(1), "quickstart_cost_plot.png")

    text = page.locator(".jp-Notebook").text_content() or ""
    assert "Traceback" not in text
    assert "Loading widget" not in text
    assert "completed" in (panel.text_content() or "")
    assert plots.count() >= 3  # latency, cost, timeline
