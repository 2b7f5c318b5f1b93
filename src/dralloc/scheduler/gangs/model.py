"""Which pods form a gang, and what it takes: one `Gang` per PodGroup of any source, and the
`GangIndex` that maps pods to their gang (the mapping table is in `dralloc.api.scheduling`).

Pure computation over objects already read and validated, no I/O. `collect_gangs` follows
the feature gates as Kubernetes 1.36 does: with `GenericWorkload` off, the API server serves no
scheduling.k8s.io/v1alpha2 objects and drops `pod.spec.schedulingGroup`, so Kubernetes'
PodGroups and Workloads are set aside with a warning; with `GangScheduling` off (or
`GenericWorkload` off) no group is ganged, whatever its source, and the pods are scheduled one
by one, as the default 1.36 scheduler would. Volcano's and KAI's groups become gangs under the
same gate, so one switch says whether dralloc gangs at all.

`admit_pod_group` is the API server's Priority admission for a PodGroup being created (1.36,
only with WorkloadAwarePreemption): `spec.priority` from `spec.priorityClassName`, the global
default class when none is named, else 0; offline inputs go through it as pods do.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

import msgspec

from dralloc.api.core import Pod, PriorityClass
from dralloc.api.io import LoadedObject
from dralloc.api.scheduling import (
    KAI_GROUP_ANNOTATION,
    KAI_QUEUE_LABEL,
    VOLCANO_GROUP_ANNOTATIONS,
    KaiPodGroup,
    PodGroup,
    SchedulingWorkload,
    VolcanoPodGroup,
    gated_field_problems,
)
from dralloc.errors import Problem
from dralloc.features import Features
from dralloc.scheduler.admission import SYSTEM_PRIORITY_CLASSES

# Upstream's GangScheduling PreEnqueue messages (both UnschedulableAndUnresolvable).
WAITING_FOR_POD_GROUP = 'waiting for pods\'s pod group "{name}" to appear in scheduling queue'
WAITING_FOR_MIN_COUNT = "waiting for minCount pods from a gang to appear in scheduling queue"
# Upstream's GangScheduling Permit message below quorum.
WAITING_FOR_QUORUM = "waiting for minCount pods from a gang to be scheduled"


class GangSource(StrEnum):
    """Where a gang was declared."""

    POD_GROUP = "scheduling.k8s.io/v1alpha2"
    VOLCANO = "scheduling.volcano.sh/v1beta1"
    KAI = "scheduling.run.ai/v2alpha2"


@dataclass(frozen=True, order=True)
class GangKey:
    """A gang's identity; `str()` is `namespace/name`."""

    namespace: str
    name: str
    source: GangSource = GangSource.POD_GROUP

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class Gang:
    """One gang. `min_count` None: a basic-policy group (scheduled together, no quorum).
    `declared` False: the pods name a PodGroup that does not exist (they wait for it)."""

    key: GangKey
    min_count: int | None
    declared: bool = True
    queue: str = ""  # Volcano's spec.queue / KAI's queue label: for the queueing layer
    # What workload-aware preemption reads (`preemption.py`). Kubernetes' PodGroup:
    # `spec.priority` (None: upstream's PodGroupPriority reads it as 0), `spec.disruptionMode`
    # ("" is upstream's default, Pod) and whether `spec.schedulingConstraints.topology` is set
    # (upstream does not preempt for such a group).
    priority: int | None = None
    disruption_mode: str = ""
    has_topology_constraints: bool = False
    # Volcano's `spec.minResources` as (resource, quantity) pairs in the order written
    # (None: a best-effort group, always enqueued; `volcano.py`).
    min_resources: tuple[tuple[str, str], ...] | None = None
    # Volcano's `status.phase` as read (Pending, Inqueue, Running, ...; "" when unset).
    phase: str = ""

    @property
    def is_gang(self) -> bool:
        return self.min_count is not None

    @property
    def ref(self) -> str:
        return f"PodGroup {self.key}"


