"""``SimProcess``: the simulated server in a child process, for benchmarks.

A :class:`~brainbatch.sim.SimServer` runs in a thread of the calling process, so it shares
that process's GIL (and CPU) with the client under test. A benchmark should not pay for the
server: ``SimProcess`` runs ``python -m brainbatch.sim`` in a child process instead. It has
the same addresses, and :meth:`SimProcess.stats` reports what the server received; its
configuration is fixed at start (there is no ``configure``).
"""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import subprocess
import sys
import urllib.request
from typing import Any

import orjson

from ..errors import ConfigurationError
from .config import SimConfig
from .endpoint import SimEndpoint

__all__ = ["SimProcess"]

_URL = re.compile(r"http://[^\s/]+:\d+")
_NOT_FLAGS = frozenset({"api_key", "models"})


def cli_args(config: SimConfig) -> list[str]:
    """The ``python -m brainbatch.sim`` options that reproduce ``config`` (without the key
    and the model list)."""
    args: list[str] = []
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if f.name in _NOT_FLAGS or value is None:
            continue
        text = orjson.dumps(value).decode() if isinstance(value, dict) else str(value)
        args += ["--" + f.name.replace("_", "-"), text]
    return args


class SimProcess(SimEndpoint):
    """The simulated server in a child process on a free loopback port.

    Example::

        with SimProcess(latency_ms=100) as server:
            run_benchmark(server.openai_base_url)
            print(server.stats()["requests"])

    Args:
        config: a :class:`SimConfig` (``overrides`` applied on top). ``models`` is not passed
            on; ``api_key`` goes to the child through its environment, never its command line.
        port: 0 (default) picks a free port.
    """

    def __init__(self, config: SimConfig | None = None, *, port: int = 0, **overrides: Any) -> None:
        base = config or SimConfig()
        self.config = base.replace(**overrides) if overrides else base
        self._port = port
        self._proc: subprocess.Popen[str] | None = None
        self._url: str | None = None

    def __repr__(self) -> str:
        return f"SimProcess({self._url or 'stopped'}, {self.config!r})"

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        if self._url is None:
            raise ConfigurationError("SimProcess is not running: call start() or use `with`")
        return self._url

    def start(self) -> SimProcess:
        """Start the child and wait until it serves; returns ``self``."""
        if self._proc is not None:
            return self
        env = dict(os.environ)
        argv = [sys.executable, "-m", "brainbatch.sim", "--port", str(self._port)]
        argv += cli_args(self.config)
        if self.config.api_key is not None:
            env["BRAINBATCH_SIM_API_KEY"] = self.config.api_key
            argv.append("--require-api-key")
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=env)
        assert proc.stdout is not None
        first = proc.stdout.readline()  # the banner's first line, or "" if the child died
        found = _URL.search(first)
        if found is None:
            proc.kill()
            proc.wait()
            proc.stdout.close()
            raise ConfigurationError(
                f"python -m brainbatch.sim did not start (exit status {proc.returncode})"
            )
        self._proc = proc
        self._url = found.group()
        return self

    def stats(self) -> dict[str, Any]:
        """``{"requests": n, "by_status": {"200": n, ...}}`` from the running server."""
        with urllib.request.urlopen(self.url + "/_sim/stats", timeout=10) as r:
            data: dict[str, Any] = orjson.loads(r.read())
        return data

    def stop(self) -> None:
        """Stop the child (SIGTERM, then SIGKILL after 10 s) and release its pipe."""
        proc = self._proc
        if proc is None:
            return
        self._proc = None
        self._url = None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
