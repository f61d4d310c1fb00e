"""The panel as a cockpit, as a person sees it: JupyterLab 4 and Notebook 7 in headless Chromium.

One story (each step needs the one before): ``browser_cockpit.ipynb`` submits a slow job on the
simulated provider (3,000 rows, two models, 10% simulated errors, 100 ms each, 8 at a time, a $1
budget). While it runs the panel shows the live chart (rows/s, errors/s, cost against the
budget line) and the error headline; its collapsed details open on a click to the latest
answers, the grouped errors with a full example message and its row, and the per-model
breakdown. Pause stops the rows moving and Resume starts them again in the same job; Cancel
ends it; the results DataFrame and ``job.errors()`` agree with what the panel showed.
Screenshots: ``cockpit_running.png``, ``cockpit_latest.png``, ``cockpit_errors.png``,
``cockpit_models.png``, ``cockpit_paused.png``, ``cockpit_cancelled.png`` (``cockpit_nb7_*``
for Notebook 7) under the test's folder and in ``out/browser/``.
"""

from __future__ import annotations

import time

import pytest
from browser_helpers import first_number, open_notebook, output, run_cell, wait_cell_done

pytestmark = pytest.mark.browser

TOTAL = 3000
NOTEBOOK = "browser_cockpit.ipynb"
MODELS = ("gpt-4o-mini", "claude-haiku-4-5")


def _done(panel: object) -> int:
    text = panel.locator(".widget-html").nth(1).inner_text()  # type: ignore[attr-defined]
    return int(first_number(text, r"([\d,]+)/3,000"))


def _wait_done_above(panel: object, n: int, timeout_s: float = 20.0) -> int:
    deadline = time.monotonic() + timeout_s
    while (done := _done(panel)) <= n:
        if time.monotonic() > deadline:
            raise AssertionError(f"rows done stayed at {done} (wanted more than {n})")
        time.sleep(0.1)
    return done


def _open_section(panel: object, title: str) -> None:
    header = panel.locator(".jupyter-widget-Collapse-header", has_text=title)  # type: ignore[attr-defined]
    header.first.click()


@pytest.mark.parametrize("front", ["jupyter_lab", "jupyter_notebook7"])
def test_cockpit_shows_answers_errors_chart_models_and_pauses_resumes_cancels(
    front, browser_page, shots, request
):
    server = request.getfixturevalue(front)
    prefix = "cockpit" if front == "jupyter_lab" else "cockpit_nb7"
    page = browser_page
    open_notebook(page, server.notebook_url(NOTEBOOK))
    run_cell(page, 0)
    panel = output(page, 0).locator(".jupyter-widgets.widget-vbox").first
    panel.wait_for(state="visible")
    page.wait_for_function(
        "() => /[1-9][\\d,]*\\/3,000/.test(document.querySelector('.jp-OutputArea-output')"
        "?.textContent || '')"
    )

    # 1. the live chart and the error headline while it runs
    chart = panel.locator(".bb-chart")
    chart.wait_for(state="visible")
    assert panel.locator("svg.bb-chart-rate polyline").count() >= 1
    assert panel.locator("svg.bb-chart-cost polyline").count() >= 2  # cost and budget line
    assert "budget" in chart.inner_text()
    headline = panel.locator(".bb-errors-headline")
    headline.wait_for(state="visible")
    assert "errors" in headline.inner_text() and "e.g. row rev" in headline.inner_text()
    shots.save(panel, f"{prefix}_running.png")

    # 2. details open on a click: latest answers, grouped errors, per model
    _open_section(panel, "Latest answers")
    latest = panel.locator("table.bb-latest")
    latest.wait_for(state="visible")
    assert latest.locator("tbody tr").count() >= 5
    assert "Classify the sentiment of: Review" in latest.inner_text()
    assert "[simulated]" in latest.inner_text()
    shots.save(panel, f"{prefix}_latest.png")

    _open_section(panel, "Errors (")
    errors = panel.locator(".bb-error").first
    errors.wait_for(state="visible")
    error_text = errors.inner_text()
    assert "e.g. row rev" in error_text and "simulated" in error_text
    shots.save(panel, f"{prefix}_errors.png")

    _open_section(panel, "Per model")
    models = panel.locator("table.bb-models")
    models.wait_for(state="visible")
    assert all(m in models.inner_text() for m in MODELS)
    shots.save(panel, f"{prefix}_models.png")

    # 3. Pause: once the requests in flight finished the rows stop moving
    panel.get_by_role("button", name="Pause").click()
    panel.get_by_role("button", name="Resume").wait_for(state="visible")
    page.wait_for_function(
        "() => /paused/.test(document.querySelector('.jp-OutputArea-output')?.textContent || '')"
    )
    time.sleep(1.5)  # in-flight requests (100 ms each) finish
    held = _done(panel)
    time.sleep(1.5)
    assert _done(panel) == held < TOTAL
    shots.save(panel, f"{prefix}_paused.png")

    # 4. Resume: the same job moves again
    panel.get_by_role("button", name="Resume").click()
    panel.get_by_role("button", name="Pause").wait_for(state="visible")
    _wait_done_above(panel, held)

    # 5. Cancel ends it
    panel.get_by_role("button", name="Cancel").click()
    page.wait_for_function(
        "() => /cancelled/.test(document.querySelector('.jp-OutputArea-output')"
        "?.textContent || '')",
        timeout=15_000,
    )
    # the summary line is the panel's last field to change: the counts before it are final
    summary = panel.get_by_text("brainbatch: job", exact=False).first
    summary.wait_for(state="visible")
    done_at_cancel = int(first_number(summary.inner_text(), r"cancelled: ([\d,]+)/3,000 rows"))
    assert _done(panel) == done_at_cancel
    assert held < done_at_cancel < TOTAL
    shots.save(panel, f"{prefix}_cancelled.png")

    # 6. the results DataFrame and job.errors() agree with the panel
    run_cell(page, 1)
    wait_cell_done(page, 1)
    table = output(page, 1).locator("table.dataframe")
    table.wait_for(state="visible")
    rows = {
        r.locator("th").first.inner_text().strip(): int(r.locator("td").first.inner_text())
        for r in table.locator("tbody tr").all()
    }
    assert rows.get("success", 0) + rows.get("error", 0) == done_at_cancel, rows
    assert rows.get("error", 0) > 0 and rows.get("cancelled") == TOTAL - done_at_cancel, rows
    run_cell(page, 2)
    wait_cell_done(page, 2)
    errors_table = output(page, 2).locator("table.dataframe")
    errors_table.wait_for(state="visible")
    assert "simulated" in errors_table.inner_text()
    notebook_text = page.locator(".jp-Notebook").inner_text()
    assert "Traceback" not in notebook_text
    assert "Loading widget" not in notebook_text
