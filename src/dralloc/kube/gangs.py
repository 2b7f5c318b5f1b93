"""Gangs in a live cluster: which pods form a gang, kept current from the informers, and the
PodGroup status the scheduler writes (spec/scheduler.md section 6, spec/cluster-mode.md).

`LiveGangs` is the live scheduler's `GangLister` (GangScheduling's PreEnqueue and Permit ask
it) and the handler of three informers:

- PodGroups: Kubernetes' `scheduling.k8s.io/v1alpha2` (served only with the GenericWorkload
  gate and its runtime-config), Volcano's and KAI's (when their CRDs are installed; which are
  served is asked once, `LiveGangs.watch`). A PodGroup added is the cluster event
  GangScheduling registered for, so the pods it held at PreEnqueue ("waiting for pods's pod
  group ... to appear") are tried again.
- Pods: a pod joins by `spec.schedulingGroup.podGroupName`, Volcano's or KAI's annotation,
  as `dralloc.api.scheduling` maps them. Every pod the informer holds (pending or bound, not
  terminal) counts as a known member toward `minCount` at PreEnqueue, as upstream counts the
  group's pods in its cache. A member added requeues its siblings GangScheduling held back,
  only those (upstream's hint for Pod/Add checks the group).

`pod_group_condition` is upstream's updatePodGroupCondition: after a pod-group cycle the
PodGroupScheduled condition goes to the PodGroup's status subresource as a strategic merge
patch (conditions merge on `type`), not when nothing changed, and never from True back to
False (a later cycle for extra pods of a scheduled group does not regress it). KAI's groups
have their own status, which KAI owns: dralloc writes none.

Volcano's groups: dralloc does what Volcano's scheduler does for the groups whose pods it
schedules (`dralloc.scheduler.gangs.volcano`). `enqueue` is Volcano's enqueue step over the
cluster as the cache holds it (the live scheduler runs it as Volcano runs a session: at
once when a Volcano group or member arrives, else once a second, so pods deleted or finished,
nodes added and other groups' phases are seen within a second). Until a group with
`minResources` is Inqueue or Running, its pods wait at PreEnqueue (GangScheduling), with the
step's message once it has run; a group the step enqueues lets them go (PodGroup/Update, to
GangScheduling, for its members only). `volcano_status` is the status write that follows, as
Volcano's job updater sends it at the end of a session: the phase and the condition
(Unschedulable or Scheduled) replacing the one of its type, only when something but the
condition's time changed. Volcano's CRD has no status subresource (Volcano updates the
whole object), so the status goes to the object itself, as a merge patch, unless the server
serves `podgroups/status` (`watch` asks). The phase written is what the step and the next
cycle read at once (`_phase`), whatever the informer still holds.

Owns the membership tables; the queues are the scheduler's (only the one event loop touches
either).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from dralloc.api.core import Pod
from dralloc.api.io import from_server
from dralloc.api.scheduling import (
    KAI_GROUP_ANNOTATION,
    KAI_QUEUE_LABEL,
    VOLCANO_GROUP_ANNOTATIONS,
    KaiPodGroup,
    PodGroup,
    VolcanoPodGroup,
)
from dralloc.api.validation.times import format_time
from dralloc.kube.client import (
    KAI_POD_GROUPS,
    POD_GROUPS,
    VOLCANO_POD_GROUPS,
    KubeClient,
    KubeDict,
    Resource,
)
from dralloc.kube.informer import object_key
from dralloc.kube.shared_informers import SharedInformers
from dralloc.scheduler.cache import SchedulerCache
from dralloc.scheduler.framework import ClusterEvent, PodInfo
from dralloc.scheduler.framework.events import POD
from dralloc.scheduler.gangs import (
    WAITING_FOR_MIN_COUNT,
    WAITING_FOR_POD_GROUP,
    Gang,
    GangIndex,
    GangKey,
    GangSource,
    VolcanoEnqueue,
    enqueue_volcano,
    gang_from_object,
    scheduling_group_name,
)
from dralloc.scheduler.gangs.volcano import PHASE_INQUEUE, PHASE_RUNNING, with_condition
from dralloc.scheduler.plugins.gangscheduling import NAME as GANG_SCHEDULING
from dralloc.scheduler.plugins.gangscheduling.plugin import POD_GROUP
from dralloc.scheduler.queue import QueueingHint, SchedulingQueue

log = logging.getLogger(__name__)

POD_GROUP_ADD = ClusterEvent(POD_GROUP, "Add")
# A Volcano group's phase moved to Inqueue: its members held at PreEnqueue may go.
POD_GROUP_UPDATE = ClusterEvent(POD_GROUP, "Update")
WAITING_FOR_ENQUEUE = "{ref}: waiting for Volcano's enqueue step to make it Inqueue (minResources)"
POD_ADD = ClusterEvent(POD, "Add")
SOURCES: tuple[tuple[Resource, GangSource], ...] = (
    (POD_GROUPS, GangSource.POD_GROUP),
    (VOLCANO_POD_GROUPS, GangSource.VOLCANO),
    (KAI_POD_GROUPS, GangSource.KAI),
)


def gang_of_pod(pod: Pod) -> GangKey | None:
    """The gang a pod names, of any source (None: it joins none)."""
    namespace = pod.metadata.namespace or "default"
    name = scheduling_group_name(pod)
    if name is not None:
        return GangKey(namespace, name)
    annotations = pod.metadata.annotations
    for annotation in VOLCANO_GROUP_ANNOTATIONS:
        if annotations.get(annotation):
            return GangKey(namespace, annotations[annotation], GangSource.VOLCANO)
    if annotations.get(KAI_GROUP_ANNOTATION):
        return GangKey(namespace, annotations[KAI_GROUP_ANNOTATION], GangSource.KAI)
    return None


_JOIN_ANNOTATIONS = (*VOLCANO_GROUP_ANNOTATIONS, KAI_GROUP_ANNOTATION)


def _may_join(raw: KubeDict) -> bool:
    """Whether a pod's document names a group at all (then `gang_of_pod` says which)."""
    if (raw.get("spec") or {}).get("schedulingGroup"):
        return True
    annotations = (raw.get("metadata") or {}).get("annotations") or {}
    return any(annotations.get(name) for name in _JOIN_ANNOTATIONS)


