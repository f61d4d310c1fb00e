"""The cost and results explorers as a person sees them: a real JupyterLab in headless Chromium.

One story (each step needs the one before): open ``browser_explore.ipynb``; the cost explorer
renders as a live widget with its chart image, table and the ``bb.submit(...)`` code; clicking
its "batch" toggle in the browser reaches the kernel and the table and code follow; the results
explorer renders, and choosing "status" in its group-by dropdown regroups its table.
Screenshots: ``explore_cost.png``, ``explore_results.png`` under the test's folder and in
``out/browser/``.
"""

from __future__ import annotations

import pytest
from browser_helpers import open_notebook, output, run_cell, wait_cell_done

pytestmark = pytest.mark.browser

NOTEBOOK = "browser_explore.ipynb"


def _image_drawn(panel: object) -> bool:
    img = panel.locator("img").first  # type: ignore[attr-defined]
    img.wait_for(state="visible")
    return bool(img.evaluate("i => i.complete && i.naturalWidth > 300 && i.naturalHeight > 150"))


def _table_text(panel: object) -> str:
    return str(panel.locator("table.bb-explore").first.inner_text())  # type: ignore[attr-defined]


def test_explorers_render_and_follow_their_controls(jupyter_lab, browser_page, shots):
    page = browser_page
    page.set_viewport_size({"width": 1400, "height": 1700})  # room for a whole panel
    open_notebook(page, jupyter_lab.notebook_url(NOTEBOOK))

    # 1. the cost explorer: a widget (not the text fallback) with chart, table and code
    run_cell(page, 0)
    wait_cell_done(page, 0, timeout_s=40)
    cost = output(page, 0).locator(".jupyter-widgets.widget-vbox").first
    cost.wait_for(state="visible")
    assert "Loading widget" not in output(page, 0).inner_text()
    assert _image_drawn(cost)
    table = _table_text(cost)
    assert "claude-haiku-4-5" in table and "realtime" in table and "batch" in table
    code = cost.locator("textarea").first.input_value()
    assert "bb.submit(" in code and 'mode="batch"' in code

    # 2. a click in the browser reaches the kernel: real time only, the code follows
    cost.get_by_role("button", name="real time", exact=True).click()
    page.wait_for_function(
        "() => { const t = document.querySelector('table.bb-explore');"
        " return t && !/batch/.test(t.innerText); }"
    )
    # the table and the code are two widget messages: wait for the code too (a loaded machine)
    page.wait_for_function(
        "() => !/mode=/.test(document.querySelector('.jp-OutputArea textarea')?.value ?? 'mode=')"
    )
    assert "mode=" not in cost.locator("textarea").first.input_value()
    cost.get_by_role("button", name="both", exact=True).click()
    page.wait_for_function(
        "() => /batch/.test(document.querySelector('table.bb-explore')?.innerText || '')"
    )
    shots.save(cost, "explore_cost.png")

    # 3. the results explorer: grouped by category, then by status from its dropdown
    run_cell(page, 1)
    wait_cell_done(page, 1, timeout_s=40)
    drill = output(page, 1).locator(".jupyter-widgets.widget-vbox").first
    drill.wait_for(state="visible")
    assert _image_drawn(drill)
    assert "question" in _table_text(drill)
    drill.locator("select").first.select_option("status")
    page.wait_for_function(
        "() => { const t = [...document.querySelectorAll('table.bb-explore')].pop();"
        " return t && /success/.test(t.innerText) && !/question/.test(t.innerText); }"
    )
    assert "120" in _table_text(drill)  # every row succeeded
    shots.save(drill, "explore_results.png")
    assert "Traceback" not in page.locator(".jp-Notebook").inner_text()
