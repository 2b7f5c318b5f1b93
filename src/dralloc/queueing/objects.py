"""Kueue's objects (`kueue.x-k8s.io/v1beta2`), typed, and decoded from raw documents.

Owns: the wire structs of ResourceFlavor, ClusterQueue, Cohort, LocalQueue, Workload and
WorkloadPriorityClass, their defaults (the CRD schema's `+kubebuilder:default` markers) and
the conversion of the older served versions. Pure data, no I/O; validation (Kueue's webhooks
and CEL rules) lives in `dralloc.queueing.validation`.

Versions read: `v1beta2` is the native form. `v1beta1` ClusterQueue, LocalQueue, Cohort,
ResourceFlavor, Workload and WorkloadPriorityClass, and the `v1alpha1` Cohort that Kueue's
samples still use, are converted as Kueue's conversion webhook does, for the fields modelled
here: `cohort` -> `cohortName`, a plain `admissionChecks` list -> `admissionChecksStrategy`,
the fungibility values `Borrow` / `Preempt` -> `MayStopSearch`, a Cohort's `parent` ->
`parentName`, a Workload's `priorityClassName` + `priorityClassSource` -> `priorityClassRef`.

Fields dralloc does not model (admission-check details, status counters) are
ignored on decoding, so a team's manifests load unchanged; a Workload's `status` keeps the
parts the queue writes back (`admission`, `conditions`, `resourceRequests`).

The `kind: Workload` of this group is Kueue's, not `scheduling.k8s.io`'s (dralloc.api.workloads):
the reader tells them apart by API group.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Final

import msgspec

from dralloc.api.core import Taint, Toleration
from dralloc.api.meta import Base, LabelSelector, ObjectMeta
from dralloc.api.quantity import Quantity
from dralloc.api.workloads import PodTemplateSpec
from dralloc.queueing.topology import Topology

GROUP: Final = "kueue.x-k8s.io"
API_VERSION: Final = "kueue.x-k8s.io/v1beta2"
SERVED_VERSIONS: Final = ("kueue.x-k8s.io/v1beta2", "kueue.x-k8s.io/v1beta1")


class QueueingStrategy(StrEnum):
    strict_fifo = "StrictFIFO"
    best_effort_fifo = "BestEffortFIFO"


class FungibilityPolicy(StrEnum):
    may_stop_search = "MayStopSearch"
    try_next_flavor = "TryNextFlavor"


class FungibilityPreference(StrEnum):
    borrowing_over_preemption = "BorrowingOverPreemption"
    preemption_over_borrowing = "PreemptionOverBorrowing"


class PreemptionPolicy(StrEnum):
    never = "Never"
    lower_priority = "LowerPriority"
    lower_or_newer_equal_priority = "LowerOrNewerEqualPriority"
    any = "Any"


class StopPolicy(StrEnum):
    none = "None"
    hold = "Hold"
    hold_and_drain = "HoldAndDrain"


class Condition(Base):
    """metav1.Condition, as Kueue writes it on Workloads."""

    type: str = ""
    status: str = ""
    reason: str = ""
    message: str = ""
    last_transition_time: str | None = None
    observed_generation: int | None = None


# ------------------------------------------------------------------------- ResourceFlavor


class ResourceFlavorSpec(Base):
    node_labels: dict[str, str] = msgspec.field(default_factory=dict)
    node_taints: list[Taint] = msgspec.field(default_factory=list)
    tolerations: list[Toleration] = msgspec.field(default_factory=list)
    topology_name: str | None = None


class ResourceFlavor(Base):
    """A kind of node (a pool, a GPU model): quota is counted per flavor and resource.

    >>> ResourceFlavor(metadata=ObjectMeta(name="a100")).spec.node_labels
    {}
    """

    api_version: str = API_VERSION
    kind: str = "ResourceFlavor"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: ResourceFlavorSpec = msgspec.field(default_factory=ResourceFlavorSpec)


# --------------------------------------------------------------------------- ClusterQueue


class ResourceQuota(Base):
    """One resource of one flavor: `nominalQuota` is guaranteed; `borrowingLimit` caps usage
    above nominal (None: unlimited); `lendingLimit` caps how much unused nominal the cohort
    may use (None: all of it)."""

    name: str = ""
    nominal_quota: Quantity = msgspec.field(default_factory=lambda: Quantity(0))
    borrowing_limit: Quantity | None = None
    lending_limit: Quantity | None = None


class FlavorQuotas(Base):
    name: str = ""
    resources: list[ResourceQuota] = msgspec.field(default_factory=list)


class ResourceGroup(Base):
    """Resources that always share one flavor choice per pod set (cpu, memory and GPUs of
    one node pool)."""

    covered_resources: list[str] = msgspec.field(default_factory=list)
    flavors: list[FlavorQuotas] = msgspec.field(default_factory=list)


class FlavorFungibility(Base):
    when_can_borrow: str = FungibilityPolicy.may_stop_search.value
    when_can_preempt: str = FungibilityPolicy.try_next_flavor.value
    preference: str | None = None


class BorrowWithinCohort(Base):
    policy: str = PreemptionPolicy.never.value
    max_priority_threshold: int | None = None


class ClusterQueuePreemption(Base):
    reclaim_within_cohort: str = PreemptionPolicy.never.value
    borrow_within_cohort: BorrowWithinCohort | None = None
    within_cluster_queue: str = PreemptionPolicy.never.value


class FairSharing(Base):
    """`weight` defaults to 1; 0 makes the share infinite whenever the node borrows."""

    weight: Quantity | None = None


class AdmissionScope(Base):
    admission_mode: str = ""


class ClusterQueueSpec(Base):
    resource_groups: list[ResourceGroup] = msgspec.field(default_factory=list)
    cohort_name: str = ""
    queueing_strategy: str = QueueingStrategy.best_effort_fifo.value
    # None matches no namespace, {} every namespace (Kueue's semantics, not Kubernetes').
    namespace_selector: LabelSelector | None = None
    flavor_fungibility: FlavorFungibility = msgspec.field(default_factory=FlavorFungibility)
    preemption: ClusterQueuePreemption = msgspec.field(default_factory=ClusterQueuePreemption)
    admission_checks_strategy: dict[str, Any] | None = None
    stop_policy: str = StopPolicy.none.value
    fair_sharing: FairSharing | None = None
    admission_scope: AdmissionScope | None = None


class ResourceUsage(Base):
    name: str = ""
    total: Quantity = msgspec.field(default_factory=lambda: Quantity(0))
    borrowed: Quantity = msgspec.field(default_factory=lambda: Quantity(0))


class FlavorUsage(Base):
    name: str = ""
    resources: list[ResourceUsage] = msgspec.field(default_factory=list)


class FairSharingStatus(Base):
    weighted_share: int = 0


class QueueStatus(Base):
    """`status` of a ClusterQueue or LocalQueue, as Kueue's controllers write it."""

    conditions: list[Condition] = msgspec.field(default_factory=list)
    flavors_reservation: list[FlavorUsage] = msgspec.field(default_factory=list)
    flavors_usage: list[FlavorUsage] = msgspec.field(default_factory=list)
    pending_workloads: int = 0
    reserving_workloads: int = 0
    admitted_workloads: int = 0
    fair_sharing: FairSharingStatus | None = None


