"""OpenAI-format batch hosts (Groq, Together...): each host's documented limits and windows,
checked before anything is uploaded, and a whole job run on a host the simulator plays."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from brainbatch import BatchJob, BatchRequest, BatchStatus, InputError
from brainbatch.batchapi import (
    BATCH_HOSTS,
    BatchAPIExecutor,
    BatchHost,
    BatchLimits,
    host_for_url,
)
from brainbatch.providers.anthropic import AnthropicProvider
from brainbatch.providers.openai import OpenAIProvider
from brainbatch.sim import SimServer
from brainbatch.sim.batch_state import SIM_BATCH_PROFILES
from brainbatch.sim.batches import SIM_BATCHES

MakeJob = Callable[..., BatchJob]
FAST = {"poll_interval": 0.02, "max_poll_interval": 0.1}
GROQ_URL = "https://api.groq.com/openai/v1"


@pytest.fixture(scope="module")
def groq_sim() -> Iterator[SimServer]:
    with SimServer(batch_profile="groq") as server:
        yield server


@pytest.fixture
async def groq_provider(groq_sim: SimServer) -> AsyncIterator[OpenAIProvider]:
    state = groq_sim.app[SIM_BATCHES]
    state.reset()
    state.configure(validating_s=0.02, in_progress_s=0.1, finalizing_s=0.02)
    groq_sim.reset()
    provider = OpenAIProvider(base_url=groq_sim.batch_base_url, max_attempts=1)
    yield provider
    await provider.aclose()


def _provider(base_url: str) -> OpenAIProvider:
    return OpenAIProvider(base_url=base_url, api_key="sk-test", max_attempts=1)


# -- which host ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "name"),
    [
        (GROQ_URL, "groq"),
        ("https://api.together.xyz/v1", "together"),
        ("https://api.openai.com/v1", "openai"),
    ],
)
def test_the_base_url_names_the_host(url, name):
    assert BatchAPIExecutor(_provider(url)).host == BATCH_HOSTS[name]


def test_a_server_of_no_known_host_keeps_openais_limits_and_any_window():
    ex = BatchAPIExecutor(_provider("http://127.0.0.1:9/v1"), completion_window="48h")
    assert ex.host is None
    assert ex.backend.limits.max_bytes == 200_000_000


def test_host_names_the_host_whatever_the_base_url():
    ex = BatchAPIExecutor(_provider("http://127.0.0.1:9/openai/v1"), host="groq")
    assert ex.host is BATCH_HOSTS["groq"]


def test_an_unknown_host_name_is_refused_listing_the_known_ones():
    with pytest.raises(InputError, match=r"host='fireworks'.*groq"):
        BatchAPIExecutor(_provider(GROQ_URL), host="fireworks")


async def test_a_host_for_a_provider_with_its_own_batch_api_is_refused():
    provider = AnthropicProvider(base_url="http://127.0.0.1:9", api_key="k", max_attempts=1)
    with pytest.raises(InputError, match="host='groq'"):
        BatchAPIExecutor(provider, host="groq")
    await provider.aclose()


# -- completion windows -------------------------------------------------------------------------


@pytest.mark.parametrize("window", ["24h", "48h", "72h", "7d"])
def test_groq_accepts_windows_from_24h_to_7d(window):
    assert BatchAPIExecutor(_provider(GROQ_URL), completion_window=window).host is not None


@pytest.mark.parametrize("window", ["12h", "8d", "1w", "24"])
def test_groq_refuses_windows_outside_24h_to_7d_naming_them(window):
    with pytest.raises(InputError, match=rf"completion_window='{window}': groq accepts 24h to 7d"):
        BatchAPIExecutor(_provider(GROQ_URL), completion_window=window)


@pytest.mark.parametrize("url", ["https://api.openai.com/v1", "https://api.together.xyz/v1"])
def test_hosts_with_a_fixed_window_refuse_any_other(url):
    with pytest.raises(InputError, match="accepts 24h only"):
        BatchAPIExecutor(_provider(url), completion_window="48h")


# -- limits -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "max_bytes"), [("groq", 100_000_000), ("together", 100_000_000)])
def test_the_hosts_file_size_limit_splits_the_job(name, max_bytes):
    ex = BatchAPIExecutor(_provider("http://127.0.0.1:9/v1"), host=name)
    assert ex.backend.limits.max_bytes == max_bytes
    assert ex.backend.limits.max_requests == 50_000


def test_a_lower_limit_than_the_hosts_may_be_asked_but_not_a_higher_one():
    lower = BatchAPIExecutor(_provider(GROQ_URL), max_bytes_per_batch=1_000)
    assert lower.backend.limits.max_bytes == 1_000
    with pytest.raises(InputError, match="max_bytes_per_batch must be an integer from 1 to 100,"):
        BatchAPIExecutor(_provider(GROQ_URL), max_bytes_per_batch=150_000_000)


def test_together_uploads_its_input_files_with_purpose_batch_api():
    ex = BatchAPIExecutor(_provider("https://api.together.xyz/v1"))
    assert ex.backend.file_purpose == "batch-api"  # type: ignore[attr-defined]
    assert BatchAPIExecutor(_provider(GROQ_URL)).backend.file_purpose == "batch"  # type: ignore[attr-defined]


def test_an_endpoint_the_host_does_not_run_is_refused():
    host = BatchHost("embed-only", BATCH_HOSTS["groq"].limits, endpoints=("/v1/embeddings",))
    with pytest.raises(InputError, match=r"embed-only batches run \['/v1/embeddings'\]"):
        BatchAPIExecutor(_provider(GROQ_URL), host=host)


async def test_a_request_over_the_hosts_file_size_is_refused_before_any_upload(
    groq_sim: SimServer, groq_provider: OpenAIProvider, make_job: MakeJob
):
    tiny = BatchHost("tiny", BatchLimits(50_000, 200, None, "Tiny"), max_window_h=168)
    job = make_job(2)
    job.requests[1] = BatchRequest(prompt="x" * 500, model="gpt-4o-mini", custom_id="r1")
    with pytest.raises(InputError, match="request #1"):
        await BatchAPIExecutor(groq_provider, host=tiny, **FAST).execute(job)
    assert groq_sim.count("/openai/v1/files") == 0


def test_the_simulators_host_rules_are_the_clients():
    for name, profile in SIM_BATCH_PROFILES.items():
        host = BATCH_HOSTS[name]
        assert (profile.min_window_h, profile.max_window_h) == (
            host.min_window_h,
            host.max_window_h,
        )
        assert profile.max_requests == host.limits.max_requests
        assert profile.max_bytes >= host.limits.max_bytes  # the client reads MB as 10^6
        assert set(profile.endpoints) <= set(host.endpoints)
        assert host_for_url(host.base_url) is host


# -- end to end on the simulated Groq -----------------------------------------------------------


async def test_a_job_runs_on_groq_with_a_7d_window(
    groq_sim: SimServer, groq_provider: OpenAIProvider, make_job: MakeJob
):
    job = make_job(5)
    results = await BatchAPIExecutor(
        groq_provider, host="groq", completion_window="7d", **FAST
    ).execute(job)
    assert job.status == BatchStatus.COMPLETED
    assert [r.status for r in results] == ["success"] * 5
    batch = next(iter(groq_sim.app[SIM_BATCHES].batches.values()))
    assert batch.completion_window == "7d"
    assert groq_sim.count("/openai/v1/batches") == 1
    assert groq_sim.count("/v1/batches") == 0


async def test_the_simulated_groq_refuses_a_window_beyond_7d(
    groq_sim: SimServer, groq_provider: OpenAIProvider, make_job: MakeJob
):
    # a host profile that lets "8d" through shows what the server itself refuses
    lax = BatchHost("lax", BATCH_HOSTS["groq"].limits, max_window_h=30 * 24)
    job = make_job(2)
    await BatchAPIExecutor(groq_provider, host=lax, completion_window="8d", **FAST).execute(job)
    assert job.status == BatchStatus.FAILED
    assert "completion_window" in (job.error or "")
    assert "24h to 7d" in (job.error or "")
