"""What Kueue's webhooks and CRD rules refuse, for one object at a time.

Owns: per-object checks (`validate`) returning `(field path, message)` pairs in the
order found; the reader turns them into `Problem`s naming file and object. Checks that need
several objects (a missing flavor, a cohort cycle) belong to `dralloc.queueing.state`.

Reproduced from kueue v0.17 `pkg/webhooks` and the `+kubebuilder` markers of
`apis/kueue/v1beta2`: object names are DNS-1123 subdomains; every quota is >= 0; each
flavor lists exactly the group's covered resources, in the same order; a resource or flavor
appears in one group only; `borrowingLimit` / `lendingLimit` need a cohort (a parent for a
Cohort); a ClusterQueue's `lendingLimit` is at most its `nominalQuota`; enum fields hold their
enum values; `reclaimWithinCohort: Never` forbids a `borrowWithinCohort` policy; a fungibility
`preference` needs both policies `TryNextFlavor`; a fair-sharing weight is 0 or above 1e-9;
limits of 16 groups, 64 resources and flavors per group, 256 flavors in all; a Workload has
1-8 pod sets with unique names, `count` >= 0, at most one `minCount`, 1 <= minCount <= count.
Pure computation, no I/O.
"""

from __future__ import annotations

import re
from typing import Any, Final

from dralloc.api.quantity import Quantity
from dralloc.queueing.objects import (
    ClusterQueue,
    Cohort,
    FairSharing,
    FungibilityPolicy,
    FungibilityPreference,
    LocalQueue,
    PreemptionPolicy,
    QueueingStrategy,
    QueueObject,
    ResourceFlavor,
    ResourceGroup,
    StopPolicy,
    Workload,
    WorkloadPriorityClass,
)
from dralloc.queueing.topology import Topology, validate_topology

_DNS_SUBDOMAIN: Final = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
_QUALIFIED_NAME: Final = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_MIN_WEIGHT_NANO: Final = 1  # weights must be > 1e-9 unless 0: the smallest Quantity step

Found = list[tuple[str, str]]


