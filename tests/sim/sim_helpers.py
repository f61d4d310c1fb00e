"""Request bodies shared by the simulated-server tests."""

from __future__ import annotations

from typing import Any

ANTHROPIC_HEADERS = {"anthropic-version": "2023-06-01"}


def chat_body(text: str = "Say hi", model: str = "gpt-4o-mini", **params: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": text}], **params}


def message_body(
    text: str = "Say hi", model: str = "claude-haiku-4-5", **params: Any
) -> dict[str, Any]:
    return {
        "model": model,
        "max_tokens": 256,
        "messages": [{"role": "user", "content": text}],
        **params,
    }
