"""Fixtures for the real-browser tests: a throwaway JupyterLab and headless Debian Chromium.

``chromium_path``: Debian's Chromium (``$BRAINBATCH_CHROMIUM`` overrides the path).

``jupyter_notebook7``: the same for Notebook 7 (``/notebooks/<name>`` pages).

``jupyter_lab``: JupyterLab from this virtual environment on a free 127.0.0.1 port with a random
token, its own config/data/runtime/settings/workspaces/IPython folders under ``tmp_path``, and
the notebooks of this folder copied into its root. Stopped (whole process group) afterwards.

``browser_page``: a Playwright page in Debian's Chromium (``/usr/bin/chromium``, no Playwright
browser download), headless with the flags checked on this machine, in a fresh user-data dir.
Without chromium the test is skipped locally and fails when ``CI`` is set.

``shots``: where screenshots go (``tmp_path/screenshots``); each one is also copied to
``out/browser/`` in the working tree (git-ignored) so a person can look at them.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

HERE = Path(__file__).parent
REPO = HERE.parents[1]
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LAB_START_TIMEOUT_S = 60.0
CHROMIUM_ENV = "BRAINBATCH_CHROMIUM"
"""Set to a path to use another Chromium binary (a missing path counts as no Chromium)."""

# The notebooks here are driven by the browser tests, never executed by nbval on their own.
collect_ignore_glob = ["*.ipynb"]


def _chromium() -> str | None:
    override = os.environ.get(CHROMIUM_ENV)
    if override is not None:  # for testing the skip / fail rule itself
        return override if Path(override).is_file() else None
    for candidate in ("/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's Chromium, or skip (locally) / fail (CI) saying how to get it."""
    found = _chromium()
    if found is None:
        why = "Debian's chromium is not installed (apt-get install -y chromium)"
        if os.environ.get("CI"):
            pytest.fail(f"{why}; CI must install it (.ci/run)")
        pytest.skip(why)
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        why = "playwright is not installed (pip install -e '.[browser]')"
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Lab:
    """A running JupyterLab: its URL, token, root folder and log file."""

    url: str
    token: str
    root: Path
    log: Path
    proc: subprocess.Popen[bytes]
    kind: str = "lab"  # or "notebook" (Notebook 7)

    def notebook_url(self, name: str) -> str:
        if self.kind == "notebook":
            return f"{self.url}/notebooks/{name}?token={self.token}"
        return f"{self.url}/lab/tree/{name}?token={self.token}"

    def api(self, path: str) -> Any:
        r = httpx.get(f"{self.url}{path}", params={"token": self.token}, timeout=5.0)
        r.raise_for_status()
        return r.json()

    def put_settings(self, plugin: str, values: dict[str, Any]) -> None:
        """Set a JupyterLab plugin's user settings (read by pages opened afterwards)."""
        r = httpx.put(
            f"{self.url}/lab/api/settings/{plugin}",
            params={"token": self.token},
            json={"raw": json.dumps(values)},
            timeout=5.0,
        )
        r.raise_for_status()

    def log_tail(self, n: int = 40) -> str:
        lines = self.log.read_text(errors="replace").splitlines()
        return "\n".join(lines[-n:])


def _lab_settings(settings_dir: Path) -> None:
    """Turn off the news/update popup, which could cover the notebook."""
    target = settings_dir / "@jupyterlab" / "apputils-extension"
    target.mkdir(parents=True, exist_ok=True)
    (target / "notification.jupyterlab-settings").write_text(
        json.dumps({"checkForUpdates": False, "fetchNews": "false"})
    )


