"""Gang preemption: a gang that cannot be placed evicts lower-priority pods so that all its
members (down to minCount) fit at once. Kubernetes 1.36's workload-aware preemption (gate
`WorkloadAwarePreemption`, alpha, off by default, needs `GangScheduling`; spec/scheduler.md
section 6.3), run where dralloc places gangs:

    placement, preemption = place_gang_preempting(cache, framework, gang, pods,
                                                  gangs=index, features=features)
    preemption.victims     # the pods evicted (none unless the whole gang then fits)
    placement.is_admitted  # the gang, placed once its victims left (offline: at once)

Steps (upstream's runWorkloadAwarePreemption and PodGroupEvaluator):

1. The pod-group cycle (`place_gang`) failed as Unschedulable (an ERROR, or a group whose
   PodGroup has topology constraints, does not preempt: upstream refuses the latter with
   `workload aware preemption is not supported for pod groups with scheduling constraints`).
2. The profile must have `DefaultPreemption` at PostFilter (upstream's only pod-group
   PostFilter); without it: `default preemption plugin is not registered, workload aware
   preemption is disabled`.
3. The domain is the whole cluster: every pod on the cache's nodes except the gang's own
   members becomes a victim unit (`preemption_units`), and DefaultPreemption's
   `select_group_victims` (plugins/defaultpreemption/groups.py) takes units off and puts
   them back, asking `place_gang` (a what-if: nothing bound) whether the gang fits each time.
4. The cache is restored exactly (every pod back on its node, every claim object back), then
   the victims are evicted through DefaultPreemption's evictor, one Eviction per node.
   `place_gang_preempting` then runs the cycle once more: dralloc's evictors take the victims
   off the cache as they evict (offline, in the replay and live alike, where the API
   deletions follow), so the gang is placed at once, as `dralloc schedule` retries a pod its
   preemption made room for. Upstream instead sends the group back to the queue, gated until
   its preemption's API calls are done, and places it on a later cycle.

Priorities. A Kubernetes PodGroup preempts, and is preempted, with its `spec.priority`
(upstream's PodGroupPriority: unset is 0, whatever its pods say). A Volcano or KAI gang has
no such field here: as a preemptor it counts the lowest priority of its pending members, as a
victim the highest of its running ones, so no pod is ever evicted for a preemptor of equal or
lower priority. A pod outside any gang counts its own.

Victim units. A pod of a Kubernetes PodGroup with `disruptionMode: PodGroup` leaves with
all the group's running pods (upstream); with `Pod` (the default) it leaves alone, as
upstream does, even below the group's minCount. A Volcano or KAI gang is never left partial
(their schedulers' rule): each running member is a unit of its own at the gang's priority
(the highest of its members'), reprieved before plain pods of that priority, and when the
reprieve would leave fewer than `minCount` of them running, the rest leave too: members
beyond the quorum may leave one by one, a gang pushed below it leaves whole.

Devices. As in 1.36, taking a victim off frees its CPU, memory and pod slot, not the devices
of its ResourceClaims (spec/scheduler.md section 5.7). With `frees_devices` (dralloc's
KEP-5690 option, `preemption_frees_devices`; by default whatever the profile's
DynamicResources was built with), a claim every one of whose `reservedFor` pods is
off counts as deallocated in the what-if, wherever its devices are (the domain is the whole
cluster, not one node).

Cost. Step 3 runs one whole gang cycle per victim unit (upstream's PodGroupEvaluator does
too): 64 victims among 400 pods on 100 nodes is ~400 cycles of 16 members. The what-if
therefore runs under `framework.remembering(pod_signature(cache))`: each member's cycle
filters and scores only the nodes whose generation moved since that pod shape's previous
cycle (the unit just put back or taken off, the nodes earlier members were assumed on),
with the same rng, start index and choices as a full scan. A framework without verdict
memory of its own (the live scheduler's, which must not remember across informer events)
gets one for the what-if alone: nothing outside the cache's own methods changes while it
runs (one synchronous call), and those move node generations. `remember_verdicts=False`
(or a framework built with `remember_what_ifs=False`) turns it off.

Owns nothing: the cache is mutated only inside `preempt_for_gang`, and restored before it
returns (a restored pod goes back to the end of its node's list).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Protocol

import msgspec

from dralloc.api.core import Pod
from dralloc.api.resource import ResourceClaim
from dralloc.features import Features
from dralloc.scheduler.cache import SchedulerCache, pod_claim_keys
from dralloc.scheduler.framework import SUCCESS, Framework, PodInfo, Status
from dralloc.scheduler.framework.status import Code
from dralloc.scheduler.gangs.cycle import (
    GangPlacement,
    cycle_order,
    place_gang,
    place_gang_members,
)
from dralloc.scheduler.gangs.model import Gang, GangKey, GangSource
from dralloc.scheduler.plugins.defaultpreemption import (
    DefaultPreemption,
    GroupVictims,
    VictimUnit,
)
from dralloc.scheduler.plugins.dynamicresources import DynamicResources
from dralloc.scheduler.signature import pod_signature

WORKLOAD_AWARE_PREEMPTION = "WorkloadAwarePreemption"
DISRUPTION_MODE_POD_GROUP = "PodGroup"
NOT_REGISTERED = (
    "default preemption plugin is not registered, workload aware preemption is disabled"
)
TOPOLOGY_UNSUPPORTED = (
    "workload aware preemption is not supported for pod groups with scheduling constraints"
)


@dataclass(frozen=True)
class GangPreemption:
    """The outcome of `preempt_for_gang`: SUCCESS when `victims` were evicted (most
    important first), else why not (nothing was evicted)."""

    gang: Gang
    status: Status
    victims: tuple[PodInfo, ...] = ()
    units: tuple[VictimUnit, ...] = field(default=(), repr=False)
    pdb_violations: int = 0

    @property
    def is_preempted(self) -> bool:
        return self.status.is_success and bool(self.victims)


def is_gang_preemption_enabled(features: Features) -> bool:
    """Upstream's gate, which needs GangScheduling (and so GenericWorkload)."""
    return features.gang_scheduling and features.enabled(WORKLOAD_AWARE_PREEMPTION)


