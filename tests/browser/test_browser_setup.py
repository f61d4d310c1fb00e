"""Without Chromium the browser test is skipped on a developer's machine but fails in CI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent


def _run_panel_test(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k != "CI"}
    full.update(env, BRAINBATCH_CHROMIUM=str(tmp_path / "no-such-chromium"))
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(HERE / "test_browser_panel.py"),
            "-rs",
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        cwd=HERE.parents[1],
        env=full,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_missing_chromium_skips_the_browser_test_locally(tmp_path):
    proc = _run_panel_test(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 skipped" in proc.stdout
    assert "chromium is not installed" in proc.stdout


def test_missing_chromium_fails_the_browser_test_in_ci(tmp_path):
    proc = _run_panel_test(tmp_path, CI="true")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "1 error" in proc.stdout or "1 failed" in proc.stdout
    assert "CI must install it" in proc.stdout
