"""The simulated server speaks Gemini's generateContent: answers, refusals in Google's error
shape, keys, faults and limits (429 with RetryInfo, no rate-limit headers)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from brainbatch.sim import SimServer

PATH = "/v1beta/models/gemini-2.5-flash:generateContent"


def body(text: str = "Say hi", **config: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"contents": [{"role": "user", "parts": [{"text": text}]}]}
    if config:
        out["generationConfig"] = config
    return out


def test_generate_content_has_gemini_shape(client: httpx.Client) -> None:
    r = client.post(PATH, json=body(maxOutputTokens=3))
    assert r.status_code == 200
    data = r.json()
    (candidate,) = data["candidates"]
    assert candidate["content"]["role"] == "model"
    assert candidate["content"]["parts"][0]["text"].startswith("[simulated]")
    assert candidate["finishReason"] == "MAX_TOKENS"
    usage = data["usageMetadata"]
    assert usage["candidatesTokenCount"] == 3
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + 3
    assert data["modelVersion"] == "gemini-2.5-flash" and data["responseId"]


def test_the_same_request_gets_the_same_answer_and_another_seed_another(
    sim: SimServer, client: httpx.Client
) -> None:
    first = client.post(PATH, json=body()).json()["candidates"][0]
    assert client.post(PATH, json=body()).json()["candidates"][0] == first
    sim.configure(seed=7)
    assert client.post(PATH, json=body()).json()["candidates"][0] != first


@pytest.mark.parametrize(
    ("request_body", "says"),
    [
        ({**body(), "temperature": 0.5}, 'Unknown name "temperature"'),
        ({"contents": []}, "contents is not specified"),
        ({"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]}, "valid role"),
        ({"contents": [{"role": "user", "parts": []}]}, "must not be empty"),
        (body(topK=2, max_tokens=5), 'Unknown name "max_tokens"'),
        (body(temperature=2.5), "temperature must be in the range"),
        (body(responseSchema={"type": "OBJECT"}), "response_mime_type"),
        (body(responseMimeType="text/html"), "allowed mimetypes"),
    ],
)
def test_what_gemini_refuses_is_a_400_invalid_argument(
    client: httpx.Client, request_body: dict[str, Any], says: str
) -> None:
    r = client.post(PATH, json=request_body)
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["code"] == 400 and err["status"] == "INVALID_ARGUMENT"
    assert says in err["message"]


def test_keys_are_checked_as_gemini_does(sim: SimServer, client: httpx.Client) -> None:
    sim.configure(api_key="good")
    missing = client.post(PATH, json=body())
    assert missing.status_code == 403 and missing.json()["error"]["status"] == "PERMISSION_DENIED"
    wrong = client.post(PATH, json=body(), headers={"x-goog-api-key": "bad"})
    assert wrong.status_code == 400
    assert wrong.json()["error"]["details"][0]["reason"] == "API_KEY_INVALID"
    assert client.post(PATH, json=body(), headers={"x-goog-api-key": "good"}).status_code == 200
    assert client.post(PATH + "?key=good", json=body()).status_code == 200
    assert [r.fault for r in sim.log] == ["auth", "auth", None, None]


def test_an_rpm_limit_answers_429_with_retry_info_and_no_rate_limit_headers(
    sim: SimServer, client: httpx.Client
) -> None:
    sim.configure(rpm=1)
    assert client.post(PATH, json=body("one")).status_code == 200
    r = client.post(PATH, json=body("two"))
    assert r.status_code == 429
    err = r.json()["error"]
    assert err["status"] == "RESOURCE_EXHAUSTED"
    (info,) = err["details"]
    assert info["@type"] == "type.googleapis.com/google.rpc.RetryInfo"
    assert info["retryDelay"].endswith("s") and float(info["retryDelay"][:-1]) > 50
    assert not any(h.startswith("x-ratelimit") for h in r.headers)


def test_injected_faults_use_googles_error_shape(sim: SimServer, client: httpx.Client) -> None:
    sim.configure(http_503=1.0)
    r = client.post(PATH, json=body())
    assert r.status_code == 503 and r.json()["error"]["status"] == "UNAVAILABLE"
    assert sim.log[-1].fault == "http_503"


def test_thinking_tokens_are_reported_when_a_thinking_budget_is_set(client: httpx.Client) -> None:
    plain = client.post(PATH, json=body()).json()["usageMetadata"]
    thinking = client.post(PATH, json=body(thinkingConfig={"thinkingBudget": 10_000}))
    usage = thinking.json()["usageMetadata"]
    assert "thoughtsTokenCount" not in plain
    assert usage["thoughtsTokenCount"] == 2 * usage["candidatesTokenCount"]
    assert usage["totalTokenCount"] == (
        usage["promptTokenCount"] + usage["candidatesTokenCount"] + usage["thoughtsTokenCount"]
    )


@pytest.mark.parametrize("version", ["v1", "v1beta"])
def test_the_google_genai_sdk_gets_answers_from_the_simulator(sim: SimServer, version: str) -> None:
    sim.configure(api_key="k")
    client = genai.Client(
        api_key="k",
        http_options=types.HttpOptions(
            base_url=sim.gemini_base_url,
            api_version=version,
            retry_options=types.HttpRetryOptions(attempts=1),
        ),
    )
    r = client.models.generate_content(
        model="gemini-2.5-flash",
        contents="Classify: great lamp",
        config=types.GenerateContentConfig(
            system_instruction="Answer with one word.", temperature=0.2, max_output_tokens=40
        ),
    )
    assert r.text is not None and r.text.startswith("[simulated]")
    assert r.usage_metadata is not None and r.usage_metadata.prompt_token_count
    structured = client.models.generate_content(
        model="gemini-2.5-flash",
        contents="Classify: great lamp",
        config=types.GenerateContentConfig(
            response_mime_type="application/json",
            response_schema={"type": "OBJECT", "properties": {"label": {"type": "STRING"}}},
        ),
    )
    assert isinstance(structured.parsed, dict) and set(structured.parsed) == {"label"}
    with pytest.raises(genai_errors.ClientError) as info:
        client.models.generate_content(
            model="gemini-2.5-flash",
            contents="hi",
            config=types.GenerateContentConfig(temperature=9),
        )
    assert info.value.code == 400
    assert sim.count() == 3


def test_the_google_genai_sdk_runs_a_batch_lifecycle_on_the_simulator(sim: SimServer) -> None:
    import io
    import time

    import orjson

    from brainbatch.sim.batches import SIM_BATCHES

    store = sim.app[SIM_BATCHES]
    store.reset()
    store.configure(validating_s=0.02, in_progress_s=0.1, finalizing_s=0.02, cancelling_s=0.02)
    sim.configure(api_key="k")
    client = genai.Client(
        api_key="k",
        http_options=types.HttpOptions(
            base_url=sim.gemini_base_url,
            api_version="v1beta",
            retry_options=types.HttpRetryOptions(attempts=1),
        ),
    )

    def finished(name: str) -> types.BatchJob:
        deadline = time.monotonic() + 10
        job = client.batches.get(name=name)
        while not job.done and time.monotonic() < deadline:
            time.sleep(0.02)
            job = client.batches.get(name=name)
        return job

    try:
        inline = client.batches.create(
            model="gemini-2.5-flash",
            src=[
                {
                    "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
                    "metadata": {"key": "a"},
                },
                {
                    "contents": [{"role": "user", "parts": [{"text": "yo"}]}],
                    "metadata": {"key": "b"},
                },
            ],
            config={"display_name": "sdk-inline"},
        )
        assert inline.state == types.JobState.JOB_STATE_PENDING
        done = finished(str(inline.name))
        assert done.state == types.JobState.JOB_STATE_SUCCEEDED
        assert done.dest is not None and done.dest.inlined_responses is not None
        answers = done.dest.inlined_responses
        assert [r.metadata for r in answers] == [{"key": "a"}, {"key": "b"}]
        assert all(
            r.response is not None and (r.response.text or "").startswith("[simulated]")
            for r in answers
        )

        lines = b"\n".join(
            orjson.dumps(
                {"key": f"k{i}", "request": {"contents": [{"parts": [{"text": f"q{i}"}]}]}}
            )
            for i in range(3)
        )
        uploaded = client.files.upload(
            file=io.BytesIO(lines), config={"mime_type": "application/jsonl", "display_name": "in"}
        )
        assert uploaded.name is not None and uploaded.size_bytes == len(lines)
        from_file = client.batches.create(
            model="gemini-2.5-flash", src=uploaded.name, config={"display_name": "sdk-file"}
        )
        done = finished(str(from_file.name))
        assert done.state == types.JobState.JOB_STATE_SUCCEEDED
        assert done.dest is not None and done.dest.file_name
        out = [
            orjson.loads(x) for x in client.files.download(file=done.dest.file_name).splitlines()
        ]
        assert sorted(x["key"] for x in out) == ["k0", "k1", "k2"]

        store.configure(in_progress_s=30.0)
        running = client.batches.create(
            model="gemini-2.5-flash", src=uploaded.name, config={"display_name": "sdk-cancel"}
        )
        client.batches.cancel(name=str(running.name))
        assert finished(str(running.name)).state == types.JobState.JOB_STATE_CANCELLED
        names = [b.name for b in client.batches.list(config={"page_size": 2})]
        assert names == [running.name, from_file.name, inline.name]
        client.batches.delete(name=str(from_file.name))
        client.files.delete(name=uploaded.name)
        with pytest.raises(genai_errors.ClientError):
            client.batches.get(name=str(from_file.name))
    finally:
        store.reset()