def preemptor_priority(gang: Gang, pods: Sequence[Pod]) -> int:
    """The priority the gang preempts with (module docstring)."""
    if gang.key.source is GangSource.POD_GROUP:
        return gang.priority if gang.priority is not None else 0
    return min((pod.spec.priority or 0 for pod in pods), default=0)


class GangMembership(Protocol):
    """Which gang a pod belongs to (`GangIndex`, the live scheduler's and the replay's
    listers all answer it)."""

    def gang_of(self, pod_key: str) -> Gang | None: ...


def preemption_units(
    cache: SchedulerCache, gangs: GangMembership, exclude: GangKey | None = None
) -> list[VictimUnit]:
    """Every pod on the cache's nodes as a victim unit (module docstring), the pods of gang
    `exclude` left out. In the order the cache holds the pods."""
    units: list[VictimUnit] = []
    grouped: dict[GangKey, tuple[Gang, list[PodInfo]]] = {}
    for info, _node in cache.pods.values():
        gang = gangs.gang_of(info.key)
        if gang is not None and gang.key == exclude:
            continue
        if gang is None or not _moves_together(gang):
            units.append(VictimUnit(info.key, (info,), info.priority))
            continue
        if gang.key not in grouped:
            grouped[gang.key] = (gang, [])
        grouped[gang.key][1].append(info)
    for key, (gang, members) in grouped.items():
        if gang.key.source is GangSource.POD_GROUP:
            priority = gang.priority if gang.priority is not None else 0
            units.append(VictimUnit(f"PodGroup {key}", tuple(members), priority, is_group=True))
            continue
        priority = max(m.priority for m in members)
        quorum = gang.min_count or 0
        units.extend(
            VictimUnit(m.key, (m,), priority, gang=str(key), quorum=quorum) for m in members
        )
    return units


