"""A PodDisruptionBudget's status as kube-controller-manager's disruption controller computes
it (pkg/controller/disruption), for budgets given without one: offline there is no
controller, and preemption needs `status.disruptionsAllowed`. Pure computation.

The controller's sync, restated:

1. The budget's pods: the pods of its namespace its selector matches (here an empty selector
   matches every pod and a missing one none, as `LabelSelectorAsSelector` reads them).
2. Expected and desired counts. `maxUnavailable` (int or percent): expected = the summed
   scale of the pods' controllers, desired = expected - maxUnavailable (percent rounded up),
   at least 0. `minAvailable` as an int: expected = the number of pods, desired = the int.
   `minAvailable` as a percent: expected = the controllers' scale, desired = that percent of
   it, rounded up. Neither set: both 0.
3. A controller's scale: a pod's controller reference (`controller: true`) is looked up as
   upstream's finders do, in order: a ReplicaSet owned by a Deployment gives the
   Deployment's `spec.replicas`; a ReplicaSet owned by none its own; a StatefulSet its own;
   any other kind through the scale subresource, which among the kinds dralloc knows only
   apps/v1 Deployments, ReplicaSets and StatefulSets serve. A controller that is not in the
   object set, or that has no scale subresource (a batch/v1 Job, a JobSet), fails the sync:
   the controller then writes `disruptionsAllowed: 0` (its fail-safe) and so does this. A pod
   with no controller is unmanaged: it counts toward no scale (upstream warns,
   `UnmanagedPods`). Each controller counts once. Objects given without UIDs (hand-written
   manifests) match by kind and name; where both UIDs are set they must be equal.
4. Healthy: pods not being deleted whose Ready condition is True. Offline no kubelet
   reports, so a bound pod with no Ready condition at all is taken as running and ready, as
   `dralloc schedule` takes every pod it places to run.
5. disruptionsAllowed = healthy - desired, or 0 when that is negative or expected is 0.
   `disruptedPods` is empty: no eviction API ran.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import msgspec

from dralloc.api.core import Pod
from dralloc.api.meta import ObjectMeta, OwnerReference
from dralloc.api.policy import PodDisruptionBudget, PodDisruptionBudgetStatus, scaled_value
from dralloc.api.workloads import Deployment, ReplicaSet, StatefulSet, Workload
from dralloc.scheduler.framework.labels import SelectorError, compile_label_selector

_APPS = ("apps", "extensions")
_READY = "Ready"


class SyncFailed(Exception):
    """The controller's sync of one budget failed (it then writes disruptionsAllowed 0)."""


@dataclass(frozen=True)
class ControllerScales:
    """The workload objects whose `spec.replicas` a budget's percentage or maxUnavailable
    reads, by (namespace, kind, name)."""

    objects: Mapping[tuple[str, str, str], Workload]

    @classmethod
    def of(cls, workloads: Iterable[Workload]) -> ControllerScales:
        return cls(
            {(w.metadata.namespace or "default", w.kind, w.metadata.name): w for w in workloads}
        )

    def _get(self, namespace: str, ref: OwnerReference, kind: str) -> Workload | None:
        found = self.objects.get((namespace, kind, ref.name))
        if found is None:
            return None
        uid = found.metadata.uid
        return None if ref.uid and uid and ref.uid != uid else found

    def scale_of(self, pod: Pod, ref: OwnerReference) -> tuple[tuple[str, str], int] | None:
        """(the controller's identity, its scale), or None when no finder knows it. SyncFailed
        for a kind without a scale subresource."""
        namespace = pod.metadata.namespace or "default"
        group = ref.api_version.rpartition("/")[0]
        if ref.kind == "ReplicaSet" and group in _APPS:
            rs = self._get(namespace, ref, "ReplicaSet")
            if isinstance(rs, ReplicaSet):
                owner = _controller_of(rs.metadata)
                if owner is not None and owner.kind == "Deployment":
                    deployment = self._get(namespace, owner, "Deployment")
                    if owner.api_version.rpartition("/")[0] in _APPS and isinstance(
                        deployment, Deployment
                    ):
                        return ("Deployment", deployment.metadata.name), deployment.spec.replicas
                else:
                    return ("ReplicaSet", rs.metadata.name), rs.spec.replicas
        if ref.kind == "StatefulSet" and group == "apps":
            ss = self._get(namespace, ref, "StatefulSet")
            if isinstance(ss, StatefulSet):
                return ("StatefulSet", ss.metadata.name), ss.spec.replicas
        # The scale subresource (upstream's getScaleController).
        if group == "apps" and ref.kind in ("Deployment", "ReplicaSet", "StatefulSet"):
            found = self._get(namespace, ref, ref.kind)
            if isinstance(found, Deployment | ReplicaSet | StatefulSet):
                return (ref.kind, found.metadata.name), found.spec.replicas
            return None
        resource = f"{ref.kind.lower()}s.{group}" if group else f"{ref.kind.lower()}s"
        if ref.kind == "Job" and group == "batch":
            raise SyncFailed(f"{resource} does not implement the scale subresource")
        raise SyncFailed(f"no scale subresource known for {ref.kind} ({ref.api_version})")


