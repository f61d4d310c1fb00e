"""Run a job with the user's settings: the one place where the parts are put together.

:class:`JobRunner` turns a :class:`~brainbatch.models.BatchJob` and :class:`RunSettings` into a
finished job, in five steps, each a method you can read (or override) on its own:

1. :meth:`JobRunner.open_provider`: the provider object (``provider=`` given as an instance, a
   name such as ``"sim"`` / ``"openai"`` / ``"anthropic"``, or chosen from the model name);
2. :meth:`JobRunner.wrap`: the ``process_fn`` the executor calls: the provider, behind the budget
   guard (``max_cost_usd``; a native batch's worst case is checked before uploading) and the
   response cache (``cache``);
3. :meth:`JobRunner.make_executor`: ``BatchAPIExecutor`` for ``mode="batch"``,
   ``SequentialExecutor`` when ``delay`` is given, else ``ParallelExecutor(max_concurrent)``;
4. :meth:`JobRunner.execute_journaled`: the executor runs with results written to the store
   as they arrive;
5. the provider's HTTP client is closed at the end, whatever happened (providers the caller
   passed in as objects are left open: they belong to the caller).

With a store, :meth:`JobRunner.run` first takes the job's lease (``store.claim``, unless it was
given one), so two processes never send the same job's rows; see :mod:`brainbatch.store.lease`.

It has no UI and does not import the notebook layer: the notebook front
(:mod:`brainbatch.notebook`) and the command line both use it. Settings are checked when
:class:`RunSettings` is made, so a bad one raises :class:`~brainbatch.errors.InputError` naming
the parameter before anything is sent.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from .budget import BudgetGuard
from .errors import ConfigurationError, InputError, StopJob, StoreError
from .estimate import PriceModel
from .executors import Executor, ParallelExecutor, ProcessFn, SequentialExecutor
from .models import BatchJob, BatchRequest, BatchStatus, ProviderResponse
from .providers.base import Provider
from .providers.registry import provider_for_model, resolve_provider
from .secrets import public_settings
from .structured import DEFAULT_SCHEMA_ATTEMPTS, OutputSchema, checking

__all__ = [
    "DEFAULT_MAX_CONCURRENT",
    "JobRunner",
    "ProviderRouter",
    "RunSettings",
    "open_providers",
    "run_job",
]

DEFAULT_MAX_CONCURRENT = 16
"""Requests in flight at once when ``max_concurrent`` is not given."""

Mode = Literal["realtime", "batch", "flex"]

FLEX_TIMEOUT_S = 900.0
"""Seconds per attempt in mode="flex" (unless ``timeout=`` is given): flex answers can take
many minutes, and OpenAI suggests a 15-minute timeout."""


def _storable(value: Any) -> bool:
    """JSON-able settings (not clients, transports or callables) can be stored with a job."""
    if isinstance(value, str | int | float | bool) or value is None:
        return True
    if isinstance(value, list | tuple):
        return all(_storable(v) for v in value)
    if isinstance(value, Mapping):
        return all(isinstance(k, str) and _storable(v) for k, v in value.items())
    return False


def _positive(name: str, value: float | None, *, integer: bool = False) -> None:
    if value is None:
        return
    ok = isinstance(value, int) if integer else isinstance(value, int | float)
    if isinstance(value, bool) or not ok or not value > 0 or math.isinf(value):
        kind = "an integer" if integer else "a number"
        raise InputError(f"{name} must be {kind} > 0, got {value!r}")


@dataclass(frozen=True)
class RunSettings:
    """How to run a job (everything but the requests). Checked when made.

    Args:
        model: the model requests use unless they name their own; also picks the provider
            when ``provider`` is None (``"sim"`` / ``"sim/<model>"`` is the offline simulator).
        provider: a :class:`~brainbatch.providers.base.Provider` instance, a provider name
            (``"sim"``, ``"openai"``, ``"anthropic"``...), or None to choose from ``model``.
        mode: ``"realtime"`` (requests sent now, under the limits), ``"batch"`` (the
            provider's native Batch API: half price, results within 24 h) or ``"flex"``
            (OpenAI's flex processing: real-time requests with ``service_tier="flex"``, batch
            prices, slower answers; a 429 ``resource_unavailable`` is retried with backoff).
        max_concurrent: requests in flight at once (real time).
        delay: seconds between requests, one at a time (strict limits); overrides
            ``max_concurrent``.
        rpm, tpm: requests / tokens per minute the provider may be sent; ``"auto"`` (what
            an HTTP provider does when none is given): the provider's own limits, learned
            from its rate-limit headers, at 90%.
        max_cost_usd: stop starting requests before the job's spend could pass this.
        cache: True serves repeated requests from the store's response cache (needs a
            store); None (default) and False send every request (see
            :mod:`brainbatch.store.cache` for why it is off unless asked).
        poll_interval: mode="batch": seconds between the first status checks (default 5).
        provider_kwargs: passed to the provider (``api_key``, ``base_url``, ``latency_ms`` for
            the simulator...). Never shown in reprs or stored (see :meth:`spec`).
        schema: typed structured output (a :class:`~brainbatch.structured.OutputSchema`, a
            Pydantic model class or a JSON-schema dict): every answer is checked against it
            (see :mod:`brainbatch.structured`); the requests must carry its
            ``response_format`` (``schema.add_to(params)``). Stored as JSON with the job.
        schema_attempts: real time: tries per row while answers fail the schema (default 3).
    """

    model: str = "sim"
    provider: str | Provider | None = None
    mode: Mode = "realtime"
    max_concurrent: int = DEFAULT_MAX_CONCURRENT
    delay: float | None = None
    rpm: float | Literal["auto"] | None = None
    tpm: float | Literal["auto"] | None = None
    max_cost_usd: float | None = None
    cache: bool | None = None
    poll_interval: float | None = None
    provider_kwargs: Mapping[str, Any] = field(default_factory=dict, repr=False)
    schema: OutputSchema | None = None
    schema_attempts: int = DEFAULT_SCHEMA_ATTEMPTS

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model.strip():
            raise InputError(f"model must be a non-empty string, got {self.model!r}")
        if self.mode not in ("realtime", "batch", "flex"):
            raise InputError(f"mode must be 'realtime', 'batch' or 'flex', got {self.mode!r}")
        if self.provider is not None and not (
            isinstance(self.provider, str | Provider) or callable(self.provider)
        ):
            raise InputError(
                f"provider must be a name, a Provider or an async callable, got "
                f"{type(self.provider).__name__}"
            )
        _positive("max_concurrent", self.max_concurrent, integer=True)
        if self.delay is not None and (
            isinstance(self.delay, bool) or not isinstance(self.delay, int | float)
        ):
            raise InputError(f"delay must be a number of seconds >= 0, got {self.delay!r}")
        if self.delay is not None and (self.delay < 0 or math.isinf(self.delay)):
            raise InputError(f"delay must be a number of seconds >= 0, got {self.delay!r}")
        for name in ("rpm", "tpm"):
            value = getattr(self, name)
            if value != "auto":
                _positive(name, value)
        _positive("max_cost_usd", self.max_cost_usd)
        _positive("poll_interval", self.poll_interval)
        if self.mode != "batch" and self.poll_interval is not None:
            raise InputError("poll_interval applies to mode='batch' only")
        if self.cache is not None and not isinstance(self.cache, bool):
            raise InputError(f"cache must be True, False or None, got {self.cache!r}")
        if self.mode == "batch" and self._simulated():
            raise InputError(
                "mode='batch' needs a provider with a native Batch API (OpenAI, Anthropic or "
                "Gemini, or a compatible server); offline, start brainbatch.sim.SimServer and pass "
                "provider='openai', base_url=server.openai_base_url"
            )
        if self.mode == "flex":
            self._check_flex()
        if self.mode == "batch" and self.delay is not None:
            raise InputError("delay applies to mode='realtime' only; drop it for mode='batch'")
        if not isinstance(self.provider_kwargs, Mapping):
            raise InputError("provider_kwargs must be a mapping")
        urls = self.provider_kwargs.get("base_url")
        if urls is not None and not isinstance(urls, str):  # a replica pool: checked now
            from .providers.pool import check_base_urls

            if len(check_base_urls(urls)) > 1 and self.mode == "batch":
                raise InputError(
                    "base_url with several replicas spreads real-time requests; a native "
                    "batch goes to one server: give one base_url for mode='batch'"
                )
        if self.schema is not None and not isinstance(self.schema, OutputSchema):
            object.__setattr__(self, "schema", OutputSchema.of(self.schema))
        _positive("schema_attempts", self.schema_attempts, integer=True)

    def _check_flex(self) -> None:
        from .providers.openai import OpenAIProvider

        p = self.provider
        if p is None or isinstance(p, str):
            name = p.strip().lower() if isinstance(p, str) else provider_for_model(self.model)
            if name in ("sim", "simulated"):
                raise InputError(
                    "mode='flex' is OpenAI's flex processing; the in-process simulator has "
                    "none. Offline, start brainbatch.sim.SimServer and pass provider='openai', "
                    "base_url=server.openai_base_url"
                )
            if name is not None and name != "openai":
                raise InputError(
                    f"mode='flex' is OpenAI's flex processing; provider {name!r} has none "
                    "(use mode='batch' for half price there)"
                )
        elif not isinstance(p, OpenAIProvider) or p.service_tier != "flex":
            raise InputError(
                "mode='flex' with a provider object needs OpenAIProvider(service_tier='flex')"
            )

    def _simulated(self) -> bool:
        from .providers.simulated import SimulatedProvider

        if isinstance(self.provider, SimulatedProvider):
            return True
        if isinstance(self.provider, str):
            return self.provider.strip().lower() in ("sim", "simulated")
        return self.provider is None and provider_for_model(self.model) == "sim"

    @property
    def provider_name(self) -> str:
        """The provider as a word for displays: its name, or the model's prefix."""
        if isinstance(self.provider, Provider):
            return type(self.provider).name
        if isinstance(self.provider, str):
            return self.provider
        if self.provider is not None:
            return getattr(self.provider, "name", "custom")
        return self.model.split("/", 1)[0] if "/" in self.model else self.model

    def spec(self) -> dict[str, Any]:
        """The settings as JSON-able data for the journal, without secrets.

        Credentials (``api_key``, secret headers: see :mod:`brainbatch.secrets`) are left out,
        so a resumed job reads its keys from the environment again; every other JSON-able
        provider setting is kept exactly.
        """
        provider = self.provider if isinstance(self.provider, str) else None
        return {
            "model": self.model,
            "provider": provider if provider is not None else None,
            "provider_object": None if self.provider is None else self.provider_name,
            "mode": self.mode,
            "max_concurrent": self.max_concurrent,
            "delay": self.delay,
            "rpm": self.rpm,
            "tpm": self.tpm,
            "max_cost_usd": self.max_cost_usd,
            "cache": self.cache,
            "poll_interval": self.poll_interval,
            "schema": None if self.schema is None else self.schema.spec(),
            "schema_attempts": self.schema_attempts,
            "provider_kwargs": {
                k: v for k, v in public_settings(self.provider_kwargs).items() if _storable(v)
            },
        }

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any], **overrides: Any) -> RunSettings:
        """Settings back from :meth:`spec` (for resume); ``overrides`` win."""
        known = {
            "model",
            "provider",
            "mode",
            "max_concurrent",
            "delay",
            "rpm",
            "tpm",
            "max_cost_usd",
            "cache",
            "poll_interval",
            "provider_kwargs",
            "schema",
            "schema_attempts",
        }
        data = {k: v for k, v in spec.items() if k in known}
        if isinstance(data.get("schema"), Mapping):  # stored as JSON: the class is not kept
            data["schema"] = OutputSchema.from_spec(data["schema"])
        extra = dict(data.pop("provider_kwargs", None) or {})
        extra.update(overrides.pop("provider_kwargs", None) or {})
        data.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**data, provider_kwargs=extra)

    def with_overrides(self, **changes: Any) -> RunSettings:
        """A copy with some settings changed (None values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


class JobRunner:
    """Runs one job with :class:`RunSettings`; see the module docs for the steps.

    Args:
        job: the job; only its requests without a result are sent (so this resumes too).
        settings: how to run it.
        store: a ``brainbatch.store.JobStore`` the job was created in (journal, cache), or None.
        lease: the job's lease (``store.claim(job)``) when the caller took it already; the
            caller then releases it. Without one, :meth:`run` claims the job itself (with a
            store) and releases it at the end: two processes never run one job at once
            (the second gets ``brainbatch.store.JobBusy``).
        release_lease: release a given ``lease`` when :meth:`run` ends (the session step
            claims a job before its run starts and hands the lease over this way).
    """

    def __init__(
        self,
        job: BatchJob,
        settings: RunSettings,
        store: Any | None = None,
        lease: Any | None = None,
        *,
        release_lease: bool = False,
    ) -> None:
        self.job = job
        self.settings = settings
        self.store = store
        self.lease = lease
        self.release_lease = release_lease
        self.provider: Provider | None = None
        self.executor: Executor | None = None
        self.budget: BudgetGuard | None = None
        """The budget guard of this run (``max_cost_usd``), for its counters."""

    def __repr__(self) -> str:
        return f"JobRunner(job={self.job.job_id!r}, settings={self.settings!r})"

    @property
    def limits_in_force(self) -> str:
        """The rate limits the running provider(s) work under and where they came from
        (``rpm 4,500 (90% of 5,000 learned from x-ratelimit-limit-requests)``, ``tpm 30,000
        set by you``); "" before the run opened its provider or when it has no limiter."""
        provider: Any = self.provider
        if isinstance(provider, ProviderRouter):
            parts = [
                f"{name}: {text}"
                for name, p in provider.providers.items()
                if (text := _limits_of(p))
            ]
            return "; ".join(parts)
        return _limits_of(provider)

    # -- 1. provider ---------------------------------------------------------------------------

    def open_provider(self) -> tuple[Any, bool]:
        """The provider to send through, and whether this runner owns it (closes it).

        Raises:
            ConfigurationError: unknown provider name or model prefix, missing API key.
        """
        s = self.settings
        if s.provider is not None and not isinstance(s.provider, str):
            return s.provider, False
        kwargs = dict(s.provider_kwargs)
        if s.rpm is not None:
            kwargs["rpm"] = s.rpm
        if s.tpm is not None:
            kwargs["tpm"] = s.tpm
        name = s.provider if isinstance(s.provider, str) else provider_for_model(s.model)
        if s.mode != "batch" and name not in (None, "sim", "simulated"):
            # size the HTTP provider's connection pool to the executor's concurrency
            kwargs.setdefault("max_concurrent", s.max_concurrent)
        if s.mode == "flex":
            kwargs["service_tier"] = "flex"
            kwargs.setdefault("timeout", FLEX_TIMEOUT_S)
        models = {r.model for r in self.job.requests}
        provider = open_providers(s.provider, s.model, models, **kwargs)
        if s.mode == "flex" and not _all_openai(provider):
            raise ConfigurationError(
                "mode='flex' is OpenAI's flex processing, and some rows' models belong to "
                "another provider; run those with mode='realtime' or mode='batch'"
            )
        return provider, True

    # -- 2. process_fn -------------------------------------------------------------------------

    async def wrap(self, provider: ProcessFn) -> ProcessFn | None:
        """The provider behind the budget guard, behind the response cache.

        None for mode="batch": the batch executor sends through the provider itself. The
        cache is outermost: an answer served from the cache costs nothing, so it never
        counts against ``max_cost_usd``. Only ``cache=True`` uses it (see
        :mod:`brainbatch.store.cache`); the cache needs a store.
        """
        s = self.settings
        if s.mode == "batch":  # the batch executor sends through the provider itself
            if s.max_cost_usd is not None:
                self.budget = BudgetGuard(s.max_cost_usd, already_spent_usd=self.job.paid_usd)
                await asyncio.to_thread(  # counting 100,000 prompts: keep the loop free
                    self.budget.check_before_submit,
                    list(self.job.iter_pending()),
                    price_model=price_model_of(provider),
                )
            return None
        fn: ProcessFn = provider
        if s.max_cost_usd is not None:
            self.budget = BudgetGuard(s.max_cost_usd, already_spent_usd=self.job.paid_usd)
            fn = self.budget.wrap(fn, price_model=price_model_of(provider))
        if s.schema is not None:  # inside the cache: only checked answers are cached
            fn = checking(fn, s.schema, s.schema_attempts)
        if self.store is not None and s.cache is True:
            fn = await wrap_cache(fn, self.store, provider, self.job, s.cache)
        return fn

    # -- 3. executor ---------------------------------------------------------------------------

    def make_executor(self, provider: Any) -> Executor:
        """``BatchAPIExecutor`` for mode="batch", else sequential (``delay``) or parallel."""
        s = self.settings
        if s.mode == "batch":
            # each accepted provider batch is written to the store at once (not at the next
            # journal flush), so a crash right after submitting re-attaches instead of paying
            # for the same batch twice
            on_submit = None if self.store is None else self.store.record_provider_batch
            check = None if s.schema is None else s.schema.check
            return make_batch_executor(provider, s.poll_interval, on_submit=on_submit, check=check)
        if s.delay is not None:
            return SequentialExecutor(delay=s.delay)
        return ParallelExecutor(max_concurrent=s.max_concurrent)

    # -- 4. journal ----------------------------------------------------------------------------

    async def execute_journaled(self, executor: Executor, fn: ProcessFn | None) -> None:
        """Run ``executor`` with results committed to the store as they arrive.

        ``Journal.wrap`` makes each request wait until the results before it are on disk,
        so a crash loses at most the requests in flight (see :mod:`brainbatch.store.journal`).
        """
        if self.store is None:
            await executor.execute(self.job, fn)
            return
        journal = self.store.journal(self.job)
        try:
            await executor.execute(self.job, None if fn is None else journal.wrap(fn))
        finally:
            await asyncio.to_thread(journal.close)

    # -- all together --------------------------------------------------------------------------

    async def run(self) -> BatchJob:
        """Send every pending request of the job and return the job once it ended.

        Cancel with ``job.request_cancel()`` (from any thread); the job then ends CANCELLED
        with the results made so far.

        Raises:
            brainbatch.store.JobBusy: another process (or run) holds the job's lease; nothing
                was sent and the job is left as it is.
        """
        lease = self.lease if self.release_lease else None
        if self.store is not None and self.lease is None:
            # a lease taken from us by force cancels this run: the other process runs it now
            lease = await asyncio.to_thread(
                self.store.claim, self.job, on_lost=lambda _: self.job.request_cancel()
            )
        try:
            await self._run()
        finally:
            if lease is not None:
                await asyncio.to_thread(lease.release)
        return self.job

    async def _run(self) -> None:
        try:
            provider, owned = self.open_provider()
        except BaseException as exc:
            self._failed(exc)
            raise
        self.provider = provider
        try:
            fn = await self.wrap(provider)
            self.executor = self.make_executor(provider)
            self.job.metadata.setdefault("mode", self.settings.mode)
            await self.execute_journaled(self.executor, fn)
        except StopJob as exc:  # e.g. a native batch over budget: refused before uploading
            if isinstance(exc, StoreError):  # the store cannot write (disk full): a failed run
                self._failed(exc)
                raise
            self._stopped(exc)
        except Exception as exc:
            self._failed(exc)
            raise
        finally:
            if owned and hasattr(provider, "aclose"):
                await provider.aclose()

    def _stopped(self, exc: StopJob) -> None:
        """A StopJob before the executor ran: end the job as executors do (no raise)."""
        job = self.job
        job.status = BatchStatus(exc.job_status)
        job.error = str(exc)
        job.completed_at = datetime.now(UTC)
        if self.store is not None:
            self.store.update_status(job)

    def _failed(self, exc: BaseException) -> None:
        """The job could not run (bad configuration, a bug): mark it failed, keep results."""
        job = self.job
        if not job.status.is_terminal:
            job.status = BatchStatus.FAILED
            job.error = f"{type(exc).__name__}: {exc}"
        if job.completed_at is None:
            job.completed_at = datetime.now(UTC)


async def run_job(job: BatchJob, settings: RunSettings, store: Any | None = None) -> BatchJob:
    """Shorthand for ``await JobRunner(job, settings, store).run()``."""
    return await JobRunner(job, settings, store).run()


# -- the parts other modules provide (one function each) -----------------------------------------


class ProviderRouter(Provider):
    """Sends each request to the provider its model belongs to (per-row models that span
    providers, e.g. a model column with ``gpt-4o-mini`` and ``claude-3-5-haiku`` rows)."""

    name: ClassVar[str] = "router"

    def __init__(self, providers: Mapping[str, Provider]) -> None:
        self.providers = dict(providers)

    def __repr__(self) -> str:
        return f"ProviderRouter({sorted(self.providers)})"

    def cache_namespace(self) -> str:
        from .store import cache_namespace

        return "+".join(sorted(cache_namespace(p) for p in self.providers.values()))

    async def __call__(self, request: BatchRequest) -> ProviderResponse:
        name = provider_for_model(request.model)
        provider = self.providers.get(name or "")
        if provider is None:
            raise ConfigurationError(f"no provider for model {request.model!r}")
        return await provider(request)

    async def aclose(self) -> None:
        for provider in self.providers.values():
            await provider.aclose()


def open_providers(
    provider: str | None, model: str, models: Iterable[str], **kwargs: Any
) -> Provider:
    """One provider for ``provider``/``model``; a :class:`ProviderRouter` when ``provider``
    is None and the requests' ``models`` belong to several providers."""
    if provider is None:
        by_name: dict[str, str] = {}
        for m in models:
            name = provider_for_model(m)
            if name is None:
                raise ConfigurationError(
                    f"no provider known for model {m!r}: pass provider= (e.g. 'openai' with "
                    "base_url=... for a compatible server)"
                )
            by_name.setdefault(name, m)
        if len(by_name) > 1:
            return ProviderRouter(
                {n: resolve_provider(n, first, **kwargs) for n, first in by_name.items()}
            )
    return resolve_provider(provider, model, **kwargs)


