"""binder/ really installs: a fresh virtual environment gets binder/requirements.txt, then
binder/postBuild installs brainbatch from a copy of the repository, and the quickstart notebook
runs there. Slow (a pip install; pip's cache makes repeats fast)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
BINDER = ROOT / "binder"

pytestmark = pytest.mark.slow


def _copy_repo(dest: Path) -> Path:
    """The files mybinder sees: the package, its metadata, the notebooks and binder/."""
    repo = dest / "repo"
    repo.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, repo / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", ".ipynb_checkpoints")
    for name in ("brainbatch", "notebooks", "binder"):
        shutil.copytree(ROOT / name, repo / name, ignore=ignore)
    return repo


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, f"{cmd} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out


def test_binder_requirements_and_post_build_make_a_working_environment(tmp_path: Path) -> None:
    repo = _copy_repo(tmp_path)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    bindir = venv / "bin"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_COMPILE"] = "1"  # no .pyc compile of every installed file: same install, far faster
    python = str(bindir / "python")

    _run([python, "-m", "pip", "install", "-q", "-r", "binder/requirements.txt"], repo, env)
    _run(["bash", "binder/postBuild"], repo, env)

    where = _run(
        [python, "-c", "import brainbatch, ipywidgets, jupyterlab; print(brainbatch.__file__)"],
        tmp_path,
        env,
    ).stdout.strip()
    assert Path(where).is_relative_to(venv), f"brainbatch imported from {where}, not the venv"

    extensions = _run([str(bindir / "jupyter"), "labextension", "list"], repo, env)
    assert "@jupyter-widgets/jupyterlab-manager" in extensions.stdout + extensions.stderr

    notebook = repo / "notebooks" / "01-quickstart.ipynb"
    _run(
        [
            str(bindir / "jupyter"),
            "nbconvert",
            "--to",
            "notebook",
            "--execute",
            "--output",
            str(tmp_path / "executed.ipynb"),
            str(notebook),
        ],
        repo / "notebooks",
        env,
    )
    assert (tmp_path / "executed.ipynb").exists()
