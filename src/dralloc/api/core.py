"""The parts of core/v1 Node and Pod (and of the classes the API server's admission gives a
pod from: scheduling.k8s.io/v1 PriorityClass, node.k8s.io/v1 RuntimeClass) that scheduling
reads.

Pure data, no I/O. Only the fields dralloc uses are modelled; the loader keeps each object's
raw document so that everything else survives a round trip unchanged.
"""

from __future__ import annotations

from typing import Any

import msgspec

from dralloc.api.meta import Base, LabelSelector, ObjectMeta
from dralloc.api.quantity import Quantity


class NodeSelectorRequirement(Base):
    key: str
    operator: str
    values: list[str] = msgspec.field(default_factory=list)


class NodeSelectorTerm(Base):
    match_expressions: list[NodeSelectorRequirement] = msgspec.field(default_factory=list)
    match_fields: list[NodeSelectorRequirement] = msgspec.field(default_factory=list)


class NodeSelector(Base):
    node_selector_terms: list[NodeSelectorTerm] = msgspec.field(default_factory=list)


class Taint(Base):
    key: str
    value: str = ""
    effect: str = ""
    time_added: str | None = None


class Toleration(Base):
    key: str = ""
    operator: str = ""
    value: str = ""
    effect: str = ""
    toleration_seconds: int | None = None


class NodeSpec(Base):
    unschedulable: bool = False
    taints: list[Taint] = msgspec.field(default_factory=list)
    provider_id: str = msgspec.field(default="", name="providerID")


class ContainerImage(Base):
    """`status.images[]`: an image the node holds, under all its names (tags and digests)."""

    names: list[str] = msgspec.field(default_factory=list)
    size_bytes: int = 0


class NodeStatus(Base):
    capacity: dict[str, Quantity] = msgspec.field(default_factory=dict)
    allocatable: dict[str, Quantity] = msgspec.field(default_factory=dict)
    # What the kubelet reports pulled (ImageLocality scores nodes that hold a pod's images).
    images: list[ContainerImage] = msgspec.field(default_factory=list)


class Node(Base):
    api_version: str = "v1"
    kind: str = "Node"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: NodeSpec = msgspec.field(default_factory=NodeSpec)
    status: NodeStatus = msgspec.field(default_factory=NodeStatus)


class ResourceClaimRef(Base):
    """`containers[].resources.claims[]`: a pod claim, optionally narrowed to one request."""

    name: str
    request: str = ""


class ResourceRequirements(Base):
    requests: dict[str, Quantity] = msgspec.field(default_factory=dict)
    limits: dict[str, Quantity] = msgspec.field(default_factory=dict)
    claims: list[ResourceClaimRef] = msgspec.field(default_factory=list)


class ContainerPort(Base):
    """`containers[].ports[]`. Only a `hostPort` above 0 takes a port on the node (NodePorts);
    an empty `hostIP` means 0.0.0.0 and an empty `protocol` TCP, as the API server defaults."""

    container_port: int = 0
    host_port: int = 0
    host_ip: str = msgspec.field(default="", name="hostIP")
    protocol: str = ""
    name: str = ""


class Container(Base):
    name: str = ""
    image: str = ""
    ports: list[ContainerPort] = msgspec.field(default_factory=list)
    resources: ResourceRequirements = msgspec.field(default_factory=ResourceRequirements)
    # Only "Always" is meaningful, and only on an init container: it makes the init container a
    # sidecar (a restartable init container, KEP-753) that keeps running beside the app
    # containers, so its requests add to theirs.
    restart_policy: str | None = None


class PodResourceClaim(Base):
    name: str
    resource_claim_name: str | None = None
    resource_claim_template_name: str | None = None


class PodSchedulingGate(Base):
    name: str


class PodSchedulingGroup(Base):
    """`spec.schedulingGroup` (gate GenericWorkload): the PodGroup the pod belongs to. A
    union with one member today, so `pod_group_name` is required by validation."""

    pod_group_name: str | None = None


