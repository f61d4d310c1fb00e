"""Driving a JupyterLab notebook the way a person does: open it, run cells, read what shows."""

from __future__ import annotations

import re
import time
from typing import Any

KERNEL_IDLE_JS = """() => {
    const bar = document.querySelector('#jp-main-statusbar');
    if (bar) return /\\| Idle/.test(bar.textContent || '');
    const dot = document.querySelector('.jp-Notebook-ExecutionIndicator');
    return dot?.dataset.status === 'idle' && !/Connecting/.test(document.body.textContent || '');
}"""
"""JupyterLab's status bar says ``| Idle``; Notebook 7 (no status bar) has an indicator."""


def open_notebook(page: Any, url: str, timeout_s: float = 60.0) -> None:
    """Open a notebook and wait until its kernel is started and idle."""
    page.goto(url)
    page.wait_for_selector(".jp-Notebook .jp-CodeCell", timeout=timeout_s * 1000)
    page.wait_for_function(KERNEL_IDLE_JS, timeout=timeout_s * 1000)


def cell(page: Any, i: int) -> Any:
    """The i-th code cell of the open notebook."""
    return page.locator(".jp-NotebookPanel:visible .jp-Notebook .jp-CodeCell").nth(i)


def output(page: Any, i: int) -> Any:
    """The output area of the i-th code cell."""
    return cell(page, i).locator(".jp-OutputArea")


def run_cell(page: Any, i: int, tries: int = 3) -> None:
    """Select the i-th code cell and run it with Shift+Enter (as a person would).

    On a loaded machine the keystroke can arrive before the editor has focus and is lost (the
    prompt stays ``[ ]:``); then it is pressed again, as a person would. A cell that started
    (``[*]:`` or ``[n]:``) is never run twice."""
    c = cell(page, i)
    prompt = c.locator(".jp-InputArea-prompt")
    before = (prompt.text_content() or "").strip()
    for _ in range(tries):
        c.locator(".jp-InputArea-editor").click()
        page.keyboard.press("Shift+Enter")
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            now = (prompt.text_content() or "").strip()
            if now != before or now == "[*]:":
                return
            time.sleep(0.05)


def wait_cell_done(page: Any, i: int, timeout_s: float = 30.0) -> str:
    """Wait until the i-th cell finished (its prompt shows ``[n]:``, not ``[*]:``)."""
    prompt = cell(page, i).locator(".jp-InputArea-prompt")
    deadline = time.monotonic() + timeout_s
    while True:
        text = (prompt.text_content() or "").strip()
        if re.fullmatch(r"\[\d+\]:", text):
            return text
        if time.monotonic() > deadline:
            raise AssertionError(f"cell {i} did not finish in {timeout_s} s (prompt {text!r})")
        time.sleep(0.1)


def first_number(text: str, pattern: str) -> float:
    """The number captured by ``pattern`` in ``text`` (commas removed)."""
    m = re.search(pattern, text)
    if m is None:
        raise AssertionError(f"{pattern!r} not found in {text!r}")
    return float(m.group(1).replace(",", ""))
