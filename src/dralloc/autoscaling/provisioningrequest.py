"""ProvisioningRequest (`autoscaling.x-k8s.io/v1`, short names `provreq`, `provreqs`) as typed
values, its conditions, and the mapping to a Kueue admission check (spec/autoscaling.md §7).

Owns the model only: a request's pod sets (each a PodTemplate and a count), its class and
parameters, and its `status.conditions` as a map by type (upstream `+listType=map`). Requests
are frozen: `with_condition` returns a new value with one condition added or replaced, as
cluster-autoscaler's `AddOrUpdateCondition` does (apis/provisioningrequest/.../v1/types.go and
provisioningrequest/conditions/conditions.go, read in kubernetes/autoscaler). What the
autoscaler does with a request is `provisioning.py`'s; reading manifests is
`objects.py`'s. No I/O.

Condition types: `Accepted`, `Provisioned`, `Failed`, `BookingExpired`, `CapacityRevoked`.
Reasons cluster-autoscaler writes: `Accepted`, `CapacityIsFound`, `CapacityIsNotFound`,
`CapacityIsProvisioned`, `CapacityReservationTimeExpired`, `Expired`; spec §7.2's
`CapacityBookingConsumed` (all the request's pods scheduled) is dralloc's spelling of that
case **(unverified upstream)**.

`kueue_check_state` is Kueue's provisioning admission check controller's reading of a request
(pkg/controller/admissionchecks/provisioning/controller.go, Kueue v0.17, read): first match
wins, in Kueue's order: `Failed` -> `Retry` while the attempt is within `backoffLimitCount`
(requeue after base * 2^(n-1) seconds, capped at `backoffMaxSeconds`), else `Rejected`;
`CapacityRevoked` on an active, unfinished workload -> `Rejected` (the workload is then
deactivated); `BookingExpired` before admission -> `Retry`/`Rejected` the same way (after
admission it changes nothing); `Provisioned` -> `Ready` with one pod-set update per pod set
(the consume and class annotations, and node selectors read from
`status.provisioningClassDetails`); `Accepted` with a `Provisioned` condition -> `Pending` with
its message; anything else -> `Pending`. The queueing code calls it; nothing here imports it.
`required_pod_sets` (is a request needed, and for which pod sets) and `request_parameters`
(the config's parameters plus the workload's `provreq.kueue.x-k8s.io/<Param>` annotations)
are Kueue's request-making rules beside it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from dralloc.api.core import PodSpec
from dralloc.api.resource import ResourceClaimTemplate
from dralloc.api.workloads import PodTemplateSpec
from dralloc.autoscaling.virtualpods import VirtualPod, materialize

API_VERSION = "autoscaling.x-k8s.io/v1"
KIND = "ProvisioningRequest"
CONSUME_ANNOTATION = "autoscaling.x-k8s.io/consume-provisioning-request"
LEGACY_CONSUME_ANNOTATION = "cluster-autoscaler.kubernetes.io/consume-provisioning-request"
CLASS_ANNOTATION = "autoscaling.x-k8s.io/provisioning-class-name"
# dralloc's: on a request, the replayed (trace) pods that consume it, comma-separated names in
# its namespace; a replay cannot put the consume annotation on a trace's pods otherwise.
CONSUMED_BY_ANNOTATION = "dralloc.io/consumed-by"
NO_RETRY_PARAMETER = "noRetry"
VALID_UNTIL_PARAMETER = "ValidUntilSeconds"
MAX_POD_SETS = 32
MAX_PARAMETERS = 100
MAX_PARAMETER_LENGTH = 255


class ProvisioningClass(StrEnum):
    """The classes cluster-autoscaler serves (`SupportedProvisioningClasses`)."""

    CHECK_CAPACITY = "check-capacity.autoscaling.x-k8s.io"
    BEST_EFFORT_ATOMIC_SCALE_UP = "best-effort-atomic-scale-up.autoscaling.x-k8s.io"


class ConditionType(StrEnum):
    ACCEPTED = "Accepted"
    PROVISIONED = "Provisioned"
    FAILED = "Failed"
    BOOKING_EXPIRED = "BookingExpired"
    CAPACITY_REVOKED = "CapacityRevoked"


class ConditionReason(StrEnum):
    ACCEPTED = "Accepted"
    CAPACITY_IS_FOUND = "CapacityIsFound"
    CAPACITY_IS_NOT_FOUND = "CapacityIsNotFound"
    CAPACITY_IS_PROVISIONED = "CapacityIsProvisioned"
    CAPACITY_RESERVATION_TIME_EXPIRED = "CapacityReservationTimeExpired"
    CAPACITY_BOOKING_CONSUMED = "CapacityBookingConsumed"
    EXPIRED = "Expired"


# Upstream's messages, so a status reads as cluster-autoscaler writes it.
MESSAGES: Mapping[ConditionReason, str] = {
    ConditionReason.ACCEPTED: "ProvisioningRequest is accepted by ClusterAutoscaler",
    ConditionReason.CAPACITY_IS_FOUND: "Capacity is found in the cluster",
    ConditionReason.CAPACITY_IS_NOT_FOUND: "Capacity is not found, CA will try to find it later.",
    ConditionReason.CAPACITY_IS_PROVISIONED: "Capacity is found in the cluster",
    ConditionReason.CAPACITY_RESERVATION_TIME_EXPIRED: "Capacity reservation time is expired",
    ConditionReason.CAPACITY_BOOKING_CONSUMED: "Capacity booking is consumed by the pods",
    ConditionReason.EXPIRED: "ProvisioningRequest is expired",
}


@dataclass(frozen=True)
class Condition:
    """One `metav1.Condition`; `at` is its lastTransitionTime in virtual seconds."""

    type: ConditionType
    status: bool
    reason: str
    message: str = ""
    at: float = 0.0


@dataclass(frozen=True)
class PodSet:
    """`count` pods shaped like PodTemplate `template_name` (same namespace)."""

    template_name: str
    template: PodTemplateSpec
    count: int


@dataclass(frozen=True)
class ProvisioningRequest:
    """A ProvisioningRequest (see the module docstring).

    request = objects.provisioning_requests[0]
    request.is_true(ConditionType.PROVISIONED)
    request.with_condition(Condition(ConditionType.ACCEPTED, True, "Accepted", at=10.0))
    """

    namespace: str
    name: str
    class_name: str
    pod_sets: tuple[PodSet, ...]
    parameters: Mapping[str, str] = field(default_factory=dict)
    created_at: float = 0.0  # virtual seconds: the replay sets it when the request appears
    conditions: tuple[Condition, ...] = ()
    class_details: Mapping[str, str] = field(default_factory=dict)
    consumed_by: tuple[str, ...] = ()  # `CONSUMED_BY_ANNOTATION`: replayed pods consuming it

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def pod_count(self) -> int:
        return sum(p.count for p in self.pod_sets)

    @property
    def provisioning_class(self) -> ProvisioningClass | None:
        """The class if cluster-autoscaler serves it, else None (the request is ignored)."""
        try:
            return ProvisioningClass(self.class_name)
        except ValueError:
            return None

    def condition(self, kind: ConditionType) -> Condition | None:
        return next((c for c in self.conditions if c.type is kind), None)

    def is_true(self, kind: ConditionType) -> bool:
        found = self.condition(kind)
        return found is not None and found.status

    def with_condition(self, condition: Condition) -> ProvisioningRequest:
        """This request with `condition` replacing the one of its type (kept in place), or
        appended; an unchanged status and reason keep the old transition time."""
        old = self.condition(condition.type)
        if old is not None and (old.status, old.reason) == (condition.status, condition.reason):
            condition = dataclasses.replace(condition, at=old.at)
        if old is None:
            return dataclasses.replace(self, conditions=(*self.conditions, condition))
        conditions = tuple(condition if c.type is condition.type else c for c in self.conditions)
        return dataclasses.replace(self, conditions=conditions)

    def is_booked(self) -> bool:
        """Upstream's `ShouldCapacityBeBooked`: a served class, `Provisioned=True`, and
        neither `Failed` nor `BookingExpired` true."""
        return (
            self.provisioning_class is not None
            and self.is_true(ConditionType.PROVISIONED)
            and not self.is_true(ConditionType.FAILED)
            and not self.is_true(ConditionType.BOOKING_EXPIRED)
        )

    def is_finished(self) -> bool:
        """Nothing more will be done for it: `Failed` or `BookingExpired` is true."""
        return self.is_true(ConditionType.FAILED) or self.is_true(ConditionType.BOOKING_EXPIRED)

    def virtual_pods(
        self, claim_templates: Mapping[str, ResourceClaimTemplate]
    ) -> list[VirtualPod]:
        """The request's pods as the autoscaler plans them: `<request>-<podset>-<i>`,
        annotated as consuming it (so they never trigger an ordinary scale-up)."""
        annotations = {CONSUME_ANNOTATION: self.name, CLASS_ANNOTATION: self.class_name}
        return [
            materialize(
                pod_set.template,
                self.namespace,
                f"{self.name}-{index}-{copy}",
                claim_templates,
                annotations,
            )
            for index, pod_set in enumerate(self.pod_sets)
            for copy in range(pod_set.count)
        ]


def consumed_request(annotations: Mapping[str, str]) -> str | None:
    """The ProvisioningRequest a pod consumes (new key first, then the old one)."""
    return annotations.get(CONSUME_ANNOTATION) or annotations.get(LEGACY_CONSUME_ANNOTATION)


# ------------------------------------------------------------------------ Kueue mapping


class CheckState(StrEnum):
    """Kueue's AdmissionCheckState values."""

    PENDING = "Pending"
    READY = "Ready"
    RETRY = "Retry"
    REJECTED = "Rejected"


