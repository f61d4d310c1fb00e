"""ProviderBatch: the typed record of a provider batch, in memory and at rest (pure)."""

from __future__ import annotations

import json

from brainbatch.batchapi.records import (
    NOT_SUBMITTED,
    SUBMITTING,
    ProviderBatch,
    RequestCounts,
)

OLD_ENTRY = {  # what the previous version kept in job.metadata["provider_batches"]
    "provider": "openai",
    "batch_id": "batch_abc",
    "input_file_id": "file-in",
    "output_file_id": None,
    "error_file_id": None,
    "status": "in_progress",
    "state": "processing",
    "ended": False,
    "collected": False,
    "n_requests": 50000,
    "rows": [[0, 50000]],
    "counts": {"total": 50000, "completed": 1200, "failed": 3, "live": True},
    "created_at": 1732500000.0,
    "expires_at": 1732586400.0,
    "ended_at": None,
    "errors": [],
    "cancel_sent": False,
}


def test_record_survives_to_dict_and_json() -> None:
    record = ProviderBatch(
        provider="openai",
        part="2/3",
        state="processing",
        batch_id="batch_1",
        model="gpt-4o-mini",
        n_requests=4,
        n_tokens={"gpt-4o-mini": 120},
        rows=[[0, 2], [5, 7]],
        counts=RequestCounts(total=4, completed=1, live=True),
        errors=["token_limit_exceeded: full"],
        error_codes=["token_limit_exceeded"],
    )
    assert ProviderBatch.from_dict(json.loads(json.dumps(record.to_dict()))) == record


def test_entry_stored_by_the_previous_version_reads_as_an_accepted_batch() -> None:
    record = ProviderBatch.from_dict(OLD_ENTRY)
    assert (record.batch_id, record.state, record.part) == ("batch_abc", "processing", "")
    assert record.counts == RequestCounts(total=50000, completed=1200, failed=3, live=True)
    assert list(record.row_numbers())[-1] == 49999
    assert not record.is_intent and record.is_open


def test_previous_versions_error_strings_give_the_codes() -> None:
    old = {**OLD_ENTRY, "status": "failed", "errors": ["token_limit_exceeded: Enqueued (line 1)"]}
    record = ProviderBatch.from_dict(old)
    assert record.error_codes == ["token_limit_exceeded"]
    assert record.token_limited


def test_old_entry_without_state_but_with_an_id_is_not_an_intent() -> None:
    old = {k: v for k, v in OLD_ENTRY.items() if k != "state"}
    assert not ProviderBatch.from_dict(old).is_intent


def test_keys_this_version_does_not_know_are_written_back() -> None:
    record = ProviderBatch.from_dict({**OLD_ENTRY, "note": {"by": "hand"}})
    assert record.to_dict()["note"] == {"by": "hand"}


def test_intent_has_no_batch_id_and_counts_as_open_until_resolved() -> None:
    intent = ProviderBatch(provider="openai", part="1/1", rows=[[0, 3]])
    assert intent.state == SUBMITTING and intent.is_intent and intent.is_open
    intent.state = NOT_SUBMITTED
    assert not intent.is_open


def test_bad_values_in_a_stored_dict_fall_back_to_defaults() -> None:
    record = ProviderBatch.from_dict(
        {"provider": "openai", "batch_id": "b", "n_requests": "x", "rows": ["bad", [1, 2]]}
    )
    assert record.n_requests == 0 and record.rows == [[1, 2]]
