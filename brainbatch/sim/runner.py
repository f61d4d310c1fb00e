"""``SimServer``: the simulated server on a free loopback port, in a background thread."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, ClassVar

from aiohttp import web

from ..errors import ConfigurationError
from .batches import SIM_BATCHES
from .config import SimConfig
from .endpoint import SimEndpoint
from .observe import SIM_OBSERVERS, Observer
from .server import SIM_STATE, build_app
from .state import RequestRecord, SimState

__all__ = ["SimServer"]


class SimServer(SimEndpoint):
    """The simulated OpenAI/Anthropic server on ``127.0.0.1``, served by its own event loop in
    a daemon thread (so it works from sync tests, async tests and notebooks alike).

    Example::

        with SimServer(latency_ms=50, http_503=0.1) as sim:
            client = openai.OpenAI(base_url=sim.openai_base_url, api_key="x")
            ...
            assert sim.count("/v1/chat/completions") == 10

    Args:
        config: a :class:`SimConfig`; ``overrides`` are applied on top of it.
        port: 0 (default) picks a free port.
        host: interface to bind (loopback by default).
        observers: callbacks that see every request and its answer (after
            :attr:`default_observers`); see :mod:`brainbatch.sim.observe`.
        batch_profile: the OpenAI-format batch host the ``/files`` + ``/batches`` routes
            play: ``"openai"`` (default) or ``"groq"`` (served at :attr:`batch_base_url`,
            ``/openai/v1``, with Groq's file size and its ``24h`` to ``7d`` windows); see
            :data:`brainbatch.sim.batches.SIM_BATCH_PROFILES`.
    """

    #: Observers every ``SimServer`` created from now on starts with (a test suite puts
    #: its traffic checks here so that servers its tests build themselves are checked too).
    default_observers: ClassVar[list[Observer]] = []

    def __init__(
        self,
        config: SimConfig | None = None,
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        observers: Iterable[Observer] = (),
        batch_profile: str = "openai",
        **overrides: Any,
    ) -> None:
        base = config or SimConfig()
        self._initial = base.replace(**overrides) if overrides else base
        self.app: web.Application = build_app(
            self._initial, [*SimServer.default_observers, *observers], batch_profile
        )
        self.state: SimState = self.app[SIM_STATE]
        self._host = host
        self._port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._sock: socket.socket | None = None

    def __repr__(self) -> str:
        where = self.url if self._sock is not None else "stopped"
        return f"SimServer({where}, {self.state.config!r})"

    # -- addresses -------------------------------------------------------------------------
    @property
    def port(self) -> int:
        """The bound port (after :meth:`start`)."""
        if self._sock is None:
            raise ConfigurationError("SimServer is not running: call start() or use `with`")
        return int(self._sock.getsockname()[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{self._host}:{self.port}"

    @property
    def base_url(self) -> str:
        """Same as :attr:`url`."""
        return self.url

    @property
    def batch_base_url(self) -> str:
        """Where the played batch host's ``/files`` and ``/batches`` are (``batch_profile``):
        :attr:`openai_base_url` for OpenAI, ``url + "/openai/v1"`` for Groq."""
        return self.url + self.app[SIM_BATCHES].profile.prefix

    # -- behaviour at run time -------------------------------------------------------------
    @property
    def config(self) -> SimConfig:
        """The configuration in force."""
        return self.state.config

    def configure(self, **changes: Any) -> SimConfig:
        """Change settings (latency, faults, limits, key...) while running; returns the new
        config. Invalid values raise :class:`~brainbatch.errors.InputError` and change nothing."""
        new = self.state.config.replace(**changes)
        self.state.configure(new)
        return new

    def reset(self, *, config: bool = False) -> None:
        """Forget the request log, rate windows and ``fail_first_n`` counts; with
        ``config=True`` also go back to the configuration the server was created with."""
        if config:
            self.state.configure(self._initial)
        self.state.reset()

    def observe(self, observer: Observer) -> Callable[[], None]:
        """Call ``observer`` with every :class:`~brainbatch.sim.observe.Exchange` from now on;
        returns the function that stops it."""
        observers = self.app[SIM_OBSERVERS]
        observers.add(observer)
        return lambda: observers.remove(observer)

    # -- what was received -----------------------------------------------------------------
    @property
    def log(self) -> list[RequestRecord]:
        """A snapshot of the request log, oldest first."""
        return list(self.state.log)

    def count(self, path: str | None = None) -> int:
        """How many requests arrived (for ``path``, e.g. ``"/v1/chat/completions"``)."""
        return self.state.count(path)

    def received_bodies_count_by_hash(self, status: int | None = None) -> Counter[str]:
        """How many times each distinct request body arrived (only those answered with
        ``status`` if given): ``max(...values()) == 1`` proves nothing was sent twice."""
        return self.state.count_by_hash(status)

    def count_by_custom_id(self, status: int | None = None) -> Counter[str | None]:
        """Requests per ``x-brainbatch-custom-id`` header value (``None``: no header)."""
        return Counter(r.custom_id for r in self.log if status is None or r.status == status)

    # -- life cycle ------------------------------------------------------------------------
    def start(self) -> SimServer:
        """Bind the port and start serving; returns ``self``. Idempotent."""
        if self._thread is not None:
            return self
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self._host, self._port))
        except OSError:
            sock.close()
            raise
        self._sock = sock
        loop = asyncio.new_event_loop()
        self._loop = loop
        ready = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._start_site(sock))
            except BaseException as exc:  # reported to start()'s caller
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._cleanup())
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=serve, name=f"SimServer:{self.port}", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            self._thread = None
            self._loop = None
            self._sock = None
            sock.close()
            raise failure[0]
        return self

    async def _start_site(self, sock: socket.socket) -> None:
        runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        await web.SockSite(runner, sock, backlog=4096).start()
        self._runner = runner

    async def _cleanup(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def stop(self) -> None:
        """Stop serving: hanging requests are dropped, the port and thread are released."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        self._thread = None
        self._loop = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    async def __aenter__(self) -> SimServer:
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)
