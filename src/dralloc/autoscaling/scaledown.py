"""cluster-autoscaler's scale-down: unneeded nodes, their timers, and deletions (spec §4.3).

Owns `ScaleDownState`, the memory scale-down keeps between loops, and the one function a loop
calls. Reads the cluster (`ClusterState`), plans on a private `PlanningSnapshot`, and deletes
through the fleet's `NodeLifecycle.delete`; the `ClusterAutoscaler` that owns both calls it.

Per loop (CA 1.36's planner and actuator, behaviour reproduced):

* candidates: ready nodes of autoscaled groups (static nodes and nodes being deleted or
  upcoming are not), in name order; not annotated
  `cluster-autoscaler.kubernetes.io/scale-down-disabled: "true"`; not found unremovable in the
  last `unremovableNodeRecheckTimeout` (5 min; `RecentlyUnremovable`);
* utilization (`utilization.py`, `utilization: ca|device`) below the group's threshold
  (`NotUnderutilized` otherwise; an error is `UnexpectedError`);
* no pod keeps the node (`drain.py`, `BlockedByPod`), and its movable pods all fit on the
  other ready nodes (`NoPlaceToMovePods`): the removal is simulated on a fork of the
  snapshot, and a node found removable stays removed for the next candidates, so two nodes
  never count on the same room (CA's `RemovalSimulator` on one snapshot). That snapshot is
  built only once a candidate's pods must move, the empty nodes found before taken out of it
  then (`ClusterAutoscaler.lazy_scale_down_snapshot`; off: built first, same decisions);
* a node is unneeded from the first loop it qualifies; one loop it does not resets its timer;
* unless in cooldown (`scaleDownDelayAfterAdd` after a scale-up, `...AfterDelete` after a
  deletion, `...AfterFailure` after a failed one), nodes unneeded for `scaleDownUnneededTime`
  (the group's, else the global 10 min) are deleted, never taking a group below its min
  (`NodeGroupMinSizeReached`): empty ones (only DaemonSet, mirror or finished pods) up to
  `maxScaleDownParallelism` at once, others one drain at a time (`maxDrainParallelism`,
  counting drains still running). A drained node is gone after its pods' grace period (30 s,
  the Kubernetes default, capped at `maxGracefulTerminationSec`) plus the terminate delay.
* `LoopResult.unneeded` lists every unneeded node with its timer, as upstream's status does;
  `LoopResult.unneeded_timers` only those whose timer may end in a deletion: a node of a
  group at its min size waits for nothing time alone brings, so a caller deciding whether a
  later loop can act by itself (the replay skipping quiet loops) reads that one.

Upcoming nodes are not destinations for evicted pods here (they do not exist yet); upstream's
scale-down snapshot holds only registered nodes too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dralloc.api.core import Node, Pod
from dralloc.api.resource import ResourceClaim, ResourceSlice
from dralloc.autoscaling.config import UtilizationMode
from dralloc.autoscaling.decisions import (
    BlockingPodReason,
    LoopResult,
    ScaleDown,
    Unremovable,
    UnremovableReason,
)
from dralloc.autoscaling.drain import (
    SCALE_DOWN_DISABLED,
    BudgetTracker,
    blocking_pod,
    goes_with_node,
    is_daemonset_pod,
    is_mirror_pod,
    move_pods,
)
from dralloc.autoscaling.fleet import FleetNode
from dralloc.autoscaling.planmemo import Removal
from dralloc.autoscaling.planning import ClusterState, PlanningSnapshot, pod_key
from dralloc.autoscaling.utilization import (
    PodUsage,
    UtilizationError,
    device_utilization,
    is_underutilized,
    node_utilization,
    scale_down_threshold,
)
from dralloc.queueing.requests import pod_requests
from dralloc.scheduler.cache import pod_claim_keys
from dralloc.scheduler.plugins.defaultpreemption import ControllerScales, with_status

if TYPE_CHECKING:
    from dralloc.autoscaling.clusterautoscaler import ClusterAutoscaler, FleetView

DEFAULT_GRACE_SECONDS = 30.0
GPU_RESOURCE = "nvidia.com/gpu"


@dataclass
class ScaleDownState:
    """What scale-down remembers between loops."""

    unneeded: dict[str, float] = field(default_factory=dict)  # node -> unneeded since
    unremovable_until: dict[str, float] = field(default_factory=dict)
    draining: dict[str, float] = field(default_factory=dict)  # node -> gone at
    last_delete: float | None = None
    last_failure: float | None = None
    candidates: dict[str, list[str]] = field(default_factory=dict)  # group -> unneeded nodes

    def in_cooldown(self, ca: ClusterAutoscaler, now: float) -> bool:
        options = ca.config.options
        after = (
            (ca.last_scale_up, options.scale_down_delay_after_add),
            (self.last_delete, options.scale_down_delay_after_delete),
            (self.last_failure, options.scale_down_delay_after_failure),
        )
        return any(at is not None and now < at + delay for at, delay in after)


@dataclass(frozen=True)
class _Candidate:
    node: FleetNode
    utilization: float
    pods: tuple[Pod, ...]


def _node_claims(pods: Sequence[Pod], claims: dict[str, ResourceClaim]) -> list[ResourceClaim]:
    keys = [key for pod in pods for _, key in pod_claim_keys(pod) if key is not None]
    return [claims[k] for k in dict.fromkeys(keys) if k in claims]


def _utilization(
    ca: ClusterAutoscaler,
    node: FleetNode,
    obj: Node,
    pods: Sequence[Pod],
    slices: Sequence[ResourceSlice],
    claims: dict[str, ResourceClaim],
) -> float:
    """The node's utilization as the configured mode computes it (UtilizationError)."""
    options = ca.config.options
    used = _node_claims(pods, claims)
    if options.utilization is UtilizationMode.DEVICE and slices:
        return device_utilization(slices, used, ca.catalog)
    group = ca.fleet.group(node.group)
    shape = ca.config.shapes[node.lifecycle.shape]
    skip_daemonsets = group.options.ignore_daemonsets_utilization
    if skip_daemonsets is None:
        skip_daemonsets = options.ignore_daemonsets_utilization
    usage = [
        PodUsage(
            requests=pod_requests(p), is_daemonset=is_daemonset_pod(p), is_mirror=is_mirror_pod(p)
        )
        for p in pods
    ]
    info = node_utilization(
        obj,
        usage,
        slices,
        used,
        gpu_resource=GPU_RESOURCE if shape.gpu_label else None,
        skip_daemonset_pods=skip_daemonsets,
        skip_mirror_pods=options.ignore_mirror_pods_utilization,
    )
    return info.utilization


