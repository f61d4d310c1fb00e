"""Fixtures for the command-line tests: input files, and ``brainbatch`` run as a subprocess.

``cli(*args)`` runs ``python -m brainbatch ARGS`` in ``tmp_path`` (its own store through
``$BRAINBATCH_STORE``) and returns the finished process (text stdout/stderr, exit code).
``start_cli(*args)`` starts it and returns the :class:`subprocess.Popen` (stderr piped, for
tests that interrupt it). ``prompts_csv`` is a 40-row CSV with ``id`` and ``text`` columns.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cli_helpers import make_prompts


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["BRAINBATCH_STORE"] = str(tmp_path / "store" / "jobs.sqlite")
    env["PYTHONUNBUFFERED"] = "1"
    for var in (
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "OPENROUTER_API_KEY",
        "GEMINI_API_KEY",
        "GOOGLE_API_KEY",
        "CI",
    ):
        env.pop(var, None)
    return env


@pytest.fixture
def in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """``in_process(*args)``: ``brainbatch.cli.main(args)`` in this process (faster than a
    subprocess) with the same store and folder as ``cli``; returns (exit code, stdout, stderr).
    """
    from brainbatch.cli import main

    monkeypatch.setenv("BRAINBATCH_STORE", str(tmp_path / "store" / "jobs.sqlite"))
    monkeypatch.chdir(tmp_path)
    for var in (
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "OPENROUTER_API_KEY",
        "GEMINI_API_KEY",
        "GOOGLE_API_KEY",
    ):
        monkeypatch.delenv(var, raising=False)

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.fixture
def cli(tmp_path: Path, cli_env: dict[str, str]) -> Callable[..., subprocess.CompletedProcess[str]]:
    def run(*args: str, timeout: float = 60.0, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "brainbatch", *args],
            cwd=tmp_path,
            env={**cli_env, **env},
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run


@pytest.fixture
def start_cli(
    tmp_path: Path, cli_env: dict[str, str]
) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []

    def start(*args: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "brainbatch", *args],
            cwd=tmp_path,
            env=cli_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


@pytest.fixture
def prompts_csv(tmp_path: Path) -> Path:
    path = tmp_path / "prompts.csv"
    make_prompts().to_csv(path, index=False)
    return path