@dataclass(frozen=True)
class RetryStrategy:
    """ProvisioningRequestConfig `spec.retryStrategy` (Kueue defaults)."""

    backoff_limit_count: int = 3
    backoff_base_seconds: int = 60
    backoff_max_seconds: int = 1800


@dataclass(frozen=True)
class NodeSelectorFromDetail:
    """`podSetUpdates.nodeSelector[]`: label `key` takes the request's class detail."""

    key: str
    value_from_provisioning_class_detail: str


@dataclass(frozen=True)
class PodSetUpdate:
    """What Kueue adds to one pod set of the workload once the check is Ready."""

    pod_template_name: str
    annotations: Mapping[str, str]
    node_selector: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckUpdate:
    """The admission check's new state, message, requeue delay (Retry only, seconds) and
    pod-set updates (Ready only). `None` state: Kueue leaves the check as it is."""

    state: CheckState | None
    message: str = ""
    requeue_after_seconds: int | None = None
    pod_set_updates: tuple[PodSetUpdate, ...] = ()


def requeue_after(retry_count: int, strategy: RetryStrategy) -> int:
    """Kueue's backoff for the n-th retry: base * 2^(n-1), capped (jitter is 1e-4: none)."""
    seconds: int = strategy.backoff_base_seconds * 2 ** max(0, retry_count - 1)
    return min(seconds, strategy.backoff_max_seconds)


