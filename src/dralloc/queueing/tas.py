"""Topology assignment at admission (spec/queueing.md 6.1, 6.3, 6.4): Kueue v0.17's
`TASFlavorSnapshot`, with DRA devices counted per domain.

Owns: `TASFlavorSnapshot` (one TAS flavor's domain tree, built from Nodes, the pods bound to
them and the allocated ResourceClaims; TAS usage of admitted Workloads added with
`add_usage`), `TASPodSetRequest` (one pod set's per-pod amounts, count and topology request)
and `find_assignment`, which places one pod set and returns its domains or Kueue's message.

Capacity of a leaf (a node, or the nodes sharing the lowest level's value) is what Kueue
counts: `status.allocatable` of schedulable nodes that carry every level label and the
flavor's `nodeLabels`, minus the requests of the non-TAS pods bound there (pods without a
`kueue.x-k8s.io/podset-*-topology` annotation, not Succeeded or Failed), minus the TAS usage
of admitted Workloads. **dralloc extension:** each node also has `devices.dralloc.io/<class>`
capacity, the devices its ResourceSlices publish that match the DeviceClass's selectors, less
the ones allocated in ResourceClaims, so a pod set charging these keys
(`dralloc.queueing.dra`) is placed where its GPUs or TPU chips are free, not only its cpu.
Kueue's TAS does not model DRA.

The algorithm (Kueue's `findTopologyAssignment`, single-layer slices, no leader pod set):

1. per leaf, `state` = how many pods (per-pod requests plus one `pods`) fit; leaves whose
   taints the pod set (plus the flavor's tolerations) does not tolerate, or, when the lowest
   level is `kubernetes.io/hostname`, whose labels miss the pod set's nodeSelector or
   required node affinity, count 0
   and are reported in the message's exclusion statistics; at the slice level,
   `sliceState = state // sliceSize`; a parent sums its children;
2. at the requested level (required / preferred; the highest level for a slice-only request;
   the lowest for unconstrained or implied TAS) sort the domains (BestFit: slices
   descending, pods ascending, values; LeastFreeCapacity for unconstrained: slices
   ascending) and take the tightest domain that holds every slice; `required` fails with
   Kueue's message, `preferred` retries a level up, and at the top (or unconstrained) domains
   are taken greedily, BestFit swapping the last one for the tightest that covers the rest;
3. descend level by level, greedily (tight fit for the last child), in slices above and at
   the slice level and in pods below it;
4. the result lists leaf domains sorted by their values; with hostname lowest only the
   hostname level is kept (Kueue's encoding).

Not modelled: leader/worker
pod-set groups, multi-layer slice constraints, BalancedPlacement (alpha), node hot swap.
Pure computation over the objects passed in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from dralloc.api.core import Node, NodeSelector, Pod, Toleration
from dralloc.api.resource import ResourceClaim
from dralloc.queueing.dra import DEVICES_PREFIX, DraInventory
from dralloc.queueing.flavormatch import _tolerates
from dralloc.queueing.objects import ResourceFlavor
from dralloc.queueing.quota import amount_of
from dralloc.queueing.requests import PODS, pod_requests
from dralloc.queueing.tasnodes import (
    ExclusionStats,
    NodeDevices,
    affinity_matches,
    count_in,
    is_schedulable,
)
from dralloc.queueing.topology import (
    HOSTNAME_LABEL,
    PREFERRED_ANNOTATION,
    REQUIRED_ANNOTATION,
    UNCONSTRAINED_ANNOTATION,
    DomainAssignment,
    Topology,
    TopologyRequest,
)

# A pod is a TAS pod (its usage comes from its Workload's assignment) when it carries one of
# these annotations; Kueue adds the unconstrained one for implicit TAS (`utiltas.IsTAS`).
TAS_POD_ANNOTATIONS: Final = (REQUIRED_ANNOTATION, PREFERRED_ANNOTATION, UNCONSTRAINED_ANNOTATION)

Values = tuple[str, ...]


@dataclass(eq=False)
class _Domain:
    values: Values
    children: list[_Domain] = field(default_factory=list)
    # Leaves only: free capacity (Kueue units), TAS usage, and the nodes behind the leaf.
    free: dict[str, int] = field(default_factory=dict)
    tas_usage: dict[str, int] = field(default_factory=dict)
    nodes: list[Node] = field(default_factory=list)
    state: int = 0
    slice_state: int = 0


@dataclass(frozen=True)
class TASPodSetRequest:
    """One pod set to place: `per_pod` amounts in Kueue units (as `workload_requests` gives
    them), `count` pods, its request (None with `implied` for implicit TAS)."""

    name: str
    count: int
    per_pod: Mapping[str, int]
    request: TopologyRequest | None
    implied: bool = False
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: Sequence[Toleration] = ()
    # The pod template's requiredDuringSchedulingIgnoredDuringExecution node affinity.
    required_affinity: NodeSelector | None = None


@dataclass(frozen=True)
class TASResult:
    """The leaf domains and counts (`levels` as Kueue encodes them), or Kueue's message."""

    levels: tuple[str, ...] = ()
    domains: tuple[DomainAssignment, ...] = ()
    failure: str | None = None


