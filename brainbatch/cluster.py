"""Run a ``dask.dataframe.DataFrame`` of prompts across a Dask cluster, as one job.

``bb.run(ddf, ...)`` / ``bb.submit(ddf, ...)`` come here (the notebook front only detects the
dask frame with :func:`is_dask_frame`, which never imports dask). The steps, all on the
cluster of the current ``distributed.Client``:

1. **check before spending**: each partition's rows become requests on a worker
   (:func:`brainbatch.frame.build_requests`, the pandas path's own checks, plus the
   ``max_tokens`` rule of a budget); ids must be unique across partitions. A bad row raises
   :class:`~brainbatch.errors.InputError` naming it before any request is sent;
2. **one coordinator**: a :class:`Coordinator` Dask Actor on one worker holds the job's one
   :class:`~brainbatch.limits.Limiter` (``rpm``, ``tpm``, ``max_concurrent`` and the 429
   cool-down), its one budget (``max_cost_usd``) and its cancel flag;
3. **one sub-job per partition**: each partition runs as an async task on a worker's event
   loop, with brainbatch's own runner, executor and provider built there from the picklable
   :class:`~brainbatch.runner.RunSettings`. Its provider's limiter is a :class:`RemoteLimiter`
   that asks the coordinator before every request, and its budget guard reserves through the
   coordinator. The sub-job is journaled in the store as ``<job_name>/p<partition>``, so a
   resumed run (same ``job_name``) sends only rows without a result and no row is paid twice;
4. the result is a dask DataFrame with the input's partitions, divisions and index, made of
   the partitions' results frames (the same columns as the pandas path).

Keys never travel in the task graph: settings that are credentials (``api_key=``, secret
headers) are refused here, and each worker's provider reads its key from the worker's own
environment (``OPENAI_API_KEY``, ``ANTHROPIC_API_KEY``...), as the pandas path does on the
client. Servers on localhost need none.

Why an Actor rather than ``distributed.Semaphore`` + a shared window: a Semaphore bounds
concurrency only; RPM/TPM need a window, the cool-down must pause everyone and the budget
must reserve and settle. Holding brainbatch's own Limiter and budget in one actor keeps one
rule for the pandas and the cluster paths, with one round trip to the actor per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import pandas as pd

from .budget import BudgetGuard, require_answer_caps
from .errors import (
    BudgetExceeded,
    InputError,
    PermanentError,
    RateLimitError,
    ServerError,
    StopJob,
)
from .executors import ProcessFn
from .frame import MODEL_COLUMN_PREFIX, PromptSpec, build_requests, results_frame
from .limits import Limiter
from .models import BatchJob, BatchRequest, BatchStatus
from .runner import JobRunner, RunSettings, price_model_of, wrap_cache
from .secrets import public_settings
from .session import new_session, open_store
from .store import default_store_path

__all__ = [
    "ClusterJob",
    "Coordinator",
    "PartitionProgress",
    "RemoteLimiter",
    "is_dask_frame",
    "run_frame",
    "submit_frame",
]

HEARTBEAT_S = 0.1
"""How often a partition reports its counts to the coordinator and looks for a cancel."""


def is_dask_frame(obj: object) -> bool:
    """True for a ``dask.dataframe.DataFrame``; never imports dask (False when it is not
    imported: a frame of it cannot exist then)."""
    module = sys.modules.get("dask.dataframe")
    frame_type = getattr(module, "DataFrame", None)
    return isinstance(frame_type, type) and isinstance(obj, frame_type)


class ClusterCancelled(StopJob):
    """The cluster job was cancelled: a partition's request that was waiting is not sent."""

    job_status: ClassVar[str] = "cancelled"


# -- the coordinator (one Dask Actor per job) ----------------------------------------------------


@dataclass(frozen=True)
class PartitionProgress:
    """What one partition reported last: its counts and the worker it runs on."""

    partition: int
    worker: str
    total: int
    done: int
    failed: int
    cost_usd: float
    status: str