def kueue_check_state(
    request: ProvisioningRequest,
    *,
    attempt: int,
    retry_count: int = 0,
    strategy: RetryStrategy | None = None,
    workload_admitted: bool = False,
    workload_active: bool = True,
    node_selectors: tuple[NodeSelectorFromDetail, ...] = (),
) -> CheckUpdate:
    """The admission check's state for `request`, the `attempt`-th made for the workload's
    check (see the module docstring); `retry_count` is the check's RetryCount so far."""
    strategy = strategy or RetryStrategy()

    def retry_or_reject(kind: ConditionType, prefix: str) -> CheckUpdate:
        assert strategy is not None
        found = request.condition(kind)
        message = found.message if found is not None else ""
        if attempt <= strategy.backoff_limit_count:
            if attempt > retry_count:
                return CheckUpdate(
                    CheckState.RETRY,
                    f"{prefix}: {message}",
                    requeue_after(retry_count + 1, strategy),
                )
            return CheckUpdate(None, f"{prefix}: {message}")  # an old request: no new retry
        return CheckUpdate(CheckState.REJECTED, message)

    if request.is_true(ConditionType.FAILED):
        return retry_or_reject(ConditionType.FAILED, "Retrying after failure")
    if request.is_true(ConditionType.CAPACITY_REVOKED):
        if not workload_active:
            return CheckUpdate(None)
        revoked = request.condition(ConditionType.CAPACITY_REVOKED)
        return CheckUpdate(CheckState.REJECTED, revoked.message if revoked else "")
    if request.is_true(ConditionType.BOOKING_EXPIRED):
        if workload_admitted:
            return CheckUpdate(None)
        return retry_or_reject(ConditionType.BOOKING_EXPIRED, "Retrying after booking expired")
    if request.is_true(ConditionType.PROVISIONED):
        provisioned = request.condition(ConditionType.PROVISIONED)
        updates = []
        for pod_set in request.pod_sets:
            selector = {
                s.key: request.class_details[s.value_from_provisioning_class_detail]
                for s in node_selectors
                if s.value_from_provisioning_class_detail in request.class_details
            }
            updates.append(
                PodSetUpdate(
                    pod_set.template_name,
                    {CONSUME_ANNOTATION: request.name, CLASS_ANNOTATION: request.class_name},
                    selector,
                )
            )
        message = provisioned.message if provisioned else ""
        return CheckUpdate(CheckState.READY, message, pod_set_updates=tuple(updates))
    provisioned = request.condition(ConditionType.PROVISIONED)
    if request.is_true(ConditionType.ACCEPTED) and provisioned is not None:
        return CheckUpdate(CheckState.PENDING, provisioned.message)
    return CheckUpdate(CheckState.PENDING)