def gang_of_group(raw: KubeDict, source: GangSource) -> Gang:
    """The gang one PodGroup object declares."""
    meta = raw.get("metadata") or {}
    key = GangKey(str(meta.get("namespace") or "default"), str(meta.get("name", "")), source)
    typed: PodGroup | VolcanoPodGroup | KaiPodGroup
    if source is GangSource.POD_GROUP:
        typed = from_server(raw, PodGroup)
    elif source is GangSource.VOLCANO:
        typed = from_server(raw, VolcanoPodGroup)
    else:
        typed = from_server(raw, KaiPodGroup)
    return replace(gang_from_object(typed), key=key)


class _Handler:
    def __init__(
        self,
        set_: Callable[[KubeDict], None],
        delete: Callable[[KubeDict], None],
    ) -> None:
        self._set, self._delete = set_, delete

    def on_add(self, obj: KubeDict) -> None:
        self._set(obj)

    def on_update(self, old: KubeDict, new: KubeDict) -> None:
        self._set(new)

    def on_delete(self, obj: KubeDict) -> None:
        self._delete(obj)


class LiveGangs:
    """The gangs of a live cluster (module docstring)."""

    def __init__(
        self, queues: Mapping[str, SchedulingQueue], on_change: Callable[[], None] = lambda: None
    ) -> None:
        self.queues = queues
        self.on_change = on_change
        self.gangs: dict[GangKey, Gang] = {}
        # Kubernetes' PodGroups as the informer last had them (their status is written).
        self.groups: dict[GangKey, KubeDict] = {}
        self.member_of: dict[str, GangKey] = {}
        self._members: dict[GangKey, dict[str, None]] = {}
        # KAI pods without a KAI PodGroup: the annotated pods are the gang, with their queue.
        self._kai_queues: dict[GangKey, str] = {}
        self.pods = _Handler(self._pod_set, self._pod_deleted)
        self.watched: list[Resource] = []
        # Volcano's groups as last read or written (their status is written), the phase
        # dralloc wrote until the informer shows it, what the enqueue step holds back, the
        # members' priorities (the step's order) and the groups with a pod dralloc schedules.
        self.volcano: dict[GangKey, KubeDict] = {}
        self._phase: dict[GangKey, str] = {}
        self.enqueue_blocked: dict[GangKey, str] = {}
        self._priority: dict[str, int] = {}
        self._ours: dict[GangKey, dict[str, None]] = {}
        self.volcano_status_subresource = False
        # Set when a Volcano group or member arrives: the step runs at once, not in a second.
        self.enqueue_due = False

    async def watch(self, client: KubeClient, informers: SharedInformers) -> list[Resource]:
        """Watch the PodGroups of every source the server serves (asked once); returns the
        resources watched."""
        for resource, source in SOURCES:
            if resource in self.watched:
                continue
            served = await client.served(resource.group_version)
            if resource.plural not in served:
                continue
            if source is GangSource.VOLCANO:
                self.volcano_status_subresource = f"{resource.plural}/status" in served
            informers.informer(resource).add_handler(self.handler_for(source))
            self.watched.append(resource)
        return list(self.watched)

    def handler_for(self, source: GangSource) -> _Handler:
        """The informer handler of one source's PodGroups."""
        return _Handler(
            lambda raw: self._group_set(raw, source), lambda raw: self._group_deleted(raw, source)
        )

    # ------------------------------------------------------------------ GangLister

    def gang_of(self, pod_key: str) -> Gang | None:
        key = self.member_of.get(pod_key)
        if key is None:
            return None
        gang = self.gangs.get(key)
        if gang is not None:
            phase = self._phase.get(key)
            return gang if phase is None else replace(gang, phase=phase)
        if key.source is GangSource.KAI:
            count = len(self._members.get(key, ()))
            return Gang(key, count, queue=self._kai_queues.get(key, ""))
        return Gang(key, None, declared=False)

    def pre_enqueue(self, pod_key: str, known_pods: int | None = None) -> str | None:
        gang = self.gang_of(pod_key)
        if gang is None:
            return None
        if not gang.declared:
            return WAITING_FOR_POD_GROUP.format(name=gang.key.name)
        if is_held_for_enqueue(gang):
            return self.enqueue_blocked.get(gang.key) or WAITING_FOR_ENQUEUE.format(ref=gang.ref)
        if gang.min_count is None:
            return None
        known = known_pods if known_pods is not None else len(self._members.get(gang.key, ()))
        return WAITING_FOR_MIN_COUNT if known < gang.min_count else None

    def members(self, key: GangKey) -> list[str]:
        """The pod keys of the gang the informer holds, in the order they were seen."""
        return list(self._members.get(key, ()))

    # ------------------------------------------------------------- Volcano's enqueue

    @property
    def has_volcano(self) -> bool:
        return bool(self.volcano)

    def enqueue(self, cache: SchedulerCache) -> list[VolcanoEnqueue]:
        """Volcano's enqueue step over every Volcano group (module docstring) and the cache
        as it is: the outcomes, for dralloc's own groups only, in the order enqueued. The
        phases it sets are read at once; members of a group it lets go are requeued."""
        self.enqueue_due = False
        index = GangIndex()
        for key in self.volcano:
            gang = self.gang_of_key(key)
            if gang is None:
                continue
            index.gangs[key] = gang
            for pod_key in self._members.get(key, ()):
                index.member_of[pod_key] = key
                priority = self._priority.get(pod_key, 0)
                index.pod_priorities[key] = max(index.pod_priorities.get(key, priority), priority)
        held_before = {k for k, g in index.gangs.items() if is_held_for_enqueue(g)}
        results = enqueue_volcano(index, cache)
        self.enqueue_blocked = dict(index.enqueue_blocked)
        ours = []
        for result in results:
            if result.is_enqueued and self._phase_of(result.key) not in (
                PHASE_INQUEUE,
                PHASE_RUNNING,
            ):
                self._phase[result.key] = result.phase
            if result.key in held_before and result.is_enqueued:
                self._requeue(result.key, POD_GROUP_UPDATE)
            if result.key in self._ours:
                ours.append(result)
        return ours

    def gang_of_key(self, key: GangKey) -> Gang | None:
        """The declared gang `key`, with the phase dralloc wrote last."""
        gang = self.gangs.get(key)
        if gang is None:
            return None
        phase = self._phase.get(key)
        return gang if phase is None else replace(gang, phase=phase)

    def _phase_of(self, key: GangKey) -> str:
        gang = self.gang_of_key(key)
        return gang.phase if gang is not None else ""

    def is_ours(self, key: GangKey) -> bool:
        """Whether a pod dralloc schedules joins the group (then dralloc writes its status)."""
        return key in self._ours

    def volcano_status(
        self,
        key: GangKey,
        phase: str,
        condition: Mapping[str, str] | None = None,
        now: datetime | None = None,
    ) -> dict[str, Any] | None:
        """The merge patch of a Volcano group's status that sets `phase` and `condition`
        (module docstring), or None when it would change nothing but the condition's time.
        The local copy takes the new status at once."""
        raw = self.volcano.get(key)
        if raw is None:
            return None
        before = dict(raw.get("status") or {})
        after = {**before, "phase": phase}
        same = True
        if condition is not None:
            existing = next(
                (c for c in before.get("conditions") or [] if c.get("type") == condition["type"]),
                None,
            )
            wanted = dict(condition)
            same = existing is not None and all(existing.get(k, "") == v for k, v in wanted.items())
            stamp = existing.get("lastTransitionTime") if same and existing is not None else None
            wanted["lastTransitionTime"] = stamp or format_time(now or datetime.now(UTC))
            after = with_condition(after, wanted)
        if same and before.get("phase") == phase:
            return None
        self.volcano[key] = {**raw, "status": after}
        self._phase[key] = phase
        patch: dict[str, Any] = {"phase": phase}
        if condition is not None:
            patch["conditions"] = after["conditions"]
        return {"status": patch}

    # --------------------------------------------------------------------- events

    def _group_set(self, raw: KubeDict, source: GangSource) -> None:
        try:
            gang = gang_of_group(raw, source)
        except Exception as err:  # a malformed custom resource must not stop the informer
            log.warning("PodGroup %s not read: %s", object_key(raw), err)
            return
        new = gang.key not in self.gangs
        self.gangs[gang.key] = gang
        if source is GangSource.POD_GROUP:
            self.groups[gang.key] = raw
        if source is GangSource.VOLCANO:
            self.volcano[gang.key] = raw
            if self._phase.get(gang.key) == gang.phase:
                del self._phase[gang.key]  # the informer shows what dralloc wrote
            self.enqueue_due = True
        if new:
            for queue in self.queues.values():
                queue.on_event(POD_GROUP_ADD, None, gang)
            self.on_change()

    def _group_deleted(self, raw: KubeDict, source: GangSource) -> None:
        meta = raw.get("metadata") or {}
        key = GangKey(str(meta.get("namespace") or "default"), str(meta.get("name", "")), source)
        self.gangs.pop(key, None)
        self.groups.pop(key, None)
        if self.volcano.pop(key, None) is not None:
            self._phase.pop(key, None)
            self.enqueue_blocked.pop(key, None)
            self.enqueue_due = True

    def _pod_set(self, raw: KubeDict) -> None:
        pod_key = object_key(raw)
        key: GangKey | None = None
        # Decoding every pod event twice (the mirror does too) costs; most pods join no gang.
        if _may_join(raw):
            try:
                key = gang_of_pod(from_server(raw, Pod))
            except Exception as err:  # the mirror reports pods it cannot read
                log.debug("pod %s not read for gangs: %s", pod_key, err)
                return
        old = self.member_of.get(pod_key)
        if old == key:
            return
        if old is not None:
            self._leave(pod_key, old)
        if key is None:
            return
        self.member_of[pod_key] = key
        self._members.setdefault(key, {})[pod_key] = None
        spec = raw.get("spec") or {}
        if key.source is GangSource.KAI:
            labels = (raw.get("metadata") or {}).get("labels") or {}
            self._kai_queues.setdefault(key, str(labels.get(KAI_QUEUE_LABEL, "")))
        if key.source is GangSource.VOLCANO:
            self._priority[pod_key] = int(spec.get("priority") or 0)
            if str(spec.get("schedulerName") or "default-scheduler") in self.queues:
                self._ours.setdefault(key, {})[pod_key] = None
            self.enqueue_due = True
        self._requeue(key, POD_ADD)

    def _pod_deleted(self, raw: KubeDict) -> None:
        pod_key = object_key(raw)
        key = self.member_of.get(pod_key)
        if key is not None:
            self._leave(pod_key, key)

    def _leave(self, pod_key: str, key: GangKey) -> None:
        self.member_of.pop(pod_key, None)
        self._priority.pop(pod_key, None)
        ours = self._ours.get(key)
        if ours is not None:
            ours.pop(pod_key, None)
            if not ours:
                del self._ours[key]
        members = self._members.get(key)
        if members is not None:
            members.pop(pod_key, None)
            if not members:
                del self._members[key]
                self._kai_queues.pop(key, None)

    def _requeue(self, key: GangKey, event: ClusterEvent) -> None:
        """The members of `key` GangScheduling held back may go (a sibling added, the group
        enqueued): only those."""
        siblings = set(self._members.get(key, ()))

        def hint(plugin: str, event: ClusterEvent, pod: PodInfo) -> QueueingHint:
            if plugin == GANG_SCHEDULING and pod.key in siblings:
                return QueueingHint.QUEUE
            return QueueingHint.QUEUE_SKIP

        for queue in self.queues.values():
            queue.move_all_to_active_or_backoff(event, hint)
        self.on_change()


