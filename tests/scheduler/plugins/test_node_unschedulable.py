"""NodeUnschedulable: cordoned nodes reject pods that do not tolerate the cordon taint."""

from __future__ import annotations

import pytest
from schedkit import node, pod

from dralloc.api.core import Toleration
from dralloc.scheduler.framework import SUCCESS, CycleState, Status
from dralloc.scheduler.plugins.nodeunschedulable import NodeUnschedulable

KEY = "node.kubernetes.io/unschedulable"
REJECTED = Status.unresolvable("node(s) were unschedulable")


@pytest.mark.parametrize(
    ("unschedulable", "tolerations", "expected"),
    [
        pytest.param(False, [], SUCCESS, id="schedulable-node"),
        pytest.param(True, [], REJECTED, id="cordoned-node-no-toleration"),
        pytest.param(
            True,
            [Toleration(key=KEY, operator="Exists", effect="NoSchedule")],
            SUCCESS,
            id="exists-noschedule",
        ),
        pytest.param(True, [Toleration(key=KEY, operator="Exists")], SUCCESS, id="any-effect"),
        pytest.param(True, [Toleration(key=KEY, effect="NoSchedule")], SUCCESS, id="equal-empty"),
        pytest.param(True, [Toleration(operator="Exists")], SUCCESS, id="tolerate-everything"),
        pytest.param(
            True,
            [Toleration(key=KEY, operator="Exists", effect="NoExecute")],
            REJECTED,
            id="wrong-effect",
        ),
        pytest.param(
            True, [Toleration(key=KEY, value="yes", effect="NoSchedule")], REJECTED, id="value"
        ),
        pytest.param(True, [Toleration(key="other", operator="Exists")], REJECTED, id="other"),
    ],
)
def test_filter_rejects_cordoned_nodes_unless_the_pod_tolerates_the_cordon(
    unschedulable: bool, tolerations: list[Toleration], expected: Status
) -> None:
    status = NodeUnschedulable().filter(
        CycleState(), pod(tolerations=tolerations), node(unschedulable=unschedulable)
    )
    assert status == expected