def _enum(found: Found, path: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        quoted = ", ".join(f'"{a}"' for a in allowed)
        found.append((path, f'Unsupported value: "{value}": supported values: {quoted}'))


def _name(found: Found, path: str, value: str, what: str = "name") -> None:
    if not value:
        found.append((path, "Required value"))
    elif len(value) > 253 or not _DNS_SUBDOMAIN.match(value):
        found.append(
            (
                path,
                f'Invalid value: "{value}": a {what} must be a lowercase RFC 1123 subdomain '
                "(lowercase letters, digits, '-' and '.', at most 253 characters)",
            )
        )


def _resource_name(found: Found, path: str, value: str) -> None:
    prefix, _, name = value.rpartition("/")
    if prefix and not _DNS_SUBDOMAIN.match(prefix):
        found.append((path, f'Invalid value: "{value}": prefix must be a DNS-1123 subdomain'))
    elif not name or len(name) > 63 or not _QUALIFIED_NAME.match(name):
        found.append((path, f'Invalid value: "{value}": must be a qualified resource name'))


def _non_negative(found: Found, path: str, value: Quantity) -> None:
    if value.sign() < 0:
        found.append((path, f'Invalid value: "{value}": must be greater than or equal to 0'))


def _fair_sharing(found: Found, path: str, fair: FairSharing | None) -> None:
    if fair is None or fair.weight is None:
        return
    weight = fair.weight
    if weight.sign() < 0 or (not weight.is_zero() and weight.nano <= _MIN_WEIGHT_NANO):
        found.append(
            (f"{path}.weight", f'Invalid value: "{weight}": must be 0 or greater than 1e-9')
        )


def resource_groups(
    groups: list[ResourceGroup], path: str, *, has_parent: bool, is_cohort: bool
) -> Found:
    """Kueue's `validateResourceGroups` and the group-level CRD rules."""
    found: Found = []
    if len(groups) > 16:
        found.append((path, f"Too many: {len(groups)}: must have at most 16 items"))
    seen_resources: set[str] = set()
    seen_flavors: set[str] = set()
    total_flavors = 0
    parent_word = "parent" if is_cohort else "cohort"
    for i, group in enumerate(groups):
        gpath = f"{path}[{i}]"
        if not group.covered_resources:
            found.append((f"{gpath}.coveredResources", "Required value"))
        if not group.flavors:
            found.append((f"{gpath}.flavors", "Required value"))
        if len(group.covered_resources) > 64:
            found.append((f"{gpath}.coveredResources", "Too many: must have at most 64 items"))
        if len(group.flavors) > 64:
            found.append((f"{gpath}.flavors", "Too many: must have at most 64 items"))
        total_flavors += len(group.flavors)
        for j, name in enumerate(group.covered_resources):
            rpath = f"{gpath}.coveredResources[{j}]"
            _resource_name(found, rpath, name)
            if name in seen_resources:
                found.append((rpath, f'Duplicate value: "{name}"'))
            seen_resources.add(name)
        for j, flavor in enumerate(group.flavors):
            fpath = f"{gpath}.flavors[{j}]"
            _name(found, f"{fpath}.name", flavor.name, "flavor name")
            if flavor.name in seen_flavors:
                found.append((f"{fpath}.name", f'Duplicate value: "{flavor.name}"'))
            seen_flavors.add(flavor.name)
            if len(flavor.resources) != len(group.covered_resources):
                found.append(
                    (
                        f"{fpath}.resources",
                        f"flavor {flavor.name!r} lists {len(flavor.resources)} resources but "
                        f"the group covers {len(group.covered_resources)} "
                        f"({', '.join(group.covered_resources)}): flavors must have the same "
                        "number of resources as the coveredResources",
                    )
                )
            for k, quota in enumerate(flavor.resources):
                qpath = f"{fpath}.resources[{k}]"
                if k < len(group.covered_resources) and quota.name != group.covered_resources[k]:
                    found.append(
                        (
                            f"{qpath}.name",
                            f'Invalid value: "{quota.name}": must match the name in '
                            f'coveredResources ("{group.covered_resources[k]}")',
                        )
                    )
                _non_negative(found, f"{qpath}.nominalQuota", quota.nominal_quota)
                for field, limit in (
                    ("borrowingLimit", quota.borrowing_limit),
                    ("lendingLimit", quota.lending_limit),
                ):
                    if limit is None:
                        continue
                    _non_negative(found, f"{qpath}.{field}", limit)
                    if not has_parent:
                        found.append(
                            (
                                f"{qpath}.{field}",
                                f'Invalid value: "{limit}": must be nil when {parent_word} '
                                "is empty",
                            )
                        )
                if (
                    not is_cohort
                    and quota.lending_limit is not None
                    and quota.lending_limit > quota.nominal_quota
                ):
                    found.append(
                        (
                            f"{qpath}.lendingLimit",
                            f'Invalid value: "{quota.lending_limit}": must be less than or '
                            f"equal to the nominalQuota ({quota.nominal_quota})",
                        )
                    )
    if total_flavors > 256:
        found.append(
            (
                path,
                "total number of flavors across all resourceGroups must be ≤ 256, "
                f"got {total_flavors}",
            )
        )
    return found


def _cluster_queue(cq: ClusterQueue) -> Found:
    spec = cq.spec
    found = resource_groups(
        spec.resource_groups,
        "spec.resourceGroups",
        has_parent=bool(spec.cohort_name),
        is_cohort=False,
    )
    if spec.cohort_name:
        _name(found, "spec.cohortName", spec.cohort_name, "cohort name")
    _enum(found, "spec.queueingStrategy", spec.queueing_strategy, tuple(QueueingStrategy))
    _enum(found, "spec.stopPolicy", spec.stop_policy, tuple(StopPolicy))
    fungibility = spec.flavor_fungibility
    policies = tuple(FungibilityPolicy)
    _enum(found, "spec.flavorFungibility.whenCanBorrow", fungibility.when_can_borrow, policies)
    _enum(found, "spec.flavorFungibility.whenCanPreempt", fungibility.when_can_preempt, policies)
    if fungibility.preference is not None:
        _enum(
            found,
            "spec.flavorFungibility.preference",
            fungibility.preference,
            tuple(FungibilityPreference),
        )
        if (
            fungibility.when_can_borrow != FungibilityPolicy.try_next_flavor
            or fungibility.when_can_preempt != FungibilityPolicy.try_next_flavor
        ):
            found.append(
                (
                    "spec.flavorFungibility.preference",
                    f'Invalid value: "{fungibility.preference}": preference requires both '
                    "whenCanBorrow and whenCanPreempt to be TryNextFlavor",
                )
            )
    preemption = spec.preemption
    P = PreemptionPolicy
    _enum(
        found,
        "spec.preemption.withinClusterQueue",
        preemption.within_cluster_queue,
        (P.never, P.lower_priority, P.lower_or_newer_equal_priority),
    )
    _enum(
        found,
        "spec.preemption.reclaimWithinCohort",
        preemption.reclaim_within_cohort,
        (P.never, P.lower_priority, P.any),
    )
    borrow = preemption.borrow_within_cohort
    if borrow is not None:
        _enum(
            found,
            "spec.preemption.borrowWithinCohort.policy",
            borrow.policy,
            (P.never, P.lower_priority),
        )
        if preemption.reclaim_within_cohort == P.never and borrow.policy != P.never:
            found.append(
                (
                    "spec.preemption",
                    "reclaimWithinCohort=Never and borrowWithinCohort.Policy!=Never",
                )
            )
    _fair_sharing(found, "spec.fairSharing", spec.fair_sharing)
    if spec.admission_scope is not None:
        _enum(
            found,
            "spec.admissionScope.admissionMode",
            spec.admission_scope.admission_mode,
            ("UsageBasedAdmissionFairSharing", "NoAdmissionFairSharing"),
        )
    return found


def _cohort(cohort: Cohort) -> Found:
    found = resource_groups(
        cohort.spec.resource_groups,
        "spec.resourceGroups",
        has_parent=bool(cohort.spec.parent_name),
        is_cohort=True,
    )
    if cohort.spec.parent_name:
        _name(found, "spec.parentName", cohort.spec.parent_name, "cohort name")
    _fair_sharing(found, "spec.fairSharing", cohort.spec.fair_sharing)
    return found


def _local_queue(lq: LocalQueue) -> Found:
    found: Found = []
    if not lq.metadata.namespace:
        found.append(("metadata.namespace", "Required value: a LocalQueue is namespaced"))
    _name(found, "spec.clusterQueue", lq.spec.cluster_queue, "ClusterQueue name")
    _enum(found, "spec.stopPolicy", lq.spec.stop_policy, tuple(StopPolicy))
    _fair_sharing(found, "spec.fairSharing", lq.spec.fair_sharing)
    return found


def _topology_request(path: str, raw: dict[str, Any] | None, count: int) -> Found:
    """Kueue's CRD rules on `podSets[].topologyRequest`."""
    found: Found = []
    if not raw:
        return found
    modes = [k for k in ("required", "preferred") if raw.get(k) is not None]
    if raw.get("unconstrained"):
        modes.append("unconstrained")
    if len(modes) > 1:
        found.append((path, f"must set at most one of required, preferred, unconstrained: {modes}"))
    level = raw.get("podSetSliceRequiredTopology")
    size = raw.get("podSetSliceSize")
    if (level is None) != (size is None):
        found.append((path, "podSetSliceRequiredTopology and podSetSliceSize must be set together"))
    if size is not None and (not isinstance(size, int) or not 1 <= size <= max(count, 1)):
        found.append(
            (f"{path}.podSetSliceSize", f"Invalid value: {size!r}: must be 1 to count ({count})")
        )
    return found


def _workload(wl: Workload) -> Found:
    found: Found = []
    spec = wl.spec
    if not wl.metadata.namespace:
        found.append(("metadata.namespace", "Required value: a Workload is namespaced"))
    if not spec.pod_sets:
        found.append(("spec.podSets", "Required value: at least one pod set"))
    if len(spec.pod_sets) > 8:
        found.append(("spec.podSets", f"Too many: {len(spec.pod_sets)}: must have at most 8"))
    names: set[str] = set()
    with_min = 0
    for i, ps in enumerate(spec.pod_sets):
        path = f"spec.podSets[{i}]"
        _name(found, f"{path}.name", ps.name, "pod set name")
        if ps.name in names:
            found.append((f"{path}.name", f'Duplicate value: "{ps.name}"'))
        names.add(ps.name)
        if ps.count < 0:
            found.append((f"{path}.count", f"Invalid value: {ps.count}: must be >= 0"))
        if ps.min_count is not None:
            with_min += 1
            if ps.min_count < 1 or ps.min_count > ps.count:
                found.append(
                    (
                        f"{path}.minCount",
                        f"Invalid value: {ps.min_count}: minCount should be positive and less "
                        f"or equal to count ({ps.count})",
                    )
                )
        found += _topology_request(f"{path}.topologyRequest", ps.topology_request, ps.count)
        pod_spec = ps.template.spec
        for j, container in enumerate((*pod_spec.init_containers, *pod_spec.containers)):
            for name, value in container.resources.requests.items():
                if value.sign() < 0:
                    found.append(
                        (
                            f"{path}.template.spec.containers[{j}].resources.requests[{name}]",
                            f'Invalid value: "{value}": must be greater than or equal to 0',
                        )
                    )
    if with_min > 1:
        found.append(("spec.podSets", "at most one podSet can use minCount"))
    ref = spec.priority_class_ref
    if ref is not None:
        if ref.group == "scheduling.k8s.io" and ref.kind != "PriorityClass":
            found.append(
                (
                    "spec.priorityClassRef.kind",
                    "only the PriorityClass kind is allowed for the scheduling.k8s.io group",
                )
            )
        elif ref.group == "kueue.x-k8s.io" and ref.kind != "WorkloadPriorityClass":
            found.append(
                (
                    "spec.priorityClassRef.kind",
                    "only the WorkloadPriorityClass kind is allowed for the kueue.x-k8s.io group",
                )
            )
        elif ref.group not in ("scheduling.k8s.io", "kueue.x-k8s.io"):
            found.append(
                (
                    "spec.priorityClassRef.group",
                    f'Unsupported value: "{ref.group}": supported values: "kueue.x-k8s.io", '
                    '"scheduling.k8s.io"',
                )
            )
    return found


def validate(obj: QueueObject) -> Found:
    """Every problem Kueue's admission (webhook and CRD schema) finds in `obj`."""
    found: Found = []
    cluster_scoped = not isinstance(obj, LocalQueue | Workload)
    _name(found, "metadata.name", obj.metadata.name)
    if cluster_scoped and obj.metadata.namespace:
        found.append(("metadata.namespace", f"Forbidden: {obj.kind} is cluster-scoped"))
    if isinstance(obj, ClusterQueue):
        found += _cluster_queue(obj)
    elif isinstance(obj, Cohort):
        found += _cohort(obj)
    elif isinstance(obj, LocalQueue):
        found += _local_queue(obj)
    elif isinstance(obj, Workload):
        found += _workload(obj)
    elif isinstance(obj, ResourceFlavor):
        if len(obj.spec.node_labels) > 8:
            found.append(("spec.nodeLabels", "Too many: must have at most 8 entries"))
        if len(obj.spec.node_taints) > 8:
            found.append(("spec.nodeTaints", "Too many: must have at most 8 items"))
        for i, taint in enumerate(obj.spec.node_taints):
            _enum(
                found,
                f"spec.nodeTaints[{i}].effect",
                taint.effect,
                ("NoSchedule", "PreferNoSchedule", "NoExecute"),
            )
    elif isinstance(obj, Topology):
        found += validate_topology(obj)
    elif isinstance(obj, WorkloadPriorityClass) and not -(2**31) <= obj.value < 2**31:
        found.append(("value", f"Invalid value: {obj.value}: must fit an int32"))
    return found
