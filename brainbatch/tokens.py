"""Token counts estimated offline, before anything is sent.

Providers report exact usage after a request; before it, brainbatch estimates. The estimate
counts word pieces and punctuation the way byte-pair encoders split English text (a word is
one token, a long word more, each punctuation mark one), plus the per-message overhead chat
APIs add. ``docs`` in the README give its measured error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["estimate_message_tokens", "estimate_tokens"]

_PIECE = re.compile(r"[A-Za-z]+|\d{1,3}|[^\sA-Za-z\d]")
_MESSAGE_OVERHEAD = 4
_REPLY_PRIMER = 3


def estimate_tokens(text: str) -> int:
    """Approximate BPE token count of ``text`` (>= 1 for non-empty text)."""
    if not text:
        return 0
    n = 0
    for m in _PIECE.finditer(text):
        piece = m.group()
        # long words split into several tokens, roughly one per 6 letters after the first 6
        n += 1 + (len(piece) - 1) // 6 if piece.isalpha() else 1
    if not text.isascii():
        n += sum(1 for ch in text if ord(ch) > 127)
    return max(1, n)


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, Iterable):
        parts = []
        for block in content:
            if isinstance(block, Mapping) and isinstance(block.get("text"), str):
                parts.append(block["text"])
        return "\n".join(parts)
    return str(content)


def estimate_message_tokens(
    messages: Iterable[Mapping[str, Any]], system: str | None = None
) -> int:
    """Approximate prompt tokens of a chat request, overhead included."""
    total = _REPLY_PRIMER
    if system:
        total += _MESSAGE_OVERHEAD + estimate_tokens(system)
    for m in messages:
        total += _MESSAGE_OVERHEAD + estimate_tokens(_content_text(m.get("content", "")))
    return total
