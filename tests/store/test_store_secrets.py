"""What the store masks (credentials in settings, key-like text in provider errors) and what it
keeps exactly (every request body, whatever words it holds)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from brainbatch import BatchJob, BatchRequest
from brainbatch.errors import PermanentError
from brainbatch.runner import JobRunner, RunSettings
from brainbatch.store import JobStore

FAKE_KEY = "sk-proj-FAKEfakeFAKE0123456789abcdef"


def _file_bytes(path: Path) -> bytes:
    """The database and its WAL, as they are on disk."""
    wal = Path(str(path) + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def test_keys_in_settings_errors_and_batch_records_are_never_written(store_path: Path) -> None:
    job = BatchJob(
        [
            BatchRequest(prompt="hello", model="gpt-4o-mini", custom_id="a"),
            BatchRequest(prompt="bye", model="gpt-4o-mini", custom_id="b"),
        ]
    )

    async def leaky(request: BatchRequest) -> str:
        if request.custom_id == "b":
            raise PermanentError(f"401 for key {FAKE_KEY}", status_code=401)
        return "ok"

    with JobStore(store_path) as store:
        store.create_job(
            job,
            name="secret-test",
            spec={
                "provider": "openai",
                "api_key": FAKE_KEY,
                "headers": {"x-api-key": FAKE_KEY, "x-trace": "kept"},
                "provider_kwargs": {"api_key": FAKE_KEY, "max_attempts": 3},
            },
        )
        asyncio.run(JobRunner(job, RunSettings(provider=leaky), store).run())
        store.record_provider_batch(
            job, {"batch_id": "b1", "auth_token": FAKE_KEY, "error": f"bad key {FAKE_KEY}"}
        )
        store.flush()
        raw = _file_bytes(store_path)
        assert b"FAKEfakeFAKE" not in raw
        spec = store.job_spec("secret-test")
        assert "api_key" not in spec and "api_key" not in spec["provider_kwargs"]
        assert spec["headers"] == {"x-trace": "kept"}
        assert spec["provider_kwargs"]["max_attempts"] == 3
    assert b"FAKEfakeFAKE" not in _file_bytes(store_path)


# Values the old substring rules mangled: a stop word, a JSON-schema enum value, metadata
# named like a credential, text, a float and large integers.
AWKWARD_PARAMS = {
    "stop": ["task-list-end"],
    "temperature": 0.1,
    "seed": 9_007_199_254_740_993,  # 2**53 + 1: lost by a float round trip
    "response_format": {
        "type": "json_schema",
        "json_schema": {
            "name": "risk",
            "schema": {
                "type": "object",
                "properties": {"level": {"enum": ["low", "high-risk-assessment"]}},
            },
        },
    },
    "logit_bias": {"1734": -100, "50256": 2.5},
    "z_last": [[1, 2], [3, [4.25, "ünïcødé ✓"]]],
}
AWKWARD_METADATA = {"session_key": "user-session-42", "token": "budget-7", "note": "naïve café"}


@pytest.mark.parametrize("field", ["params", "metadata"])
def test_request_bodies_come_back_exactly_as_given(store: JobStore, field: str) -> None:
    request = BatchRequest(
        prompt="Classify: ✓ 東京",
        model="gpt-4o-mini",
        custom_id="r0",
        params=dict(AWKWARD_PARAMS),
        metadata=dict(AWKWARD_METADATA),
    )
    store.create_job(BatchJob([request]), name="exact")
    loaded = store.load_job("exact").requests[0]
    got, want = getattr(loaded, field), getattr(request, field)
    assert got == want
    assert list(got) == list(want)  # key order too: the body is sent in this order
    assert repr(got) == repr(want)  # 0.1 stays 0.1, the big int stays an int


def test_an_integer_beyond_64_bits_is_refused_naming_the_row(store: JobStore) -> None:
    request = BatchRequest(prompt="x", model="m", custom_id="big", params={"seed": 2**70})
    with pytest.raises(ValueError, match="'big'"):
        store.create_job(BatchJob([request]))
