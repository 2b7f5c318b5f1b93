"""A node's `transitions()` are built once per timeline (`NodeLifecycle.remember_transitions`):
after any sequence of deletions (cancelled, scheduled ahead, moved earlier) they equal the
plain path's, and a caller changing the list it got changes nothing for the next one."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from dralloc.autoscaling import NodeLifecycle, Provisioning

DEFAULTS = Provisioning()


@settings(max_examples=40, deadline=None)
@given(
    failed=st.booleans(),
    deletions=st.lists(st.tuples(st.floats(10, 2000), st.floats(0, 120)), max_size=4),
)
def test_remembered_transitions_equal_the_plain_ones_after_any_deletions(
    failed: bool, deletions: list[tuple[float, float]]
) -> None:
    nodes = [
        NodeLifecycle.request("n", "h100", 10.0, DEFAULTS, seed=3, launch_failure=float(failed))
        for _ in range(2)
    ]
    nodes[1].remember_transitions = False
    assert nodes[0].transitions() == nodes[1].transitions()
    for at, drain in deletions:
        for node in nodes:
            node.delete(at, drain_seconds=drain)
        first = nodes[0].transitions()
        assert first == nodes[0].transitions() == nodes[1].transitions()
        first.clear()
        assert nodes[0].transitions() == nodes[1].transitions()