@dataclass
class GangIndex:
    """The gangs of one input and which pod (by `namespace/name`) belongs to which."""

    gangs: dict[GangKey, Gang] = field(default_factory=dict)
    member_of: dict[str, GangKey] = field(default_factory=dict)
    # The highest `spec.priority` among each gang's pods (Volcano orders Pending groups by it).
    pod_priorities: dict[GangKey, int] = field(default_factory=dict)
    # Gangs Volcano's enqueue step keeps Pending, with why (`volcano.enqueue_volcano`).
    enqueue_blocked: dict[GangKey, str] = field(default_factory=dict)

    def gang_of(self, pod_key: str) -> Gang | None:
        key = self.member_of.get(pod_key)
        return self.gangs.get(key) if key is not None else None

    # gang -> member keys, built on first use and rebuilt when `member_of` changes size (it
    # is only ever added to); one scan serves every gang of a large input.
    _by_gang: dict[GangKey, list[str]] = field(default_factory=dict, repr=False, compare=False)
    _indexed: int = field(default=-1, repr=False, compare=False)

    def members(self, key: GangKey) -> list[str]:
        """The pod keys of the gang, in the order they were read."""
        if self._indexed != len(self.member_of):
            self._by_gang = {}
            for pod, gang in self.member_of.items():
                self._by_gang.setdefault(gang, []).append(pod)
            self._indexed = len(self.member_of)
        return list(self._by_gang.get(key, ()))

    def pre_enqueue(self, pod_key: str, known_pods: int | None = None) -> str | None:
        """Upstream's GangScheduling PreEnqueue: why the pod may not enter the queue yet
        (None: it may). `known_pods` is how many members the scheduler knows (default:
        every member read)."""
        gang = self.gang_of(pod_key)
        if gang is None:
            return None
        if not gang.declared:
            return WAITING_FOR_POD_GROUP.format(name=gang.key.name)
        blocked = self.enqueue_blocked.get(gang.key)
        if blocked is not None:
            return blocked
        if gang.min_count is None:
            return None
        known = known_pods if known_pods is not None else len(self.members(gang.key))
        if known < gang.min_count:
            return WAITING_FOR_MIN_COUNT
        return None


@dataclass
class CollectedGangs:
    """`collect_gangs`' answer: the index, warnings (objects set aside by a gate) and
    problems (gated fields set)."""

    index: GangIndex
    warnings: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def _annotation(pod: Pod, names: Iterable[str]) -> str | None:
    annotations = pod.metadata.annotations
    for name in names:
        value = annotations.get(name)
        if value:
            return value
    return None


def scheduling_group_name(pod: Pod) -> str | None:
    """`spec.schedulingGroup.podGroupName` of a pod (None: it joins no PodGroup)."""
    group = pod.spec.scheduling_group
    return group.pod_group_name or None if group is not None else None


def gang_from_object(obj: PodGroup | VolcanoPodGroup | KaiPodGroup) -> Gang:
    """The gang one PodGroup object of any source declares, with everything dralloc reads of
    it (the live scheduler's informers build theirs with it too)."""
    namespace = obj.metadata.namespace or "default"
    if isinstance(obj, PodGroup):
        policy = obj.spec.scheduling_policy.gang
        constraints = obj.spec.scheduling_constraints
        return Gang(
            GangKey(namespace, obj.metadata.name),
            policy.min_count if policy is not None else None,
            priority=obj.spec.priority,
            disruption_mode=obj.spec.disruption_mode or "",
            has_topology_constraints=bool(constraints and constraints.topology),
        )
    if isinstance(obj, KaiPodGroup):
        key = GangKey(namespace, obj.metadata.name, GangSource.KAI)
        return Gang(key, obj.spec.min_member, queue=obj.spec.queue)
    minimum = obj.spec.min_resources
    return Gang(
        GangKey(namespace, obj.metadata.name, GangSource.VOLCANO),
        obj.spec.min_member,
        queue=obj.spec.queue,
        min_resources=(
            tuple((str(k), str(v)) for k, v in minimum.items()) if minimum is not None else None
        ),
        phase=str((obj.status or {}).get("phase") or ""),
    )


def _pod_key(pod: Pod) -> str:
    return f"{pod.metadata.namespace or 'default'}/{pod.metadata.name}"


