"""The budget guard: a job never starts a request that could push its spend past a limit.

::

    guard = BudgetGuard(max_cost_usd=5.00)
    results = await executor.execute(job, guard.wrap(provider, price_model="gpt-4o-mini"))

Before each request starts, the guard reserves the request's worst-case cost: its prompt
tokens (see below) plus its ``max_tokens`` (``max_completion_tokens``) of output. If the money
already spent, plus the reservations of the requests in flight, plus this reservation would
exceed ``max_cost_usd``, it raises :class:`~brainbatch.errors.BudgetExceeded` instead of
sending: executors then stop starting requests, let those in flight finish, and end the job
``CANCELLED`` with the guard's message as its error; every result is kept and the unsent
requests stay pending (resume with a higher limit). When a response arrives its reservation
is replaced by what it actually cost (the provider's usage priced by
:func:`~brainbatch.pricing.cost_of`).

So the spend never exceeds the limit, and the job stops within one request's cost of the
limit when reservations are tight (answers use most of their ``max_tokens``).

A budget needs a cap on each answer. Without ``max_tokens`` an answer's length, so its cost,
has no bound (answers of 20,000 tokens are common with reasoning models), and no reservation
could keep the promise; brainbatch never sends a cap the user did not write. So a request
without one is refused: :func:`require_answer_caps` raises an
:class:`~brainbatch.errors.InputError` before a job starts (``bb.run``, ``bb.submit`` and the
CLI call it), and the guard itself refuses to start such a request (``BudgetExceeded``, the
job ends cancelled, nothing sent) whatever the path. A custom ``estimator`` (your own worst
case) lifts the rule.

Prompt tokens reserved: for models with an exact offline tokenizer, the larger of the exact
count and the approximation (a provider that reports approximate usage, like the simulated
one, is covered too); for other models the approximation plus
:data:`APPROX_INPUT_MARGIN` (the approximation's largest error on the bundled sample was 33%).

What a failed request costs: nothing for refusals the provider does not bill (HTTP 4xx,
429, 5xx); the full reservation for timeouts, dropped connections, cancelled requests and
unexpected errors, since the provider may have done (and billed) the work.

For native batch APIs, :meth:`BudgetGuard.check_before_submit` checks the estimate of the
whole batch (money already spent included) before anything is uploaded.
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from .errors import (
    BudgetExceeded,
    ConfigurationError,
    InputError,
    PermanentError,
    RateLimitError,
    ServerError,
)
from .estimate import PriceModel, cost_table, price_name, token_counts
from .executors import ProcessFn
from .models import BatchJob, BatchRequest, ProviderResponse
from .pricing import cost_of, price_of
from .structured import schema_text
from .tokens import estimate_message_tokens, has_exact_tokenizer

__all__ = [
    "APPROX_INPUT_MARGIN",
    "BudgetGuard",
    "answer_cap",
    "guard_job",
    "require_answer_caps",
    "worst_case_cost",
]

APPROX_INPUT_MARGIN = 0.35
"""Extra share of prompt tokens reserved when they can only be approximated."""

_SHOW = 5  # requests named in a message

NEEDS_A_CAP = (
    "max_cost_usd needs a cap on each answer: pass params={'max_tokens': N} (or "
    "'max_completion_tokens'; on the command line --param max_tokens=N). Without it an "
    "answer's length, so its cost, has no bound, and the budget could not be kept"
)
"""The start of the message for a budget on requests without an output cap."""

Estimator = Callable[[BatchRequest], float]


def _input_bound(request: BatchRequest, model: str) -> int:
    messages = list(request.chat_messages())
    schema = schema_text(request.params)
    if schema is not None:  # structured output: counted as one more prompt message
        messages.append({"role": "system", "content": schema})
    approx = estimate_message_tokens(messages, request.system)
    if has_exact_tokenizer(model):
        return max(approx, estimate_message_tokens(messages, request.system, model))
    return math.ceil(approx * (1.0 + APPROX_INPUT_MARGIN))


def answer_cap(request: BatchRequest) -> int | None:
    """The output cap the request sends (``max_tokens`` / ``max_completion_tokens``; the
    larger if both), or None. Other names (``max_output_tokens``) are not chat-completion
    parameters a provider is bound to honour, so they do not count."""
    params = request.params or {}
    caps = [
        v
        for v in (params.get("max_tokens"), params.get("max_completion_tokens"))
        if isinstance(v, int) and not isinstance(v, bool) and v > 0
    ]
    return max(caps) if caps else None


def _uncapped_message(keys: Sequence[str], total: int) -> str:
    shown = ", ".join(repr(k) for k in keys[:_SHOW])
    more = f" and {len(keys) - _SHOW} more" if len(keys) > _SHOW else ""
    return f"{NEEDS_A_CAP}; {len(keys)} of {total} requests have none: {shown}{more}"


def require_answer_caps(requests: Iterable[BatchRequest]) -> None:
    """Raise :class:`~brainbatch.errors.InputError` unless every request caps its answer.

    Called before a job with ``max_cost_usd`` starts; names the requests (``custom_id``)
    without ``max_tokens``.
    """
    reqs = requests if isinstance(requests, Sequence) else list(requests)
    missing = [r.key for r in reqs if answer_cap(r) is None]
    if missing:
        raise InputError(_uncapped_message(missing, len(reqs)))


def worst_case_cost(
    request: BatchRequest, *, price_model: PriceModel = None, batch: bool = False
) -> float:
    """USD the request can cost at most: prompt bound + ``max_tokens`` of output (NaN if
    unpriced, infinite without an output cap)."""
    model = price_name(request.model, price_model)
    if price_of(model) is None:
        return math.nan
    out = answer_cap(request)
    if out is None:
        return math.inf
    return cost_of(model, _input_bound(request, model), out, batch=batch).usd


def _money(usd: float) -> str:
    if usd >= 100:
        return f"${usd:,.2f}"
    return f"${usd:.4f}" if usd >= 0.01 else f"${usd:.6f}"


class BudgetGuard:
    """Refuses to start requests once the spend could pass ``max_cost_usd``.

    Args:
        max_cost_usd: the limit, in US dollars (> 0).
        estimator: ``request -> worst-case USD``; default :func:`worst_case_cost` with the
            ``price_model`` and ``batch`` given to :meth:`wrap`.
        already_spent_usd: money the job spent before (a resumed job's paid cost).

    The counters (:attr:`spent_usd`, :attr:`reserved_usd`, :attr:`refused`) are safe to read
    from any thread while the job runs.
    """

    def __init__(
        self,
        max_cost_usd: float,
        *,
        estimator: Estimator | None = None,
        already_spent_usd: float = 0.0,
    ) -> None:
        if (
            isinstance(max_cost_usd, bool)
            or not isinstance(max_cost_usd, int | float)
            or not math.isfinite(max_cost_usd)
            or max_cost_usd <= 0
        ):
            raise InputError(f"max_cost_usd must be a number > 0 (USD), got {max_cost_usd!r}")
        if (
            isinstance(already_spent_usd, bool)
            or not isinstance(already_spent_usd, int | float)
            or not math.isfinite(already_spent_usd)
            or already_spent_usd < 0
        ):
            raise InputError(
                f"already_spent_usd must be a number >= 0 (USD), got {already_spent_usd!r}"
            )
        if estimator is not None and not callable(estimator):
            raise InputError("estimator must be a callable: request -> worst-case USD")
        self.max_cost_usd = float(max_cost_usd)
        self.estimator = estimator
        self._lock = threading.Lock()
        self._spent = float(already_spent_usd)
        self._reserved = 0.0
        self._in_flight = 0
        self.refused = 0
        """Requests the guard refused to start."""

    def __repr__(self) -> str:
        return (
            f"BudgetGuard(max_cost_usd={self.max_cost_usd}, spent_usd={self._spent:.6f}, "
            f"reserved_usd={self._reserved:.6f}, in_flight={self._in_flight})"
        )

    @property
    def spent_usd(self) -> float:
        """What the requests that ended have cost (their actual cost)."""
        return self._spent

    @property
    def reserved_usd(self) -> float:
        """Worst-case cost reserved for the requests in flight."""
        return self._reserved

    @property
    def remaining_usd(self) -> float:
        """``max_cost_usd`` minus what is spent and reserved."""
        return self.max_cost_usd - self._spent - self._reserved

    # -- per request -------------------------------------------------------------------------

    def _estimate(self, request: BatchRequest, price_model: PriceModel, batch: bool) -> float:
        if self.estimator is not None:
            est = float(self.estimator(request))
        else:
            est = worst_case_cost(request, price_model=price_model, batch=batch)
        if math.isnan(est) or est < 0:
            model = price_name(request.model, price_model)
            raise BudgetExceeded(self._unpriced_message(model, request.key))
        if math.isinf(est):
            raise BudgetExceeded(
                f"{NEEDS_A_CAP}; request {request.key!r} has none. Nothing was sent for it."
            )
        return est

    def _unpriced_message(self, model: str, key: str) -> str:
        return (
            f"max_cost_usd={_money(self.max_cost_usd)} cannot be enforced: no price known for "
            f"model {model!r} (request {key!r}), so a request's cost is unknown. Set one with "
            f"brainbatch.set_price({model!r}, input_per_mtok=..., output_per_mtok=...)"
        )

    def reserve(self, request: BatchRequest, usd: float) -> None:
        """Reserve ``usd`` for ``request`` or raise :class:`BudgetExceeded`."""
        with self._lock:
            if self._spent + self._reserved + usd > self.max_cost_usd:
                self.refused += 1
                raise BudgetExceeded(
                    f"budget reached: max_cost_usd={_money(self.max_cost_usd)}; spent "
                    f"{_money(self._spent)} + {_money(self._reserved)} reserved for "
                    f"{self._in_flight} requests in flight + {_money(usd)} worst case for "
                    f"request {request.key!r} would exceed it. Unsent requests stay pending: "
                    "raise max_cost_usd and resume to finish them."
                )
            self._reserved += usd
            self._in_flight += 1

    def settle(self, reserved_usd: float, actual_usd: float) -> None:
        """Replace a reservation by what the request actually cost."""
        with self._lock:
            self._in_flight -= 1
            # nothing in flight: exactly zero (no float residue from the subtractions)
            self._reserved = max(0.0, self._reserved - reserved_usd) if self._in_flight else 0.0
            self._spent += actual_usd

    def worst_case_usd(
        self, request: BatchRequest, price_model: PriceModel = None, batch: bool = False
    ) -> float:
        """What ``request`` may cost at most (raises BudgetExceeded when that is unknown)."""
        return self._estimate(request, price_model, batch)

    def actual_usd(
        self,
        out: object,
        request: BatchRequest,
        reserved: float,
        price_model: PriceModel = None,
        batch: bool = False,
    ) -> float:
        """What an answered request cost (``reserved``, the worst case, when unknown)."""
        return self._actual(out, request, reserved, price_model, batch)

    def add_spent(self, usd: float) -> None:
        """Count money paid elsewhere (a resumed part of a cluster job) as spent."""
        with self._lock:
            self._spent += usd

    def _actual(
        self,
        out: object,
        request: BatchRequest,
        reserved: float,
        price_model: PriceModel,
        batch: bool,
    ) -> float:
        if not isinstance(out, ProviderResponse):
            return reserved  # usage unknown: assume the worst
        if out.cached:
            return 0.0
        if out.cost_usd is not None and math.isfinite(out.cost_usd):
            return float(out.cost_usd)
        if out.input_tokens is not None and out.output_tokens is not None:
            model = price_name(request.model, price_model)
            usd = cost_of(
                model, out.input_tokens, out.output_tokens, out.cached_tokens, batch=batch
            ).usd
            if math.isfinite(usd):
                return usd
        return reserved

    def wrap(
        self,
        process_fn: ProcessFn,
        *,
        price_model: PriceModel = None,
        batch: bool = False,
    ) -> ProcessFn:
        """``process_fn`` behind the guard.

        Args:
            process_fn: the provider (or any async ``request -> answer``).
            price_model: how request models map to priced models: a name, a function (e.g.
                ``SimulatedProvider().price_model``), a dict, or None (each request's model).
            batch: price as native batch work.

        Raises:
            ConfigurationError: at once, when ``price_model`` is a name without a price.
        """
        if isinstance(price_model, str) and price_of(price_model) is None:
            raise ConfigurationError(
                f"max_cost_usd cannot be enforced: no price known for model {price_model!r}. "
                f"Set one with brainbatch.set_price({price_model!r}, input_per_mtok=..., "
                "output_per_mtok=...)"
            )

        async def guarded(request: BatchRequest) -> Any:
            reserved = self._estimate(request, price_model, batch)
            self.reserve(request, reserved)
            actual = reserved
            try:
                out = await process_fn(request)
            except (PermanentError, RateLimitError, ServerError):
                actual = 0.0  # refused by the provider (4xx, 429, 5xx): not billed
                raise
            except (Exception, asyncio.CancelledError):
                actual = reserved  # may have been done and billed: assume so
                raise
            else:
                actual = self._actual(out, request, reserved, price_model, batch)
                return out
            finally:
                self.settle(reserved, actual)

        guarded.__name__ = f"budget_guarded_{getattr(process_fn, '__name__', 'process_fn')}"
        return guarded

    # -- native batches ----------------------------------------------------------------------

    def check_before_submit(
        self,
        requests: Iterable[BatchRequest],
        *,
        price_model: PriceModel = None,
        batch: bool = True,
        max_tokens: int | None = None,
    ) -> float:
        """Raise :class:`BudgetExceeded` before any upload if the batch could pass the limit.

        The estimate is the whole batch's worst case: prompt tokens (exact, or approximated
        plus :data:`APPROX_INPUT_MARGIN`) and each request's ``max_tokens`` (or
        ``max_tokens`` here, the cap the caller sends), priced as batch work. It must fit in
        what is left of ``max_cost_usd`` after the money already spent (a resumed job's).
        Returns the estimate in USD when it fits. Requests without a cap are refused.
        """
        reqs: Sequence[BatchRequest] = list(requests)
        if self.estimator is not None:
            total = float(sum(self.estimator(r) for r in reqs))
        else:
            if max_tokens is None:
                missing = [r.key for r in reqs if answer_cap(r) is None]
                if missing:
                    raise BudgetExceeded(
                        _uncapped_message(missing, len(reqs)) + ". Nothing was uploaded."
                    )
            total = self._batch_worst_case(reqs, price_model, batch, max_tokens)
        if not math.isfinite(total):
            raise BudgetExceeded(
                f"max_cost_usd={_money(self.max_cost_usd)} cannot be checked: some models in "
                "the batch have no known price. Set them with brainbatch.set_price(...). "
                "Nothing was uploaded."
            )
        with self._lock:
            available = self.max_cost_usd - self._spent - self._reserved
        if total > available:
            raise BudgetExceeded(
                f"estimated worst-case cost {_money(total)} of {len(reqs)} requests exceeds "
                f"max_cost_usd={_money(self.max_cost_usd)}"
                + (f" (already spent {_money(self._spent)})" if self._spent else "")
                + ". Nothing was uploaded; lower max_tokens, send fewer rows or raise "
                "max_cost_usd."
            )
        return total

    def _batch_worst_case(
        self,
        reqs: Sequence[BatchRequest],
        price_model: PriceModel,
        batch: bool,
        max_tokens: int | None,
    ) -> float:
        counts = token_counts(reqs, max_tokens=max_tokens)
        inp = counts["input_tokens"].to_numpy(dtype=np.float64)
        exact = counts["exact"].to_numpy(dtype=bool)
        counts["input_tokens"] = np.where(
            exact, inp, np.ceil(inp * (1.0 + APPROX_INPUT_MARGIN))
        ).astype(np.int64)
        if max_tokens is None:
            out = np.array([float(answer_cap(r) or math.inf) for r in reqs], dtype=np.float64)
        else:
            out = np.full(len(reqs), float(max_tokens))
        mode = "batch" if batch else "realtime"
        table = cost_table(counts, modes=[mode], output_tokens=out, price_model=price_model)
        usd = table["cost_usd"]
        return math.nan if usd.isna().any() else float(usd.sum())


def guard_job(
    process_fn: ProcessFn,
    job: BatchJob,
    max_cost_usd: float,
    *,
    provider: object = None,
    batch: bool = False,
) -> tuple[ProcessFn, BudgetGuard]:
    """``process_fn`` behind a :class:`BudgetGuard` for ``job``; returns it and the guard.

    What the job already paid (a resumed job) counts against ``max_cost_usd``. Requests are
    priced as the provider prices them: ``provider.price_model(model)`` when the provider has
    one (the simulated provider does), else each request's own model.
    """
    guard = BudgetGuard(max_cost_usd, already_spent_usd=float(job.paid_usd or 0.0))
    mapper = getattr(provider if provider is not None else process_fn, "price_model", None)
    price_model: PriceModel = mapper if callable(mapper) else None
    return guard.wrap(process_fn, price_model=price_model, batch=batch), guard