def is_held_for_enqueue(gang: Gang) -> bool:
    """Whether a gang waits for Volcano's enqueue step: a Volcano group with minResources
    that is neither Inqueue nor Running."""
    return (
        gang.key.source is GangSource.VOLCANO
        and gang.min_resources is not None
        and gang.phase not in (PHASE_INQUEUE, PHASE_RUNNING)
    )


def pod_group_condition(
    group: KubeDict, condition: Mapping[str, str], now: datetime | None = None
) -> dict[str, Any] | None:
    """The strategic-merge patch of the PodGroup's status that sets `condition` (the
    PodGroupScheduled condition of `GangPlacement.condition()`), or None when nothing is to
    be written: the condition is there already, or it is True and this one is not."""
    meta = group.get("metadata") or {}
    existing = next(
        (
            c
            for c in (group.get("status") or {}).get("conditions") or []
            if c.get("type") == condition["type"]
        ),
        None,
    )
    if existing is not None and existing.get("status") == "True" and condition["status"] != "True":
        return None
    wanted: dict[str, Any] = {
        "type": condition["type"],
        "status": condition["status"],
        "reason": condition["reason"],
        "message": condition.get("message", ""),
        "observedGeneration": int(meta.get("generation") or 0),
    }
    if existing is not None and all(existing.get(k, "") == v for k, v in wanted.items()):
        return None
    # The transition time moves only when the status does (apimeta.SetStatusCondition).
    if existing is not None and existing.get("status") == wanted["status"]:
        wanted["lastTransitionTime"] = existing.get("lastTransitionTime")
    else:
        wanted["lastTransitionTime"] = format_time(now or datetime.now(UTC))
    return {"status": {"conditions": [wanted]}}
