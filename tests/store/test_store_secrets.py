"""API keys never reach the store file, wherever they hide."""

from __future__ import annotations

import asyncio
from pathlib import Path

from brainbatch import BatchJob, BatchRequest, ParallelExecutor
from brainbatch.errors import PermanentError
from brainbatch.store import JobStore, scrub

FAKE_KEY = "sk-proj-FAKEfakeFAKE0123456789abcdef"


def _file_bytes(path: Path) -> bytes:
    """The database and its WAL, as they are on disk."""
    wal = Path(str(path) + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def test_keys_in_spec_params_metadata_and_errors_are_never_written(store_path: Path) -> None:
    job = BatchJob(
        [
            BatchRequest(
                prompt="hello",
                model="gpt-4o-mini",
                custom_id="a",
                params={"temperature": 0, "extra_headers": {"Authorization": f"Bearer {FAKE_KEY}"}},
                metadata={"api_key": FAKE_KEY, "note": f"key is {FAKE_KEY}"},
            ),
            BatchRequest(prompt="bye", model="gpt-4o-mini", custom_id="b"),
        ],
        metadata={"client": {"api_key": FAKE_KEY, "base_url": f"https://x.test/v1?key={FAKE_KEY}"}},
    )

    async def leaky(request: BatchRequest) -> str:
        if request.custom_id == "b":
            raise PermanentError(f"401 for key {FAKE_KEY}", status_code=401)
        return "ok"

    with JobStore(store_path) as store:
        store.create_job(
            job,
            name="secret-test",
            spec={"provider": "openai", "api_key": FAKE_KEY, "headers": {"x-api-key": FAKE_KEY}},
        )
        asyncio.run(store.execute(job, ParallelExecutor(2), leaky, cache=True))
        store.record_provider_batch(job, {"batch_id": "b1", "auth_token": FAKE_KEY})
        store.flush()
        raw = _file_bytes(store_path)
        assert b"FAKEfakeFAKE" not in raw
        assert store.job_spec("secret-test")["api_key"] == "<redacted>"
    assert b"FAKEfakeFAKE" not in _file_bytes(store_path)


def test_scrub_keeps_ordinary_settings() -> None:
    settings = {"max_tokens": 50, "temperature": 0, "model": "gpt-4o-mini", "input_tokens": 3}
    assert scrub(settings) == settings


def test_scrub_masks_key_looking_text_anywhere() -> None:
    assert FAKE_KEY not in scrub({"message": f"failed with {FAKE_KEY} today"})["message"]
    assert scrub({"password": "hunter22"}) == {"password": "<redacted>"}
