"""Score normalisers written once: the mapping forms (what a ScoreNormalizer plugin is
given) equal the array forms the framework prefers, on any scores."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dralloc.scheduler.framework import default_normalize, default_normalize_array
from dralloc.scheduler.plugins.gpushare.scores import normalize_score_array, normalize_scores

RAW = st.lists(st.integers(0, 10**9), max_size=60)


@settings(max_examples=200, deadline=None)
@given(RAW, st.booleans())
def test_default_normalize_equals_its_array_form(raw: list[int], reverse: bool) -> None:
    scores = {f"node-{i}": value for i, value in enumerate(raw)}
    default_normalize(scores, reverse=reverse)
    array = default_normalize_array(np.array(raw, dtype=np.int64), reverse=reverse)
    assert list(scores.values()) == array.tolist()
    assert all(0 <= value <= 100 for value in scores.values())


@settings(max_examples=200, deadline=None)
@given(RAW)
def test_min_max_normalize_equals_its_array_form(raw: list[int]) -> None:
    array = normalize_score_array(np.array(raw, dtype=np.int64))
    assert normalize_scores(raw) == array.tolist()
    if raw and max(raw) > min(raw):
        assert min(normalize_scores(raw)) == 0 and max(normalize_scores(raw)) == 100


def test_default_normalize_scales_by_the_maximum_and_reverses() -> None:
    scores = {"a": 0, "b": 5, "c": 10}
    default_normalize(scores, reverse=False)
    assert scores == {"a": 0, "b": 50, "c": 100}
    default_normalize(scores, reverse=True)
    assert scores == {"a": 100, "b": 50, "c": 0}
    nothing = {"a": 0, "b": 0}
    default_normalize(nothing, reverse=True)
    assert nothing == {"a": 100, "b": 100}