def _serve(kind: str, chromium_path: str, tmp_path: Path) -> Iterator[Lab]:
    """JupyterLab (``kind="lab"``) or Notebook 7 (``"notebook"``) on 127.0.0.1 with a token and
    throwaway folders; the test notebooks in its root."""
    root = tmp_path / "root"
    root.mkdir()
    for nb in HERE.glob("*.ipynb"):
        shutil.copy(nb, root / nb.name)
    dirs = {
        name: tmp_path / "jupyter" / name
        for name in ("config", "data", "runtime", "settings", "workspaces", "ipython", "mpl")
    }
    for d in dirs.values():
        d.mkdir(parents=True)
    _lab_settings(dirs["settings"])
    token = secrets.token_hex(16)
    port = _free_port()
    env = dict(os.environ)
    env.update(
        JUPYTER_CONFIG_DIR=str(dirs["config"]),
        JUPYTER_DATA_DIR=str(dirs["data"]),
        JUPYTER_RUNTIME_DIR=str(dirs["runtime"]),
        IPYTHONDIR=str(dirs["ipython"]),
        MPLCONFIGDIR=str(dirs["mpl"]),
        JUPYTER_PLATFORM_DIRS="1",
        JUPYTERLAB_SETTINGS_DIR=str(dirs["settings"]),
        JUPYTERLAB_WORKSPACES_DIR=str(dirs["workspaces"]),
        BRAINBATCH_STORE=str(tmp_path / "store" / "jobs.sqlite"),
        PYTHONUNBUFFERED="1",
    )
    env.pop("MPLBACKEND", None)
    log = tmp_path / f"jupyter{kind}.log"
    app = "LabApp" if kind == "lab" else "JupyterNotebookApp"
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab" if kind == "lab" else "notebook",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        f"--{app}.user_settings_dir={dirs['settings']}",
        f"--{app}.workspaces_dir={dirs['workspaces']}",
        "--allow-root",
    ]
    if kind == "lab":
        cmd.append("--LabApp.news_url=")
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            cmd, cwd=root, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True
        )
    lab = Lab(url=f"http://127.0.0.1:{port}", token=token, root=root, log=log, proc=proc, kind=kind)
    try:
        deadline = time.monotonic() + LAB_START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"Jupyter {kind} exited with {proc.returncode}:\n{lab.log_tail()}")
            try:
                lab.api("/api/status")
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    pytest.fail(f"Jupyter {kind} did not answer in time:\n{lab.log_tail()}")
                time.sleep(0.2)
        yield lab
    finally:
        _stop(proc)


@pytest.fixture
def jupyter_lab(chromium_path: str, tmp_path: Path) -> Iterator[Lab]:
    """JupyterLab on 127.0.0.1 with a token and throwaway folders; the test notebooks in its root.

    Asks for ``chromium_path`` first, so a machine without Chromium skips before starting it.
    """
    yield from _serve("lab", chromium_path, tmp_path)


@pytest.fixture
def jupyter_notebook7(chromium_path: str, tmp_path: Path) -> Iterator[Lab]:
    """Notebook 7 (the ``notebook`` package) on 127.0.0.1, set up like ``jupyter_lab``."""
    yield from _serve("notebook", chromium_path, tmp_path)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the lab's process group (server and kernels), SIGKILL what is left."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


@pytest.fixture
def browser_page(
    chromium_path: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Any]:
    """A page in headless Debian Chromium (fresh user-data dir), 1400x1000.

    When the test fails, the whole page is saved as ``<test name>-failure.png`` (under the
    test's folder and ``out/browser/``) to show what a person would have seen.
    """
    from playwright.sync_api import sync_playwright

    user_data = tmp_path / "chromium-profile"
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(user_data),
            executable_path=chromium_path,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.set_default_timeout(20_000)
            yield page
            report = getattr(request.node, "rep_call", None)
            if report is not None and report.failed:
                with contextlib.suppress(Exception):  # the page may be gone
                    Shots(tmp_path / "screenshots").save(page, f"{request.node.name}-failure.png")
        finally:
            context.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the test item (``rep_call``) for the fixtures above."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


class Shots:
    """Saves screenshots under the test's folder and copies them to ``out/browser/``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.public = REPO / "out" / "browser"
        self.saved: list[Path] = []

    def save(self, target: Any, name: str) -> Path:
        """Screenshot a page or a locator as ``name`` (a .png file name)."""
        path = self.folder / name
        target.screenshot(path=str(path))
        self.saved.append(path)
        try:
            self.public.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, self.public / name)
        except OSError:  # a read-only checkout must not fail the test
            pass
        return path


@pytest.fixture
def shots(tmp_path: Path) -> Shots:
    return Shots(tmp_path / "screenshots")
