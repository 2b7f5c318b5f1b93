"""`NodePorts` (PreFilter, Filter; spec/scheduler.md section 4.1, row 7).

* PreFilter collects the pod's host ports (`hostPort > 0`, of its containers and sidecars) and
  SKIPs a pod that asks for none, so Filter does not run for it.
* Filter: a wanted (hostIP, protocol, hostPort) that clashes with one the node's pods hold
  (0.0.0.0 clashes with every IP; see `HostPortInfo.conflicts`) rejects the node as
  Unschedulable `node(s) didn't have free ports for the requested pod ports` (preemption may
  free the port).

Reads the pod and the node's `used_ports` only; state is the PreFilter value in the cycle.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dralloc.api.core import ContainerPort
from dralloc.scheduler.framework import (
    SUCCESS,
    ClusterEvent,
    ClusterEventWithHint,
    CycleState,
    NodeInfo,
    PodInfo,
    PreFilterResult,
    QueueingHint,
    Status,
    queue_always,
)
from dralloc.scheduler.framework.events import NODE, POD
from dralloc.scheduler.framework.nodeinfo import HostPortInfo

NAME = "NodePorts"
REASON_PORTS = "node(s) didn't have free ports for the requested pod ports"
_PRE_FILTER_KEY = f"PreFilter{NAME}"
# One shared rejection (every node that fails gets the same reasons).
_REJECTED = Status.unschedulable(REASON_PORTS).stamped(NAME)


@dataclass(frozen=True)
class _PreFilterState:
    ports: tuple[ContainerPort, ...]


def fits_ports(wanted: Sequence[ContainerPort], used: HostPortInfo) -> bool:
    """Whether every wanted port is free among `used`."""
    return not any(used.conflicts(p.host_ip, p.protocol, p.host_port) for p in wanted)


def _ports_clash(a: Sequence[ContainerPort], b: Sequence[ContainerPort]) -> bool:
    used = HostPortInfo()
    for port in b:
        used.add(port.host_ip, port.protocol, port.host_port)
    return not fits_ports(a, used)


class NodePorts:
    """Rejects nodes where a host port the pod asks for is taken.

    >>> from dralloc.api.core import Pod
    >>> NodePorts().pre_filter(CycleState(), PodInfo.of(Pod()), [])[1].code.name
    'SKIP'
    """

    name = NAME
    # Filter reads only the pod and this node's used ports (the framework may remember it).
    node_local = True

    def pre_filter(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> tuple[PreFilterResult | None, Status]:
        if not pod.host_ports:
            return None, Status.skip()
        state.write(_PRE_FILTER_KEY, _PreFilterState(pod.host_ports))
        return None, SUCCESS

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        # Upstream reads the PreFilter state; without it (PreFilter not enabled) the pod's.
        pre = state.get(_PRE_FILTER_KEY, _PreFilterState)
        wanted = pre.ports if pre is not None else pod.host_ports
        if not wanted or fits_ports(wanted, node.used_ports):
            return SUCCESS
        return _REJECTED

    def events_to_register(self) -> Sequence[ClusterEventWithHint]:
        """An assigned pod deleted whose host ports clash with the pod's (a pod's ports are
        immutable, so pod updates are not registered), and any node added."""
        return (
            ClusterEventWithHint(ClusterEvent(POD, "Delete"), self._after_pod_deleted),
            ClusterEventWithHint(ClusterEvent(NODE, "Add"), queue_always),
        )

    @staticmethod
    def _after_pod_deleted(pod: PodInfo, old: object | None, new: object | None) -> QueueingHint:
        if not isinstance(old, PodInfo) or old.key == pod.key:
            return QueueingHint.QUEUE_SKIP
        if _ports_clash(pod.host_ports, old.host_ports):
            return QueueingHint.QUEUE
        return QueueingHint.QUEUE_SKIP