def scale_down(
    ca: ClusterAutoscaler, now: float, state: ClusterState, view: FleetView, result: LoopResult
) -> None:
    """One loop's scale-down (see the module docstring); records go to `result`."""
    memory = ca.scale_down_state
    options = ca.config.options
    memory.draining = {n: gone for n, gone in memory.draining.items() if gone > now}
    if not options.scale_down_enabled:
        memory.unneeded.clear()
        return
    nodes = {n.metadata.name: n for n in state.nodes}
    pods_by_node: dict[str, list[Pod]] = {}
    for pod in state.pods:
        pods_by_node.setdefault(pod.spec.node_name, []).append(pod)
    slices_by_node: dict[str, list[ResourceSlice]] = {}
    for each in state.slices:
        if each.spec.node_name:
            slices_by_node.setdefault(each.spec.node_name, []).append(each)
    claims = {f"{c.metadata.namespace}/{c.metadata.name}": c for c in state.claims}
    unremovable: list[Unremovable] = []

    def refuse(
        node: str,
        reason: UnremovableReason,
        recheck: bool,
        *,
        blocking: tuple[Pod, BlockingPodReason] | None = None,
        detail: str = "",
    ) -> None:
        pod, why = blocking if blocking is not None else (None, None)
        unremovable.append(
            Unremovable(node, reason, pod_key(pod) if pod is not None else "", why, detail)
        )
        if recheck:
            memory.unremovable_until[node] = now + options.unremovable_node_recheck_timeout

    # 1. underutilized candidates (cheap), before any what-if
    underutilized: list[_Candidate] = []
    for node in sorted(view.ready, key=lambda n: n.name):
        obj = nodes[node.name]
        if obj.metadata.annotations.get(SCALE_DOWN_DISABLED) == "true":
            refuse(node.name, UnremovableReason.SCALE_DOWN_DISABLED_ANNOTATION, False)
            continue
        if memory.unremovable_until.get(node.name, -1.0) > now:
            refuse(node.name, UnremovableReason.RECENTLY_UNREMOVABLE, False)
            continue
        pods = tuple(
            p
            for p in pods_by_node.get(node.name, [])
            if p.status.phase not in ("Succeeded", "Failed")
        )
        group = ca.fleet.group(node.group)
        shape = ca.config.shapes[node.lifecycle.shape]
        try:
            value = _utilization(ca, node, obj, pods, slices_by_node.get(node.name, []), claims)
        except UtilizationError as err:
            refuse(node.name, UnremovableReason.UNEXPECTED_ERROR, True, detail=str(err))
            continue
        threshold = scale_down_threshold(options, group.options, gpu_label=shape.gpu_label)
        if not is_underutilized(value, threshold):
            refuse(node.name, UnremovableReason.NOT_UNDERUTILIZED, False, detail=f"{value:.3f}")
            continue
        underutilized.append(_Candidate(node, value, pods))

    # 2. can their pods move? (one snapshot; a removable node stays removed)
    found: dict[str, tuple[_Candidate, dict[str, str]]] = {}
    if underutilized:
        leaving = frozenset(n.name for n in (*view.upcoming, *view.leaving))
        names = tuple(c.node.name for c in underutilized)
        outcomes = ca.removal_memo.recall(state, leaving, names) if ca.remember_removals else None
        if outcomes is None:
            outcomes = _simulate_removals(ca, state, leaving, underutilized, claims)
            if ca.remember_removals:
                ca.removal_memo.keep(state, leaving, names, outcomes)
        for candidate, outcome in zip(underutilized, outcomes, strict=True):
            if outcome.refusal is not None:
                refuse(candidate.node.name, outcome.refusal, True, blocking=outcome.blocking)
            else:
                found[candidate.node.name] = (candidate, dict(outcome.planned))

    # 3. timers: kept only for nodes that qualify in this loop too
    memory.unneeded = {name: memory.unneeded.get(name, now) for name in found}
    memory.candidates = {}
    for name, (candidate, _) in found.items():
        memory.candidates.setdefault(candidate.node.group, []).append(name)
    sizes = {g.name: view.size(g.name) for g in ca.config.node_groups}
    if memory.in_cooldown(ca, now):
        result.scale_down_in_cooldown = True
        _report_unneeded(ca, memory, sizes, found, result)
        result.unremovable = tuple(unremovable)
        return

    # 4. deletions
    empty_budget = options.max_scale_down_parallelism
    drain_budget = options.max_drain_parallelism - len(memory.draining)
    for name, (candidate, planned) in found.items():
        node = candidate.node
        group = ca.fleet.group(node.group)
        unneeded_time = group.options.scale_down_unneeded_time
        if unneeded_time is None:
            unneeded_time = options.scale_down_unneeded_time
        since = memory.unneeded[name]
        if now - since < unneeded_time:
            refuse(name, UnremovableReason.NOT_UNNEEDED_LONG_ENOUGH, False)
            continue
        if sizes[group.name] - 1 < group.min_size:
            refuse(name, UnremovableReason.NODE_GROUP_MIN_SIZE_REACHED, False)
            continue
        empty = not planned
        if empty and empty_budget <= 0:
            continue
        if not empty and (drain_budget <= 0 or empty_budget <= 0):
            continue
        grace = 0.0 if empty else min(DEFAULT_GRACE_SECONDS, options.max_graceful_termination_sec)
        gone = node.lifecycle.delete(now, drain_seconds=grace)
        empty_budget -= 1
        if not empty:
            drain_budget -= 1
            memory.draining[name] = gone
        sizes[group.name] -= 1
        memory.last_delete = now
        del memory.unneeded[name]
        result.decisions.append(
            ScaleDown(
                now,
                name,
                group.name,
                node.capacity_type,
                empty,
                candidate.utilization,
                since,
                tuple(sorted(planned)),
                dict(planned),
                gone,
            )
        )
    _report_unneeded(ca, memory, sizes, found, result)
    result.unremovable = tuple(unremovable)