def collect_gangs(objects: Iterable[LoadedObject], features: Features) -> CollectedGangs:
    """The gangs of the input's objects (PodGroups of the three sources, pods that join
    them), following the gates (module docstring). Terminal and bound pods count as members
    too: a started gang's bound pods count towards its quorum."""
    found = CollectedGangs(GangIndex())
    objects = list(objects)
    api_on = features.enabled("GenericWorkload")
    ganging = features.gang_scheduling
    declared: dict[GangKey, Gang] = {}
    kai_groups: set[tuple[str, str]] = set()
    for loaded in objects:
        obj = loaded.obj
        if isinstance(obj, PodGroup | SchedulingWorkload):
            if not api_on:
                found.warnings.append(
                    f"{loaded.file}: {loaded.ref}: set aside: scheduling.k8s.io/v1alpha2 is "
                    "served only with feature gate GenericWorkload"
                )
                continue
            found.problems.extend(
                Problem(loaded.file, loaded.ref, path, message)
                for path, message in gated_field_problems(obj, features)
            )
            if isinstance(obj, PodGroup):
                gang = gang_from_object(obj)
                declared[gang.key] = gang
        elif isinstance(obj, VolcanoPodGroup | KaiPodGroup):
            gang = gang_from_object(obj)
            declared[gang.key] = gang
            if isinstance(obj, KaiPodGroup):
                kai_groups.add((gang.key.namespace, gang.key.name))
    if not ganging:
        if declared or any(isinstance(o.obj, Pod) and _joins(o.obj) for o in objects):
            found.warnings.append(
                "gangs are not scheduled together: feature gate GangScheduling is off (it needs "
                "GenericWorkload too); their pods are scheduled one by one"
            )
        return found
    index = found.index
    kai_members: dict[GangKey, int] = {}
    kai_queues: dict[GangKey, str] = {}
    for loaded in objects:
        pod = loaded.obj
        if not isinstance(pod, Pod):
            continue
        namespace = pod.metadata.namespace or "default"
        key: GangKey | None = None
        name = scheduling_group_name(pod)
        if name is not None:
            key = GangKey(namespace, name)
        elif (volcano := _annotation(pod, VOLCANO_GROUP_ANNOTATIONS)) is not None:
            key = GangKey(namespace, volcano, GangSource.VOLCANO)
        elif (kai := _annotation(pod, (KAI_GROUP_ANNOTATION,))) is not None:
            key = GangKey(namespace, kai, GangSource.KAI)
            if (namespace, kai) not in kai_groups:
                kai_members[key] = kai_members.get(key, 0) + 1
                kai_queues.setdefault(key, pod.metadata.labels.get(KAI_QUEUE_LABEL, ""))
        if key is None:
            continue
        index.member_of[_pod_key(pod)] = key
        priority = pod.spec.priority or 0
        index.pod_priorities[key] = max(index.pod_priorities.get(key, priority), priority)
        if key not in declared and key.source is not GangSource.KAI:
            # The pods wait for their PodGroup (Kubernetes' and Volcano's alike).
            declared[key] = Gang(key, None, declared=False)
    # KAI pods without a KAI PodGroup object: the annotated set is the gang, all of it.
    for key, count in kai_members.items():
        declared[key] = Gang(key, count, queue=kai_queues.get(key, ""))
    index.gangs = declared
    return found


def _joins(pod: Pod) -> bool:
    return (
        scheduling_group_name(pod) is not None
        or _annotation(pod, (*VOLCANO_GROUP_ANNOTATIONS, KAI_GROUP_ANNOTATION)) is not None
    )


def admit_pod_group(
    loaded: LoadedObject, classes: Mapping[str, PriorityClass], features: Features
) -> tuple[LoadedObject, list[Problem]]:
    """What upstream's Priority admission plugin does to a PodGroup it creates (1.36, gate
    WorkloadAwarePreemption; otherwise nothing): `spec.priorityClassName` resolved to
    `spec.priority` (no name: the global default class, the lowest-valued one when several
    are, and its name; else 0). A class that does not exist is refused there: here a problem
    naming the field. As for pods (`admission.pod_priority`), a `spec.priority` already set is
    kept: an object read back from a server carries both."""
    group = loaded.obj
    if not isinstance(group, PodGroup) or not features.enabled("WorkloadAwarePreemption"):
        return loaded, []
    spec = group.spec
    if spec.priority is not None:
        return loaded, []
    name = spec.priority_class_name
    value: int | None
    if name:
        found = classes.get(name)
        value = found.value if found is not None else SYSTEM_PRIORITY_CLASSES.get(name)
        if value is None:
            problem = Problem(
                loaded.file,
                loaded.ref,
                "spec.priorityClassName",
                f"no PriorityClass with name {name} was found",
            )
            return loaded, [problem]
    else:
        defaults = sorted((c for c in classes.values() if c.global_default), key=lambda c: c.value)
        name = defaults[0].metadata.name if defaults else ""
        value = defaults[0].value if defaults else 0
    admitted = msgspec.structs.replace(
        group,
        spec=msgspec.structs.replace(spec, priority=value, priority_class_name=name),
    )
    return replace(loaded, obj=admitted), []
