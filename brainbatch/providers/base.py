"""What every provider is: an async callable from a request to a measured response."""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import ClassVar

from ..models import BatchRequest, ProviderResponse

__all__ = ["Provider"]


class Provider(ABC):
    """Base class of providers. A provider is a valid ``process_fn`` for every executor::

        results = await ParallelExecutor(max_concurrent=64).execute(job, provider)

    Subclasses set :attr:`name` (``"openai"``, ``"anthropic"``, ``"sim"``) and implement
    :meth:`__call__`. Providers that hold connections release them in :meth:`aclose`; use
    ``async with provider:`` to be sure.
    """

    name: ClassVar[str] = "provider"

    @abstractmethod
    async def __call__(self, request: BatchRequest) -> ProviderResponse:
        """Send one request and return what the provider answered and measured."""

    async def aclose(self) -> None:
        """Release connections; the provider may not be used afterwards."""
        return None

    async def __aenter__(self) -> Provider:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