def _moves_together(gang: Gang) -> bool:
    if gang.key.source is GangSource.POD_GROUP:
        return gang.disruption_mode == DISRUPTION_MODE_POD_GROUP
    return bool(gang.min_count)


def profile_frees_devices(framework: Framework) -> bool:
    """Whether the profile's DynamicResources frees victims' devices in preemption's what-if
    (`preemption_frees_devices`): a gang preempts under the same rule as a single pod."""
    return any(
        isinstance(p, DynamicResources) and p.frees_devices_for_preemption
        for p in framework.profile.filter
    )


def _post_filter(framework: Framework) -> DefaultPreemption | None:
    """The profile's DefaultPreemption (upstream's PodGroupPostFilterPlugins()[0])."""
    return next(
        (p for p in framework.profile.post_filter if isinstance(p, DefaultPreemption)), None
    )


def _held_claims(pod: Pod) -> list[str]:
    keys = [key for _, key in pod_claim_keys(pod) if key is not None]
    extended = pod.status.extended_resource_claim_status
    if extended is not None:
        keys.append(f"{pod.metadata.namespace or 'default'}/{extended.resource_claim_name}")
    return keys


class _WhatIf:
    """The cache with some pods taken off (and, with `frees_devices`, the claims only they
    hold deallocated); `restore` puts every pod and claim object back as it was."""

    def __init__(self, cache: SchedulerCache, frees_devices: bool) -> None:
        self.cache = cache
        self.frees_devices = frees_devices
        self.off: dict[str, tuple[PodInfo, str]] = {}
        self.claims: dict[str, ResourceClaim] = {}  # claim key -> the object before

    def remove(self, unit: VictimUnit) -> None:
        for info in unit.pods:
            entry = self.cache.pods.get(info.key)
            if entry is None:
                continue
            self.off[info.key] = entry
            self.cache.forget_pod(info.key)
        self._sync_claims(unit)

    def add(self, unit: VictimUnit) -> None:
        for info in unit.pods:
            entry = self.off.pop(info.key, None)
            if entry is not None:
                self.cache.assume_pod(entry[0], entry[1])
        self._sync_claims(unit)

    def _sync_claims(self, unit: VictimUnit) -> None:
        """Each claim of the unit's pods: allocated as before unless every consumer is off."""
        if not self.frees_devices:
            return
        for info in unit.pods:
            for key in _held_claims(info.pod):
                original = self.claims.get(key) or self.cache.claims.get(key)
                if original is None or original.status.allocation is None:
                    continue
                self.claims.setdefault(key, original)
                namespace = original.metadata.namespace
                consumers = original.status.reserved_for
                gone = bool(consumers) and all(
                    r.resource == "pods" and f"{namespace}/{r.name}" in self.off for r in consumers
                )
                current = self.cache.claims.get(key)
                if gone and current is not None and current.status.allocation is not None:
                    status = msgspec.structs.replace(
                        original.status, allocation=None, reserved_for=[], devices=[]
                    )
                    self.cache.set_claim(msgspec.structs.replace(original, status=status))
                elif not gone and current is not original:
                    self.cache.set_claim(original)

    def restore(self) -> None:
        for key, (info, node) in list(self.off.items()):
            self.cache.assume_pod(info, node)
            del self.off[key]
        for key, original in self.claims.items():
            if self.cache.claims.get(key) is not original:
                self.cache.set_claim(original)
        self.claims.clear()


@contextmanager
def _what_if(cache: SchedulerCache, frees_devices: bool) -> Iterator[_WhatIf]:
    state = _WhatIf(cache, frees_devices)
    try:
        yield state
    finally:
        state.restore()


