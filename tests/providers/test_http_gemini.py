"""GeminiProvider over real sockets to the simulated server's ``generateContent``: the wire
request, answers, tokens and their prices, safety blocks, keys, errors and retries."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest
from http_testutil import KEY

from brainbatch import BatchJob, BatchRequest, ParallelExecutor
from brainbatch.errors import AuthenticationError, ConfigurationError, InputError, PermanentError
from brainbatch.pricing import cost_of, price_of
from brainbatch.providers.gemini import GeminiProvider
from brainbatch.providers.registry import provider_for_model, resolve_provider
from brainbatch.sim import SimServer
from brainbatch.sim.gemini import BLOCK_ANSWER, BLOCK_PROMPT
from brainbatch.sim.observe import Exchange

Make = Callable[..., GeminiProvider]
MODEL = "gemini-2.5-flash"


def _bodies(seen: list[Exchange]) -> list[dict[str, Any]]:
    return [orjson.loads(x.body) for x in seen if x.path.endswith(":generateContent")]


async def test_a_request_goes_to_the_models_generate_content_path_with_the_key_in_a_header(
    sim: SimServer, gemini_at: Make
) -> None:
    seen: list[Exchange] = []
    stop = sim.observe(seen.append)
    sim.configure(api_key=KEY)
    try:
        out = await gemini_at()(BatchRequest(prompt="Say hi", model=MODEL))
    finally:
        stop()
    assert out.result.startswith("[simulated]")
    (x,) = seen
    assert x.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert x.headers["x-goog-api-key"] == "***"  # sent (masked for observers)
    assert not x.query and KEY.encode() not in x.body
    assert "authorization" not in x.headers


async def test_api_version_and_model_prefixes_shape_the_path(
    sim: SimServer, gemini_at: Make
) -> None:
    seen: list[Exchange] = []
    stop = sim.observe(seen.append)
    try:
        await gemini_at(api_version="v1")(BatchRequest(prompt="hi", model="models/" + MODEL))
        await gemini_at()(BatchRequest(prompt="hi", model="google/" + MODEL))
    finally:
        stop()
    assert [x.path for x in seen] == [
        "/v1/models/gemini-2.5-flash:generateContent",
        "/v1beta/models/gemini-2.5-flash:generateContent",
    ]


async def test_system_messages_and_generation_config_are_mapped_to_gemini_fields(
    sim: SimServer, gemini_at: Make
) -> None:
    seen: list[Exchange] = []
    stop = sim.observe(seen.append)
    request = BatchRequest(
        prompt="-",
        model=MODEL,
        system="Be brief.",
        messages=[
            {"role": "user", "content": "Hello"},
            {"role": "assistant", "content": "Hi! How can I help?"},
            {"role": "user", "content": [{"type": "text", "text": "Name a colour."}]},
        ],
        params={"temperature": 0.3, "max_tokens": 7, "top_p": 0.9, "stop": "END"},
    )
    try:
        out = await gemini_at()(request)
    finally:
        stop()
    (body,) = _bodies(seen)
    assert body == {
        "contents": [
            {"role": "user", "parts": [{"text": "Hello"}]},
            {"role": "model", "parts": [{"text": "Hi! How can I help?"}]},
            {"role": "user", "parts": [{"text": "Name a colour."}]},
        ],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {
            "temperature": 0.3,
            "maxOutputTokens": 7,
            "topP": 0.9,
            "stopSequences": ["END"],
        },
    }
    assert out.finish_reason == "length" and out.output_tokens == 7


async def test_json_output_with_a_schema_comes_back_as_a_dict(gemini_at: Make) -> None:
    schema = {
        "type": "object",
        "properties": {"label": {"type": "string", "enum": ["positive", "negative"]}},
    }
    fmt = {"type": "json_schema", "json_schema": {"name": "sentiment", "schema": schema}}
    provider = gemini_at()
    request = BatchRequest(prompt="Great!", model=MODEL, params={"response_format": fmt})
    assert provider.build_body(request)["generationConfig"] == {
        "responseMimeType": "application/json",
        "responseJsonSchema": schema,
    }
    out = await provider(request)
    assert isinstance(out.result, dict) and out.result["label"] in ("positive", "negative")
    assert out.finish_reason == "stop"


async def test_gemini_names_for_generation_config_pass_through(gemini_at: Make) -> None:
    request = BatchRequest(
        prompt="hi",
        model=MODEL,
        params={
            "thinking_config": {"thinkingBudget": 64},
            "generationConfig": {"candidate_count": 1},
            "safetySettings": [
                {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_ONLY_HIGH"}
            ],
        },
    )
    body = gemini_at().build_body(request)
    assert body["generationConfig"] == {
        "thinkingConfig": {"thinkingBudget": 64},
        "candidateCount": 1,
    }
    assert body["safetySettings"][0]["threshold"] == "BLOCK_ONLY_HIGH"


def test_a_parameter_gemini_has_no_field_for_is_an_input_error_naming_it() -> None:
    provider = GeminiProvider(api_key=KEY)
    with pytest.raises(InputError, match="'logit_bias'"):
        provider.build_body(BatchRequest(prompt="hi", model=MODEL, params={"logit_bias": {}}))


async def test_thinking_tokens_are_output_tokens_priced_at_the_output_price(
    gemini_at: Make,
) -> None:
    request = BatchRequest(
        prompt="Think first.", model=MODEL, params={"thinkingConfig": {"thinkingBudget": 1000}}
    )
    out = await gemini_at()(request)
    plain = await gemini_at()(BatchRequest(prompt="Think first.", model=MODEL))
    assert out.output_tokens is not None and plain.output_tokens is not None
    # the simulated answer is the same; its thinking (2x the answer) is billed as output
    assert out.output_tokens == 3 * plain.output_tokens
    price = price_of(MODEL)
    assert price is not None
    expected = (
        out.input_tokens * price.input_per_mtok + out.output_tokens * price.output_per_mtok
    ) / 1e6
    assert out.cost_usd == pytest.approx(expected)


def test_cached_prompt_tokens_are_priced_at_the_cache_read_price() -> None:
    body = {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": "ok"}]}, "finishReason": "STOP"}
        ],
        "usageMetadata": {
            "promptTokenCount": 10_000,
            "cachedContentTokenCount": 8_000,
            "candidatesTokenCount": 100,
            "thoughtsTokenCount": 50,
            "totalTokenCount": 10_150,
        },
        "modelVersion": MODEL,
        "responseId": "r1",
    }
    out = GeminiProvider(api_key=KEY).parse_response(body)
    price = price_of(MODEL)
    assert price is not None and price.cached_input_per_mtok is not None
    assert (out.input_tokens, out.cached_tokens, out.output_tokens) == (10_000, 8_000, 150)
    expected = (
        2_000 * price.input_per_mtok
        + 8_000 * price.cached_input_per_mtok
        + 150 * price.output_per_mtok
    ) / 1e6
    assert out.cost_usd == pytest.approx(expected)
    assert out.cost_usd == cost_of(MODEL, 10_000, 150, 8_000).usd
    batch = GeminiProvider(api_key=KEY).parse_response(body, batch=True)
    assert batch.price_source == "genai-prices batch price"
    assert batch.cost_usd is not None and out.cost_usd is not None
    assert batch.cost_usd < out.cost_usd


async def test_a_blocked_prompt_is_a_row_error_naming_the_reason_and_is_not_retried(
    sim: SimServer, gemini_at: Make
) -> None:
    job = BatchJob(
        [
            BatchRequest(prompt="fine", model=MODEL, custom_id="ok"),
            BatchRequest(prompt=f"bad {BLOCK_PROMPT}", model=MODEL, custom_id="blocked"),
            BatchRequest(prompt=f"worse {BLOCK_ANSWER}", model=MODEL, custom_id="answer"),
        ]
    )
    await ParallelExecutor(max_concurrent=4).execute(job, gemini_at())
    ok, blocked, answer = (job.get_result(k) for k in ("ok", "blocked", "answer"))
    assert ok is not None and ok.status == "success"
    assert blocked is not None and blocked.status == "error"
    assert blocked.error_type == "safety_block"
    assert "prompt was blocked (SAFETY)" in str(blocked.error)
    assert "HARM_CATEGORY_DANGEROUS_CONTENT (HIGH)" in str(blocked.error)
    assert answer is not None and answer.error_type == "safety_block"
    assert "answer was blocked (SAFETY)" in str(answer.error)
    assert sim.count() == 3  # nothing sent twice


async def test_the_key_comes_from_gemini_api_key_then_google_api_key(
    sim: SimServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim.configure(api_key="from-google")
    monkeypatch.setenv("GOOGLE_API_KEY", "from-google")
    provider = GeminiProvider(base_url=sim.gemini_base_url)
    assert provider.key_env_var() == "GOOGLE_API_KEY"
    out = await provider(BatchRequest(prompt="hi", model=MODEL))
    assert out.result
    monkeypatch.setenv("GEMINI_API_KEY", "from-gemini")
    first = GeminiProvider(base_url=sim.gemini_base_url)
    assert first.key_env_var() == "GEMINI_API_KEY"
    with pytest.raises(AuthenticationError, match="GEMINI_API_KEY"):
        await first(BatchRequest(prompt="hi", model=MODEL))
    await provider.aclose()
    await first.aclose()


def test_no_key_is_a_configuration_error_naming_both_variables_ways() -> None:
    with pytest.raises(ConfigurationError, match="GEMINI_API_KEY"):
        GeminiProvider()


async def test_a_refused_key_stops_the_job_and_never_shows_the_key(
    sim: SimServer, gemini_at: Make
) -> None:
    sim.configure(api_key="the-right-one")
    provider = gemini_at()
    with pytest.raises(AuthenticationError) as info:
        await provider(BatchRequest(prompt="hi", model=MODEL))
    assert "HTTP 400 (API_KEY_INVALID)" in str(info.value)
    assert KEY not in str(info.value) and KEY not in repr(provider)
    assert sim.count() == 1


async def test_a_429_waits_for_the_retry_delay_gemini_gives_then_succeeds(
    sim: SimServer, gemini_at: Make
) -> None:
    sim.configure(fail_first_n=2, fail_status=429, retry_after=0.01)
    out = await gemini_at()(BatchRequest(prompt="hi", model=MODEL))
    assert out.attempts == 3 and sim.count() == 3


async def test_a_429_carries_the_retry_info_delay_as_retry_after(
    sim: SimServer, gemini_at: Make
) -> None:
    from brainbatch.errors import RateLimitError
    from brainbatch.limits import RetryPolicy

    sim.configure(rate_limit_429=1.0, retry_after=0.25)
    provider = gemini_at(retry=RetryPolicy(max_attempts=1))
    with pytest.raises(RateLimitError) as info:
        await provider(BatchRequest(prompt="hi", model=MODEL))
    assert info.value.retry_after == pytest.approx(0.25)
    assert "RESOURCE_EXHAUSTED" in str(info.value)


async def test_server_errors_and_malformed_answers_are_retried(
    sim: SimServer, gemini_at: Make
) -> None:
    sim.configure(fail_first_n=1, fail_status=503)
    out = await gemini_at()(BatchRequest(prompt="one", model=MODEL))
    assert out.attempts == 2
    sim.configure(fail_first_n=0, malformed=1.0)
    from brainbatch.errors import ConnectionFailed

    with pytest.raises(ConnectionFailed) as info:
        await gemini_at()(BatchRequest(prompt="two", model=MODEL))
    assert info.value.kind == "malformed_response"


async def test_the_simulator_refuses_what_gemini_refuses_as_a_row_error(
    sim: SimServer, gemini_at: Make
) -> None:
    with pytest.raises(PermanentError, match=r"INVALID_ARGUMENT.*temperature"):
        await gemini_at()(BatchRequest(prompt="hi", model=MODEL, params={"temperature": 5}))


def test_gemini_model_names_pick_the_gemini_provider() -> None:
    for name in (
        "gemini-2.5-flash",
        "gemini-2.5-pro",
        "google/gemini-2.0-flash",
        "models/gemini-3-pro",
    ):
        assert provider_for_model(name) == "gemini"
    assert isinstance(resolve_provider(model=MODEL, api_key=KEY), GeminiProvider)
    for alias in ("gemini", "google"):
        assert isinstance(resolve_provider(alias, model=MODEL, api_key=KEY), GeminiProvider)


def test_base_url_is_the_host_root_as_in_google_genai() -> None:
    p = GeminiProvider(api_key=KEY)
    assert p.base_url == "https://generativelanguage.googleapis.com"
    assert p.model_path(MODEL) == "/v1beta/models/gemini-2.5-flash:generateContent"
    with pytest.raises(ConfigurationError, match="api_version"):
        GeminiProvider(api_key=KEY, api_version="latest")
    with pytest.raises(InputError, match="not a Gemini model id"):
        p.model_path("gemini/../../v1/files")


def test_bb_run_with_a_gemini_model_returns_priced_rows_and_row_errors(
    sim: SimServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pandas as pd

    import brainbatch as bb

    monkeypatch.setenv("BRAINBATCH_PROGRESS", "none")
    df = pd.DataFrame({"review": ["Great value.", f"Awful {BLOCK_PROMPT}", "Fine."]})
    results = bb.run(
        df,
        prompt="Classify: {review}",
        model=MODEL,
        base_url=sim.gemini_base_url,
        api_key=KEY,
        params={"max_tokens": 40},
        max_cost_usd=1.0,
        store=False,
    )
    assert results["status"].tolist() == ["success", "error", "success"]
    assert "prompt was blocked" in results["error"][1]
    assert (results["cost_usd"][[0, 2]] > 0).all()
    assert results["model"].tolist() == [MODEL] * 3
    assert sim.count() == 3