class NodeAffinity(Base):
    required_during_scheduling_ignored_during_execution: NodeSelector | None = None
    preferred_during_scheduling_ignored_during_execution: list[Any] = msgspec.field(
        default_factory=list
    )


class PodAffinityTerm(Base):
    """One inter-pod (anti-)affinity term: the pods `labelSelector` picks in `namespaces`
    (empty with no `namespaceSelector`: the pod's own) or in the namespaces
    `namespaceSelector` picks, and the node label whose value names a domain.
    `matchLabelKeys` / `mismatchLabelKeys` add `key in (pod's value)` / `key notin (...)`."""

    label_selector: LabelSelector | None = None
    namespaces: list[str] = msgspec.field(default_factory=list)
    topology_key: str = ""
    namespace_selector: LabelSelector | None = None
    match_label_keys: list[str] = msgspec.field(default_factory=list)
    mismatch_label_keys: list[str] = msgspec.field(default_factory=list)


class WeightedPodAffinityTerm(Base):
    """A preferred term; `weight` is 1..100."""

    weight: int = 0
    pod_affinity_term: PodAffinityTerm = msgspec.field(default_factory=PodAffinityTerm)


class PodAffinity(Base):
    """`podAffinity` or `podAntiAffinity` (the two have the same fields)."""

    required_during_scheduling_ignored_during_execution: list[PodAffinityTerm] = msgspec.field(
        default_factory=list
    )
    preferred_during_scheduling_ignored_during_execution: list[WeightedPodAffinityTerm] = (
        msgspec.field(default_factory=list)
    )


class Affinity(Base):
    node_affinity: NodeAffinity | None = None
    # Kept as written (a wire mapping, or a `PodAffinity` built in code): the scheduler
    # decodes them into `PodAffinity` once per pod (`scheduler.framework.podaffinity`).
    pod_affinity: Any = None
    pod_anti_affinity: Any = None


class TopologySpreadConstraint(Base):
    """`spec.topologySpreadConstraints[]`. `minDomains` None counts as 1; the node inclusion
    policies None count as `Honor` (affinity) and `Ignore` (taints), as kube-scheduler reads
    them."""

    max_skew: int = 0
    topology_key: str = ""
    when_unsatisfiable: str = ""  # DoNotSchedule or ScheduleAnyway
    label_selector: LabelSelector | None = None
    min_domains: int | None = None
    node_affinity_policy: str | None = None  # Honor or Ignore
    node_taints_policy: str | None = None  # Honor or Ignore
    match_label_keys: list[str] = msgspec.field(default_factory=list)


class PodSpec(Base):
    node_name: str = ""
    scheduler_name: str = ""
    priority: int | None = None
    priority_class_name: str = ""
    preemption_policy: str | None = None  # PreemptLowerPriority (default) or Never
    node_selector: dict[str, str] = msgspec.field(default_factory=dict)
    affinity: Affinity | None = None
    tolerations: list[Toleration] = msgspec.field(default_factory=list)
    topology_spread_constraints: list[TopologySpreadConstraint] = msgspec.field(
        default_factory=list
    )
    containers: list[Container] = msgspec.field(default_factory=list)
    init_containers: list[Container] = msgspec.field(default_factory=list)
    resource_claims: list[PodResourceClaim] = msgspec.field(default_factory=list)
    # While any is left, the pod is never tried (SchedulingGates' PreEnqueue).
    scheduling_gates: list[PodSchedulingGate] = msgspec.field(default_factory=list)
    # The RuntimeClass whose overhead and scheduling admission gives the pod.
    runtime_class_name: str | None = None
    # What running the pod costs beyond its containers (set from the RuntimeClass at
    # admission); added to the pod's requests.
    overhead: dict[str, Quantity] = msgspec.field(default_factory=dict)
    # Pod-level requests and limits (KEP-2837, gate PodLevelResources, beta and on in 1.36):
    # cpu, memory and hugepages-* only. A pod-level request replaces the containers' sum.
    resources: ResourceRequirements | None = None
    # The scheduling group (a scheduling.k8s.io/v1alpha2 PodGroup) the pod is a member of;
    # immutable. The API server drops it while GenericWorkload is off.
    scheduling_group: PodSchedulingGroup | None = None