def _limits_of(provider: Any) -> str:
    text = getattr(getattr(provider, "limiter", None), "limits_in_force", None)
    return text if isinstance(text, str) else ""


def _all_openai(provider: Any) -> bool:
    from .providers.openai import OpenAIProvider

    if isinstance(provider, ProviderRouter):
        return all(isinstance(p, OpenAIProvider) for p in provider.providers.values())
    return isinstance(provider, OpenAIProvider)


def price_model_of(provider: Any) -> PriceModel:
    """How a provider's request models map to priced models (the simulator's ``sim`` ->
    its ``model``); None: each request's own model."""
    mapping = getattr(provider, "price_model", None)
    return mapping if callable(mapping) else None


async def wrap_cache(
    fn: ProcessFn, store: Any, provider: Any, job: BatchJob, enabled: bool | None
) -> ProcessFn:
    """``fn`` behind the store's response cache, with the job's hits looked up in advance."""
    from .store import ResponseCache, cache_namespace

    cache = ResponseCache(store, enabled=enabled)
    namespace = cache_namespace(provider)
    await asyncio.to_thread(cache.prefetch, list(job.iter_pending()), namespace)
    wrapped: ProcessFn = cache.wrap(fn, namespace)
    return wrapped


def make_batch_executor(
    provider: Any,
    poll_interval: float | None = None,
    on_submit: Callable[[BatchJob, Any], Any] | None = None,
    check: Callable[[ProviderResponse], ProviderResponse] | None = None,
) -> Executor:
    """The native Batch API executor for an OpenAI or Anthropic (compatible) provider.

    ``on_submit(job, record)`` runs with each batch's ``ProviderBatch`` record right before
    it is submitted (the intent) and as soon as the provider accepted it.
    """
    from .batchapi import BatchAPIExecutor

    if poll_interval is None:
        return BatchAPIExecutor(provider, on_submit=on_submit, check=check)
    return BatchAPIExecutor(
        provider,
        poll_interval=poll_interval,
        max_poll_interval=max(60.0, poll_interval),
        on_submit=on_submit,
        check=check,
    )
