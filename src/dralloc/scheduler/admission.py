"""What the API server's admission gives a pod before the scheduler sees it (priority and
preemption policy from PriorityClasses), and the checks that hold a pod against the other
objects of an offline input: a running pod's node and claims, a pending pod's profile, and
DynamicResources' PreEnqueue (a claim the pod names that does not exist).

Pure functions over API objects; problems are returned, never raised, so a command reports
every one at once.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import msgspec

from dralloc.api.core import Pod, PriorityClass
from dralloc.api.io import LoadedObject
from dralloc.api.resource import ResourceClaim
from dralloc.errors import Problem
from dralloc.scheduler.config import DEFAULT_SCHEDULER_NAME

# Classes every cluster has without PriorityClass objects (scheduling.k8s.io built-ins).
SYSTEM_PRIORITY_CLASSES: Mapping[str, int] = {
    "system-cluster-critical": 2_000_000_000,
    "system-node-critical": 2_000_001_000,
}
PREEMPTION_POLICIES = ("PreemptLowerPriority", "Never")


def pod_priority(pod: Pod, classes: Mapping[str, PriorityClass]) -> int | None:
    """The priority admission gives the pod: `spec.priority`, else its class's value, else the
    global default class's (the lowest value when several are), else 0. None when it names a
    class that does not exist."""
    if pod.spec.priority is not None:
        return pod.spec.priority
    name = pod.spec.priority_class_name
    if name:
        found = classes.get(name)
        if found is not None:
            return found.value
        return SYSTEM_PRIORITY_CLASSES.get(name)
    defaults = [c.value for c in classes.values() if c.global_default]
    return min(defaults) if defaults else 0


def pod_preemption_policy(pod: Pod, classes: Mapping[str, PriorityClass]) -> str:
    """What admission gives the pod: its own `spec.preemptionPolicy`, else its class's, else
    PreemptLowerPriority."""
    if pod.spec.preemption_policy:
        return pod.spec.preemption_policy
    found = classes.get(pod.spec.priority_class_name) if pod.spec.priority_class_name else None
    if found is None:
        defaults = sorted((c for c in classes.values() if c.global_default), key=lambda c: c.value)
        found = defaults[0] if defaults and not pod.spec.priority_class_name else None
    if found is not None and found.preemption_policy:
        return found.preemption_policy
    return PREEMPTION_POLICIES[0]


def admit_pod(
    loaded: LoadedObject, pod: Pod, classes: Mapping[str, PriorityClass]
) -> tuple[Pod, list[Problem]]:
    """The pod with the priority and preemption policy admission gives it, and what is wrong:
    a PriorityClass that does not exist (priority 0 is used meanwhile), an unsupported
    preemption policy."""
    problems = []
    priority = pod_priority(pod, classes)
    if priority is None:
        problems.append(
            Problem(
                loaded.file,
                loaded.ref,
                "spec.priorityClassName",
                f"no PriorityClass {pod.spec.priority_class_name!r} in the input",
            )
        )
        priority = 0
    policy = pod_preemption_policy(pod, classes)
    if policy not in PREEMPTION_POLICIES:
        problems.append(
            Problem(
                loaded.file,
                loaded.ref,
                "spec.preemptionPolicy",
                f"unsupported value {policy!r}: supported values: "
                + ", ".join(f'"{p}"' for p in PREEMPTION_POLICIES),
            )
        )
    admitted = msgspec.structs.replace(
        pod, spec=msgspec.structs.replace(pod.spec, priority=priority, preemption_policy=policy)
    )
    return admitted, problems


def running_pod_problems(
    loaded: LoadedObject,
    pod: Pod,
    claims: Mapping[str, ResourceClaim],
    node_names: Collection[str],
) -> list[Problem]:
    """A running pod's node must be in the input, and its claims must exist and be allocated:
    the input contradicts itself otherwise."""
    problems = []
    namespace = pod.metadata.namespace
    generated = {s.name: s.resource_claim_name for s in pod.status.resource_claim_statuses}

    def report(path: str, message: str) -> None:
        problems.append(Problem(loaded.file, loaded.ref, path, message))

    for index, entry in enumerate(pod.spec.resource_claims):
        path = f"spec.resourceClaims[{index}]"
        if entry.resource_claim_name is not None:
            name: str | None = entry.resource_claim_name
            path += ".resourceClaimName"
        else:
            if entry.name not in generated:
                report(path, "a running pod's claim must be created (no resourceClaimStatuses)")
                continue
            name = generated[entry.name]
        if name is None:
            continue
        claim = claims.get(f"{namespace}/{name}")
        if claim is None:
            report(path, f"ResourceClaim {namespace}/{name} is not in the input")
        elif claim.status.allocation is None:
            report(path, f"ResourceClaim {namespace}/{name} of a running pod is not allocated")
    if pod.spec.node_name not in node_names:
        report("spec.nodeName", f"node {pod.spec.node_name} is not in the input")
    return problems


def profile_problems(loaded: LoadedObject, pod: Pod, profiles: Collection[str]) -> list[Problem]:
    """A pending pod's `spec.schedulerName` must name a profile (none known: not checked)."""
    profile = pod.spec.scheduler_name or DEFAULT_SCHEDULER_NAME
    if not profiles or profile in profiles:
        return []
    names = ", ".join(sorted(profiles))
    return [
        Problem(
            loaded.file,
            loaded.ref,
            "spec.schedulerName",
            f"no profile {profile!r} in the configuration (profiles: {names})",
        )
    ]


def pre_enqueue_message(pod: Pod, claims: Mapping[str, ResourceClaim]) -> str | None:
    """Why a PreEnqueue plugin keeps a pending pod waiting, or None. SchedulingGates first,
    as in upstream's default profile: gates left on the pod (upstream's message, Go's `%v`
    of the names). Then DynamicResources (spec/dra-v1.md 7.1): a claim the pod names that
    does not exist (the claim lister's NotFound), or a template's claim the ResourceClaim
    controller has not created."""
    if pod.spec.scheduling_gates:
        names = " ".join(gate.name for gate in pod.spec.scheduling_gates)
        return f"waiting for scheduling gates: [{names}]"
    namespace = pod.metadata.namespace
    generated = {s.name: s.resource_claim_name for s in pod.status.resource_claim_statuses}
    for entry in pod.spec.resource_claims:
        if entry.resource_claim_name is not None:
            name: str | None = entry.resource_claim_name
        elif entry.name in generated:
            name = generated[entry.name]
        else:
            return f'pod "{namespace}/{pod.metadata.name}": ResourceClaim not created yet'
        if name is not None and f"{namespace}/{name}" not in claims:
            return f'resourceclaim.resource.k8s.io "{name}" not found'
    return None