class ClusterQueue(Base):
    """Quota per (flavor, resource), a queueing strategy and preemption policies.

    >>> cq = ClusterQueue(metadata=ObjectMeta(name="team-a"))
    >>> cq.spec.queueing_strategy, cq.spec.flavor_fungibility.when_can_borrow
    ('BestEffortFIFO', 'MayStopSearch')
    """

    api_version: str = API_VERSION
    kind: str = "ClusterQueue"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: ClusterQueueSpec = msgspec.field(default_factory=ClusterQueueSpec)
    status: QueueStatus = msgspec.field(default_factory=QueueStatus)


# ---------------------------------------------------------------------------------- Cohort


class CohortSpec(Base):
    parent_name: str = ""
    resource_groups: list[ResourceGroup] = msgspec.field(default_factory=list)
    fair_sharing: FairSharing | None = None


class Cohort(Base):
    """A node of the borrowing tree: its own quota is an extra pool shared by its subtree."""

    api_version: str = API_VERSION
    kind: str = "Cohort"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: CohortSpec = msgspec.field(default_factory=CohortSpec)


# ------------------------------------------------------------------------------ LocalQueue


class LocalQueueSpec(Base):
    cluster_queue: str = ""
    stop_policy: str = StopPolicy.none.value
    fair_sharing: FairSharing | None = None


class LocalQueue(Base):
    """A namespace's entry point to a ClusterQueue."""

    api_version: str = API_VERSION
    kind: str = "LocalQueue"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: LocalQueueSpec = msgspec.field(default_factory=LocalQueueSpec)
    status: QueueStatus = msgspec.field(default_factory=QueueStatus)


# ------------------------------------------------------------------ WorkloadPriorityClass


class WorkloadPriorityClass(Base):
    api_version: str = API_VERSION
    kind: str = "WorkloadPriorityClass"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    value: int = 0
    description: str = ""


# -------------------------------------------------------------------------------- Workload


class PodSet(Base):
    """`count` pods of one template; `minCount` allows partial admission down to it."""

    name: str = "main"
    template: PodTemplateSpec = msgspec.field(default_factory=PodTemplateSpec)
    count: int = 1
    min_count: int | None = None
    topology_request: dict[str, Any] | None = None


class PriorityClassRef(Base):
    group: str = ""
    kind: str = ""
    name: str = ""


