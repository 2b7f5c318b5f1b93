"""Consolidation: move preemptible pods so that whole GPUs, or whole hosts, are free again.

A plan over the scheduler cache, no I/O. It reads the cluster as `dralloc schedule -f` holds it
(nodes, ResourceSlices, DeviceClasses, bound pods with their allocated claims) and changes the
cache to the state after the moves; the caller prints or applies the plan.

Units. A GPU is the set of node-local devices that share a physical GPU, as NVIDIA's driver
publishes them: the devices of one `uuid` (a whole GPU, a shared GPU) or `parentUUID` (its
static MIG instances), or that consume one counter set (dynamic MIG, `gpu-<minor>-counter-set`).
Devices with none of these (a ComputeDomain channel, a NIC) belong to no GPU. A GPU is free
when none of its devices is allocated; a host is free when it has GPUs and all are free.

Preemptible. A pod may move when all of these hold (what users of Kueue, KAI and the
descheduler expect a "preemptible" pod to be):
* its priority is below `priority_below` (default 100: KAI Scheduler's line between its
  preemptible `train` class, 50, and its non-preemptible `build` and `inference` classes; a
  pod without a PriorityClass has priority 0, so it may move);
* it does not opt out: annotation `karpenter.sh/do-not-disrupt: "true"` (Karpenter's) or
  `cluster-autoscaler.kubernetes.io/safe-to-evict: "false"` (the cluster autoscaler's);
* a controller recreates it (an ownerReference with `controller: true`), as the
  descheduler requires by default, unless `include_bare_pods`: moving a pod is deleting it and
  letting its controller make it again, and nobody remakes a bare pod;
* every allocated claim it uses is reserved by it alone (moving one user of a shared claim
  frees nothing) and no unreserved allocated claim holds devices of the unit;
* the PodDisruptionBudgets that select it allow one more disruption
  (`status.disruptionsAllowed`, counted down as the plan moves pods);
* the caller does not keep it (`keep`: pod key -> why, e.g. the members of a gang, which
  must be placed as one pod group, never one by one).

Plan. Greedy, cheapest first: every unit (GPU or host, by `goal`) that is in use and whose
users may all move is a candidate, ranked by how many pods must move, then how many devices
they hold, then name. For the cheapest, on the cache: its pods are removed (their claims
deallocated, as the ResourceClaim controller does when a pod is gone), its devices are held,
and each pod is scheduled again by the same framework and allocator as `dralloc schedule`
(never a hand-made placement), highest priority first, with `preemptionPolicy: Never` so a
moved pod never evicts anybody. Free units are held too while pods move (all free GPUs for
`gpus`, the GPUs of free hosts for `hosts`), so a move fills GPUs already in use and reopening
one unit never closes another. If any pod finds no place, the cache is put back as it was and
the unit is skipped with the reason. Candidates are ranked again after each success, since
moved pods change what is in use; a moved pod is not moved twice. The plan stops when
`count` units are reopened, or when the next would exceed `max_moves` moves.

Invariants come from the scheduler itself: a device is never handed out twice, counters and
constraints hold, every moved pod is placed (a candidate is all or nothing).

Not done: gangs never move (a pod-group move is not planned); the claims DRA-backed extended
resources make (KEP-5004) are not re-placed; a host counts as free by its GPUs alone (pods
without devices may stay on it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

import msgspec

from dralloc.api.core import Pod
from dralloc.api.meta import ObjectMeta
from dralloc.api.policy import PodDisruptionBudget
from dralloc.api.quantity import Quantity
from dralloc.api.resource import (
    AllocationResult,
    Device,
    DeviceAllocationResult,
    DeviceRequestAllocationResult,
    ResourceClaim,
    ResourceClaimStatus,
    ResourceSlice,
)
from dralloc.scheduler.cache import SchedulerCache, pod_claim_keys
from dralloc.scheduler.config import DEFAULT_SCHEDULER_NAME
from dralloc.scheduler.framework import Framework, PodInfo
from dralloc.scheduler.framework.labels import SelectorError, compile_label_selector
from dralloc.scheduler.scheduler import Scheduler

DO_NOT_DISRUPT = "karpenter.sh/do-not-disrupt"
SAFE_TO_EVICT = "cluster-autoscaler.kubernetes.io/safe-to-evict"
DEFAULT_PRIORITY_BELOW = 100
HOLD_NAMESPACE = "dralloc-consolidation"  # the what-if claims that keep units free
_COUNTER_SET_SUFFIX = "-counter-set"


class Goal(StrEnum):
    gpus = "gpus"
    hosts = "hosts"


class Reason(StrEnum):
    """Why a unit cannot be reopened (the first reason met)."""

    NOT_PREEMPTIBLE = "NotPreemptible"
    KEPT = "Kept"
    SHARED_CLAIM = "SharedClaim"
    UNRESERVED_CLAIM = "UnreservedClaim"
    DISRUPTION_BUDGET = "DisruptionBudget"
    ALREADY_MOVED = "AlreadyMoved"
    NO_PLACE = "NoPlaceElsewhere"
    MAX_MOVES = "MaxMoves"


class DeviceRef(NamedTuple):
    driver: str
    pool: str
    device: str

    def __str__(self) -> str:
        return f"{self.driver}/{self.pool}/{self.device}"


@dataclass(frozen=True)
class GpuUnit:
    """One physical GPU of a node: its devices and a display name (`gpu-<minor>`)."""

    node: str
    name: str
    # Not part of equality: a unit is its node and name (devices are not hashable).
    devices: tuple[tuple[DeviceRef, Device], ...] = field(compare=False)
    # The devices a what-if claim takes to keep the unit free: all of them, but for a
    # counter set only devices whose consumption fits its counters together (the whole GPU
    # of dynamic MIG); over-consumed counters would make the allocator refuse the whole pool.
    hold: tuple[tuple[DeviceRef, Device], ...] = field(compare=False, default=())

    def __str__(self) -> str:
        return f"{self.node}/{self.name}"


@dataclass(frozen=True)
class ConsolidationOptions:
    """`goal`: reopen whole GPUs or whole hosts. `priority_below`: pods below this priority
    may move (default 100). `count`: units to reopen (None: as many as can be). `max_moves`:
    at most this many pod moves (None: no limit). `include_bare_pods`: move pods no
    controller owns as well."""

    goal: Goal = Goal.gpus
    priority_below: int = DEFAULT_PRIORITY_BELOW
    count: int | None = None
    max_moves: int | None = None
    include_bare_pods: bool = False


@dataclass(frozen=True)
class Move:
    """One pod moved: where it ran and with which devices, where it runs now."""

    pod: str
    from_node: str
    from_devices: tuple[DeviceRef, ...]
    to_node: str
    to_devices: tuple[DeviceRef, ...]


@dataclass
class ConsolidationResult:
    """The plan: moves in order, units reopened, free GPUs and hosts before and after, and
    the candidates that could not be reopened with why (`unit -> (reason, detail)`)."""

    moves: list[Move] = field(default_factory=list)
    reopened: list[str] = field(default_factory=list)
    free_gpus_before: int = 0
    free_gpus_after: int = 0
    free_hosts_before: int = 0
    free_hosts_after: int = 0
    skipped: dict[str, tuple[Reason, str]] = field(default_factory=dict)
    # The moved pods as the cache now holds them (spec.nodeName set), by key.
    moved_pods: dict[str, Pod] = field(default_factory=dict)


# ------------------------------------------------------------------------------- units


def _string(device: Device, name: str) -> str | None:
    attribute = device.attributes.get(name)
    return attribute.string if attribute is not None else None


def gpu_units(slices: Sequence[ResourceSlice]) -> list[GpuUnit]:
    """The GPUs the node-local slices publish (see the module docstring), by node and name."""
    groups: dict[tuple[str, str], list[tuple[DeviceRef, Device]]] = {}
    totals: dict[tuple[str, str, str], dict[str, int]] = {}
    for each in slices:
        for counter_set in each.spec.shared_counters:
            where = (each.spec.driver, each.spec.pool.name, counter_set.name)
            totals[where] = {n: c.value.nano for n, c in counter_set.counters.items()}
    for each in slices:
        node = each.spec.node_name
        if not node:
            continue
        for device in each.spec.devices:
            if device.consumes_counters:
                key = device.consumes_counters[0].counter_set
            else:
                key = _string(device, "parentUUID") or _string(device, "uuid") or ""
            if not key:
                continue
            ref = DeviceRef(each.spec.driver, each.spec.pool.name, device.name)
            groups.setdefault((node, key), []).append((ref, device))
    units = []
    for (node, key), devices in groups.items():
        if key.endswith(_COUNTER_SET_SUFFIX):
            name = key.removesuffix(_COUNTER_SET_SUFFIX)
        else:
            whole = [r.device for r, d in devices if _string(d, "uuid") == key]
            name = whole[0] if whole else min(r.device for r, _ in devices).split("-mig-")[0]
        hold = tuple(devices)
        if key.endswith(_COUNTER_SET_SUFFIX):
            ref = devices[0][0]
            hold = _fitting(devices, key, totals.get((ref.driver, ref.pool, key), {}))
        units.append(GpuUnit(node, name, tuple(devices), hold))
    return sorted(units, key=lambda u: (u.node, u.name))


def _fitting(
    devices: Sequence[tuple[DeviceRef, Device]], counter_set: str, total: Mapping[str, int]
) -> tuple[tuple[DeviceRef, Device], ...]:
    """Devices of `counter_set`, largest consumption first, that fit its counters together."""

    def consumption(device: Device) -> dict[str, int]:
        found: dict[str, int] = {}
        for each in device.consumes_counters:
            if each.counter_set == counter_set:
                for name, counter in each.counters.items():
                    found[name] = found.get(name, 0) + counter.value.nano
        return found

    used: dict[str, int] = {}
    chosen = []
    ranked = sorted(devices, key=lambda d: (-sum(consumption(d[1]).values()), d[0].device))
    for ref, device in ranked:
        wanted = consumption(device)
        if all(used.get(n, 0) + v <= total.get(n, 0) for n, v in wanted.items()):
            chosen.append((ref, device))
            for name, value in wanted.items():
                used[name] = used.get(name, 0) + value
    return tuple(chosen)


@dataclass
class _Usage:
    """Who uses each GPU now: pod keys, and claims allocated there that no pod reserves."""

    pods: dict[GpuUnit, set[str]] = field(default_factory=dict)
    unreserved: dict[GpuUnit, str] = field(default_factory=dict)

    def is_free(self, unit: GpuUnit) -> bool:
        return unit not in self.pods and unit not in self.unreserved


def _usage(cache: SchedulerCache, owner: Mapping[DeviceRef, GpuUnit]) -> _Usage:
    usage = _Usage()
    for key, claim in cache.claims.items():
        allocation = claim.status.allocation
        if allocation is None or claim.metadata.namespace == HOLD_NAMESPACE:
            continue
        units = {
            owner[ref]
            for r in allocation.devices.results
            if (ref := DeviceRef(r.driver, r.pool, r.device)) in owner
        }
        namespace = claim.metadata.namespace or "default"
        users = {f"{namespace}/{r.name}" for r in claim.status.reserved_for if r.resource == "pods"}
        for unit in units:
            if users:
                usage.pods.setdefault(unit, set()).update(users)
            else:
                usage.unreserved.setdefault(unit, key)
    return usage


def _free_counts(units: Sequence[GpuUnit], usage: _Usage) -> tuple[int, int]:
    free = [u for u in units if usage.is_free(u)]
    by_node: dict[str, list[bool]] = {}
    for unit in units:
        by_node.setdefault(unit.node, []).append(usage.is_free(unit))
    return len(free), sum(1 for flags in by_node.values() if all(flags))


# ------------------------------------------------------------------------------- pods


def _claim_keys(pod: Pod) -> list[str]:
    return [key for _, key in pod_claim_keys(pod) if key is not None]


def _not_movable(
    pod: Pod, cache: SchedulerCache, options: ConsolidationOptions
) -> tuple[Reason, str] | None:
    key = f"{pod.metadata.namespace}/{pod.metadata.name}"
    priority = pod.spec.priority or 0
    if priority >= options.priority_below:
        return Reason.NOT_PREEMPTIBLE, f"pod {key} has priority {priority}"
    annotations = pod.metadata.annotations
    if annotations.get(DO_NOT_DISRUPT) == "true":
        return Reason.NOT_PREEMPTIBLE, f"pod {key} has {DO_NOT_DISRUPT}: true"
    if annotations.get(SAFE_TO_EVICT) == "false":
        return Reason.NOT_PREEMPTIBLE, f"pod {key} has {SAFE_TO_EVICT}: false"
    owned = any(o.controller for o in pod.metadata.owner_references)
    if not owned and not options.include_bare_pods:
        return Reason.NOT_PREEMPTIBLE, f"pod {key} has no controller to recreate it"
    for claim_key in _claim_keys(pod):
        claim = cache.claims.get(claim_key)
        if claim is None or claim.status.allocation is None:
            continue
        others = [r.name for r in claim.status.reserved_for if r.name != pod.metadata.name]
        if others:
            return Reason.SHARED_CLAIM, f"claim {claim_key} is shared with pod {others[0]}"
    return None


class _Budgets:
    """How many more pods each PodDisruptionBudget lets the plan move."""

    def __init__(self, budgets: Sequence[PodDisruptionBudget]) -> None:
        self._left: dict[str, int] = {}
        self._budgets = []
        for budget in budgets:
            namespace = budget.metadata.namespace or "default"
            try:
                selector = compile_label_selector(budget.spec.selector)
            except SelectorError:
                continue  # upstream's disruption controller skips such a budget too
            allowed = budget.status.disruptions_allowed if budget.status is not None else 0
            name = f"{namespace}/{budget.metadata.name}"
            self._left[name] = allowed
            self._budgets.append((name, namespace, selector))

    def covering(self, pod: Pod) -> list[str]:
        namespace = pod.metadata.namespace or "default"
        labels = pod.metadata.labels
        return [n for n, ns, sel in self._budgets if ns == namespace and sel.matches(labels)]

    def blocked(self, pods: Sequence[Pod]) -> str | None:
        wanted: dict[str, int] = {}
        for pod in pods:
            for name in self.covering(pod):
                wanted[name] = wanted.get(name, 0) + 1
        for name, count in sorted(wanted.items()):
            if count > self._left[name]:
                return f"PodDisruptionBudget {name} allows {self._left[name]} more disruption(s)"
        return None

    def spend(self, pods: Sequence[Pod]) -> None:
        for pod in pods:
            for name in self.covering(pod):
                self._left[name] -= 1


# ------------------------------------------------------------------------------- plan


def _hold_claim(index: int, devices: Sequence[tuple[DeviceRef, Device]]) -> ResourceClaim:
    """A what-if claim holding every device of a unit: a shared device is held by consuming
    all its capacity, any other by a dedicated allocation."""
    results = []
    for ref, device in devices:
        consumed: dict[str, Quantity] = {}
        if device.allow_multiple_allocations:
            consumed = {name: cap.value for name, cap in device.capacity.items()}
        results.append(
            DeviceRequestAllocationResult(
                request="hold",
                driver=ref.driver,
                pool=ref.pool,
                device=ref.device,
                consumed_capacity=consumed,
            )
        )
    allocation = AllocationResult(devices=DeviceAllocationResult(results=results))
    return ResourceClaim(
        metadata=ObjectMeta(name=f"hold-{index}", namespace=HOLD_NAMESPACE),
        status=ResourceClaimStatus(allocation=allocation),
    )


def _pending_copy(pod: Pod) -> Pod:
    """The pod as its controller would make it again: unbound, and never preempting."""
    spec = msgspec.structs.replace(pod.spec, node_name="", preemption_policy="Never")
    status = msgspec.structs.replace(pod.status, nominated_node_name=None)
    return msgspec.structs.replace(pod, spec=spec, status=status)


def _devices_of(cache: SchedulerCache, pod: Pod) -> tuple[DeviceRef, ...]:
    refs: list[DeviceRef] = []
    for key in _claim_keys(pod):
        claim = cache.claims.get(key)
        if claim is None or claim.status.allocation is None:
            continue
        results = claim.status.allocation.devices.results
        refs.extend(DeviceRef(r.driver, r.pool, r.device) for r in results)
    return tuple(refs)


class _Planner:
    def __init__(
        self,
        cache: SchedulerCache,
        frameworks: Mapping[str, Framework],
        units: Sequence[GpuUnit],
        options: ConsolidationOptions,
        budgets: Sequence[PodDisruptionBudget],
        keep: Mapping[str, str],
    ) -> None:
        self.keep = keep
        self.cache = cache
        self.frameworks = frameworks
        self.units = units
        self.options = options
        self.budgets = _Budgets(budgets)
        self.owner = {ref: unit for unit in units for ref, _ in unit.devices}
        self.by_node: dict[str, list[GpuUnit]] = {}
        for unit in units:
            self.by_node.setdefault(unit.node, []).append(unit)
        self.holds: dict[GpuUnit, str] = {}  # unit -> hold claim key
        self._next_hold = 0
        self.moved: set[str] = set()
        self.result = ConsolidationResult()

    # --- holds

    def hold(self, unit: GpuUnit) -> None:
        if unit in self.holds:
            return
        claim = _hold_claim(self._next_hold, unit.hold or unit.devices)
        self._next_hold += 1
        self.cache.set_claim(claim)
        self.holds[unit] = f"{HOLD_NAMESPACE}/{claim.metadata.name}"

    def release(self, unit: GpuUnit) -> None:
        key = self.holds.pop(unit, None)
        if key is not None:
            self.cache.remove_claim(key)

    def release_all(self) -> None:
        for unit in list(self.holds):
            self.release(unit)

    # --- candidates

    def candidates(self, usage: _Usage) -> list[tuple[tuple[int, int, str], str, list[GpuUnit]]]:
        """(rank, name, units) of every unit in use that is not reopened or skipped yet."""
        groups: list[tuple[str, list[GpuUnit]]]
        if self.options.goal == Goal.gpus:
            groups = [(str(u), [u]) for u in self.units if not usage.is_free(u)]
        else:
            groups = [
                (node, units)
                for node, units in sorted(self.by_node.items())
                if not all(usage.is_free(u) for u in units)
            ]
        found = []
        for name, units in groups:
            if name in self.result.skipped:
                continue
            pods = sorted({p for u in units for p in usage.pods.get(u, ())})
            held = sum(len(_devices_of(self.cache, self.cache.pods[p][0].pod)) for p in pods)
            found.append(((len(pods), held, name), name, units))
        return sorted(found)

    def blocker(self, units: Sequence[GpuUnit], usage: _Usage) -> tuple[Reason, str] | None:
        for unit in units:
            if unit in usage.unreserved:
                claim = usage.unreserved[unit]
                return Reason.UNRESERVED_CLAIM, f"claim {claim} is allocated on {unit} by no pod"
        pods = sorted({p for u in units for p in usage.pods.get(u, ())})
        for key in pods:
            if key in self.moved:
                return Reason.ALREADY_MOVED, f"pod {key} was moved already"
            if key in self.keep:
                return Reason.KEPT, f"pod {key} {self.keep[key]}"
            entry = self.cache.pods.get(key)
            if entry is None:
                return Reason.NOT_PREEMPTIBLE, f"pod {key} holds devices but is not running"
            why = _not_movable(entry[0].pod, self.cache, self.options)
            if why is not None:
                return why
        blocked = self.budgets.blocked([self.cache.pods[p][0].pod for p in pods])
        if blocked is not None:
            return Reason.DISRUPTION_BUDGET, blocked
        limit = self.options.max_moves
        if limit is not None and len(self.result.moves) + len(pods) > limit:
            return Reason.MAX_MOVES, f"{len(pods)} more move(s) would pass --max-moves {limit}"
        return None

    # --- one candidate

    def try_reopen(self, units: Sequence[GpuUnit], pod_keys: Sequence[str]) -> str | None:
        """Move `pod_keys` off `units` (held from now on); None on success, else why not,
        with the cache as it was."""
        entries = [self.cache.pods[k] for k in pod_keys]
        saved = {
            key: self.cache.claims[key]
            for info, _ in entries
            for key in _claim_keys(info.pod)
            if key in self.cache.claims
        }
        before = {info.key: _devices_of(self.cache, info.pod) for info, _ in entries}
        for info, _ in entries:
            self.cache.remove_pod(info.pod)
        newly_held = [u for u in units if u not in self.holds]
        for unit in newly_held:
            self.hold(unit)
        order = sorted(
            entries,
            key=lambda e: (-(e[0].pod.spec.priority or 0), -len(before[e[0].key]), e[0].key),
        )
        placed: list[tuple[PodInfo, str, PodInfo, str]] = []
        for info, node in order:
            pod = _pending_copy(info.pod)
            name = pod.spec.scheduler_name or DEFAULT_SCHEDULER_NAME
            outcome = Scheduler(self.cache, self.frameworks[name]).schedule_one(pod)
            if outcome.node is None:
                for _, _, new, _ in placed:
                    self.cache.remove_pod(new.pod)
                for unit in newly_held:
                    self.release(unit)
                for claim in saved.values():
                    self.cache.set_claim(claim)
                for old, old_node in entries:
                    self.cache.assume_pod(old, old_node)
                return f"pod {info.key} fits nowhere else: {outcome.message}"
            placed.append((info, node, outcome.pod, outcome.node))
        for info, node, new, new_node in placed:
            # The pod as its controller made it again and the scheduler bound it: the input's
            # preemption policy, spec.nodeName set (binding writes nothing to the cache).
            cached = self.cache.pods[new.key][0].pod
            spec = msgspec.structs.replace(
                cached.spec, node_name=new_node, preemption_policy=info.pod.spec.preemption_policy
            )
            moved = msgspec.structs.replace(cached, spec=spec)
            self.cache.forget_pod(new.key)
            self.cache.assume_pod(PodInfo.of(moved), new_node)
            self.result.moves.append(
                Move(info.key, node, before[info.key], new_node, _devices_of(self.cache, moved))
            )
            self.result.moved_pods[info.key] = moved
            self.moved.add(info.key)
        self.budgets.spend([info.pod for info, _ in entries])
        return None

    def run(self) -> ConsolidationResult:
        usage = _usage(self.cache, self.owner)
        result = self.result
        result.free_gpus_before, result.free_hosts_before = _free_counts(self.units, usage)
        # Free units stay free while pods move: a move must fill GPUs already in use.
        for units in self.by_node.values():
            if self.options.goal == Goal.gpus:
                for unit in units:
                    if usage.is_free(unit):
                        self.hold(unit)
            elif all(usage.is_free(u) for u in units):
                for unit in units:
                    self.hold(unit)
        try:
            while self.options.count is None or len(result.reopened) < self.options.count:
                found = self.candidates(usage)
                if not found:
                    break
                _, name, units = found[0]
                why = self.blocker(units, usage)
                if why is None:
                    pods = sorted({p for u in units for p in usage.pods.get(u, ())})
                    failure = self.try_reopen(units, pods)
                    if failure is None:
                        result.reopened.append(name)
                        for unit in units:
                            self.hold(unit)
                    else:
                        why = (Reason.NO_PLACE, failure)
                if why is not None:
                    result.skipped[name] = why
                usage = _usage(self.cache, self.owner)
        finally:
            self.release_all()
        usage = _usage(self.cache, self.owner)
        result.free_gpus_after, result.free_hosts_after = _free_counts(self.units, usage)
        return result


def consolidate(
    cache: SchedulerCache,
    frameworks: Mapping[str, Framework],
    slices: Sequence[ResourceSlice],
    options: ConsolidationOptions | None = None,
    budgets: Sequence[PodDisruptionBudget] = (),
    keep: Mapping[str, str] | None = None,
) -> ConsolidationResult:
    """Plan and apply moves on `cache` (its running pods bound, their claims allocated) that
    reopen whole GPUs or hosts (module docstring). `frameworks` by schedulerName place the
    moved pods; `slices` are the cluster's ResourceSlices; `budgets` are the
    PodDisruptionBudgets with their status; `keep` names pods that must not move, with why
    (pod key -> reason, printed after the pod's name). On return the cache holds the state after the
    moves, and no what-if claim.

    >>> result = consolidate(cache, frameworks, slices)  # doctest: +SKIP
    >>> [(m.pod, m.from_node, m.to_node) for m in result.moves]  # doctest: +SKIP
    """
    units = gpu_units(slices)
    chosen = options or ConsolidationOptions()
    return _Planner(cache, frameworks, units, chosen, budgets, keep or {}).run()