class Coordinator:
    """The job's shared state on the cluster: limits, cool-down, budget, cancel, progress.

    Made on a worker by ``client.submit(Coordinator, ..., actor=True)``; every method is a
    coroutine, so they all run on that worker's event loop, one at a time between awaits
    (the Limiter's asyncio primitives and the counters need no lock).
    """

    def __init__(
        self,
        *,
        rpm: int | None,
        tpm: int | None,
        max_concurrent: int | None,
        window_s: float,
        max_cost_usd: float | None,
    ) -> None:
        self._limiter = Limiter(rpm=rpm, tpm=tpm, max_concurrent=max_concurrent, window_s=window_s)
        self._budget = BudgetGuard(max_cost_usd) if max_cost_usd is not None else None
        self._cancelled = False
        self._reason: str | None = None
        self._parts: dict[int, PartitionProgress] = {}
        self._spent_before: dict[int, float] = {}
        self.acquired = 0
        """Requests the coordinator let go (for tests and stats)."""

    async def grant(self, tokens: list[int]) -> tuple[bool, list[list[float] | None]]:
        """Places under the cluster's limits for a partition's waiting requests (``tokens``:
        each one's estimate), in order: waits for the first, then takes as many more as
        there is room for now. (False, []) once the job is cancelled: nothing may be sent.
        Each place is counted now; the partition sends at once (one round trip later)."""
        if self._cancelled or not tokens:
            return not self._cancelled, []
        limiter = self._limiter
        tickets = [await limiter.acquire(tokens[0])]
        for t in tokens[1:]:
            if limiter.would_wait(t):
                break
            tickets.append(await limiter.acquire(t))  # returns at once: room was checked
        if self._cancelled:  # cancelled while the first waited for its turn
            for _ in tickets:
                limiter.release()
            return False, []
        self.acquired += len(tickets)
        return True, tickets

    async def give_back(
        self, released: int, usage: list[tuple[list[float] | None, int, int]]
    ) -> None:
        """Concurrency places a partition is done with, and its requests' actual tokens."""
        for _ in range(released):
            self._limiter.release()
        for ticket, estimated, actual in usage:
            self._limiter.record_usage(ticket, estimated, actual)

    async def cool_down(self, seconds: float) -> None:
        """A 429 (or the rate-limit headers) seen by one worker: pause every worker."""
        self._limiter.cool_down(seconds)

    async def places_only(self) -> bool:
        """True when the job's limits are concurrency alone (no rpm/tpm window to count each
        request in): a partition may then hand a place it is done with straight to its own
        next waiting request (see :class:`RemoteLimiter`)."""
        return not self._limiter.rpm and not self._limiter.tpm

    async def state(self) -> tuple[bool, float]:
        """(cancelled, seconds left of the cool-down): what a partition that reuses its
        places checks every :data:`HEARTBEAT_S`."""
        return self._cancelled, self._limiter.cooling_down_s

    async def cool_downs(self) -> int:
        return self._limiter.cool_downs

    async def acquired_count(self) -> int:
        return self.acquired

    async def spent_before(self, partition: int, usd: float) -> None:
        """A resumed partition's money paid before this run counts against the budget."""
        if self._budget is not None and partition not in self._spent_before:
            self._spent_before[partition] = usd
            self._budget.add_spent(usd)

    async def reserve(self, key: str, usd: float) -> str | None:
        """Reserve ``usd`` of the budget for request ``key``; the refusal message, or None."""
        if self._budget is None:
            return None
        try:
            self._budget.reserve(BatchRequest(prompt="-", model="-", custom_id=key), usd)
        except BudgetExceeded as exc:
            return str(exc)
        return None

    async def settle(self, reserved_usd: float, actual_usd: float) -> None:
        if self._budget is not None:
            self._budget.settle(reserved_usd, actual_usd)

    async def spent_usd(self) -> float:
        return self._budget.spent_usd if self._budget is not None else 0.0

    async def cancel(self, reason: str = "cancelled") -> None:
        """Stop every partition: no new request starts anywhere; results are kept."""
        if not self._cancelled:
            self._cancelled = True
            self._reason = reason

    async def heartbeat(self, progress: PartitionProgress) -> bool:
        """A partition's counts; True when the job is cancelled (the partition stops)."""
        self._parts[progress.partition] = progress
        return self._cancelled

    async def progress(self) -> list[PartitionProgress]:
        """Every partition's last report, by partition number."""
        return [self._parts[k] for k in sorted(self._parts)]


# -- the worker side ------------------------------------------------------------------------------


