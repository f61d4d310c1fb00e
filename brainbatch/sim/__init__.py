"""A simulated OpenAI/Anthropic-compatible HTTP server, for tests, demos and offline work.

``with SimServer(latency_ms=50, http_503=0.05) as sim:`` serves ``/v1/chat/completions``,
``/v1/messages`` and ``/v1/models`` on a free loopback port with the same answers as
:class:`~brainbatch.providers.simulated.SimulatedProvider`, injected faults, RPM/TPM limits
and a request log. From a shell: ``python -m brainbatch.sim --port 8000``; for benchmarks,
``SimProcess`` runs it in a child process (so it does not share the client's GIL).

The native Batch API routes enforce the providers' documented batch rules (see
:mod:`brainbatch.sim.batch_state`); observers (:mod:`brainbatch.sim.observe`) see every
request and answer, which brainbatch's tests check against the providers' OpenAPI documents.
"""

from .config import FAULT_KINDS, OPENAI_TIER_1_ENQUEUED_TOKENS, SimConfig
from .observe import Exchange
from .process import SimProcess
from .runner import SimServer
from .server import SIM_STATE, build_app
from .state import RequestRecord, SimState

__all__ = [
    "FAULT_KINDS",
    "OPENAI_TIER_1_ENQUEUED_TOKENS",
    "SIM_STATE",
    "Exchange",
    "RequestRecord",
    "SimConfig",
    "SimProcess",
    "SimServer",
    "SimState",
    "build_app",
]
