"""What the scheduler knows about nodes and the pods on them, per cycle.

`Resources` holds requests and allocatable in integer units (cpu in millicores, memory and
ephemeral storage in bytes, pods as a count, extended resources in their own units).
`NodeInfo` is one node with the pods assigned to it (bound or assumed) and their summed
requests; the scheduler cache owns the long-lived ones and hands a `Snapshot` to each cycle.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from dralloc.api.core import Container, Node, Pod
from dralloc.api.quantity import Quantity

CPU = "cpu"
MEMORY = "memory"
EPHEMERAL_STORAGE = "ephemeral-storage"
PODS = "pods"
# LeastAllocated/MostAllocated count a container without requests as this much (section 4.2).
DEFAULT_MILLI_CPU = 100
DEFAULT_MEMORY = 200 * 1024 * 1024
_NANO_PER_MILLI = 1_000_000


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


def _container_requests(containers: Iterable[Container]) -> Resources:
    total = Resources()
    for container in containers:
        total.add(Resources.of(container.resources.requests))
    return total


def pod_requests(pod: Pod, *, non_zero: bool = False) -> Resources:
    """The pod's effective requests (section 4.2): containers summed, then the per-resource
    maximum with each init container. `non_zero` counts a container without a cpu or memory
    request as 100m / 200Mi, as the LeastAllocated and MostAllocated scorers do."""
    total = Resources()
    for container in pod.spec.containers:
        requests = Resources.of(container.resources.requests)
        if non_zero:
            if CPU not in container.resources.requests:
                requests.milli_cpu = DEFAULT_MILLI_CPU
            if MEMORY not in container.resources.requests:
                requests.memory = DEFAULT_MEMORY
        total.add(requests)
    for init in pod.spec.init_containers:
        need = Resources.of(init.resources.requests)
        total.milli_cpu = max(total.milli_cpu, need.milli_cpu)
        total.memory = max(total.memory, need.memory)
        total.ephemeral_storage = max(total.ephemeral_storage, need.ephemeral_storage)
        for name, amount in need.scalars.items():
            total.scalars[name] = max(total.scalars.get(name, 0), amount)
    return total


@dataclass
class PodInfo:
    """A pod and its requests, computed once."""

    pod: Pod
    requests: Resources
    non_zero_requests: Resources

    @classmethod
    def of(cls, pod: Pod) -> PodInfo:
        return cls(pod, pod_requests(pod), pod_requests(pod, non_zero=True))

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
