"""``POST /v1/embeddings`` of the simulated server refuses what OpenAI refuses."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from brainbatch.sim import SimServer


@pytest.fixture
def client(sim: SimServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.url, timeout=5.0) as c:
        yield c


def _post(client: httpx.Client, **body: Any) -> httpx.Response:
    body.setdefault("model", "text-embedding-3-small")
    return client.post("/v1/embeddings", json=body)


def test_answers_in_openais_shape(client: httpx.Client) -> None:
    data = _post(client, input=["a", "b c"]).json()
    assert data["object"] == "list"
    assert [d["index"] for d in data["data"]] == [0, 1]
    assert len(data["data"][0]["embedding"]) == 1536
    assert data["usage"]["prompt_tokens"] == data["usage"]["total_tokens"] > 0


def test_vectors_depend_on_the_seed(sim: SimServer, client: httpx.Client) -> None:
    first = _post(client, input="same text").json()["data"][0]["embedding"]
    assert _post(client, input="same text").json()["data"][0]["embedding"] == first
    sim.configure(seed=3)
    assert _post(client, input="same text").json()["data"][0]["embedding"] != first


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"input": ""}, 400, "empty string"),
        ({"input": ["x"] * 2049}, 400, "1 to 2048"),
        ({"input": "x", "model": "gpt-4o-mini-embed"}, 404, "does not exist"),
        ({"input": "x", "model": "text-embedding-ada-002", "dimensions": 8}, 400, "dimensions"),
        ({"input": "x", "dimensions": 5000}, 400, "maximum dimensions is 1536"),
        ({"input": "x", "colour": "red"}, 400, "Unrecognized request argument"),
        ({"input": "word " * 9000}, 400, "maximum context length is 8192"),
    ],
)
def test_refuses_what_openai_refuses(
    client: httpx.Client, body: dict[str, Any], status: int, words: str
) -> None:
    r = _post(client, **body)
    assert r.status_code == status
    assert words in r.json()["error"]["message"]
