"""The parts of core/v1 Node and Pod (and scheduling.k8s.io/v1 PriorityClass) that scheduling
reads.

Pure data, no I/O. Only the fields dralloc uses are modelled; the loader keeps each object's
raw document so that everything else survives a round trip unchanged.
"""

from __future__ import annotations

from typing import Any

import msgspec

from dralloc.api.meta import Base, ObjectMeta
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


class NodeStatus(Base):
    capacity: dict[str, Quantity] = msgspec.field(default_factory=dict)
    allocatable: dict[str, Quantity] = msgspec.field(default_factory=dict)


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


class Container(Base):
    name: str = ""
    image: str = ""
    resources: ResourceRequirements = msgspec.field(default_factory=ResourceRequirements)
    # Only "Always" is meaningful, and only on an init container: it makes the init container a
    # sidecar (a restartable init container, KEP-753) that keeps running beside the app
    # containers, so its requests add to theirs.
    restart_policy: str | None = None


class PodResourceClaim(Base):
    name: str
    resource_claim_name: str | None = None
    resource_claim_template_name: str | None = None


class NodeAffinity(Base):
    required_during_scheduling_ignored_during_execution: NodeSelector | None = None
    preferred_during_scheduling_ignored_during_execution: list[Any] = msgspec.field(
        default_factory=list
    )


class Affinity(Base):
    node_affinity: NodeAffinity | None = None
    pod_affinity: Any = None
    pod_anti_affinity: Any = None


class PodSpec(Base):
    node_name: str = ""
    scheduler_name: str = ""
    priority: int | None = None
    priority_class_name: str = ""
    preemption_policy: str | None = None  # PreemptLowerPriority (default) or Never
    node_selector: dict[str, str] = msgspec.field(default_factory=dict)
    affinity: Affinity | None = None
    tolerations: list[Toleration] = msgspec.field(default_factory=list)
    containers: list[Container] = msgspec.field(default_factory=list)
    init_containers: list[Container] = msgspec.field(default_factory=list)
    resource_claims: list[PodResourceClaim] = msgspec.field(default_factory=list)
    # What running the pod costs beyond its containers (set from the RuntimeClass at
    # admission); added to the pod's requests.
    overhead: dict[str, Quantity] = msgspec.field(default_factory=dict)
    # Pod-level requests and limits (KEP-2837, gate PodLevelResources, beta and on in 1.36):
    # cpu, memory and hugepages-* only. A pod-level request replaces the containers' sum.
    resources: ResourceRequirements | None = None


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
