"""``df.bb.*`` methods show the full parameters of the functions they call (not ``**kwargs``)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest

import brainbatch as bb
from brainbatch.notebook import accessor, explore_cost

PAIRS: list[tuple[str, Callable[..., Any]]] = [
    ("submit", bb.submit),
    ("run", bb.run),
    ("estimate", bb.estimate),
    ("embed", bb.embed),
    ("explore_cost", bb.explore_cost),
    ("explore", bb.explore_results),
]


def _described(fn: Callable[..., Any], drop_first: bool) -> list[tuple[str, str, Any, str]]:
    params = list(inspect.signature(fn).parameters.values())[1 if drop_first else 0 :]
    return [(p.name, str(p.kind), p.default, str(p.annotation)) for p in params]


@pytest.mark.parametrize(("method", "fn"), PAIRS, ids=[m for m, _ in PAIRS])
def test_accessor_method_has_the_signature_of_its_function(
    method: str, fn: Callable[..., Any]
) -> None:
    bound = getattr(pd.DataFrame({"text": ["a"]}).bb, method)
    assert _described(bound, drop_first=False) == _described(fn, drop_first=True)


def test_accessor_copies_explore_costs_sample_cap() -> None:
    assert accessor.MAX_SAMPLE == explore_cost.MAX_SAMPLE


def test_estimate_passes_every_limit_through(prompts_frame: pd.DataFrame) -> None:
    slow = prompts_frame.bb.estimate(prompt="{text}", model="gpt-4o-mini", rpm=1)
    fast = prompts_frame.bb.estimate(prompt="{text}", model="gpt-4o-mini", rpm=1000)
    assert slow["duration_s"].iloc[0] > fast["duration_s"].iloc[0]


def test_estimate_refuses_an_unknown_parameter_by_name(prompts_frame: pd.DataFrame) -> None:
    with pytest.raises(TypeError, match="rpn"):
        prompts_frame.bb.estimate(prompt="{text}", model="gpt-4o-mini", rpn=5)


@pytest.fixture
def prompts_frame() -> pd.DataFrame:
    return pd.DataFrame({"text": [f"review number {i} is fine" for i in range(30)]})
