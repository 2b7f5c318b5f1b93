"""`NodeName` (Filter): a pod with `spec.nodeName` set fits only the node of that name,
UnschedulableAndUnresolvable elsewhere (spec/scheduler.md section 4.1, row 4). Pure; no state.
"""

from __future__ import annotations

from collections.abc import Sequence

from dralloc.scheduler.framework import (
    SUCCESS,
    ClusterEventWithHint,
    CycleState,
    NodeInfo,
    PodInfo,
    Status,
)
from dralloc.scheduler.plugins.helper import node_events

NAME = "NodeName"
REASON_NODE_NAME = "node(s) didn't match the requested node name"


class NodeName:
    """Filters out every node but the one the pod names, if it names one."""

    name = NAME
    # Filter and Score read only the pod and this node (the framework may remember them).
    node_local = True
    # Filter never errs and writes nothing: the framework may skip it on nodes a later
    # plugin's PreFilter candidates exclude, and still report them exactly.
    quiet_filter = True

    def events_to_register(self) -> Sequence[ClusterEventWithHint]:
        """The node the pod names being added (upstream: Node/Add)."""
        return (node_events("Add", self),)

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        wanted = pod.pod.spec.node_name
        if not wanted or wanted == node.name:
            return SUCCESS
        return Status.unresolvable(REASON_NODE_NAME)
