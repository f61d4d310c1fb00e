"""Session-wide fixtures.

``sim_server``: one :class:`brainbatch.sim.SimServer` per test session on a free 127.0.0.1 port,
with no latency and no faults. Use ``sim_server.openai_base_url`` / ``.anthropic_base_url``.

``sim``: the same server, reset for each test (request log, rate windows, ``fail_first_n``
counts and configuration back to the session's), before and after the test. Change its
behaviour inside a test with ``sim.configure(http_503=1.0, rpm=10, ...)`` and inspect what
it received with ``sim.log``, ``sim.count(path)`` and ``sim.received_bodies_count_by_hash()``.

``_isolated_store`` (automatic): every test's default job store is a fresh file under its own
``tmp_path`` (``$BRAINBATCH_STORE``), so no test writes a journal into the working tree or
sees another test's jobs.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from brainbatch.sim import SimServer


@pytest.fixture(autouse=True)
def _isolated_store(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_dir = tmp_path_factory.mktemp("store")
    monkeypatch.setenv("BRAINBATCH_STORE", str(store_dir / "jobs.sqlite"))


@pytest.fixture(scope="session")
def sim_server() -> Iterator[SimServer]:
    with SimServer(latency_ms=0) as server:
        yield server


@pytest.fixture
def sim(sim_server: SimServer) -> Iterator[SimServer]:
    sim_server.reset(config=True)
    yield sim_server
    sim_server.reset(config=True)
