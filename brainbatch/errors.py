"""The exception hierarchy of brainbatch.

Everything brainbatch raises on purpose derives from :class:`BrainbatchError`::

    BrainbatchError
    ├── InputError (also ValueError)      bad input, raised before anything is sent
    ├── ConfigurationError                missing key, unknown provider, bad setting
    ├── StoreError                        the journal file is unusable (foreign, corrupt)
    ├── StopJob                           stops a whole running job (not just one row)
    │   ├── BudgetExceeded                the cost guard refused to start more requests
    │   └── AuthenticationError           401/403: every further request would fail too
    └── ProviderError                     one request failed at the provider
        ├── PermanentError                400/404/422...: retrying cannot help
        │   └── AuthenticationError
        └── TransientError                408/409/429/5xx, timeouts, dropped connections
            ├── RateLimitError            429, carries ``retry_after``
            ├── ServerError               5xx
            └── ConnectionFailed          timeouts, resets, refused connections

    BrainbatchWarning (also UserWarning)
    ├── InsecureTransportWarning          a key about to go over plain http:// off this machine
    └── DeprecatedFieldWarning            a request field the provider's API marks deprecated

Which HTTP status becomes which error is decided in one place,
:func:`brainbatch.providers._status.status_error`, for real-time requests and Batch API calls
alike.

No message built here ever contains an API key: provider errors carry the status code, the
provider's own error text and request id, never request headers.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "AuthenticationError",
    "BrainbatchError",
    "BrainbatchWarning",
    "BudgetExceeded",
    "ConfigurationError",
    "ConnectionFailed",
    "DeprecatedFieldWarning",
    "InputError",
    "InsecureTransportWarning",
    "PermanentError",
    "ProviderError",
    "RateLimitError",
    "ServerError",
    "StopJob",
    "StoreError",
    "TransientError",
]


class BrainbatchError(Exception):
    """Base class of every error brainbatch raises on purpose."""


class InputError(BrainbatchError, ValueError):
    """The input cannot be run as given; the message names the row, column or parameter."""


class ConfigurationError(BrainbatchError):
    """A setting is missing or wrong (no API key, unknown provider, bad limit)."""


class StoreError(BrainbatchError):
    """The journal file cannot be used (not a brainbatch store, corrupt, newer schema)."""


class StopJob(BrainbatchError):
    """Raised by a ``process_fn`` to stop the whole job, not only the current request.

    Executors stop starting new requests, let the ones in flight finish, and end the job with
    :attr:`job_status` (``"failed"`` or ``"cancelled"``) and this error's message as the
    job's ``error``. If :attr:`request_sent` is true the request that raised it is recorded
    as an error result; otherwise it stays pending (it was never sent, so it can be resumed).
    """

    job_status: ClassVar[str] = "failed"
    request_sent: bool = False


class BudgetExceeded(StopJob):
    """Starting another request could push the job's spend past ``max_cost_usd``."""

    job_status: ClassVar[str] = "cancelled"


class ProviderError(BrainbatchError):
    """One request failed at the provider.

    Attributes:
        status_code: HTTP status, or None for connection-level failures.
        provider_request_id: the provider's request id, if it sent one.
        kind: short machine-readable class ("rate_limit", "server_error", "timeout", ...).
        retry_after: the provider's ``Retry-After`` / ``retry-after-ms`` hint in seconds, if
            it sent one (on a 429, a 503...).
        attempts: how many times the request was sent before this error was raised (set by
            the retry loop; None when no loop ran).
    """

    retryable: ClassVar[bool] = False
    kind: str = "provider_error"
    attempts: int | None = None

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        provider_request_id: str | None = None,
        kind: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.provider_request_id = provider_request_id
        self.retry_after = retry_after
        if kind is not None:
            self.kind = kind


class PermanentError(ProviderError):
    """The provider refused the request itself (400, 404, 422...); retrying cannot help."""

    kind = "invalid_request"


class AuthenticationError(PermanentError, StopJob):
    """The provider refused the credentials (401/403): the whole job stops at once."""

    kind = "authentication"
    job_status: ClassVar[str] = "failed"
    request_sent = True


class TransientError(ProviderError):
    """A failure that may go away if the request is sent again later."""

    retryable: ClassVar[bool] = True
    kind = "transient"


class RateLimitError(TransientError):
    """429: too many requests or tokens; ``retry_after`` is the provider's hint in seconds."""

    kind = "rate_limit"


class ServerError(TransientError):
    """5xx from the provider."""

    kind = "server_error"


class ConnectionFailed(TransientError):
    """Timeout, reset, refused or dropped connection; also malformed response bodies.

    ``maybe_sent`` is False only when the request certainly never reached the server (the
    connection was refused or could not be opened in time): then even a request that must not
    run twice, such as creating a batch, can be sent again.
    """

    kind = "connection"

    def __init__(
        self,
        message: str,
        *,
        maybe_sent: bool = True,
        status_code: int | None = None,
        provider_request_id: str | None = None,
        kind: str | None = None,
    ) -> None:
        super().__init__(
            message, status_code=status_code, provider_request_id=provider_request_id, kind=kind
        )
        self.maybe_sent = maybe_sent


class BrainbatchWarning(UserWarning):
    """Base class of the warnings brainbatch gives (each at most once per provider and cause)."""


class InsecureTransportWarning(BrainbatchWarning):
    """An API key is about to be sent over plain ``http://`` to a host that is not loopback:
    anyone on the network path can read it."""


class DeprecatedFieldWarning(BrainbatchWarning):
    """A request uses a field the provider's official API document marks deprecated. The
    request is sent unchanged; the warning says what to use instead."""
