"""What the API server's admission gives a pod before the scheduler sees it, and the checks
that hold a pod against the other objects of an offline input: a running pod's node and
claims, a pending pod's profile, and DynamicResources' PreEnqueue (a claim the pod names that
does not exist).

Admission is upstream's Priority and RuntimeClass plugins (plugin/pkg/admission/priority and
runtimeclass), over the classes the input holds:

* Priority: `spec.priorityClassName` gives `spec.priority` and `spec.preemptionPolicy` (a
  class without a policy has PreemptLowerPriority, as the server defaults it); a pod naming no
  class gets the global default class (its name too; the lowest value when several are), else
  priority 0. A priority or policy the pod writes must equal the one computed, and a class must
  exist (the two system classes always do). Where an input differs from a request being
  created: a pod that names no class but carries a priority keeps it (admitted before, as an
  exported pod created before today's global default class was, or written by hand), and when
  the input holds no PriorityClass at all, a pod naming a class nothing defines keeps the
  priority it carries (its classes were not exported). `admit_pod(as_created=True)` is the
  server's rule without these exceptions.
* RuntimeClass, only when the input holds RuntimeClasses (without any, `overhead` is taken as
  written): `spec.runtimeClassName` must name one; its `overhead.podFixed` becomes the pod's
  overhead (one the pod writes must be equal, quantities compared by value), a pod whose
  class defines none may write none; its `scheduling.nodeSelector` is merged into the pod's
  (a key both set differently is refused) and its tolerations into the pod's (upstream's
  MergeTolerations: a toleration another one covers is dropped).

Pure functions over API objects; problems are returned, never raised, so a command reports
every one at once.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import msgspec

from dralloc.api.core import Pod, PodSpec, PriorityClass, RuntimeClass, Toleration
from dralloc.api.defaults import overhead
from dralloc.api.io import LoadedObject
from dralloc.api.quantity import Quantity
from dralloc.api.resource import ResourceClaim
from dralloc.api.validation.priorityclass import (
    PREEMPTION_POLICIES,
    SYSTEM_PRIORITY_CLASS_VALUES,
)
from dralloc.errors import Problem
from dralloc.scheduler.config import DEFAULT_SCHEDULER_NAME

# Classes every cluster has without PriorityClass objects (scheduling.k8s.io built-ins).
SYSTEM_PRIORITY_CLASSES = SYSTEM_PRIORITY_CLASS_VALUES
PREEMPT_LOWER_PRIORITY = PREEMPTION_POLICIES[0]


def global_default_class(classes: Mapping[str, PriorityClass]) -> PriorityClass | None:
    """The class a pod naming none gets: the global default, the lowest value when several
    are (upstream's tie-break for a race that made two)."""
    defaults = [c for c in classes.values() if c.global_default]
    return min(defaults, key=lambda c: c.value) if defaults else None


def resolve_priority_class(
    name: str, classes: Mapping[str, PriorityClass]
) -> tuple[str, int | None, str | None]:
    """Upstream's `establishPriority` for a pod whose `priorityClassName` is `name`: the class
    name it ends with, the priority and the preemption policy; (name, None, None) for a class
    that neither the input nor the system classes define."""
    if not name:
        default = global_default_class(classes)
        if default is None:
            return "", 0, PREEMPT_LOWER_PRIORITY
        policy = default.preemption_policy or PREEMPT_LOWER_PRIORITY
        return default.metadata.name, default.value, policy
    found = classes.get(name)
    if found is not None:
        return name, found.value, found.preemption_policy or PREEMPT_LOWER_PRIORITY
    if name in SYSTEM_PRIORITY_CLASSES:
        return name, SYSTEM_PRIORITY_CLASSES[name], PREEMPT_LOWER_PRIORITY
    return name, None, None


def pod_priority(pod: Pod, classes: Mapping[str, PriorityClass]) -> int | None:
    """The priority admission gives the pod (the module docstring's rule), problems aside:
    None when it names a class nothing defines and carries no priority of its own."""
    if resolve_priority_class(pod.spec.priority_class_name, classes)[1] is None:
        return pod.spec.priority
    admitted, _ = _admit_priority(LoadedObject("", 0, {}, pod), pod, classes, as_created=False)
    return admitted.spec.priority


def admit_pod(
    loaded: LoadedObject,
    pod: Pod,
    classes: Mapping[str, PriorityClass],
    runtime_classes: Mapping[str, RuntimeClass] | None = None,
    *,
    as_created: bool = False,
) -> tuple[Pod, list[Problem]]:
    """The pod as the Priority and RuntimeClass admission plugins leave it (the module
    docstring), and what they refuse; `runtime_classes` None or empty: the input holds none,
    so the pod's overhead stands as written. `as_created`: the pod is being created now, as
    a request to the server is, so a priority it writes without naming a class must also be
    the one computed (an input's pod may have been admitted before today's classes)."""
    admitted, problems = _admit_priority(loaded, pod, classes, as_created=as_created)
    if runtime_classes:
        admitted, found = _admit_runtime_class(loaded, admitted, runtime_classes)
        problems += found
    return admitted, problems


def _admit_priority(
    loaded: LoadedObject, pod: Pod, classes: Mapping[str, PriorityClass], *, as_created: bool
) -> tuple[Pod, list[Problem]]:
    problems: list[Problem] = []

    def report(path: str, message: str) -> None:
        problems.append(Problem(loaded.file, loaded.ref, path, message))

    named = pod.spec.priority_class_name
    given, given_policy = pod.spec.priority, pod.spec.preemption_policy
    if given_policy and given_policy not in PREEMPTION_POLICIES:
        report(
            "spec.preemptionPolicy",
            f"unsupported value {given_policy!r}: supported values: "
            + ", ".join(f'"{p}"' for p in PREEMPTION_POLICIES),
        )
    if not named and given is not None and not as_created:
        # Admitted before: a pod created before today's global default class (or with none)
        # carries its priority and no class name, and keeps them.
        return _with_priority(pod, named, given, given_policy or PREEMPT_LOWER_PRIORITY), problems
    class_name, computed, computed_policy = resolve_priority_class(named, classes)
    if computed is None or computed_policy is None:
        if given is None or classes:
            report("spec.priorityClassName", f"no PriorityClass {named!r} in the input")
        # Without PriorityClasses in the input, an exported pod's own values stand.
        priority = given if given is not None else 0
        return _with_priority(
            pod, named, priority, given_policy or PREEMPT_LOWER_PRIORITY
        ), problems
    if given is not None and given != computed:
        report(
            "spec.priority",
            f"the integer value of priority ({given}) must not be provided in pod spec; "
            f"priority admission controller computed {computed} from the given PriorityClass "
            "name",
        )
    if given_policy in PREEMPTION_POLICIES and given_policy != computed_policy:
        report(
            "spec.preemptionPolicy",
            f"the string value of PreemptionPolicy ({given_policy}) must not be provided in pod "
            f"spec; priority admission controller computed {computed_policy} from the given "
            "PriorityClass name",
        )
    return _with_priority(pod, class_name, computed, computed_policy), problems


def _with_priority(pod: Pod, class_name: str, priority: int, policy: str) -> Pod:
    spec = msgspec.structs.replace(
        pod.spec, priority_class_name=class_name, priority=priority, preemption_policy=policy
    )
    return msgspec.structs.replace(pod, spec=spec)


def _admit_runtime_class(
    loaded: LoadedObject, pod: Pod, runtime_classes: Mapping[str, RuntimeClass]
) -> tuple[Pod, list[Problem]]:
    problems: list[Problem] = []

    def report(path: str, message: str) -> None:
        problems.append(Problem(loaded.file, loaded.ref, path, message))

    name = pod.spec.runtime_class_name
    found = runtime_classes.get(name) if name is not None else None
    if name is not None and found is None:
        report("spec.runtimeClassName", f"no RuntimeClass {name!r} in the input")
        return pod, problems
    spec = pod.spec
    fixed = found.overhead.pod_fixed if found is not None and found.overhead else None
    if fixed is not None:
        stated = _rounded(fixed)
        if spec.overhead and not _same_quantities(spec.overhead, stated):
            report(
                "spec.overhead",
                f"does not match the overhead of RuntimeClass {name!r} ({_listing(stated)})",
            )
        spec = msgspec.structs.replace(spec, overhead=dict(stated))
    elif spec.overhead:
        where = f"RuntimeClass {name!r} defines none" if name is not None else "no RuntimeClass"
        report("spec.overhead", f"set without a RuntimeClass overhead ({where})")
    scheduling = found.scheduling if found is not None else None
    if scheduling is not None:
        selector = dict(spec.node_selector)
        for key, value in scheduling.node_selector.items():
            if key in selector and selector[key] != value:
                report(
                    "spec.nodeSelector",
                    f"conflict: runtimeClass.scheduling.nodeSelector[{key}] = {value}; "
                    f"pod.spec.nodeSelector[{key}] = {selector[key]}",
                )
            selector[key] = value
        tolerations = merge_tolerations(spec.tolerations, scheduling.tolerations)
        spec = msgspec.structs.replace(spec, node_selector=selector, tolerations=tolerations)
    return msgspec.structs.replace(pod, spec=spec), problems


def _rounded(quantities: Mapping[str, Quantity]) -> Mapping[str, Quantity]:
    # The pod's overhead was rounded up to milli-units when it was read: the class's is
    # rounded alike before the two are compared and before it becomes the pod's.
    return overhead(Pod(spec=PodSpec(overhead=dict(quantities))))


def _same_quantities(a: Mapping[str, Quantity], b: Mapping[str, Quantity]) -> bool:
    """Upstream's semantic equality of resource lists: the same names, equal amounts."""
    return a.keys() == b.keys() and all(a[name].cmp(b[name]) == 0 for name in a)


def _listing(quantities: Mapping[str, Quantity]) -> str:
    return ", ".join(f"{name} {quantities[name]}" for name in sorted(quantities))


def merge_tolerations(
    first: Sequence[Toleration], second: Sequence[Toleration]
) -> list[Toleration]:
    """Upstream's MergeTolerations: both lists in order, less each toleration that another
    covers (of equal ones, the first is kept)."""
    every = [*first, *second]
    merged: list[Toleration] = []
    for index, toleration in enumerate(every):
        if any(_covers(kept, toleration) for kept in merged):
            continue
        if any(later != toleration and _covers(later, toleration) for later in every[index + 1 :]):
            continue
        merged.append(toleration)
    return merged


def _covers(wide: Toleration, narrow: Toleration) -> bool:
    """Whether `wide` tolerates everything `narrow` does (upstream's isSuperset)."""
    if wide == narrow:
        return True
    if narrow.key != wide.key and (wide.key or wide.operator != "Exists"):
        return False
    if narrow.effect != wide.effect and wide.effect:
        return False
    if (
        wide.effect == "NoExecute"
        and wide.toleration_seconds is not None
        and (
            narrow.toleration_seconds is None or narrow.toleration_seconds > wide.toleration_seconds
        )
    ):
        return False
    if wide.operator in ("Equal", ""):
        return narrow.operator == "Equal" and narrow.value == wide.value
    return wide.operator == "Exists"


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
