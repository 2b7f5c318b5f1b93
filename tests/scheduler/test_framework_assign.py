"""`verdicts.assign` writes a mask as numpy's indexed write does, element by element for a
few positions and in one indexed write for more."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dralloc.scheduler.framework.verdicts import FEW_POSITIONS, assign


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.booleans(), min_size=1, max_size=60).flatmap(
        lambda mask: st.tuples(
            st.just(mask),
            st.lists(st.integers(0, len(mask) - 1), max_size=2 * FEW_POSITIONS + 4),
            st.booleans(),
        )
    )
)
def test_assign_writes_the_mask_numpy_indexing_writes(
    case: tuple[list[bool], list[int], bool],
) -> None:
    values, positions, value = case
    mask = np.array(values, dtype=np.bool_)
    expected = mask.copy()
    expected[positions] = value
    assign(mask, positions, value)
    assert mask.tolist() == expected.tolist()
