"""`NodeUnschedulable` (Filter): a node with `spec.unschedulable` (a cordoned node) rejects
every pod that does not tolerate `node.kubernetes.io/unschedulable:NoSchedule`, as
UnschedulableAndUnresolvable (spec/scheduler.md section 4.1, row 3). Pure; no state.
"""

from __future__ import annotations

from collections.abc import Sequence

from dralloc.api.core import Taint
from dralloc.scheduler.framework import (
    SUCCESS,
    ClusterEvent,
    ClusterEventWithHint,
    CycleState,
    NodeInfo,
    PodInfo,
    Status,
    queue_always,
)
from dralloc.scheduler.plugins.helper import node_events, tolerations_tolerate_taint

NAME = "NodeUnschedulable"
REASON_UNSCHEDULABLE = "node(s) were unschedulable"
# The taint the node lifecycle controller puts on cordoned nodes; tolerating it also means
# tolerating `spec.unschedulable` (upstream compares against this taint, value empty).
UNSCHEDULABLE_TAINT = Taint(key="node.kubernetes.io/unschedulable", effect="NoSchedule")


class NodeUnschedulable:
    """Filters out cordoned nodes.

    >>> from dralloc.api.core import Node, NodeSpec, Pod
    >>> from dralloc.scheduler.framework import NodeInfo, PodInfo, CycleState
    >>> node = NodeInfo.of(Node(spec=NodeSpec(unschedulable=True)))
    >>> NodeUnschedulable().filter(CycleState(), PodInfo.of(Pod()), node).reasons
    ('node(s) were unschedulable',)
    """

    name = NAME
    # Filter and Score read only the pod and this node (the framework may remember them).
    node_local = True
    # Filter never errs and writes nothing: the framework may skip it on nodes a later
    # plugin's PreFilter candidates exclude, and still report them exactly.
    quiet_filter = True

    def events_to_register(self) -> Sequence[ClusterEventWithHint]:
        """A node added or uncordoned (upstream: Node/Add|UpdateNodeTaint), or the pod
        given a toleration."""
        return (
            node_events("Add|UpdateNodeTaint", self),
            ClusterEventWithHint(ClusterEvent("Pod", "UpdatePodToleration"), queue_always),
        )

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        if not node.node.spec.unschedulable:
            return SUCCESS
        if tolerations_tolerate_taint(pod.pod.spec.tolerations, UNSCHEDULABLE_TAINT):
            return SUCCESS
        return Status.unresolvable(REASON_UNSCHEDULABLE)
