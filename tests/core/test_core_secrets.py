"""The one secret rule: credentials and credential headers, never ordinary settings."""

from __future__ import annotations

import pickle

import pytest

from brainbatch.secrets import Secret, is_credential, is_secret_header, public_settings, redact


@pytest.mark.parametrize("name", ["api_key", "API_KEY", "openai_api_key", "password", "token"])
def test_credential_names_are_secret(name: str) -> None:
    assert is_credential(name)


@pytest.mark.parametrize(
    "name", ["default_output_tokens", "adapt_to_headers", "key_env", "max_tokens", "base_url"]
)
def test_ordinary_settings_are_not_secret(name: str) -> None:
    assert not is_credential(name)


@pytest.mark.parametrize("name", ["Authorization", "x-api-key", "X-Goog-Api-Key", "cookie"])
def test_credential_headers_are_secret(name: str) -> None:
    assert is_secret_header(name)


def test_public_settings_keeps_every_non_secret_setting_exactly() -> None:
    settings = {
        "api_key": "sk-live-123456789",
        "default_output_tokens": 512,
        "adapt_to_headers": False,
        "key_env": "MY_KEY",
        "extra_headers": {"Authorization": "Bearer abcdefghijk", "OpenAI-Beta": "assistants=v2"},
    }
    assert public_settings(settings) == {
        "default_output_tokens": 512,
        "adapt_to_headers": False,
        "key_env": "MY_KEY",
        "extra_headers": {"OpenAI-Beta": "assistants=v2"},
    }


def test_redact_masks_the_given_secret_and_key_like_text() -> None:
    text = redact("bad key abc123secret and sk-proj-ABCDEFGH in text", Secret("abc123secret"))
    assert "abc123secret" not in text
    assert "sk-proj-ABCDEFGH" not in text
    assert text.count("***") == 2


def test_secret_never_shows_in_repr_str_or_pickle() -> None:
    s = Secret("sk-hidden-value-1")
    assert "hidden" not in repr(s) and "hidden" not in f"{s}"
    with pytest.raises(TypeError):
        pickle.dumps(s)
