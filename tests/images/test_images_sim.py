"""The simulated server refuses bad image and document parts like the real APIs (400)."""

from __future__ import annotations

import base64

import httpx
from image_helpers import PDF, png

ANTHROPIC = {"anthropic-version": "2023-06-01", "x-api-key": "sk-test"}


def _chat(url: str) -> dict:
    return {
        "model": "gpt-4o-mini",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is it?"},
                    {"type": "image_url", "image_url": {"url": url}},
                ],
            }
        ],
    }


def _message(media_type: str, data: str, kind: str = "image") -> dict:
    block = {"type": kind, "source": {"type": "base64", "media_type": media_type, "data": data}}
    return {
        "model": "claude-haiku-4-5",
        "max_tokens": 20,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}, block]}],
    }


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_openai_bad_base64_is_400(client: httpx.Client) -> None:
    r = client.post("/v1/chat/completions", json=_chat("data:image/png;base64,!!notbase64!!"))
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "messages[0].content[1].image_url.url"


def test_openai_media_type_that_does_not_match_the_bytes_is_400(client: httpx.Client) -> None:
    r = client.post("/v1/chat/completions", json=_chat(f"data:image/jpeg;base64,{_b64(png())}"))
    assert r.status_code == 400
    assert "does not match" in r.json()["error"]["message"]


def test_openai_good_image_is_answered(client: httpx.Client) -> None:
    r = client.post("/v1/chat/completions", json=_chat(f"data:image/png;base64,{_b64(png())}"))
    assert r.status_code == 200


def test_anthropic_unsupported_media_type_is_400(client: httpx.Client) -> None:
    r = client.post("/v1/messages", json=_message("image/bmp", _b64(png())), headers=ANTHROPIC)
    assert r.status_code == 400
    assert r.json()["error"]["type"] == "invalid_request_error"


def test_anthropic_image_over_5mb_is_400(client: httpx.Client) -> None:
    big = _b64(png() + b"\x00" * (5 * 1024 * 1024 + 1))
    r = client.post("/v1/messages", json=_message("image/png", big), headers=ANTHROPIC)
    assert r.status_code == 400
    assert "exceeds 5 MB" in r.json()["error"]["message"]


def test_anthropic_pdf_document_is_answered(client: httpx.Client) -> None:
    body = _message("application/pdf", _b64(PDF), kind="document")
    r = client.post("/v1/messages", json=body, headers=ANTHROPIC)
    assert r.status_code == 200


def test_gemini_bad_inline_data_is_400(client: httpx.Client) -> None:
    body = {
        "contents": [
            {"role": "user", "parts": [{"inlineData": {"mimeType": "image/png", "data": "@@"}}]}
        ]
    }
    r = client.post(
        "/v1beta/models/gemini-2.5-flash:generateContent",
        json=body,
        headers={"x-goog-api-key": "sk-test"},
    )
    assert r.status_code == 400
    assert r.json()["error"]["status"] == "INVALID_ARGUMENT"