def _controller_of(meta: ObjectMeta) -> OwnerReference | None:
    return next((ref for ref in meta.owner_references if ref.controller), None)


def _expected_scale(pods: Sequence[Pod], scales: ControllerScales) -> int:
    counted: dict[tuple[str, str], int] = {}
    for pod in pods:
        ref = _controller_of(pod.metadata)
        if ref is None:
            continue  # unmanaged
        found = scales.scale_of(pod, ref)
        if found is None:
            raise SyncFailed(f'found no controllers for pod "{pod.metadata.name}"')
        identity, scale = found
        counted[identity] = scale
    return sum(counted.values())


def is_healthy(pod: Pod) -> bool:
    """Not being deleted, and Ready (a pod no kubelet reported on counts as ready)."""
    if pod.metadata.deletion_timestamp is not None:
        return False
    for condition in pod.status.conditions:
        if isinstance(condition, dict) and condition.get("type") == _READY:
            return condition.get("status") == "True"
    return pod.status.phase in ("", "Running")


def budget_pods(budget: PodDisruptionBudget, pods: Iterable[Pod]) -> list[Pod]:
    """The pods the disruption controller counts for `budget`."""
    try:
        selector = compile_label_selector(budget.spec.selector, "spec.selector")
    except SelectorError:
        return []
    namespace = budget.metadata.namespace or "default"
    return [
        p
        for p in pods
        if (p.metadata.namespace or "default") == namespace and selector.matches(p.metadata.labels)
    ]


def computed_status(
    budget: PodDisruptionBudget, pods: Iterable[Pod], scales: ControllerScales
) -> PodDisruptionBudgetStatus:
    """The status the disruption controller would write for `budget` over `pods` (every pod
    of the cluster it may count) and the controllers of `scales`."""
    matched = budget_pods(budget, pods)
    spec = budget.spec
    generation = budget.metadata.generation
    try:
        if spec.max_unavailable is not None:
            expected = _expected_scale(matched, scales)
            unavailable = scaled_value(spec.max_unavailable, expected, round_up=True)
            desired = max(expected - unavailable, 0)
        elif isinstance(spec.min_available, int):
            expected, desired = len(matched), spec.min_available
        elif spec.min_available is not None:
            expected = _expected_scale(matched, scales)
            desired = scaled_value(spec.min_available, expected, round_up=True)
        else:
            expected = desired = 0
    except (SyncFailed, ValueError):
        return PodDisruptionBudgetStatus(observed_generation=generation)
    healthy = sum(1 for p in matched if is_healthy(p))
    allowed = healthy - desired
    if expected <= 0 or allowed <= 0:
        allowed = 0
    return PodDisruptionBudgetStatus(
        observed_generation=generation,
        disruptions_allowed=allowed,
        current_healthy=healthy,
        desired_healthy=desired,
        expected_pods=expected,
    )


def with_status(
    budgets: Iterable[PodDisruptionBudget],
    pods: Callable[[], Iterable[Pod]],
    scales: ControllerScales,
) -> list[PodDisruptionBudget]:
    """`budgets` as preemption reads them: a budget's own status when it has one (what the
    API server holds, used as is, as kube-scheduler does), else the one computed over
    `pods()` (asked for only then)."""
    listed: list[Pod] | None = None
    found = []
    for budget in budgets:
        if budget.status is None:
            if listed is None:
                listed = list(pods())
            status = computed_status(budget, listed, scales)
            budget = msgspec.structs.replace(budget, status=status)
        found.append(budget)
    return found