class TASFlavorSnapshot:
    """One TAS flavor's domains and free capacity for one admission cycle.

    >>> from dralloc.api.meta import ObjectMeta
    >>> from dralloc.api.quantity import Quantity
    >>> from dralloc.queueing.topology import TopologyLevel, TopologySpec
    >>> topo = Topology(spec=TopologySpec(levels=[TopologyLevel("rack"),
    ...                                           TopologyLevel("kubernetes.io/hostname")]))
    >>> nodes = [Node(metadata=ObjectMeta(name=f"n{i}", labels={"rack": f"r{i // 2}",
    ...          "kubernetes.io/hostname": f"n{i}"})) for i in range(4)]
    >>> for n in nodes:
    ...     n.status.allocatable = {"cpu": Quantity.parse("4"), "pods": Quantity.parse("110")}
    >>> snap = TASFlavorSnapshot.build("default", topo, ResourceFlavor(), nodes, [])
    >>> req = TASPodSetRequest("main", 5, {"cpu": 2000}, TopologyRequest(required="rack"))
    >>> snap.find_assignment(req).failure
    'topology "default" allows to fit only 4 out of 5 pod(s)'
    >>> [(d.values, d.count) for d in snap.find_assignment(
    ...     TASPodSetRequest("main", 5, {"cpu": 2000}, TopologyRequest(preferred="rack"))).domains]
    [(('n0',), 2), (('n1',), 2), (('n2',), 1)]
    """

    def __init__(self, name: str, levels: Sequence[str], tolerations: Sequence[Toleration]):
        self.topology_name = name
        self.levels = tuple(levels)
        self.tolerations = tuple(tolerations)
        self.leaves: dict[Values, _Domain] = {}
        self.per_level: list[dict[Values, _Domain]] = [{} for _ in levels]
        self._devices: NodeDevices | None = None
        # Assignments with hostname lowest name only the host: index leaves by it.
        self._by_last: dict[str, _Domain] = {}

    @property
    def is_lowest_level_node(self) -> bool:
        return self.levels[-1] == HOSTNAME_LABEL

    @classmethod
    def build(
        cls,
        name: str,
        topology: Topology,
        flavor: ResourceFlavor,
        nodes: Iterable[Node],
        pods: Iterable[Pod],
        claims: Iterable[ResourceClaim] = (),
        inventory: DraInventory | None = None,
    ) -> TASFlavorSnapshot:
        """`name` is the Topology's, for messages. Nodes outside the flavor's nodeLabels, not
        schedulable, or missing a level label are not part of the topology (Kueue's cache)."""
        snap = cls(name, topology.level_keys(), flavor.spec.tolerations)
        by_node: dict[str, _Domain] = {}
        for node in nodes:
            labels = node.metadata.labels
            if not is_schedulable(node):
                continue
            if any(labels.get(k) != v for k, v in flavor.spec.node_labels.items()):
                continue
            if any(level not in labels for level in snap.levels):
                continue
            leaf = snap._add_leaf(tuple(labels[level] for level in snap.levels))
            leaf.nodes.append(node)
            for res, value in node.status.allocatable.items():
                leaf.free[res] = leaf.free.get(res, 0) + amount_of(res, value)
            by_node[node.metadata.name] = leaf
        for pod in pods:
            owner = by_node.get(pod.spec.node_name)
            if owner is None or any(a in pod.metadata.annotations for a in TAS_POD_ANNOTATIONS):
                continue
            if pod.status.phase in ("Succeeded", "Failed"):
                continue
            for res, value in pod_requests(pod).items():
                owner.free[res] = owner.free.get(res, 0) - amount_of(res, value)
            owner.free[PODS] = owner.free.get(PODS, 0) - 1
        if inventory is not None:
            devices = NodeDevices(inventory)
            for slice_ in inventory.slices:
                holder = by_node.get(slice_.spec.node_name or "")
                if holder is None:
                    continue
                for device in slice_.spec.devices:
                    ref = (slice_.spec.driver, slice_.spec.pool.name, device.name)
                    devices.devices[ref] = (holder.free, slice_.spec.driver, device)
            for claim in claims:
                allocation = claim.status.allocation
                for result in allocation.devices.results if allocation else ():
                    devices.allocated.add((result.driver, result.pool, result.device))
            snap._devices = devices
        return snap

    def _add_leaf(self, values: Values) -> _Domain:
        leaf = self.leaves.get(values)
        if leaf is not None:
            return leaf
        child: _Domain | None = None
        for depth in range(len(self.levels), 0, -1):
            key = values[:depth]
            existing = self.per_level[depth - 1].get(key)
            if existing is not None:
                if child is not None:
                    existing.children.append(child)
                break
            domain = _Domain(key)
            self.per_level[depth - 1][key] = domain
            if child is not None:
                domain.children.append(child)
            child = domain
        leaf = self.per_level[-1][values]
        self.leaves[values] = leaf
        self._by_last[values[-1]] = leaf
        return leaf

    # ------------------------------------------------------------------------ usage

    def add_usage(self, domains: Iterable[DomainAssignment], per_pod: Mapping[str, int]) -> None:
        """Charge an admitted pod set's assignment (leaf values as `find_assignment` gives
        them, or the hostname alone) to the leaves: Kueue's TAS usage, one `pods` each."""
        self._update_usage(domains, per_pod, 1)

    def remove_usage(self, domains: Iterable[DomainAssignment], per_pod: Mapping[str, int]) -> None:
        self._update_usage(domains, per_pod, -1)

    def _count_devices(self, resources: Iterable[str]) -> None:
        for res in resources:
            if self._devices is not None and res.startswith(DEVICES_PREFIX):
                self._devices.count(res.removeprefix(DEVICES_PREFIX))

    def _update_usage(
        self, domains: Iterable[DomainAssignment], per_pod: Mapping[str, int], sign: int
    ) -> None:
        self._count_devices(per_pod)
        for domain in domains:
            leaf = self._leaf_for(domain.values)
            if leaf is None:
                continue
            for res, value in {**per_pod, PODS: 1}.items():
                leaf.tas_usage[res] = leaf.tas_usage.get(res, 0) + sign * value * domain.count

    def full_values(self, values: Values) -> Values | None:
        """A leaf's values at every level, from an assignment's (hostname only) values."""
        leaf = self._leaf_for(values)
        return leaf.values if leaf is not None else None

    def _leaf_for(self, values: Values) -> _Domain | None:
        if len(values) == len(self.levels):
            return self.leaves.get(values)
        return self._by_last.get(values[-1]) if len(values) == 1 else None

    def free_capacity(self) -> dict[Values, dict[str, int]]:
        """Per leaf: allocatable less non-TAS pods less TAS usage (properties read this);
        device keys appear once a request has named their DeviceClass."""
        return {
            v: {r: leaf.free.get(r, 0) - leaf.tas_usage.get(r, 0) for r in leaf.free}
            for v, leaf in self.leaves.items()
        }

    # -------------------------------------------------------------------- assignment

    def _level_key(self, request: TASPodSetRequest) -> str | None:
        tr = request.request
        if tr is not None:
            if tr.required is not None:
                return tr.required
            if tr.preferred is not None:
                return tr.preferred
            if tr.is_slice_only():
                return self.levels[0]
            if tr.unconstrained:
                return self.levels[-1]
        return self.levels[-1] if request.implied else None

    def has_level(self, request: TopologyRequest | None) -> bool:
        """Kueue's `HasLevel`: the flavor's topology has the requested (and slice) level."""
        key = self._level_key(TASPodSetRequest("", 0, {}, request))
        slice_key = request.slice_required_topology if request else None
        return key in self.levels and (slice_key is None or slice_key in self.levels)

    def find_assignment(
        self,
        request: TASPodSetRequest,
        *,
        simulate_empty: bool = False,
        assumed: Mapping[Values, Mapping[str, int]] | None = None,
    ) -> TASResult:
        """Place one pod set. `simulate_empty` ignores TAS usage (Kueue's fragmentation
        check: would it fit if every TAS Workload were preempted); `assumed` is usage taken
        by the Workload's earlier pod sets in this pass, per leaf."""
        self._count_devices(request.per_pod)
        tr = request.request
        slice_size = 1
        if tr is not None and tr.slice_required_topology is not None:
            if tr.slice_size is None:
                return TASResult(failure="slice topology requested, but slice size not provided")
            slice_size = tr.slice_size
        required = tr is not None and tr.required is not None
        unconstrained = request.implied or (
            tr is not None and (tr.unconstrained or tr.is_slice_only())
        )
        level_key = self._level_key(request)
        if level_key is None:
            return TASResult(failure="topology level not specified")
        if level_key not in self.levels:
            return TASResult(failure=f"no requested topology level: {level_key}")
        slice_key = (tr.slice_required_topology if tr else None) or self.levels[-1]
        if slice_key not in self.levels:
            return TASResult(failure=f"no requested topology level for slices: {slice_key}")
        level_idx, slice_idx = self.levels.index(level_key), self.levels.index(slice_key)
        if level_idx > slice_idx:
            return TASResult(
                failure=f"podset slice topology {slice_key} is above the podset topology "
                f"{level_key}"
            )
        stats = self._fill_counts(request, slice_size, slice_idx, simulate_empty, assumed or {})
        found = self._find_level(
            level_idx, required, request.count, slice_size, unconstrained, stats
        )
        if isinstance(found, str):
            return TASResult(failure=found)
        fit_idx, chosen = found
        current = self._minimum(chosen, request.count, slice_size, unconstrained, True)
        level = fit_idx
        while level < min(len(self.levels) - 1, slice_idx):
            lower = [c for d in current for c in d.children]
            current = self._minimum(
                self._sorted(lower, unconstrained), request.count, slice_size, unconstrained, True
            )
            level += 1
        while level < len(self.levels) - 1:
            nxt: list[_Domain] = []
            for d in current:
                children = self._sorted(d.children, unconstrained)
                nxt += self._minimum(children, d.state, 1, unconstrained, False)
            current = nxt
            level += 1
        current.sort(key=lambda d: d.values)
        first = len(self.levels) - 1 if self.is_lowest_level_node else 0
        return TASResult(
            levels=self.levels[first:],
            domains=tuple(
                DomainAssignment(d.values[first:], d.state) for d in current if d.state > 0
            ),
        )

    def _fill_counts(
        self,
        request: TASPodSetRequest,
        slice_size: int,
        slice_idx: int,
        simulate_empty: bool,
        assumed: Mapping[Values, Mapping[str, int]],
    ) -> ExclusionStats:
        per_pod = {**request.per_pod, PODS: request.per_pod.get(PODS, 0) + 1}
        tolerations = [*request.tolerations, *self.tolerations]
        stats = ExclusionStats()
        for level in self.per_level:
            for d in level.values():
                d.state = d.slice_state = 0
        for values, leaf in self.leaves.items():
            stats.total += 1
            if self.is_lowest_level_node and leaf.nodes:
                node = leaf.nodes[0]
                taint = next(
                    (
                        t
                        for t in node.spec.taints
                        if t.effect in ("NoSchedule", "NoExecute")
                        and not any(_tolerates(tol, t) for tol in tolerations)
                    ),
                    None,
                )
                if taint is not None:
                    shown = (
                        f"{taint.key}={taint.value}:{taint.effect}"
                        if taint.value
                        else (f"{taint.key}:{taint.effect}")
                    )
                    stats.taints[shown] = stats.taints.get(shown, 0) + 1
                    continue
                labels = node.metadata.labels
                if any(labels.get(k) != v for k, v in request.node_selector.items()):
                    stats.node_selector += 1
                    continue
                if not affinity_matches(request.required_affinity, node):
                    stats.affinity += 1
                    continue
            free = dict(leaf.free)
            if not simulate_empty:
                for res, value in leaf.tas_usage.items():
                    free[res] = free.get(res, 0) - value
            for res, value in assumed.get(values, {}).items():
                free[res] = free.get(res, 0) - value
            leaf.state, limiting = count_in(per_pod, free)
            if leaf.state == 0 and limiting:
                stats.resources[limiting] = stats.resources.get(limiting, 0) + 1
        for root in self.per_level[0].values():
            self._aggregate(root, slice_size, slice_idx, 0)
        return stats

    def _aggregate(self, d: _Domain, slice_size: int, slice_idx: int, level: int) -> None:
        if d.children:
            for child in d.children:
                self._aggregate(child, slice_size, slice_idx, level + 1)
            d.state = sum(c.state for c in d.children)
            d.slice_state = sum(c.slice_state for c in d.children)
        if level == slice_idx:
            d.slice_state = d.state // slice_size

    @staticmethod
    def _sorted(domains: Iterable[_Domain], unconstrained: bool) -> list[_Domain]:
        # BestFit: most slices first; LeastFreeCapacity (unconstrained): fewest first. Pods
        # ascending and values break ties either way (Kueue's sortedDomains).
        sign = 1 if unconstrained else -1
        return sorted(domains, key=lambda d: (sign * d.slice_state, d.state, d.values))

    @staticmethod
    def _best_fit(domains: Sequence[_Domain], needed: int, slices: bool) -> _Domain:
        """The first domain with the least capacity still >= needed (else the first)."""
        best = domains[0]
        best_state = best.slice_state if slices else best.state
        for d in domains:
            state = d.slice_state if slices else d.state
            if needed <= state < best_state:
                best, best_state = d, state
        return best

    def _not_fit(self, fit: int, total: int, slice_size: int, stats: ExclusionStats) -> str:
        unit = "pod" if slice_size == 1 else "slice"
        name = self.topology_name
        if fit == 0:
            text = f'topology "{name}" doesn\'t allow to fit any of {total} {unit}(s)'
        else:
            text = f'topology "{name}" allows to fit only {fit} out of {total} {unit}(s)'
        reasons = stats.reasons()
        if reasons:
            text += f". Total nodes: {stats.total}; excluded: {reasons}"
        return text

    def _find_level(
        self,
        level_idx: int,
        required: bool,
        count: int,
        slice_size: int,
        unconstrained: bool,
        stats: ExclusionStats,
    ) -> tuple[int, list[_Domain]] | str:
        domains = self._sorted(self.per_level[level_idx].values(), unconstrained)
        if not domains:
            return f"no topology domains at level: {self.levels[level_idx]}"
        slice_count = count // slice_size
        top = domains[0]
        if not unconstrained and top.slice_state >= slice_count:
            top = self._best_fit(domains, slice_count, True)
        if unconstrained:
            for d in domains:
                if d.slice_state >= slice_count:
                    return level_idx, [d]
            if required:
                return self._not_fit(domains[-1].state, slice_count, slice_size, stats)
        if top.slice_state >= slice_count:
            return level_idx, [top]
        if required:
            return self._not_fit(top.slice_state, slice_count, slice_size, stats)
        if level_idx > 0 and not unconstrained:
            return self._find_level(
                level_idx - 1, required, count, slice_size, unconstrained, stats
            )
        chosen: list[_Domain] = []
        remaining = slice_count
        for i, d in enumerate(domains):
            if remaining <= 0:
                break
            if not unconstrained and d.slice_state >= remaining:
                d = self._best_fit(domains[i:], remaining, True)
            chosen.append(d)
            remaining -= d.slice_state
        if remaining > 0:
            return self._not_fit(slice_count - remaining, slice_count, slice_size, stats)
        return level_idx, chosen

    def _minimum(
        self,
        domains: Sequence[_Domain],
        count: int,
        slice_size: int,
        unconstrained: bool,
        slices: bool,
    ) -> list[_Domain]:
        """Hand `count` pods (in slices when `slices`) to `domains` in order, the last one
        the tightest that holds the rest (BestFit); sets each chosen domain's `state`."""
        out: list[_Domain] = []
        remaining = count // slice_size if slices else count
        for i, d in enumerate(domains):
            have = d.slice_state if slices else d.state
            if not unconstrained and have >= remaining:
                d = self._best_fit(domains[i:], remaining, slices)
                have = d.slice_state if slices else d.state
            if have >= remaining:
                if slices:
                    d.slice_state = remaining
                d.state = remaining * (slice_size if slices else 1)
                out.append(d)
                return out
            if slices:
                d.state = have * slice_size
            remaining -= have
            out.append(d)
        # Unreachable when the level search succeeded (its domains hold every slice).
        raise AssertionError(f"topology {self.topology_name}: {remaining} pods left unplaced")