class RemoteLimiter:
    """A provider's limiter whose places come from the job's :class:`Coordinator` (the
    cluster's one Limiter); 429 cool-downs start there too, so they pause every worker.

    A round trip to the coordinator costs milliseconds, so places are asked for in batches:
    the requests waiting in this partition go in one ``grant`` call (one at a time per
    partition), and finished requests give their places back together a few milliseconds
    later. A local limiter (no limits of its own) applies a cool-down this worker saw at
    once, and reads the rate-limit headers with the one rule.

    When the job's limits are concurrency alone (no ``rpm``/``tpm``: nothing to count per
    request at the coordinator), a place a finished request leaves is handed straight to
    the next request waiting in this partition, with no round trip (the requests in flight
    across the cluster stay within ``max_concurrent``: the place only changes hands); it is
    given back when none waits. The partition then asks the coordinator every
    :data:`HEARTBEAT_S` for its cancel flag and cool-down, and hands nothing on while either
    holds.
    """

    FLUSH_S = 0.005
    """How long finished requests' places are gathered before they are given back."""

    def __init__(self, coordinator: Any, *, counts_tokens: bool) -> None:
        self._coordinator = coordinator
        self._counts_tokens = counts_tokens
        self._local = Limiter()
        self._waiting: deque[tuple[int, asyncio.Future[tuple[bool, list[float] | None]]]] = deque()
        self._asking = False
        self._released = 0
        self._usage: list[tuple[list[float] | None, int, int]] = []
        self._flushing = False
        self._tasks: set[asyncio.Task[None]] = set()
        self.cool_downs = 0
        self._reuse = False
        """Hand finished requests' places to waiting ones here (the coordinator said so)."""
        self._reuse_known = False
        self._stopped = False
        """The coordinator said the job is cancelled: no place changes hands here again."""
        self._held = 0
        self._watching = False
        self.handed_on = 0
        """Places handed from a finished request to a waiting one without a round trip."""

    auto_rpm = False
    auto_tpm = False
    """Limits on a cluster are the coordinator's, as given: none are learned from headers."""

    def __repr__(self) -> str:
        return "RemoteLimiter(the cluster's coordinator)"

    def learn(self, headers: Mapping[str, str]) -> bool:
        """Nothing to learn here: the coordinator holds the job's limits as given."""
        return False

    def shrink(self) -> None:
        """Learned limits do not apply on a cluster (see :meth:`learn`)."""

    @property
    def counts_tokens(self) -> bool:
        return self._counts_tokens

    @property
    def cooling_down_s(self) -> float:
        return self._local.cooling_down_s

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def acquire(self, tokens: int = 0) -> list[float] | None:
        await self._local.acquire(0)  # a cool-down this worker started: wait here first
        place: asyncio.Future[tuple[bool, list[float] | None]]
        place = asyncio.get_running_loop().create_future()
        self._waiting.append((tokens, place))
        if not self._asking:
            self._asking = True
            self._spawn(self._ask())
        ok, ticket = await place
        if not ok:
            raise ClusterCancelled("cancelled")  # the request stays pending, unsent
        self._held += 1
        return ticket

    async def _ask(self) -> None:
        """Ask the coordinator for places for every waiting request, until none waits."""
        try:
            if not self._reuse_known:
                self._reuse_known = True
                self._reuse = bool(await self._coordinator.places_only())
            if self._reuse and not self._watching:
                self._watching = True
                self._spawn(self._watch())
            while self._waiting:
                ok, tickets = await self._coordinator.grant([t for t, _ in self._waiting])
                if not ok:
                    while self._waiting:
                        _, place = self._waiting.popleft()
                        if not place.done():
                            place.set_result((False, None))
                    return
                for ticket in tickets:
                    if not self._waiting:  # those it was asked for got places handed on
                        self._give_back(ticket, 0, 0)
                        continue
                    _, place = self._waiting.popleft()
                    if place.done():  # its request was abandoned meanwhile: give it back
                        self._give_back(ticket, 0, 0)
                    else:
                        place.set_result((True, ticket))
        except BaseException as exc:
            while self._waiting:
                _, place = self._waiting.popleft()
                if not place.done():
                    place.set_exception(exc)
            raise
        finally:
            self._asking = False

    def _give_back(self, ticket: list[float] | None, estimated: int, actual: int) -> None:
        self._released += 1
        self.record_usage(ticket, estimated, actual)
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        if not self._flushing:
            self._flushing = True
            self._spawn(self._flush())

    async def _flush(self) -> None:
        try:
            await asyncio.sleep(self.FLUSH_S)
        finally:
            self._flushing = False
            released, self._released = self._released, 0
            usage, self._usage = self._usage, []
            if released or usage:
                self._coordinator.give_back(released, usage)  # sent now; nothing waits

    async def _watch(self) -> None:
        """While places are handed on here: the coordinator's cancel flag and cool-down."""
        try:
            while not self._stopped and (self._held or self._waiting):
                await asyncio.sleep(HEARTBEAT_S)
                cancelled, cooling = await self._coordinator.state()
                if cancelled:
                    self._stopped = True
                elif cooling > self._local.cooling_down_s:
                    self._local.cool_down(cooling)
        except Exception:  # the coordinator cannot be asked: every place goes through it
            self._reuse = False
        finally:
            self._watching = False

    def release(self) -> None:
        self._held -= 1
        if self._reuse and not self._stopped and self._local.cooling_down_s <= 0:
            while self._waiting:  # the place goes to the next request waiting here
                _, place = self._waiting.popleft()
                if not place.done():
                    self.handed_on += 1
                    place.set_result((True, None))
                    return
        self._give_back(None, 0, 0)

    def record_usage(self, ticket: list[float] | None, estimated: int, actual: int) -> None:
        if ticket is not None and actual != estimated:
            self._usage.append((ticket, estimated, actual))
            self._schedule_flush()

    def cool_down(self, seconds: float) -> None:
        if seconds <= 0:
            return
        self._local.cool_down(seconds)
        self.cool_downs += 1
        self._coordinator.cool_down(seconds)

    def observe_headers(self, headers: Mapping[str, str], next_tokens: int = 1) -> None:
        before = self._local.cool_downs
        self._local.observe_headers(headers, next_tokens)
        if self._local.cool_downs != before:
            self._coordinator.cool_down(self._local.cooling_down_s)