class WorkloadSpec(Base):
    pod_sets: list[PodSet] = msgspec.field(default_factory=list)
    queue_name: str = ""
    priority_class_ref: PriorityClassRef | None = None
    priority: int | None = None
    active: bool = True
    maximum_execution_time_seconds: int | None = None


class PodSetAssignment(Base):
    name: str = ""
    flavors: dict[str, str] = msgspec.field(default_factory=dict)
    resource_usage: dict[str, Quantity] = msgspec.field(default_factory=dict)
    count: int | None = None
    # Kueue v1beta2's compact form (`dralloc.queueing.topology.encode_assignment`).
    topology_assignment: dict[str, Any] | None = None


class Admission(Base):
    cluster_queue: str = ""
    pod_set_assignments: list[PodSetAssignment] = msgspec.field(default_factory=list)


class PodSetRequest(Base):
    name: str = ""
    resources: dict[str, Quantity] = msgspec.field(default_factory=dict)


class ReclaimablePod(Base):
    name: str = ""
    count: int = 0


class WorkloadStatus(Base):
    conditions: list[Condition] = msgspec.field(default_factory=list)
    admission: Admission | None = None
    reclaimable_pods: list[ReclaimablePod] = msgspec.field(default_factory=list)
    resource_requests: list[PodSetRequest] = msgspec.field(default_factory=list)


class Workload(Base):
    """Kueue's unit of admission: pod sets whose quota is reserved all at once or not at all.

    >>> Workload(spec=WorkloadSpec(pod_sets=[PodSet(count=4)])).spec.pod_sets[0].name
    'main'
    """

    api_version: str = API_VERSION
    kind: str = "Workload"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: WorkloadSpec = msgspec.field(default_factory=WorkloadSpec)
    status: WorkloadStatus = msgspec.field(default_factory=WorkloadStatus)

    def condition(self, type_: str) -> Condition | None:
        return next((c for c in self.status.conditions if c.type == type_), None)

    def has_quota_reservation(self) -> bool:
        found = self.condition("QuotaReserved")
        return found is not None and found.status == "True"


QueueObject = (
    ResourceFlavor
    | ClusterQueue
    | Cohort
    | LocalQueue
    | Workload
    | WorkloadPriorityClass
    | Topology
)

KINDS: Final[dict[str, type[QueueObject]]] = {
    "ResourceFlavor": ResourceFlavor,
    "ClusterQueue": ClusterQueue,
    "Cohort": Cohort,
    "LocalQueue": LocalQueue,
    "Workload": Workload,
    "WorkloadPriorityClass": WorkloadPriorityClass,
    "Topology": Topology,
}

# v1alpha1 serves only Cohort and Topology.
ALPHA_KINDS: Final = frozenset({"Cohort", "Topology"})


def served_versions(kind: str) -> tuple[str, ...]:
    if kind in ALPHA_KINDS:
        return (*SERVED_VERSIONS, "kueue.x-k8s.io/v1alpha1")
    return SERVED_VERSIONS


_OLD_FUNGIBILITY: Final = {"Borrow": "MayStopSearch", "Preempt": "MayStopSearch"}


def convert_to_v1beta2(raw: dict[str, Any]) -> dict[str, Any]:
    """The v1beta2 form of a v1beta1 (or v1alpha1 Cohort) document; v1beta2 is returned as is.

    Only the renamed fields matter; the document is copied, never changed in place."""
    if raw.get("apiVersion") == API_VERSION:
        return raw
    out = {**raw, "apiVersion": API_VERSION}
    spec = raw.get("spec")
    if not isinstance(spec, dict):
        return out
    spec = dict(spec)
    kind = raw.get("kind")
    if kind == "ClusterQueue":
        if "cohort" in spec:
            spec.setdefault("cohortName", spec.pop("cohort"))
        checks = spec.pop("admissionChecks", None)
        if checks and "admissionChecksStrategy" not in spec:
            spec["admissionChecksStrategy"] = {"admissionChecks": [{"name": n} for n in checks]}
        fungibility = spec.get("flavorFungibility")
        if isinstance(fungibility, dict):
            spec["flavorFungibility"] = {
                k: _OLD_FUNGIBILITY.get(v, v) if isinstance(v, str) else v
                for k, v in fungibility.items()
            }
    elif kind == "Cohort":
        if "parent" in spec:
            spec.setdefault("parentName", spec.pop("parent"))
    elif kind == "Workload":
        name = spec.pop("priorityClassName", None)
        source = spec.pop("priorityClassSource", None)
        if name and "priorityClassRef" not in spec:
            if source == "kueue.x-k8s.io/workloadpriorityclass":
                ref = {"group": GROUP, "kind": "WorkloadPriorityClass", "name": name}
            else:
                ref = {"group": "scheduling.k8s.io", "kind": "PriorityClass", "name": name}
            spec["priorityClassRef"] = ref
    out["spec"] = spec
    return out
