"""``SimEndpoint``: what :class:`~brainbatch.sim.SimServer` and
:class:`~brainbatch.sim.SimProcess` share: the addresses of the simulated APIs and ``with``."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class SimEndpoint:
    """A simulated server that subclasses start, stop and give the :attr:`url` of."""

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        raise NotImplementedError

    @property
    def openai_base_url(self) -> str:
        """``url + "/v1"``: what the openai SDK and ``OpenAIProvider`` take."""
        return self.url + "/v1"

    @property
    def anthropic_base_url(self) -> str:
        """``url``: what the anthropic SDK and ``AnthropicProvider`` take."""
        return self.url

    @property
    def gemini_base_url(self) -> str:
        """``url``: what the google-genai SDK (``HttpOptions(base_url=...)``) and
        ``GeminiProvider`` take (the API version is added to each path)."""
        return self.url

    def start(self) -> Self:
        """Start serving; returns ``self``."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop serving."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
