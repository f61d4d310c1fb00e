"""What every route module of the simulated server shares, so none imports another.

:mod:`brainbatch.sim.server` (real-time routes) and :mod:`brainbatch.sim.batches` (native
Batch API routes) both read the app's :class:`~brainbatch.sim.state.SimState` under
:data:`SIM_STATE`, check keys with :func:`check_auth` and tell the app's observers what they
answered (:mod:`brainbatch.sim.observe`). Both import this module; ``server`` imports
``batches`` to add its routes, and ``batches`` never imports ``server``.
"""

from __future__ import annotations

from aiohttp import web

from .config import SimConfig
from .state import SimState

__all__ = ["SIM_STATE", "check_auth"]

#: The app's shared :class:`SimState`.
SIM_STATE = web.AppKey("brainbatch_sim_state", SimState)


def check_auth(request: web.Request, config: SimConfig, anthropic: bool) -> bool:
    """Whether ``request`` carries the configured API key (always true without one).

    OpenAI paths take ``Authorization: Bearer KEY``. Anthropic paths take ``x-api-key: KEY``
    or, as recent anthropic SDKs send it, ``Authorization: Bearer KEY``.
    """
    key = config.api_key
    if key is None:
        return True
    headers = request.headers
    if anthropic and headers.get("x-api-key") == key:
        return True
    return headers.get("Authorization") == f"Bearer {key}"
