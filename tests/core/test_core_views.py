"""``progress.Views``: every view gets the same snapshot; a broken view never breaks the job."""

from __future__ import annotations

import logging

import pytest

from brainbatch import BatchJob, BatchRequest
from brainbatch.progress import Snapshot, Views, snapshot


class Seen:
    def __init__(self) -> None:
        self.got: list[Snapshot] = []

    def update(self, s: Snapshot) -> None:
        self.got.append(s)


class Broken:
    def update(self, s: Snapshot) -> None:
        raise RuntimeError("the front end went away")


def _snap() -> Snapshot:
    return snapshot(BatchJob([BatchRequest(prompt="p", model="m")]), "job", 0)


def test_every_view_gets_the_same_snapshot_even_after_a_broken_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    views, first, last = Views(), Seen(), Seen()
    for view in (first, Broken(), last):
        views.add(view)
    with caplog.at_level(logging.ERROR, logger="brainbatch"):
        views.update(_snap)
    assert len(first.got) == len(last.got) == 1 and first.got[0] is last.got[0]
    assert "progress view failed" in caplog.text


def test_no_snapshot_is_made_without_views() -> None:
    made: list[int] = []
    Views().update(lambda: made.append(1) or _snap())
    assert made == []


def test_a_view_added_with_a_snapshot_shows_it_at_once() -> None:
    views, seen, now = Views(), Seen(), _snap()
    views.add(seen, now)
    assert seen.got == [now]