class PodResourceClaimStatus(Base):
    name: str
    resource_claim_name: str | None = None


class ContainerExtendedResourceRequest(Base):
    """Which request of the pod's extended-resource claim serves one container's extended
    resource (KEP-5004): `container_name` asks for `resource_name` (`nvidia.com/gpu`), and
    request `request_name` (`container-0-request-1`) of the claim holds its devices."""

    container_name: str
    resource_name: str
    request_name: str


class PodExtendedResourceClaimStatus(Base):
    """`status.extendedResourceClaimStatus`: the claim the scheduler created for the pod's
    DRA-backed extended resources, and which of its requests serves which container."""

    request_mappings: list[ContainerExtendedResourceRequest]
    resource_claim_name: str


class PodStatus(Base):
    phase: str = ""
    start_time: str | None = None  # RFC 3339, as the API server writes it
    nominated_node_name: str | None = None
    resource_claim_statuses: list[PodResourceClaimStatus] = msgspec.field(default_factory=list)
    # Set by the scheduler when it binds a pod whose extended resources DRA serves
    # (DRAExtendedResource, beta and on in 1.36).
    extended_resource_claim_status: PodExtendedResourceClaimStatus | None = None
    conditions: list[Any] = msgspec.field(default_factory=list)


class Pod(Base):
    api_version: str = "v1"
    kind: str = "Pod"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: PodSpec = msgspec.field(default_factory=PodSpec)
    status: PodStatus = msgspec.field(default_factory=PodStatus)


class PriorityClass(Base):
    """scheduling.k8s.io/v1 PriorityClass: the priority a pod naming it gets at admission.

    `value` is the priority; `global_default` marks the class pods without a
    `priorityClassName` get (when several do, the lowest value wins, as upstream admission).
    """

    api_version: str = "scheduling.k8s.io/v1"
    kind: str = "PriorityClass"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    value: int = 0
    global_default: bool = False
    preemption_policy: str = ""
    description: str = ""


class RuntimeClassOverhead(Base):
    """`overhead.podFixed`: what every pod of the class costs beyond its containers."""

    pod_fixed: dict[str, Quantity] = msgspec.field(default_factory=dict)


class RuntimeClassScheduling(Base):
    """Where pods of the class may run: a node selector merged into each pod's, and
    tolerations merged into its tolerations."""

    node_selector: dict[str, str] = msgspec.field(default_factory=dict)
    tolerations: list[Toleration] = msgspec.field(default_factory=list)


class RuntimeClass(Base):
    """node.k8s.io/v1 RuntimeClass: a container runtime configuration (`handler`) and, for
    the pods naming it in `spec.runtimeClassName`, the overhead and scheduling constraints the
    RuntimeClass admission plugin copies into them (`dralloc.scheduler.admission`).

        RuntimeClass(metadata=ObjectMeta(name="kata"), handler="kata",
                     overhead=RuntimeClassOverhead(pod_fixed={"cpu": Quantity.parse("250m")}))
    """

    api_version: str = "node.k8s.io/v1"
    kind: str = "RuntimeClass"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    handler: str = ""
    overhead: RuntimeClassOverhead | None = None
    scheduling: RuntimeClassScheduling | None = None


class Namespace(Base):
    """core/v1 Namespace: only its labels matter to scheduling (inter-pod affinity terms
    with a `namespaceSelector`). The API server labels every namespace
    `kubernetes.io/metadata.name: <name>`."""

    api_version: str = "v1"
    kind: str = "Namespace"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
