"""The quickstart as a new user meets it: JupyterLab in headless Chromium, Run All Cells.

Proves the "done when" of the notebook front: the live panel shows (as a widget, not text),
every cell runs without an error, and the results table and the plots are drawn.
Needs Debian's chromium and Playwright (the ``browser`` extra); skipped without them, unless
``CI`` is set, where that is a failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = "01-quickstart.ipynb"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _need(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing; CI must install it")
    pytest.skip(f"{what} is not installed")


@pytest.fixture
def chromium() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        _need("Debian's chromium")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _need("playwright (pip install -e '.[browser]')")
    return path


def _settings(folder: Path) -> None:
    """No news pop-up over the notebook; every cell kept in the page (no windowing)."""
    for plugin, name, values in (
        ("apputils-extension", "notification", {"checkForUpdates": False, "fetchNews": "false"}),
        ("notebook-extension", "tracker", {"windowingMode": "none"}),
    ):
        target = folder / "@jupyterlab" / plugin
        target.mkdir(parents=True, exist_ok=True)
        (target / f"{name}.jupyterlab-settings").write_text(json.dumps(values))


@pytest.fixture
def lab(chromium: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """JupyterLab on a free loopback port with its own folders; yields (url, token)."""
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(REPO / "notebooks" / NOTEBOOK, root / NOTEBOOK)
    home = tmp_path / "jupyter"
    env = dict(os.environ)
    for var, sub in (
        ("JUPYTER_CONFIG_DIR", "config"),
        ("JUPYTER_DATA_DIR", "data"),
        ("JUPYTER_RUNTIME_DIR", "runtime"),
        ("IPYTHONDIR", "ipython"),
        ("MPLCONFIGDIR", "mpl"),
    ):
        (home / sub).mkdir(parents=True)
        env[var] = str(home / sub)
    _settings(home / "settings")
    env["BRAINBATCH_STORE"] = str(tmp_path / "store" / "jobs.sqlite")
    env.pop("MPLBACKEND", None)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = secrets.token_hex(16)
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        f"--LabApp.user_settings_dir={home / 'settings'}",
        f"--LabApp.workspaces_dir={home / 'workspaces'}",
        "--LabApp.news_url=",
        "--allow-root",
    ]
    log = tmp_path / "lab.log"
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            cmd, cwd=root, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"JupyterLab exited:\n{log.read_text(errors='replace')[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(
                    f"{url}/api/status", params={"token": token}, timeout=2
                ).raise_for_status()
                break
            if time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not start:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.2)
        yield url, token
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@pytest.fixture
def page(chromium: str, tmp_path: Path) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=chromium,
            headless=True,
            args=FLAGS,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.set_default_timeout(30_000)
            yield page
        finally:
            context.close()


def _screenshot(target: Any, tmp_path: Path, name: str) -> None:
    """Screenshot a page element (scrolled into view) as ``name``."""
    path = tmp_path / name
    target.scroll_into_view_if_needed()
    target.screenshot(path=str(path))
    with contextlib.suppress(OSError):  # a copy for people to look at (git-ignored out/)
        (REPO / "out" / "browser").mkdir(parents=True, exist_ok=True)
        shutil.copy(path, REPO / "out" / "browser" / name)


def test_quickstart_runs_top_to_bottom_in_jupyterlab(
    lab: tuple[str, str], page: Any, tmp_path: Path
) -> None:
    url, token = lab
    page.goto(f"{url}/lab/tree/{NOTEBOOK}?token={token}")
    page.wait_for_selector(".jp-Notebook .jp-CodeCell")
    page.wait_for_function(
        "() => /Idle/.test(document.querySelector('#jp-main-statusbar')?.textContent || '')",
        timeout=60_000,
    )
    # start from a clean notebook (it is stored with outputs for nbval), then run everything
    page.locator(".lm-MenuBar-itemLabel", has_text="Edit").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Clear Outputs of All Cells").first.click()
    assert page.locator(".jp-OutputArea-output").count() == 0
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()

    panel = page.locator(".jp-OutputArea .jupyter-widgets.widget-vbox").first
    panel.wait_for(state="visible", timeout=60_000)
    _screenshot(panel, tmp_path, "quickstart_panel.png")

    cells = page.locator(".jp-Notebook .jp-CodeCell")
    n = cells.count()
    page.wait_for_function(
        f"""() => {{
            const p = [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')];
            return p.length === {n} && p.every(e => /^\\[\\d+\\]:$/.test(e.textContent.trim()));
        }}""",
        timeout=120_000,
    )
    plots = page.locator(".jp-OutputArea-output img")
    _screenshot(plots.nth(1), tmp_path, "quickstart_cost_plot.png")

    text = page.locator(".jp-Notebook").text_content() or ""
    assert "Traceback" not in text
    assert "Loading widget" not in text
    assert "completed" in (panel.text_content() or "")
    assert plots.count() >= 3  # latency, cost, timeline
