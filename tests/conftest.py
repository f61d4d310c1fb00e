"""Session-wide fixtures.

``sim_server``: one :class:`brainbatch.sim.SimServer` per test session on a free 127.0.0.1 port,
with no latency and no faults. Use ``sim_server.openai_base_url`` / ``.anthropic_base_url``.

``sim``: the same server, reset for each test (request log, rate windows, ``fail_first_n``
counts and configuration back to the session's), before and after the test. Change its
behaviour inside a test with ``sim.configure(http_503=1.0, rpm=10, ...)`` and inspect what
it received with ``sim.log``, ``sim.count(path)`` and ``sim.received_bodies_count_by_hash()``.

``_spec_conformance`` (automatic): every request a simulated server receives in a test (the
session's, and any ``SimServer`` a test builds) and every answer it sends is checked against
the providers' official OpenAPI documents (``tests/spec``); what they refuse fails the test
that caused it, naming the operation and the schema error. ``spec_recorder`` is the
session's checker (``.request_findings``, ``.checked``); a test that provokes violations on
purpose is marked ``@pytest.mark.spec_violations_expected`` and reads them itself.

``_isolated_store`` (automatic): every test's default job store is a fresh file under its own
``tmp_path`` (``$BRAINBATCH_STORE``), so no test writes a journal into the working tree or
sees another test's jobs.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from spec.conformance import Recorder, SpecChecker, report

from brainbatch.sim import SimServer

pytest_plugins = ("pytester",)

_CHECKER = SpecChecker()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "spec_violations_expected: the test provokes OpenAPI violations on purpose and "
        "checks them itself (spec_recorder)",
    )


@pytest.fixture(scope="session")
def _spec_documents() -> threading.Thread:
    """The documents, loading in the background from the session's start."""
    return _CHECKER.warm()


@pytest.fixture(scope="session")
def spec_recorder(_spec_documents: threading.Thread) -> Iterator[Recorder]:
    recorder = Recorder(_CHECKER)
    SimServer.default_observers.append(recorder)
    yield recorder
    SimServer.default_observers.remove(recorder)


@pytest.fixture(autouse=True)
def _spec_conformance(spec_recorder: Recorder, request: pytest.FixtureRequest) -> Iterator[None]:
    spec_recorder.clear()
    yield
    violations = spec_recorder.take()
    if violations and request.node.get_closest_marker("spec_violations_expected") is None:
        pytest.fail(
            f"{len(violations)} exchange(s) with the simulated server do not conform to the "
            f"providers' OpenAPI documents:\n{report(violations)}",
            pytrace=False,
        )


@pytest.fixture(autouse=True)
def _isolated_store(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_dir = tmp_path_factory.mktemp("store")
    monkeypatch.setenv("BRAINBATCH_STORE", str(store_dir / "jobs.sqlite"))


@pytest.fixture(scope="session")
def sim_server(spec_recorder: Recorder, _spec_documents: threading.Thread) -> Iterator[SimServer]:
    _spec_documents.join()  # no request of the session's server waits for the documents
    with SimServer(latency_ms=0) as server:
        yield server


@pytest.fixture
def sim(sim_server: SimServer) -> Iterator[SimServer]:
    sim_server.reset(config=True)
    yield sim_server
    sim_server.reset(config=True)