@dataclass(frozen=True)
class _Plan:
    """Everything a partition needs, picklable and without credentials."""

    job_name: str
    spec: PromptSpec
    settings: RunSettings
    store: str | None
    columns: list[str] | None
    expand: bool
    max_cost_usd: float | None = None
    counts_tokens: bool = False


def _part_name(job_name: str, partition: int) -> str:
    return f"{job_name}/p{partition}"


def _check_partition(pdf: pd.DataFrame, spec: PromptSpec, needs_caps: bool) -> list[str]:
    """The partition's request ids after the pandas path's checks (on a worker)."""
    if len(pdf) == 0:
        return []
    requests = build_requests(pdf, spec)
    if needs_caps:
        require_answer_caps(requests)
    return [r.key for r in requests]


class _ClusterRunner(JobRunner):
    """The runner of one partition: the coordinator's limits and budget instead of local ones."""

    def __init__(
        self,
        *args: Any,
        coordinator: Any,
        partition: int,
        max_cost_usd: float | None,
        counts_tokens: bool,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.coordinator = coordinator
        self.partition = partition
        self.max_cost_usd = max_cost_usd
        self.counts_tokens = counts_tokens

    def open_provider(self) -> tuple[Any, bool]:
        provider, owned = super().open_provider()
        counts_tokens = self.counts_tokens
        subs = getattr(provider, "providers", None)
        for p in subs.values() if isinstance(subs, dict) else [provider]:
            if hasattr(p, "limiter"):
                p.limiter = RemoteLimiter(self.coordinator, counts_tokens=counts_tokens)
        return provider, owned

    async def wrap(self, provider: ProcessFn) -> ProcessFn | None:
        fn: ProcessFn = provider
        if self.max_cost_usd is not None:
            await self.coordinator.spent_before(self.partition, self.job.paid_usd)
            fn = self._guarded(provider)
        if self.store is not None and self.settings.cache is True:
            fn = await wrap_cache(fn, self.store, provider, self.job, True)
        return fn

    def _guarded(self, provider: ProcessFn) -> ProcessFn:
        """The provider behind the cluster's one budget (reserved and settled at the actor)."""
        assert self.max_cost_usd is not None
        rule = BudgetGuard(self.max_cost_usd)  # its estimate and actual-cost rules, not its sums
        price_model = price_model_of(provider)
        coordinator = self.coordinator

        async def guarded(request: BatchRequest) -> Any:
            reserved = rule.worst_case_usd(request, price_model)
            refusal = await coordinator.reserve(request.key, reserved)
            if refusal is not None:
                raise BudgetExceeded(refusal)
            actual = reserved
            try:
                out = await provider(request)
            except (PermanentError, RateLimitError, ServerError):
                actual = 0.0  # refused by the provider: not billed
                raise
            except (Exception, asyncio.CancelledError):
                actual = reserved  # may have been done and billed: assume so
                raise
            else:
                actual = rule.actual_usd(out, request, reserved, price_model)
                return out
            finally:
                coordinator.settle(reserved, actual)

        return guarded


async def _run_partition(
    pdf: pd.DataFrame, partition: int, plan: _Plan, coordinator: Any
) -> pd.DataFrame:
    """One partition as a sub-job on a worker's event loop; its results frame."""
    if len(pdf) == 0:
        return results_frame(BatchJob([]), pdf, [], columns=plan.columns, expand=plan.expand)
    requests = build_requests(pdf, plan.spec)
    keys = [r.key for r in requests]
    settings = plan.settings
    if plan.spec.model.startswith(MODEL_COLUMN_PREFIX):  # as the pandas path does
        settings = settings.with_overrides(model=requests[0].model)
    session = await asyncio.to_thread(
        new_session,
        requests,
        settings,
        store=plan.store if plan.store is not None else False,
        job_name=_part_name(plan.job_name, partition),
    )
    job = session.job
    runner = _ClusterRunner(
        job,
        session.settings,
        session.store,
        session.runner.lease,
        release_lease=True,
        coordinator=coordinator,
        partition=partition,
        max_cost_usd=plan.max_cost_usd,
        counts_tokens=plan.counts_tokens,
    )
    worker = _worker_address()

    async def report() -> bool:
        state = PartitionProgress(
            partition, worker, job.total, job.done, job.n_error, job.cost_usd, str(job.status)
        )
        cancelled: bool = await coordinator.heartbeat(state)
        return cancelled

    async def watch() -> None:
        while True:
            if await report():
                job.request_cancel()
            await asyncio.sleep(HEARTBEAT_S)

    if await report():
        job.request_cancel()
    watcher = asyncio.ensure_future(watch())
    try:
        await runner.run()
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    await report()
    return results_frame(job, pdf, keys, columns=plan.columns, expand=plan.expand)


def _worker_address() -> str:
    from distributed import get_worker

    try:
        return str(get_worker().address)
    except ValueError:
        return "local"


def _empty(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.iloc[:0]


# -- the client side ------------------------------------------------------------------------------


def _cluster_settings(settings: RunSettings) -> RunSettings:
    """The settings each partition runs with: the limits and the budget live at the
    coordinator, so the partition's own are off (``max_concurrent`` stays: the partition's
    pool of workers, each of which waits for the coordinator's slot)."""
    if settings.provider is not None and not isinstance(settings.provider, str):
        raise InputError(
            "provider must be a name ('openai', 'anthropic', 'sim', ...) or None for a dask "
            "DataFrame: each worker builds its own provider from the settings"
        )
    if settings.mode != "realtime":
        raise InputError(
            "a dask DataFrame runs in mode='realtime' only (batch mode is not available on "
            "a cluster yet)"
        )
    if settings.delay is not None:
        raise InputError("delay= does not apply to a dask DataFrame; use rpm= or max_concurrent=")
    if "auto" in (settings.rpm, settings.tpm):
        raise InputError(
            "rpm='auto' / tpm='auto' do not apply to a dask DataFrame yet: give the limits as "
            "numbers (the cluster's coordinator holds them for every worker)"
        )
    secret = sorted(set(settings.provider_kwargs) - set(public_settings(settings.provider_kwargs)))
    if secret or any(
        isinstance(v, Mapping) and len(v) != len(public_settings({k: v})[k])
        for k, v in settings.provider_kwargs.items()
        if k.lower().endswith("headers")
    ):
        raise InputError(
            f"credentials ({', '.join(secret) or 'secret headers'}) are not sent to a Dask "
            "cluster (they would travel in the task graph): set the key in each worker's "
            "environment (OPENAI_API_KEY, ANTHROPIC_API_KEY, ...) instead"
        )
    return replace(settings, rpm=None, tpm=None, max_cost_usd=None)


def _store_path(store: Any) -> str | None:
    """The store's file, absolute (the workers open it themselves); None for ``False``."""
    from .store import JobStore

    if store is False:
        return None
    if isinstance(store, JobStore):
        return str(store.path)
    if store is None:
        return str(default_store_path().expanduser().absolute())
    if isinstance(store, str) or hasattr(store, "__fspath__"):
        from pathlib import Path

        return str(Path(store).expanduser().absolute())
    raise InputError(
        f"store must be a JobStore, a path, None (default store) or False (none), got "
        f"{type(store).__name__}"
    )


class ClusterJob:
    """A job over a dask DataFrame, running on the cluster: wait, cancel, progress.

    ``result()`` (or ``await job``) gives a dask DataFrame with the input's partitions,
    divisions and index; ``progress()`` the partitions' last counts (done, failed, cost, the
    worker each runs on); ``cancel()`` stops every partition (results so far are kept).
    """

    def __init__(
        self,
        ddf: Any,
        spec: PromptSpec,
        settings: RunSettings,
        *,
        job_name: str | None,
        store: Any,
        columns: Sequence[str] | None,
        expand: bool,
        client: Any = None,
    ) -> None:
        from distributed import default_client

        if job_name is not None and (not isinstance(job_name, str) or not job_name.strip()):
            raise InputError(f"job_name must be a non-empty string, got {job_name!r}")
        if isinstance(columns, str):
            columns = [columns]
        if columns is not None:
            missing = [c for c in columns if c not in ddf.columns]
            if missing:
                raise InputError(
                    f"columns= names {missing} that the DataFrame does not have; available "
                    f"columns: {[str(c) for c in ddf.columns]}"
                )
        try:
            self.client = client if client is not None else default_client()  # type: ignore[no-untyped-call]
        except ValueError:
            raise InputError(
                "a dask DataFrame runs on a Dask cluster: start one first "
                "(distributed.Client(...) or distributed.LocalCluster())"
            ) from None
        self.name = job_name or f"dask-{uuid.uuid4().hex[:8]}"
        self.settings = settings
        self._ddf = ddf
        self._plan = _Plan(
            self.name,
            spec,
            _cluster_settings(settings),
            _store_path(store),
            list(columns) if columns is not None else None,
            expand,
            settings.max_cost_usd,
            settings.tpm is not None,
        )
        self.coordinator: Any = None
        self.futures: list[Any] = []
        self._frame: Any = None
        self._error: BaseException | None = None
        self._done = threading.Event()
        self._cancel_requested = False

    def __repr__(self) -> str:
        return f"<brainbatch dask job {self.name!r}: {self._ddf.npartitions} partitions>"

    # -- running ------------------------------------------------------------------------------

    def _check(self) -> list[Any]:
        """Partitions on the cluster, checked; raises InputError before anything is sent."""
        client, plan = self.client, self._plan
        parts = client.compute(self._ddf.to_delayed())
        needs_caps = plan.max_cost_usd is not None
        checks = client.map(
            _check_partition,
            parts,
            spec=plan.spec,
            needs_caps=needs_caps,
            pure=False,
        )
        keys = client.gather(checks)
        if sum(len(k) for k in keys) == 0:
            raise InputError("the DataFrame has no rows: nothing to run")
        seen: dict[str, int] = {}
        for partition, ids in enumerate(keys):
            for key in ids:
                first = seen.setdefault(key, partition)
                if first != partition:
                    raise InputError(
                        f"duplicate custom_id {key!r} in partitions {first} and {partition}: "
                        "ids must be unique across the whole DataFrame"
                    )
        return list(parts)

    def _start_coordinator(self) -> Any:
        s = self.settings
        window_s = float(s.provider_kwargs.get("rate_window_s", 60.0))
        return self.client.submit(
            Coordinator,
            rpm=s.rpm,
            tpm=s.tpm,
            max_concurrent=s.max_concurrent,
            window_s=window_s,
            max_cost_usd=s.max_cost_usd,
            actor=True,
            pure=False,
        ).result()

    def _drive(self) -> None:
        import dask
        from dask.dataframe import from_delayed
        from distributed import wait

        try:
            if self._plan.store is not None:
                # made here once: workers creating a new store file at the same moment race
                open_store(self._plan.store)
            parts = self._check()
            self.coordinator = self._start_coordinator()
            if self._cancel_requested:
                self.coordinator.cancel("cancelled").result()
            self.futures = [
                self.client.submit(
                    _run_partition, part, i, self._plan, self.coordinator, pure=False
                )
                for i, part in enumerate(parts)
            ]
            wait(self.futures)  # type: ignore[no-untyped-call]  # results stay on the workers
            for future in self.futures:
                if future.status == "error":
                    raise future.exception()  # what a partition raised
            meta = self.client.submit(_empty, self.futures[0], pure=False).result()
            # the partitions' frames as they are: no conversion of object columns to
            # pyarrow strings (structured responses are dicts; dtypes as the pandas path's)
            with dask.config.set({"dataframe.convert-string": False}):
                self._frame = from_delayed(
                    self.futures, meta=meta, divisions=self._ddf.divisions, verify_meta=False
                )
        except BaseException as exc:
            self._error = exc
        finally:
            self._done.set()

    def start(self, *, thread: bool = True) -> ClusterJob:
        if thread:
            threading.Thread(
                target=self._drive, name=f"brainbatch-{self.name}", daemon=True
            ).start()
        else:
            self._drive()
        return self

    # -- state -------------------------------------------------------------------------------

    def done(self) -> bool:
        return self._done.is_set()

    def cancel(self) -> bool:
        """Stop every partition on every worker; results so far are kept. False if ended."""
        if self.done():
            return False
        self._cancel_requested = True
        if self.coordinator is not None:
            self.coordinator.cancel("cancelled").result()
        return True

    def progress(self) -> list[PartitionProgress]:
        """Each partition's last report (those that started)."""
        if self.coordinator is None:
            return []
        parts: list[PartitionProgress] = self.coordinator.progress().result()
        return parts

    @property
    def status(self) -> BatchStatus:
        parts = self.progress()
        if not self.done():
            return BatchStatus.PROCESSING if parts else BatchStatus.PENDING
        if self._error is not None:
            return BatchStatus.FAILED
        statuses = {BatchStatus(p.status) for p in parts}
        for s in (BatchStatus.FAILED, BatchStatus.CANCELLED, BatchStatus.EXPIRED):
            if s in statuses:
                return s
        return BatchStatus.COMPLETED

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    def result(self, timeout: float | None = None) -> Any:
        """The results as a dask DataFrame (the input's partitions, divisions and index)."""
        if not self.wait(timeout):
            raise TimeoutError(f"job {self.name!r} still running after {timeout} s")
        if self._error is not None:
            raise self._error
        return self._frame

    def __await__(self) -> Any:
        return asyncio.to_thread(self.result).__await__()


def submit_frame(
    ddf: Any,
    spec: PromptSpec,
    settings: RunSettings,
    *,
    job_name: str | None = None,
    store: Any = None,
    columns: Sequence[str] | None = None,
    expand: bool = False,
    client: Any = None,
) -> ClusterJob:
    """Start a job over a dask DataFrame on the current Dask cluster; returns at once."""
    job = ClusterJob(
        ddf,
        spec,
        settings,
        job_name=job_name,
        store=store,
        columns=columns,
        expand=expand,
        client=client,
    )
    return job.start(thread=True)


def run_frame(
    ddf: Any,
    spec: PromptSpec,
    settings: RunSettings,
    *,
    job_name: str | None = None,
    store: Any = None,
    columns: Sequence[str] | None = None,
    expand: bool = False,
    client: Any = None,
) -> Any:
    """Run a job over a dask DataFrame and return its results as a dask DataFrame
    (blocking; Ctrl-C cancels every partition and returns the results so far)."""
    job = ClusterJob(
        ddf,
        spec,
        settings,
        job_name=job_name,
        store=store,
        columns=columns,
        expand=expand,
        client=client,
    )
    job.start(thread=True)
    try:
        job.wait()
    except KeyboardInterrupt:
        job.cancel()
        job.wait()
    return job.result()