PARAMETER_ANNOTATION_PREFIX = "provreq.kueue.x-k8s.io/"


def request_parameters(
    config_parameters: Mapping[str, str], workload_annotations: Mapping[str, str]
) -> dict[str, str]:
    """A request's `spec.parameters` as Kueue writes them: the ProvisioningRequestConfig's,
    then every workload annotation `provreq.kueue.x-k8s.io/<Param>` as `<Param>` (winning)."""
    parameters = dict(config_parameters)
    for key, value in workload_annotations.items():
        if key.startswith(PARAMETER_ANNOTATION_PREFIX):
            parameters[key.removeprefix(PARAMETER_ANNOTATION_PREFIX)] = value
    return parameters


def required_pod_sets(
    pod_sets: Sequence[tuple[str, PodSpec]],
    managed_resources: Collection[str],
    device_resources: Mapping[str, Collection[str]] | None = None,
) -> list[str]:
    """The pod sets a request is made for (Kueue's `requiredPodSets`): all of them when
    `managedResources` is empty, else those whose containers or init containers request or
    limit a managed resource. An empty answer: no request is needed, the check is Ready at
    once. Upstream reads container resources only, so a claim-only pod set looks unmanaged;
    (dralloc) `device_resources` gives, per pod set, the logical resources its claims map to
    (the queue's `deviceClassMappings`), counted as requested too."""
    wanted = set(managed_resources)
    names: list[str] = []
    for name, spec in pod_sets:
        used: set[str] = set((device_resources or {}).get(name, ()))
        for container in (*spec.init_containers, *spec.containers):
            used.update(container.resources.requests)
            used.update(container.resources.limits)
        if not wanted or used & wanted:
            names.append(name)
    return names


def request_name(workload: str, check: str, attempt: int) -> str:
    """Kueue's name for the request of a workload's check: `<workload>-<check>-<attempt>`."""
    return f"{workload}-{check}-{attempt}"


def pod_template_name(request: str, pod_set: str) -> str:
    """Kueue's PodTemplate name for one pod set: `ppt-<request>-<podset>`."""
    return f"ppt-{request}-{pod_set}"