def preempt_for_gang(
    cache: SchedulerCache,
    framework: Framework,
    gang: Gang,
    pods: Sequence[Pod],
    *,
    gangs: GangMembership,
    already_placed: int = 0,
    frees_devices: bool | None = None,
    remember_verdicts: bool = True,
) -> GangPreemption:
    """Steps 2-4 of the module docstring for a gang whose pod-group cycle failed as
    Unschedulable: choose the victims on a what-if of the cache and evict them. The gang
    itself is not placed here. `frees_devices` defaults to the profile's;
    `remember_verdicts` (the speed-up's off switch) is the what-if's verdict memory."""
    if gang.has_topology_constraints:
        return GangPreemption(gang, Status.unschedulable(TOPOLOGY_UNSUPPORTED))
    plugin = _post_filter(framework)
    if plugin is None:
        return GangPreemption(gang, Status.unschedulable(NOT_REGISTERED))
    members = [PodInfo.of(pod) for pod in cycle_order(pods)]
    if not members:
        return GangPreemption(gang, Status.unschedulable("no pending pods to preempt for"))
    units = preemption_units(cache, gangs, exclude=gang.key)
    node_of = {key: node for key, (_info, node) in cache.pods.items()}
    if frees_devices is None:
        frees_devices = profile_frees_devices(framework)

    def fits() -> Status:
        placement = place_gang_members(
            cache, framework, gang, members, already_placed=already_placed
        )
        return placement.status

    found: GroupVictims | None
    signature = pod_signature(cache) if remember_verdicts else None
    with framework.remembering(signature), _what_if(cache, frees_devices) as what_if:
        found, status = plugin.select_group_victims(
            members,
            preemptor_priority(gang, pods),
            units,
            what_if.remove,
            what_if.add,
            fits,
        )
    if found is None:
        return GangPreemption(gang, status)
    evicted = plugin.evict_group_victims(members[0], found, node_of)
    if not evicted.is_success:
        return GangPreemption(gang, evicted)
    return GangPreemption(gang, SUCCESS, found.pods, found.units, found.pdb_violations)


def place_gang_preempting(
    cache: SchedulerCache,
    framework: Framework,
    gang: Gang,
    pods: Sequence[Pod],
    *,
    gangs: GangMembership,
    features: Features | None = None,
    already_placed: int = 0,
    bind: bool = True,
    frees_devices: bool | None = None,
    remember_verdicts: bool = True,
) -> tuple[GangPlacement, GangPreemption | None]:
    """`place_gang`, and when it fails as Unschedulable with workload-aware preemption on,
    `preempt_for_gang` then `place_gang` again (for an evictor that removes the victims from
    the cache at once, as offline runs have). The preemption is None when it did not run.
    A failed preemption's reason is appended to the placement's message, as upstream
    appends it to the group's status. `features` default to the cache's, `frees_devices`
    to the profile's (`profile_frees_devices`); `remember_verdicts` as `preempt_for_gang`."""
    placement = place_gang(cache, framework, gang, pods, already_placed=already_placed, bind=bind)
    if placement.is_admitted or placement.status.code != Code.UNSCHEDULABLE:
        return placement, None
    if not is_gang_preemption_enabled(features if features is not None else cache.features):
        return placement, None
    preemption = preempt_for_gang(
        cache,
        framework,
        gang,
        pods,
        gangs=gangs,
        already_placed=already_placed,
        frees_devices=frees_devices,
        remember_verdicts=remember_verdicts,
    )
    if preemption.is_preempted:
        placement = place_gang(
            cache, framework, gang, pods, already_placed=already_placed, bind=bind
        )
        return placement, preemption
    if preemption.status.code == Code.ERROR:
        status = Status.error(preemption.status.message)
    else:
        text = f"{placement.status.message}; preemption: {preemption.status.message}"
        status = Status(placement.status.code, (text,), plugin=placement.status.plugin)
    return replace(placement, status=status), preemption
