"""What the scheduler knows about nodes and the pods on them, per cycle.

`Resources` holds requests and allocatable in integer units (cpu in millicores, memory and
ephemeral storage in bytes, pods as a count, extended resources in their own units).
`NodeInfo` is one node with the pods assigned to it (bound or assumed) and their summed
requests; the scheduler cache owns the long-lived ones and hands a `Snapshot` to each cycle.

For the pod-to-pod plugins a `NodeInfo` also keeps, as upstream's does, the pods on it that
have inter-pod (anti-)affinity and those with required anti-affinity (InterPodAffinity visits
only these when the incoming pod has no terms of its own), the host ports its pods take
(NodePorts), and the sizes of the images the node reports (ImageLocality). A pod with none of
these costs `add_pod` two attribute tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from dralloc.api.core import ContainerPort, Node, Pod
from dralloc.api.defaults import (
    aggregate_container_requests,
    has_pod_level_requests,
    is_supported_pod_level_resource,
    overhead,
    pod_level_requests,
)
from dralloc.api.quantity import Format, Quantity
from dralloc.scheduler.framework.journal import ChangeJournal
from dralloc.scheduler.framework.podaffinity import (
    PodAffinityInfo,
    has_pod_affinity,
    parse_pod_affinity,
)

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


DEFAULT_BIND_ALL_HOST_IP = "0.0.0.0"
DEFAULT_PROTOCOL = "TCP"
ALWAYS = "Always"


def host_ports(pod: Pod) -> tuple[ContainerPort, ...]:
    """The ports with a `hostPort` above 0 of the pod's containers and of its sidecars (init
    containers with `restartPolicy: Always`, which run as long as the pod), in that order
    (upstream's `GetHostPorts`)."""
    spec = pod.spec
    found: list[ContainerPort] = []
    for container in spec.init_containers:
        if container.restart_policy == ALWAYS and container.ports:
            found.extend(p for p in container.ports if p.host_port > 0)
    for container in spec.containers:
        if container.ports:
            found.extend(p for p in container.ports if p.host_port > 0)
    return tuple(found)


class HostPortInfo:
    """Host ports in use on a node: host IP -> {(protocol, port)} (upstream's HostPortInfo).
    An empty IP counts as 0.0.0.0, an empty protocol as TCP."""

    __slots__ = ("_by_ip",)

    def __init__(self) -> None:
        self._by_ip: dict[str, set[tuple[str, int]]] = {}

    def __len__(self) -> int:
        return sum(len(ports) for ports in self._by_ip.values())

    def __bool__(self) -> bool:
        return bool(self._by_ip)  # an IP whose last port is removed is removed with it

    def add(self, ip: str, protocol: str, port: int) -> None:
        if port <= 0:
            return
        key = (protocol or DEFAULT_PROTOCOL, port)
        self._by_ip.setdefault(ip or DEFAULT_BIND_ALL_HOST_IP, set()).add(key)

    def remove(self, ip: str, protocol: str, port: int) -> None:
        if port <= 0:
            return
        ip = ip or DEFAULT_BIND_ALL_HOST_IP
        ports = self._by_ip.get(ip)
        if ports is None:
            return
        ports.discard((protocol or DEFAULT_PROTOCOL, port))
        if not ports:
            del self._by_ip[ip]

    def conflicts(self, ip: str, protocol: str, port: int) -> bool:
        """Whether binding (ip, protocol, port) clashes with a port in use: 0.0.0.0 clashes
        with the pair on any IP, another IP with the pair on itself or on 0.0.0.0."""
        if port <= 0:
            return False
        key = (protocol or DEFAULT_PROTOCOL, port)
        ip = ip or DEFAULT_BIND_ALL_HOST_IP
        if ip == DEFAULT_BIND_ALL_HOST_IP:
            return any(key in ports for ports in self._by_ip.values())
        for candidate in (DEFAULT_BIND_ALL_HOST_IP, ip):
            ports = self._by_ip.get(candidate)
            if ports is not None and key in ports:
                return True
        return False

    def copy(self) -> HostPortInfo:
        copied = HostPortInfo()
        copied._by_ip = {ip: set(ports) for ip, ports in self._by_ip.items()}
        return copied


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
    200Mi (an explicit 0 stays 0), and pod-level requests are not read at all: 1.36 builds
    those strategies' scorer without its PodLevelResources switch (noderesources/fit.go,
    `nodeResourceStrategyTypeMap`), while BalancedAllocation's has it.
    """
    if non_zero:
        return Resources.of(_request_quantities(pod, {}, NON_ZERO_DEFAULTS))
    return Resources.of(_request_quantities(pod, pod_level_requests(pod)))


@dataclass
class PodInfo:
    """A pod and its requests, computed once.

    The two non-zero variants differ as upstream's do: its scorer always lets a container
    without a cpu or memory request count 100m / 200Mi and never reads pod-level requests,
    while its node accounting honours pod-level requests and substitutes 100m / 200Mi only
    for a resource nothing in the pod names. So a pod with `spec.resources.requests` of 2
    CPUs over containers that name none scores as 100m per container, but weighs on its
    node with the 2 CPUs.
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
    # The host ports the pod takes on its node (`host_ports(pod)`, computed once).
    host_ports: tuple[ContainerPort, ...] = ()
    # Whether the pod has a podAffinity or podAntiAffinity (upstream's "pod with affinity").
    has_affinity: bool = False
    _affinity: PodAffinityInfo | None = field(default=None, repr=False, compare=False)

    @classmethod
    def of(cls, pod: Pod) -> PodInfo:
        pod_level = pod_level_requests(pod)
        raw = _request_quantities(pod, pod_level)
        requests = Resources.of(raw)
        # Pod-level requests are not read here (see `pod_requests`).
        scoring = Resources.of(_request_quantities(pod, {}, NON_ZERO_DEFAULTS))
        ports = host_ports(pod)
        with_affinity = has_pod_affinity(pod)
        if not has_pod_level_requests(pod_level):
            return cls(pod, requests, scoring, scoring.copy(), ports, with_affinity)
        # Upstream's NodeInfo accounting (`calculateResource`) substitutes 100m / 200Mi only
        # for cpu or memory that nothing in the pod requests, when pod-level requests are set.
        missing = {name: v for name, v in NON_ZERO_DEFAULTS.items() if name not in raw}
        if missing:
            non_zero = Resources.of(_request_quantities(pod, pod_level, missing))
        else:
            non_zero = requests.copy()
        return cls(pod, requests, non_zero, scoring, ports, with_affinity)

    @property
    def key(self) -> str:
        return f"{self.pod.metadata.namespace}/{self.pod.metadata.name}"

    @property
    def affinity(self) -> PodAffinityInfo:
        """The pod's inter-pod (anti-)affinity terms, parsed on first use and kept (a pod's
        spec and labels do not change while it is scheduled or runs)."""
        parsed = self._affinity
        if parsed is None:
            parsed = self._affinity = parse_pod_affinity(self.pod)
        return parsed

    @property
    def has_required_anti_affinity(self) -> bool:
        return self.has_affinity and bool(self.affinity.required_anti_affinity)

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
    every node. A what-if copy has no journal (its changes are nobody's business); a
    snapshot's copies share the snapshot's journal (`scheduler/snapshot.py`).
    """

    node: Node
    allocatable: Resources
    pods: list[PodInfo] = field(default_factory=list)
    requested: Resources = field(default_factory=Resources)
    non_zero_requested: Resources = field(default_factory=Resources)
    generation: int = 0
    # The node's name, read in every loop over nodes: a plain attribute, not a property.
    name: str = field(init=False)
    journal: ChangeJournal | None = field(default=None, repr=False, compare=False)
    # A what-if copy (preemption's dry run): its generation numbers may repeat the real
    # node's with other contents, so caches keyed on (name, generation) must not keep it.
    scratch: bool = field(default=False, repr=False, compare=False)
    # Pods on the node with inter-pod (anti-)affinity, and those with required anti-affinity.
    pods_with_affinity: list[PodInfo] = field(default_factory=list, repr=False)
    pods_with_required_anti_affinity: list[PodInfo] = field(default_factory=list, repr=False)
    used_ports: HostPortInfo = field(default_factory=HostPortInfo, repr=False, compare=False)
    # Image name -> size in bytes, from `status.images` (every name of an image).
    image_sizes: Mapping[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.name = self.node.metadata.name
        images = self.node.status.images
        self.image_sizes = (
            {name: image.size_bytes for image in images for name in image.names}
            if images
            else _NO_IMAGES
        )

    @classmethod
    def of(cls, node: Node) -> NodeInfo:
        return cls(node, Resources.of(node.status.allocatable))

    def add_pod(self, info: PodInfo) -> None:
        self.pods.append(info)
        self.requested.add(info.requests)
        self.non_zero_requested.add(info.non_zero_requests)
        if info.has_affinity:
            self.pods_with_affinity.append(info)
            if info.has_required_anti_affinity:
                self.pods_with_required_anti_affinity.append(info)
        if info.host_ports:
            for port in info.host_ports:
                self.used_ports.add(port.host_ip, port.protocol, port.host_port)
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
                if info.has_affinity:
                    _drop(self.pods_with_affinity, info)
                    _drop(self.pods_with_required_anti_affinity, info)
                if info.host_ports:
                    for port in info.host_ports:
                        self.used_ports.remove(port.host_ip, port.protocol, port.host_port)
                self.mark_changed()
                return info
        return None

    def copy(self, *, scratch: bool = True) -> NodeInfo:
        """A copy that later changes to either side do not reach. `scratch` (the default)
        marks a what-if copy, whose generations may come to repeat the real node's with
        other contents; a snapshot's copy (`scratch=False`) is the node at its generation."""
        # Through `__init__`, never through `__dict__`: touching an instance's `__dict__`
        # makes CPython keep its attributes in a dict, and every later attribute read of
        # that node (and of the copy) slower, several times over in the hot loops.
        copied = NodeInfo(
            self.node,
            self.allocatable,
            list(self.pods),
            self.requested.copy(),
            self.non_zero_requested.copy(),
            self.generation,
            pods_with_affinity=list(self.pods_with_affinity),
            pods_with_required_anti_affinity=list(self.pods_with_required_anti_affinity),
            used_ports=self.used_ports.copy() if self.used_ports else HostPortInfo(),
        )
        copied.scratch = scratch
        return copied


def _drop(pods: list[PodInfo], info: PodInfo) -> None:
    for index, other in enumerate(pods):
        if other is info:
            del pods[index]
            return


_NO_IMAGES: Mapping[str, int] = MappingProxyType({})
