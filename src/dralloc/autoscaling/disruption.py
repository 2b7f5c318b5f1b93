"""Karpenter's disruption methods: expiry, emptiness, drift and consolidation under disruption
budgets (spec/autoscaling.md §5.2); what they decide are `DisruptionCommand`s, which
`orchestration.py` validates, backs with their replacement and carries out.

Owns nothing between loops (the `Karpenter` that calls `disrupt` keeps the pod events, the
pending commands and the fleet); plans on private `PlanningSnapshot`s. Behaviour read in
kubernetes-sigs/karpenter `pkg/controllers/disruption/` (controller.go's method order,
emptiness.go, drift.go, multinodeconsolidation.go, singlenodeconsolidation.go, helpers.go's
SimulateScheduling, `pkg/apis/v1/nodepool.go`):

* Expiry first and outside budgets: a node older than its pool's `expireAfter` (720 h) is
  deleted at once, without waiting for a replacement (upstream's forceful expiration).
* While a command is being validated nothing else is decided (upstream's controller waits
  out the validation in its loop). Otherwise the first method that finds a command wins, in
  upstream's order:
  1. **Emptiness** (any consolidation policy): consolidatable nodes with no pod but
     DaemonSet, mirror or finished ones, as many as the `Empty` budget allows;
  2. **Drift**: a node whose shape or capacity type its pool no longer offers (the pool's
     config changed) is replaced: a new NodeClaim for its pods if they fit nowhere else
     (`Drifted` budget); no validation wait, as upstream's drift;
  3. **Multi-node consolidation** (`WhenEmptyOrUnderutilized`, `Balanced`): candidates
     sorted by savings per unit of disruption; a binary search finds the largest prefix (at
     least two) whose pods fit on the other nodes plus at most one new NodeClaim cheaper than
     the prefix together (`Underutilized` budget);
  4. **Single-node consolidation**: the first candidate that can be deleted (its pods fit
     elsewhere) or replaced by one cheaper NodeClaim.
* A candidate is a ready node of a pool, not deleting, not in a pending command, without
  `karpenter.sh/do-not-disrupt: "true"` on it or on one of its pods, and consolidatable:
  `consolidateAfter` has passed since its last pod event (`Never` never). A spot node is only
  deleted, never replaced, unless `spotToSpotConsolidation` is on and at least 15 shapes are
  candidates.
* The what-if (upstream's SimulateScheduling) moves the candidates' pods onto initialized
  nodes first; a pod that fits only on a node still starting (its template copy) refuses the
  command, as upstream's "would schedule against uninitialized nodeclaim" does, and a pod
  that fits nowhere asks for the one new NodeClaim. Nodes of commands waiting for their
  replacement are no destination, and their pods are placed first (anywhere: their
  replacement is among the starting nodes).
* `Balanced` approves a command iff (savings / pool cost) / (disruption / pool disruption)
  >= 1/2, with pod cost clamp(1 + deletionCost/2^27 + priority/2^25, -10, 10) (negatives 0)
  and node cost 1 + the sum of its pods' costs.
* Budgets: per pool and reason, the least `nodes` (a count, or a percentage of the pool's
  initialized nodes, rounded up) of the budgets that apply to the reason, minus the pool's
  initialized nodes already deleting or in a command waiting for its replacement (helpers.go's
  BuildDisruptionBudgetMapping: a node still starting counts toward neither; one drained and
  terminating is no longer counted). A budget with a cron `schedule`
  applies only inside its window of `duration` (`cron.py`, UTC, virtual time from
  `Karpenter.epoch`); no budget applying: no limit.

Simplifications, stated: PodDisruptionBudgets are not consulted; a replacement comes from the
first candidate's pool; pending pods take no part in the what-if.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from dralloc.api.core import Pod
from dralloc.autoscaling.clusterautoscaler import FleetView
from dralloc.autoscaling.config import CapacityType, ConsolidationPolicy, DisruptionReason, NodePool
from dralloc.autoscaling.cron import is_active
from dralloc.autoscaling.decisions import Disrupted, NodeClaimLaunch
from dralloc.autoscaling.drain import goes_with_node
from dralloc.autoscaling.fleet import FleetNode
from dralloc.autoscaling.planning import ClusterState, PlanningSnapshot, unbound
from dralloc.scheduler.cache import pod_claim_keys

if TYPE_CHECKING:
    from dralloc.autoscaling.karpenter import Karpenter, KarpenterResult

DO_NOT_DISRUPT = "karpenter.sh/do-not-disrupt"
DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
SPOT_TO_SPOT_MIN_SHAPES = 15
VALIDATION_SECONDS = 15.0  # upstream's consolidationTTL: a command is checked again after it


class CommandPhase(StrEnum):
    """Where a pending command stands (upstream: the validation wait, then the
    orchestration queue)."""

    VALIDATING = "Validating"  # waiting out VALIDATION_SECONDS before it is checked again
    WAITING = "WaitingOnReplacement"  # candidates tainted, the replacement not initialized


@dataclass
class DisruptionCommand:
    """What a disruption method decided: delete `nodes` of pool `pool` for `reason`, with one
    replacement NodeClaim of one of `shapes` (cheaper than `price`, the nodes' USD per hour)
    for `pods` when `shapes` is not empty. `orchestration.py` carries it out."""

    decided_at: float
    method: str
    reason: DisruptionReason
    nodes: tuple[str, ...]
    pool: str
    savings: float = 0.0
    shapes: tuple[str, ...] = ()
    price: float = math.inf
    pods: tuple[Pod, ...] = ()
    validate: bool = True  # drift is not validated (upstream's drift has no wait)
    phase: CommandPhase = CommandPhase.VALIDATING
    queued_at: float | None = None  # when the candidates were tainted
    replacement: NodeClaimLaunch | None = None

    @property
    def validate_at(self) -> float:
        return self.decided_at + (VALIDATION_SECONDS if self.validate else 0.0)

    def record(self, now: float) -> Disrupted:
        """The command as a decision record (carried out, or abandoned, at `now`)."""
        return Disrupted(now, self.method, self.reason, self.nodes, self.replacement, self.savings)


def pod_cost(pod: Pod) -> float:
    """Balanced consolidation's disruption cost of one pod (see the module docstring)."""
    try:
        deletion = float(pod.metadata.annotations.get(DELETION_COST, "0"))
    except ValueError:
        deletion = 0.0
    cost = 1 + deletion / 2**27 + (pod.spec.priority or 0) / 2**25
    return max(0.0, min(10.0, cost))


def node_cost(pods: Sequence[Pod]) -> float:
    return 1 + sum(pod_cost(p) for p in pods)


def pods_by_node(state: ClusterState) -> dict[str, list[Pod]]:
    out: dict[str, list[Pod]] = {}
    for pod in state.pods:
        if pod.spec.node_name:
            out.setdefault(pod.spec.node_name, []).append(pod)
    return out


def is_initialized(node: FleetNode, now: float) -> bool:
    """The node published its devices by `now` before any deletion began: Karpenter's
    Initialized (registered, Ready, resources registered) for a DRA node."""
    life = node.lifecycle
    if life.launch_failed or life.devices_published_at > now:
        return False
    # A deletion cancels the phases it comes before (NodeLifecycle.delete).
    end = life.deleting_at if life.deleting_at is not None else life.gone_at
    return end is None or life.devices_published_at <= end


def is_terminating(node: FleetNode, now: float) -> bool:
    """Drained, its instance being deleted by `now` (upstream's InstanceTerminating
    condition): the drain is over once only the provider's terminate delay is left."""
    life = node.lifecycle
    if life.deleting_at is None or life.gone_at is None:
        return False
    return now >= life.gone_at - life.terminate_delay


def allowed(k: Karpenter, pool: NodePool, reason: DisruptionReason, now: float) -> int:
    """How many more of `pool`'s nodes may be disrupted for `reason` now.

    As upstream's BuildDisruptionBudgetMapping: a budget's percentage is of the pool's
    initialized nodes only, not terminating ones, so a replacement still launching does not
    round a budget up and let more running nodes go; of those, the ones leaving (deleting,
    past a spot notice, in a command waiting for its replacement) use the budget up."""
    nodes = [
        n
        for n in k.fleet.nodes()
        if n.group == pool.name
        and (n.lifecycle.gone_at is None or n.lifecycle.gone_at > now)
        and is_initialized(n, now)
        and not is_terminating(n, now)
    ]
    marked = k.marked_for_deletion()
    deleting = sum(1 for n in nodes if n.lifecycle.is_leaving(now) or n.name in marked)
    limits = [
        b.allowed(len(nodes))
        for b in pool.disruption.budgets
        if (not b.reasons or reason in b.reasons)
        and (b.schedule is None or is_active(b.schedule, b.duration or 0.0, now, k.epoch))
    ]
    if not limits:
        return len(nodes)
    return max(0, min(limits) - deleting)


@dataclass(frozen=True)
class Round:
    """What every disruption method of one loop reads: the autoscaler, the instant, the
    cluster, the fleet's view of it (nodes of commands waiting for their replacement count
    as leaving) and the pods on each node."""

    k: Karpenter
    now: float
    state: ClusterState
    view: FleetView
    pods_on: dict[str, list[Pod]]

    def within_budget(
        self, nodes: Sequence[FleetNode], reason: DisruptionReason
    ) -> list[FleetNode]:
        """`nodes` in order, as many of each pool's as its `reason` budget allows now."""
        room: dict[str, int] = {}
        out: list[FleetNode] = []
        for node in nodes:
            pool = self.k.pool(node.group)
            if pool.name not in room:
                room[pool.name] = allowed(self.k, pool, reason, self.now)
            if room[pool.name] > 0:
                room[pool.name] -= 1
                out.append(node)
        return out


def disrupt(
    k: Karpenter, now: float, state: ClusterState, view: FleetView, result: KarpenterResult
) -> None:
    """Expiry, then (unless a command is being validated) the first disruption method with
    a command, which joins `k.commands` (see the module docstring)."""
    pods_on = pods_by_node(state)
    for node in (*view.ready, *view.upcoming):
        pool = k.pool(node.group)
        if pool.expire_after is not None and now >= node.lifecycle.requested_at + pool.expire_after:
            node.lifecycle.delete(now)
            result.disruptions.append(Disrupted(now, "Expiration", "Expired", (node.name,)))
    if any(d.method == "Expiration" for d in result.disruptions):
        view = FleetView(
            tuple(n for n in view.ready if not n.lifecycle.is_leaving(now)),
            tuple(n for n in view.upcoming if not n.lifecycle.is_leaving(now)),
            view.leaving,
        )
    if any(c.phase is CommandPhase.VALIDATING for c in k.commands):
        return
    busy = {name for c in k.commands for name in c.nodes}
    # The view was taken before this loop's commands were carried out: a node deleted by one
    # is no candidate (once drained it no longer uses a budget to stop it being chosen again).
    ready = [n for n in view.ready if n.name not in busy and not n.lifecycle.is_leaving(now)]
    candidates = [n for n in ready if is_candidate(k, n, pods_on, state, now)]
    drifted = [n for n in ready if _is_drifted(k, n) and not _blocked(n, pods_on, state)]
    round_ = Round(k, now, state, view, pods_on)
    for method in (emptiness, _drift, _multi_node, _single_node):
        pool_nodes = drifted if method is _drift else candidates
        command = method(round_, pool_nodes)
        if command is not None:
            k.commands.append(command)
            return


def _blocked(node: FleetNode, pods_on: dict[str, list[Pod]], state: ClusterState) -> bool:
    obj = next((n for n in state.nodes if n.metadata.name == node.name), None)
    if obj is not None and obj.metadata.annotations.get(DO_NOT_DISRUPT) == "true":
        return True
    return any(
        p.metadata.annotations.get(DO_NOT_DISRUPT) == "true" for p in pods_on.get(node.name, [])
    )


def is_candidate(
    k: Karpenter, node: FleetNode, pods_on: dict[str, list[Pod]], state: ClusterState, now: float
) -> bool:
    """A node consolidation may choose now (see the module docstring)."""
    pool = k.pool(node.group)
    after = pool.disruption.consolidate_after
    if after is None or node.lifecycle.is_leaving(now):
        return False
    since = k.last_pod_event.get(node.name, now)
    return now >= since + after and not _blocked(node, pods_on, state)


def _is_drifted(k: Karpenter, node: FleetNode) -> bool:
    pool = k.pool(node.group)
    return node.lifecycle.shape not in pool.shapes or node.capacity_type not in pool.capacity_types


def movable(pods: Sequence[Pod]) -> list[Pod]:
    """The pods that must move when their node goes (not DaemonSet, mirror or finished)."""
    return [p for p in pods if not goes_with_node(p)]


def emptiness(r: Round, candidates: Sequence[FleetNode]) -> DisruptionCommand | None:
    """Emptiness: the empty candidates the `Empty` budget allows (see the module docstring)."""
    empty = [n for n in candidates if not movable(r.pods_on.get(n.name, []))]
    chosen = r.within_budget(empty, DisruptionReason.EMPTY)
    if not chosen:
        return None
    saved = sum(n.billing.price_per_hour for n in chosen)
    names = tuple(n.name for n in chosen)
    return DisruptionCommand(
        r.now, "Emptiness", DisruptionReason.EMPTY, names, chosen[0].group, savings=saved
    )


def simulate(r: Round, nodes: Sequence[FleetNode]) -> tuple[bool, list[str], list[Pod]] | None:
    """Remove `nodes` in a what-if: (every pod fits elsewhere, shapes one new NodeClaim of
    the first node's pool could take the rest on, the rest); None when a pod would have to
    wait on a node still starting, or when no shape takes the rest."""
    k = r.k
    snapshot: PlanningSnapshot = k.planning_snapshot(r.state, r.view)
    # Real nodes are initialized (view_of: a fleet node is ready once its pools are
    # complete); template copies stand for nodes still starting.
    initialized = {n.metadata.name for n in r.state.nodes}
    cache = snapshot.built.cache
    marked = [name for c in k.commands if c.phase is CommandPhase.WAITING for name in c.nodes]
    for name in marked:
        for pod in movable(r.pods_on.get(name, [])):
            cache.release_pod_claims(pod)
            # Upstream schedules the pods of deleting nodes first and lets them land on nodes
            # still starting (their replacement); where they go is theirs, failing is allowed.
            snapshot.place(unbound(pod))
    moved: list[Pod] = []
    for node in nodes:
        moved.extend(movable(snapshot.remove_node(node.name)))
    names = snapshot.node_names()
    ready = [n for n in names if n in initialized]
    starting = [n for n in names if n not in initialized]
    left: list[Pod] = []
    for pod in moved:
        copy = unbound(pod)
        if snapshot.place(copy, among=ready) is not None:
            continue
        if starting and snapshot.place(copy, among=starting) is not None:
            return None  # "would schedule against uninitialized nodeclaim"
        left.append(copy)
    if not left:
        return True, [], []
    pool = k.pool(nodes[0].group)
    claims = {f"{c.metadata.namespace}/{c.metadata.name}": c for c in snapshot.claims()}
    pod_claims = [
        claims[key]
        for p in left
        for _, key in pod_claim_keys(p)
        if key is not None and key in claims
    ]
    shapes: list[str] = []
    for shape in dict.fromkeys(o.shape for o in k.offerings(pool, r.now)):
        what_if = k.shape_snapshot(shape, pod_claims, 0)
        if all(what_if.place(p) is not None for p in left):
            shapes.append(shape)
    return (False, shapes, left) if shapes else None


def consolidation(r: Round, nodes: Sequence[FleetNode], method: str) -> DisruptionCommand | None:
    """The consolidation command for deleting `nodes`, if it saves money (and, for a
    `Balanced` pool, passes the ratio test)."""
    simulated = simulate(r, nodes)
    if simulated is None:
        return None
    k, now = r.k, r.now
    fits, shapes, left = simulated
    price = sum(n.billing.price_per_hour for n in nodes)
    pool = k.pool(nodes[0].group)
    cheaper: tuple[str, ...] = ()
    savings = price
    if not fits:
        spot = any(n.capacity_type is CapacityType.SPOT for n in nodes)
        offerings = [o for o in k.offerings(pool, now, shapes) if o.price < price]
        if spot and (
            not k.config.options.spot_to_spot_consolidation or len(shapes) < SPOT_TO_SPOT_MIN_SHAPES
        ):
            return None  # spot nodes are only deleted, never replaced
        replacement = k.cheapest(offerings, pool)
        if replacement is None:
            return None
        cheaper = tuple(dict.fromkeys(o.shape for o in offerings))
        savings = price - replacement.price
    if pool.disruption.consolidation_policy is ConsolidationPolicy.BALANCED and not _balanced(
        k, pool, nodes, r.pods_on, savings, now
    ):
        return None
    return DisruptionCommand(
        now,
        method,
        DisruptionReason.UNDERUTILIZED,
        tuple(n.name for n in nodes),
        pool.name,
        savings,
        cheaper,
        price,
        tuple(left),
    )


def _balanced(
    k: Karpenter,
    pool: NodePool,
    nodes: Sequence[FleetNode],
    pods_on: dict[str, list[Pod]],
    savings: float,
    now: float,
) -> bool:
    members = [n for n in k.live(now) if n.group == pool.name]
    pool_cost = sum(n.billing.price_per_hour for n in members)
    pool_disruption = sum(node_cost(movable(pods_on.get(n.name, []))) for n in members)
    disruption = sum(node_cost(movable(pods_on.get(n.name, []))) for n in nodes)
    if pool_cost <= 0 or pool_disruption <= 0 or disruption <= 0:
        return savings > 0
    return (savings / pool_cost) / (disruption / pool_disruption) >= 0.5


def _underutilized(r: Round, candidates: Sequence[FleetNode]) -> list[FleetNode]:
    """Candidates of consolidating pools, within each pool's `Underutilized` budget."""
    consolidating = [
        n
        for n in candidates
        if r.k.pool(n.group).disruption.consolidation_policy is not ConsolidationPolicy.WHEN_EMPTY
    ]
    return r.within_budget(consolidating, DisruptionReason.UNDERUTILIZED)


def _sorted(candidates: Sequence[FleetNode], pods_on: dict[str, list[Pod]]) -> list[FleetNode]:
    """Most savings per unit of disruption first (ties: name)."""
    return sorted(
        candidates,
        key=lambda n: (
            -n.billing.price_per_hour / node_cost(movable(pods_on.get(n.name, []))),
            n.name,
        ),
    )


def _drift(r: Round, drifted: Sequence[FleetNode]) -> DisruptionCommand | None:
    for node in drifted:
        pool = r.k.pool(node.group)
        if allowed(r.k, pool, DisruptionReason.DRIFTED, r.now) <= 0:
            continue
        simulated = simulate(r, [node])
        if simulated is None:
            continue
        fits, shapes, left = simulated
        return DisruptionCommand(
            r.now,
            "Drift",
            DisruptionReason.DRIFTED,
            (node.name,),
            pool.name,
            shapes=() if fits else tuple(shapes),
            pods=tuple(left),
            validate=False,
        )
    return None


def _multi_node(r: Round, candidates: Sequence[FleetNode]) -> DisruptionCommand | None:
    ordered = _sorted(_underutilized(r, candidates), r.pods_on)[:100]
    if len(ordered) < 2:
        return None
    low, high = 2, len(ordered)
    best: DisruptionCommand | None = None
    while low <= high:
        middle = (low + high) // 2
        command = consolidation(r, ordered[:middle], "MultiNodeConsolidation")
        if command is not None:
            best, low = command, middle + 1
        else:
            high = middle - 1
    return best


def _single_node(r: Round, candidates: Sequence[FleetNode]) -> DisruptionCommand | None:
    for node in _sorted(_underutilized(r, candidates), r.pods_on):
        command = consolidation(r, [node], "SingleNodeConsolidation")
        if command is not None:
            return command
    return None