def _simulate_removals(
    ca: ClusterAutoscaler,
    state: ClusterState,
    leaving: frozenset[str],
    underutilized: Sequence[_Candidate],
    claims: dict[str, ResourceClaim],
) -> tuple[Removal, ...]:
    """Step 2 of the module docstring, per candidate in order: a function of the cluster,
    the nodes left out and the candidates alone (what `RemovalMemo` relies on)."""
    budgets = BudgetTracker(
        with_status(state.disruption_budgets, lambda: state.pods, ControllerScales.of(()))
    )
    snapshot: PlanningSnapshot | None = None
    removed: list[str] = []  # empty nodes taken out before the snapshot was needed
    outcomes: list[Removal] = []
    found: set[str] = set()

    def what_if_cluster() -> PlanningSnapshot:
        built = PlanningSnapshot.of(
            state,
            ca.features,
            config=ca.scheduler_config,
            seed=ca.seed,
            exclude_nodes=leaving,
            remember_verdicts=ca.remember_planning_verdicts,
            traits=ca.plugin_traits,
        )
        for each in removed:
            built.remove_node(each)
        return built

    if not ca.lazy_scale_down_snapshot:
        snapshot = what_if_cluster()
    for candidate in underutilized:
        name = candidate.node.name
        blocked = blocking_pod(candidate.pods, claims, budgets)
        if blocked is not None:
            outcomes.append(Removal(refusal=UnremovableReason.BLOCKED_BY_POD, blocking=blocked))
            continue
        movable = [p for p in candidate.pods if not goes_with_node(p)]
        if not movable:
            if snapshot is None:
                removed.append(name)
            else:
                snapshot.remove_node(name)
            found.add(name)
            outcomes.append(Removal())
            continue
        if snapshot is None:
            snapshot = what_if_cluster()
        fork = snapshot.fork()
        destinations = [n for n in fork.node_names() if n not in found and n != name]
        planned = move_pods(fork, name, destinations)
        if planned is None:
            outcomes.append(Removal(refusal=UnremovableReason.NO_PLACE_TO_MOVE_PODS))
            continue
        snapshot = fork
        budgets.evict(movable)
        found.add(name)
        outcomes.append(Removal(planned=planned))
    return tuple(outcomes)


def _report_unneeded(
    ca: ClusterAutoscaler,
    memory: ScaleDownState,
    sizes: dict[str, int],
    found: dict[str, tuple[_Candidate, dict[str, str]]],
    result: LoopResult,
) -> None:
    """The unneeded nodes, and those of them whose timer may still end in a deletion: a
    node of a group at its min size (`sizes` after this loop's deletions) waits for nothing
    time alone brings."""
    result.unneeded = dict(memory.unneeded)
    groups = {name: ca.fleet.group(candidate.node.group) for name, (candidate, _) in found.items()}
    result.unneeded_timers = {
        name: since
        for name, since in memory.unneeded.items()
        if sizes[groups[name].name] > groups[name].min_size
    }
