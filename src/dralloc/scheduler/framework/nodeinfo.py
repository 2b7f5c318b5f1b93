"""What the scheduler knows about nodes and the pods on them, per cycle.

`Resources` holds requests and allocatable in integer units (cpu in millicores, memory and
ephemeral storage in bytes, pods as a count, extended resources in their own units).
`NodeInfo` is one node with the pods assigned to it (bound or assumed) and their summed
requests; the scheduler cache owns the long-lived ones and hands a `Snapshot` to each cycle.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from dralloc.api.core import Node, Pod
from dralloc.api.defaults import (
    aggregate_container_requests,
    has_pod_level_requests,
    is_supported_pod_level_resource,
    overhead,
    pod_level_requests,
)
from dralloc.api.quantity import Format, Quantity

CPU = "cpu"
MEMORY = "memory"
EPHEMERAL_STORAGE = "ephemeral-storage"
PODS = "pods"
# LeastAllocated/MostAllocated count a container without requests as this much (section 4.2;
# upstream's DefaultMilliCPURequest and DefaultMemoryRequest).
DEFAULT_MILLI_CPU = 100
DEFAULT_MEMORY = 200 * 1024 * 1024
_NANO_PER_MILLI = 1_000_000
NON_ZERO_DEFAULTS: Mapping[str, Quantity] = MappingProxyType(
    {
        CPU: Quantity.from_nano(DEFAULT_MILLI_CPU * _NANO_PER_MILLI),
        MEMORY: Quantity.from_int(DEFAULT_MEMORY, Format.BinarySI),
    }
)


def _milli(value: Quantity) -> int:
    return -(-value.nano // _NANO_PER_MILLI)


def _units(value: Quantity) -> int:
    return value.ceil_int()


@dataclass
class Resources:
    milli_cpu: int = 0
    memory: int = 0
    ephemeral_storage: int = 0
    pods: int = 0
    scalars: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, quantities: Mapping[str, Quantity]) -> Resources:
        out = cls()
        for name, value in quantities.items():
            out.add_named(name, _milli(value) if name == CPU else _units(value))
        return out

    def add_named(self, name: str, amount: int) -> None:
        if name == CPU:
            self.milli_cpu += amount
        elif name == MEMORY:
            self.memory += amount
        elif name == EPHEMERAL_STORAGE:
            self.ephemeral_storage += amount
        elif name == PODS:
            self.pods += amount
        else:
            self.scalars[name] = self.scalars.get(name, 0) + amount

    def get(self, name: str) -> int:
        if name == CPU:
            return self.milli_cpu
        if name == MEMORY:
            return self.memory
        if name == EPHEMERAL_STORAGE:
            return self.ephemeral_storage
        if name == PODS:
            return self.pods
        return self.scalars.get(name, 0)

    def add(self, other: Resources, sign: int = 1) -> None:
        self.milli_cpu += sign * other.milli_cpu
        self.memory += sign * other.memory
        self.ephemeral_storage += sign * other.ephemeral_storage
        self.pods += sign * other.pods
        for name, amount in other.scalars.items():
            self.scalars[name] = self.scalars.get(name, 0) + sign * amount

    def names(self) -> list[str]:
        named = [
            (CPU, self.milli_cpu),
            (MEMORY, self.memory),
            (EPHEMERAL_STORAGE, self.ephemeral_storage),
        ]
        return [n for n, v in named if v] + sorted(n for n, v in self.scalars.items() if v)

    def copy(self) -> Resources:
        return Resources(
            self.milli_cpu, self.memory, self.ephemeral_storage, self.pods, dict(self.scalars)
        )


def _request_quantities(
    pod: Pod, pod_level: Mapping[str, Quantity], non_missing: Mapping[str, Quantity] | None = None
) -> dict[str, Quantity]:
    """Upstream's `resourcehelper.PodRequests` as kube-scheduler calls it (PodLevelResources
    on): the containers combined (KEP-753), then each pod-level request of a supported
    resource in place of the containers' value, then the overhead added. `pod_level` is
    `pod_level_requests(pod)`."""
    requests = aggregate_container_requests(pod, non_missing)
    if has_pod_level_requests(pod_level):
        for name, value in pod_level.items():
            if is_supported_pod_level_resource(name):
                requests[name] = value
    for name, value in overhead(pod).items():
        have = requests.get(name)
        requests[name] = value if have is None else have + value
    return requests


def pod_requests(pod: Pod, *, non_zero: bool = False) -> Resources:
    """The pod's effective requests (section 4.2), computed on the pod as the API server
    stores it (see `dralloc.api.defaults`: requests default from limits, pod-level requests
    from pod-level limits), whether or not it was defaulted:

    * app containers and sidecars (init containers with `restartPolicy: Always`) add up;
    * each other init container needs its requests plus the sidecars started before it, and
      the pod needs, per resource, the larger of that and the sum;
    * a pod-level request (`spec.resources.requests` of cpu, memory or hugepages-*) replaces
      the containers' value for that resource;
    * `spec.overhead` is added last.

    `non_zero` is what NodeResourcesFit's scoring strategies count for the pod: every
    container, init containers included, without any cpu or memory entry counts 100m /
    200Mi (an explicit 0 stays 0); a pod-level request still replaces the result.
    """
    defaults = NON_ZERO_DEFAULTS if non_zero else None
    return Resources.of(_request_quantities(pod, pod_level_requests(pod), defaults))


@dataclass
class PodInfo:
    """A pod and its requests, computed once.

    The two non-zero variants differ as upstream's do: its scorer always lets a container
    without a cpu or memory request count 100m / 200Mi, while its node accounting does so,
    for a pod with pod-level requests, only for a resource nothing in the pod names. So a pod
    with `spec.resources.requests.memory` whose containers request cpu only in part scores
    with 100m for each container without cpu, but weighs on its node with the real cpu sum.
    """

    pod: Pod
    # What Filter checks and BalancedAllocation scores (`pod_requests(pod)`).
    requests: Resources
    # What the pod adds to `NodeInfo.non_zero_requested` once on a node (cpu and memory are
    # the only fields read). Equal to `scoring_requests` unless pod-level requests are set.
    non_zero_requests: Resources
    # What NodeResourcesFit's scoring counts for the pod being scheduled
    # (`pod_requests(pod, non_zero=True)`).
    scoring_requests: Resources

    @classmethod
    def of(cls, pod: Pod) -> PodInfo:
        pod_level = pod_level_requests(pod)
        raw = _request_quantities(pod, pod_level)
        requests = Resources.of(raw)
        scoring = Resources.of(_request_quantities(pod, pod_level, NON_ZERO_DEFAULTS))
        if not has_pod_level_requests(pod_level):
            return cls(pod, requests, scoring, scoring.copy())
        # Upstream's NodeInfo accounting (`calculateResource`) substitutes 100m / 200Mi only
        # for cpu or memory that nothing in the pod requests, when pod-level requests are set.
        missing = {name: v for name, v in NON_ZERO_DEFAULTS.items() if name not in raw}
        if missing:
            non_zero = Resources.of(_request_quantities(pod, pod_level, missing))
        else:
            non_zero = requests.copy()
        return cls(pod, requests, non_zero, scoring)

    @property
    def key(self) -> str:
        return f"{self.pod.metadata.namespace}/{self.pod.metadata.name}"

    @property
    def priority(self) -> int:
        return self.pod.spec.priority or 0


@dataclass
class NodeInfo:
    """One node, the pods on it and what they request. `generation` grows on every change,
    to its pods or (through the scheduler cache) to the devices it publishes changing hands,
    so caches keyed on (node name, generation) stay valid exactly as long as the node does.

    Nodes kept by one scheduler cache share its `journal`: every change appends the node's
    name, so a reader that remembers a position finds what changed since without looking at
    every node. A copy has no journal (its changes are nobody's business).
    """

    node: Node
    allocatable: Resources
    pods: list[PodInfo] = field(default_factory=list)
    requested: Resources = field(default_factory=Resources)
    non_zero_requested: Resources = field(default_factory=Resources)
    generation: int = 0
    # The node's name, read in every loop over nodes: a plain attribute, not a property.
    name: str = field(init=False)
    journal: list[str] | None = field(default=None, repr=False, compare=False)
    # A what-if copy (preemption's dry run): its generation numbers may repeat the real
    # node's with other contents, so caches keyed on (name, generation) must not keep it.
    scratch: bool = field(default=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.name = self.node.metadata.name

    @classmethod
    def of(cls, node: Node) -> NodeInfo:
        return cls(node, Resources.of(node.status.allocatable))

    def add_pod(self, info: PodInfo) -> None:
        self.pods.append(info)
        self.requested.add(info.requests)
        self.non_zero_requested.add(info.non_zero_requests)
        self.mark_changed()

    def mark_changed(self) -> None:
        """Something plugins read changed (its pods, or its devices' usage)."""
        self.generation += 1
        if self.journal is not None:
            self.journal.append(self.name)

    def remove_pod(self, key: str) -> PodInfo | None:
        for index, info in enumerate(self.pods):
            if info.key == key:
                del self.pods[index]
                self.requested.add(info.requests, -1)
                self.non_zero_requested.add(info.non_zero_requests, -1)
                self.mark_changed()
                return info
        return None

    def copy(self) -> NodeInfo:
        copied = NodeInfo(
            self.node,
            self.allocatable,
            list(self.pods),
            self.requested.copy(),
            self.non_zero_requested.copy(),
            self.generation,
        )
        copied.scratch = True
        return copied
