"""cluster-autoscaler's scale-up: estimates per node group, the expander's choice, limits,
balancing and the provider's answer (spec/autoscaling.md §4.2, §4.5, §6).

Owns nothing between loops: functions of the `ClusterAutoscaler` that calls them (its
config, templates, fleet, backoff and seeded rng) and of one loop's planning snapshot. Per
node group (config order) not at max, not backed off, with a template, and for a capacity
block inside its window (§6): an estimate
(`estimator.py`) on a fork of the snapshot, capped by the group's max, `maxNodesTotal`,
`maxNodesPerScaleUp` and the maxima of `coresTotal` / `memoryTotal` (GiB, over the nodes'
capacity, upcoming nodes by their template's, as CA's `ResourceLimiter`); the expander chain
(`expanders.py`) picks one option; `balanceSimilarNodeGroups` spreads it over groups of the
same shape and capacity type, each new node to the smallest (CA's
`BalanceScaleUpBetweenGroups`); a `zeroOrMaxNodeScaling` group jumps from 0 to max. The
shape's `capacity` (§6) caps what the provider hands out: the rest fails at once
(`stockout`) and backs the group off. An atomic scale-up (best-effort-atomic
ProvisioningRequests) is granted whole or not at all, and one node's launch failure fails
every node of it. Pods no option helps get a `NoScaleUp` record naming
each group's reason.

Waste for `least-waste` is read as upstream's `expander/waste` does: the containers' cpu and
memory requests against the added nodes' capacity; dralloc adds the unused fraction of the
added nodes' accelerators (`utilization.device_utilization` on the estimate's copies).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from dralloc.api.core import Pod
from dralloc.api.resource import ResourceClaim
from dralloc.autoscaling.config import NodeGroup, TemplateSource
from dralloc.autoscaling.decisions import (
    FailedScaleUpReason,
    LoopResult,
    NoScaleUp,
    NoScaleUpReason,
    ScaleUp,
)
from dralloc.autoscaling.estimator import Estimate, container_requests, estimate, pack_order
from dralloc.autoscaling.expanders import Option, build_chain, choose
from dralloc.autoscaling.fleet import block_open
from dralloc.autoscaling.planning import ClusterState, PlanningSnapshot, pod_key
from dralloc.autoscaling.templates import NodeTemplate
from dralloc.autoscaling.utilization import device_utilization
from dralloc.scheduler.cache import pod_claim_keys

if TYPE_CHECKING:
    from dralloc.autoscaling.clusterautoscaler import ClusterAutoscaler, FleetView


def _total_nodes(ca: ClusterAutoscaler, state: ClusterState, view: FleetView) -> int:
    fleet_names = {n.name for n in ca.fleet.nodes()}
    static = sum(1 for n in state.nodes if n.metadata.name not in fleet_names)
    return static + len(view.ready) + len(view.upcoming)


def _resource_room(
    ca: ClusterAutoscaler, state: ClusterState, view: FleetView, template: NodeTemplate
) -> int | None:
    """How many nodes of `template` fit under `coresTotal` / `memoryTotal`'s maxima
    (None: no limit). Cluster totals are the nodes' capacity, upcoming ones by their
    template's (CA's `ResourceLimiter`)."""
    options = ca.config.options
    limits: list[tuple[int, str]] = []  # (maximum in nano-units, resource)
    if options.cores_total is not None:
        limits.append((options.cores_total[1] * 10**9, "cpu"))
    if options.memory_total is not None:
        limits.append((options.memory_total[1] * 2**30 * 10**9, "memory"))
    if not limits:
        return None
    leaving = {n.name for n in (*view.upcoming, *view.leaving)}
    nodes = [n for n in state.nodes if n.metadata.name not in leaving]
    nodes += [ca.templates[n.lifecycle.shape].node for n in view.upcoming]
    room: int | None = None
    for maximum, resource in limits:
        used = sum(q.nano for n in nodes if (q := n.status.capacity.get(resource)) is not None)
        per_node = template.node.status.capacity.get(resource)
        if per_node is None or per_node.nano <= 0:
            continue
        fits = max(0, (maximum - used) // per_node.nano)
        room = fits if room is None else min(room, fits)
    return room


def scale_up(
    ca: ClusterAutoscaler,
    now: float,
    state: ClusterState,
    snapshot: PlanningSnapshot,
    view: FleetView,
    pods: list[Pod],
    result: LoopResult,
    *,
    atomic: bool = False,
) -> bool:
    """Scale up for `pods` (see the module docstring); True when nodes were requested.
    `atomic` (best-effort-atomic ProvisioningRequests, §7.2): only a group whose estimate
    holds every pod is an option, no balancing, and the provider grants every node or none."""
    options = ca.config.options
    reasons: dict[str, dict[str, NoScaleUpReason]] = {pod_key(p): {} for p in pods}
    total = _total_nodes(ca, state, view)
    if options.max_nodes_total and total >= options.max_nodes_total:
        _no_scale_up(ca, now, pods, {"*": NoScaleUpReason.MAX_NODES_TOTAL}, result)
        return False
    claims = {f"{c.metadata.namespace}/{c.metadata.name}": c for c in snapshot.claims()}
    options_found: list[Option] = []
    estimates: dict[str, Estimate] = {}
    for group in ca.config.node_groups:
        size = view.size(group.name)
        reason = _excluded(ca, now, group, size)
        if reason is not None:
            for key in reasons:
                reasons[key][group.name] = reason
            continue
        limit = min(group.max_size - size, options.max_nodes_per_scale_up)
        capped = NoScaleUpReason.MAX_SIZE_REACHED
        if options.max_nodes_total and options.max_nodes_total - total < limit:
            limit = options.max_nodes_total - total
            capped = NoScaleUpReason.MAX_NODES_TOTAL
        template = ca.templates[group.shape]
        room = _resource_room(ca, state, view, template)
        if room is not None and room < limit:
            limit = room
            capped = NoScaleUpReason.RESOURCE_LIMIT
        if limit <= 0:
            for key in reasons:
                reasons[key][group.name] = capped
            continue
        ordered = pack_order(pods, template, options.pack_order, claims)
        fork = snapshot.fork()
        found = estimate(fork, template, ordered, limit)
        helped = {pod_key(p) for p in found.pods}
        # A pod left over once the estimate used every node it may add hit the limit.
        unhelped = capped if len(found.nodes) >= limit else NoScaleUpReason.NOT_FIT
        for key in reasons:
            if key not in helped:
                reasons[key][group.name] = unhelped
        if found.node_count == 0 or (atomic and len(found.pods) < len(pods)):
            continue
        estimates[group.name] = found
        options_found.append(_option(ca, group, template, fork, found))
    chosen = choose(
        options_found, build_chain(options.expander, options.expander_priorities), ca.rng
    )
    if chosen is None:
        _no_scale_up_each(ca, now, reasons, result)
        return False
    found = estimates[chosen.group.name]
    helped = {pod_key(p) for p in found.pods}
    for key, by_group in reasons.items():
        if key in helped:
            continue
        for name, est in estimates.items():
            if name != chosen.group.name and key in {pod_key(p) for p in est.pods}:
                by_group[name] = NoScaleUpReason.NOT_CHOSEN
    _no_scale_up_each(ca, now, {k: v for k, v in reasons.items() if k not in helped}, result)
    plan = [(chosen.group, chosen.node_count)] if atomic else _balanced(ca, now, chosen, view)
    any_requested = False
    for group, count in plan:
        partners = [g for g, _ in plan]
        requested = _request(ca, now, group, count, chosen, found, partners, result, atomic)
        any_requested = any_requested or requested
    return any_requested


def _excluded(
    ca: ClusterAutoscaler, now: float, group: NodeGroup, size: int
) -> NoScaleUpReason | None:
    shape = ca.config.shapes[group.shape]
    if size >= group.max_size:
        return NoScaleUpReason.MAX_SIZE_REACHED
    if ca.backoff.is_backed_off(group.name, now):
        return NoScaleUpReason.BACKED_OFF
    if not block_open(ca.config, group.shape, group.capacity_type, now):
        return NoScaleUpReason.BLOCK_CLOSED
    if shape.template_source is TemplateSource.OBSERVED and group.name not in ca._ever_existed:
        return NoScaleUpReason.NO_TEMPLATE
    return None


def _option(
    ca: ClusterAutoscaler,
    group: NodeGroup,
    template: NodeTemplate,
    fork: PlanningSnapshot,
    found: Estimate,
) -> Option:
    shape = ca.config.shapes[group.shape]
    capacity = template.node.status.capacity  # upstream's waste reads capacity
    cpu = capacity.get("cpu")
    memory = capacity.get("memory")
    cpu_total = (cpu.nano / 1e9 if cpu is not None else 0.0) * found.node_count
    memory_total = (memory.nano / 1e9 if memory is not None else 0.0) * found.node_count
    cpu_used = memory_used = 0.0
    for pod in found.pods:
        cores, memory_bytes = container_requests(pod)
        cpu_used += cores
        memory_used += memory_bytes
    wasted_accelerators = None
    if template.accelerator_count():
        used = [
            device_utilization(fork.slices.get(node, []), _claims_on(fork, node), ca.catalog)
            for node in found.nodes
        ]
        wasted_accelerators = 1.0 - sum(used) / len(used)
    return Option(
        group,
        found.node_count,
        found.pods,
        shape.price(group.capacity_type) or 0.0,
        (cpu_total - cpu_used) / cpu_total if cpu_total else 0.0,
        (memory_total - memory_used) / memory_total if memory_total else 0.0,
        wasted_accelerators,
    )


def _balanced(
    ca: ClusterAutoscaler, now: float, chosen: Option, view: FleetView
) -> list[tuple[NodeGroup, int]]:
    """The node count per group: balanced over similar groups when asked (CA's
    BalanceScaleUpBetweenGroups: each new node to the smallest group below its max), and
    a zero-or-max group jumping to max."""
    group = chosen.group
    count = chosen.node_count
    if group.options.zero_or_max_node_scaling:
        size = view.size(group.name)
        return [(group, group.max_size - size)] if size == 0 else []
    if not ca.config.options.balance_similar_node_groups:
        return [(group, count)]
    similar = [
        g
        for g in ca.config.node_groups
        if g.shape == group.shape
        and g.capacity_type is group.capacity_type
        and not g.options.zero_or_max_node_scaling
        and (g is group or _excluded(ca, now, g, view.size(g.name)) is None)
    ]
    sizes = {g.name: view.size(g.name) for g in similar}
    added = {g.name: 0 for g in similar}
    for _ in range(count):
        open_groups = [g for g in similar if sizes[g.name] + added[g.name] < g.max_size]
        if not open_groups:
            break
        smallest = min(open_groups, key=lambda g: (sizes[g.name] + added[g.name], g.name))
        added[smallest.name] += 1
    return [(g, added[g.name]) for g in similar if added[g.name]]


def _request(
    ca: ClusterAutoscaler,
    now: float,
    group: NodeGroup,
    count: int,
    chosen: Option,
    found: Estimate,
    partners: list[NodeGroup],
    result: LoopResult,
    atomic: bool = False,
) -> bool:
    """Ask the provider for `count` nodes of `group`; the shape's capacity may refuse
    some (a stock-out: failed at once, group backed off), or, `atomic`, all of them
    unless every one can be had."""
    shape = ca.config.shapes[group.shape]
    granted = count
    capacity = shape.availability.capacity
    if capacity is not None:
        live = sum(
            1
            for n in ca.fleet.nodes()
            if n.lifecycle.shape == group.shape
            and n.capacity_type is group.capacity_type
            and not n.lifecycle.launch_failed
            and not n.lifecycle.is_leaving(now)
            and (n.lifecycle.gone_at is None or n.lifecycle.gone_at > now)
        )
        granted = max(0, min(count, capacity - live))
        if atomic and granted < count:
            granted = 0
    requested = [ca.fleet.request(group.name, now) for _ in range(granted)]
    names = tuple(life.name for life in requested)
    if atomic and any(life.launch_failed for life in requested):
        # An atomic increase is one provider call: one node failing fails them all, at once
        # and unbilled (the launch failures are drawn at request time).
        for life in requested:
            life.delete(now)
            ca._handled.add(life.name)
        ca.record_failure(
            now,
            group.name,
            FailedScaleUpReason.CLOUD_PROVIDER_ERROR,
            names,
            f"atomic increase of {group.name} by {count} failed: none of the nodes launched",
            result,
        )
        return False
    if names:
        ca._scale_up_groups.add(group.name)
        result.decisions.append(
            ScaleUp(
                now,
                group.name,
                group.shape,
                group.capacity_type,
                names,
                tuple(pod_key(p) for p in found.pods),
                shape.price(group.capacity_type) or 0.0,
                ",".join(ca.config.options.expander),
                chosen.node_count,
                tuple(g.name for g in partners if g is not group),
            )
        )
    if granted < count:
        ca.record_failure(
            now,
            group.name,
            FailedScaleUpReason.STOCKOUT,
            (),
            f"{count - granted} of {count} {group.capacity_type} {group.shape} node(s) "
            f"refused: out of capacity ({capacity} at most)",
            result,
        )
    return bool(names)


def _no_scale_up(
    ca: ClusterAutoscaler,
    now: float,
    pods: Sequence[Pod],
    reasons: Mapping[str, NoScaleUpReason],
    result: LoopResult,
) -> None:
    for pod in pods:
        result.decisions.append(NoScaleUp(now, pod_key(pod), dict(reasons)))


def _no_scale_up_each(
    ca: ClusterAutoscaler,
    now: float,
    reasons: Mapping[str, Mapping[str, NoScaleUpReason]],
    result: LoopResult,
) -> None:
    for key, by_group in reasons.items():
        result.decisions.append(NoScaleUp(now, key, dict(by_group)))


def _claims_on(snapshot: PlanningSnapshot, node: str) -> list[ResourceClaim]:
    claims = snapshot.built.cache.claims
    keys: list[str] = []
    for pod in snapshot.pods_on(node):
        keys.extend(key for _, key in pod_claim_keys(pod) if key is not None)
    return [claims[k] for k in dict.fromkeys(keys) if k in claims]
