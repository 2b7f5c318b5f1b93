"""NodeName: a pod that names a node fits only that node."""

from __future__ import annotations

import pytest
from schedkit import node, pod

from dralloc.scheduler.framework import SUCCESS, CycleState, Status
from dralloc.scheduler.plugins.nodename import NodeName


@pytest.mark.parametrize(
    ("node_name", "expected"),
    [
        pytest.param("", SUCCESS, id="no-node-name"),
        pytest.param("node-1", SUCCESS, id="same-node"),
        pytest.param(
            "node-2",
            Status.unresolvable("node(s) didn't match the requested node name"),
            id="other-node",
        ),
    ],
)
def test_filter_admits_only_the_requested_node(node_name: str, expected: Status) -> None:
    status = NodeName().filter(CycleState(), pod(node_name=node_name), node("node-1"))
    assert status == expected
