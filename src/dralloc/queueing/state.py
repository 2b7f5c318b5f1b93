"""The queueing cache: ClusterQueues, the cohort tree and the usage of admitted Workloads,
and the per-cycle snapshot of it (spec/queueing.md 2.3 and 2.6).

Owns: `QueueState`, built from a `QueueInput` by `QueueState.build`. It is long-lived and has
one owner (the admission loop, the simulator's engine, a live controller), which alone calls
`reserve` and `release`. A cycle reads `state.snapshot()`, a copy whose quota trees it may
charge and restore freely; the snapshot never writes back.

Checks that need several objects, each reported as a `Problem` in `state.problems` (file,
object, field) and as an inactive ClusterQueue, never as a traceback:

* a Cohort cycle (`a -> b -> a`): every ClusterQueue under a cohort of the cycle is inactive
  (reason `CohortHasCycle`, dralloc's name for Kueue's `ErrCohortHasCycle`);
* a missing ResourceFlavor: the ClusterQueue is inactive (`FlavorNotFound`), as in Kueue;
* admission checks: dralloc reads no AdmissionCheck objects, so a ClusterQueue naming some is
  inactive (`AdmissionCheckNotFound`);
* `stopPolicy` other than `None`: inactive (`Stopped`);
* a TAS flavor (`spec.topologyName`) whose Topology is not in the input: inactive
  (`TopologyNotFound`, Kueue's message `there is no Topology "t" for TAS flavor "f"`).

`check(state)` turns the problems into one `InputError`, for commands reading files.
Pure computation, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from dralloc.api.meta import LabelSelector
from dralloc.errors import InputError, Problem
from dralloc.queueing.dra import DraInventory, DraQuotaConfig
from dralloc.queueing.flavors import GroupView, QueueView
from dralloc.queueing.objects import (
    ClusterQueue,
    FairSharing,
    PreemptionPolicy,
    QueueingStrategy,
    ResourceFlavor,
    ResourceGroup,
    StopPolicy,
    Workload,
)
from dralloc.queueing.quota import (
    FlavorResource,
    NodeKind,
    Quota,
    QuotaNode,
    add_usages,
    amount_of,
    attach,
    clone_tree,
    recompute,
    remove_usages,
)
from dralloc.queueing.reader import QueueInput

REASON_READY: Final = "Ready"
REASON_FLAVOR_NOT_FOUND: Final = "FlavorNotFound"
REASON_STOPPED: Final = "Stopped"
REASON_CHECK_NOT_FOUND: Final = "AdmissionCheckNotFound"
REASON_COHORT_CYCLE: Final = "CohortHasCycle"
REASON_TOPOLOGY_NOT_FOUND: Final = "TopologyNotFound"


def _weight(fair: FairSharing | None) -> float:
    if fair is None or fair.weight is None:
        return 1.0
    return fair.weight.as_approximate_float()


def _quotas(groups: list[ResourceGroup]) -> dict[FlavorResource, Quota]:
    out: dict[FlavorResource, Quota] = {}
    for group in groups:
        for flavor in group.flavors:
            for quota in flavor.resources:
                r = quota.name
                out[FlavorResource(flavor.name, r)] = Quota(
                    amount_of(r, quota.nominal_quota),
                    None if quota.borrowing_limit is None else amount_of(r, quota.borrowing_limit),
                    None if quota.lending_limit is None else amount_of(r, quota.lending_limit),
                )
    return out


def selector_matches(selector: LabelSelector | None, labels: Mapping[str, str]) -> bool:
    """Kueue's namespaceSelector: None matches nothing, {} everything."""
    if selector is None:
        return False
    if any(labels.get(k) != v for k, v in selector.match_labels.items()):
        return False
    for req in selector.match_expressions:
        have = labels.get(req.key)
        if req.operator == "In" and (have is None or have not in req.values):
            return False
        if req.operator == "NotIn" and have is not None and have in req.values:
            return False
        if req.operator == "Exists" and have is None:
            return False
        if req.operator == "DoesNotExist" and have is not None:
            return False
    return True


@dataclass
class ClusterQueueState:
    """One ClusterQueue: its object, what flavor assignment reads, and its quota node."""

    obj: ClusterQueue
    view: QueueView
    node: QuotaNode
    inactive_reason: str = ""
    inactive_message: str = ""

    @property
    def name(self) -> str:
        return self.obj.metadata.name

    @property
    def active(self) -> bool:
        return not self.inactive_reason

    @property
    def strategy(self) -> QueueingStrategy:
        return QueueingStrategy(self.obj.spec.queueing_strategy)


@dataclass(frozen=True)
class Reservation:
    """A Workload holding quota: where and how much, per FR."""

    key: str
    cluster_queue: str
    usage: Mapping[FlavorResource, int]
    priority: int
    # Ordering data preemption needs: when quota was reserved (a cycle number or a time),
    # the Workload's queue-order timestamp, and whether it is already being evicted.
    reserved_at: float = 0.0
    timestamp: str = ""
    evicted: bool = False
    local_queue: str = ""
    # The FRs it uses (amount > 0), computed once: preemption asks for every candidate.
    used: frozenset[FlavorResource] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        used = frozenset(fr for fr, amount in self.usage.items() if amount > 0)
        object.__setattr__(self, "used", used)


@dataclass
class Snapshot:
    """A cycle's copy of the quota trees. `node(cq)` is the ClusterQueue's copy; charging
    it never touches the state."""

    nodes: dict[str, QuotaNode]
    cluster_queues: Mapping[str, ClusterQueueState]
    flavors: Mapping[str, ResourceFlavor]
    reservations: Mapping[str, Reservation]
    # Speed-up (changes no outcome): `reservations_of` answers from an index by ClusterQueue
    # built once per snapshot (the reservations never change during a cycle) instead of a
    # scan of every reservation; preemption asks it for every ClusterQueue of a cohort, for
    # every head. Off: `QueueState(index_reservations=False)`; tests/queueing/
    # test_quick_heads.py checks both agree.
    indexed: bool = True
    _by_cq: dict[str, list[Reservation]] | None = field(
        default=None, init=False, repr=False, compare=False
    )
    _least: dict[str, int | float] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    # `node(cq)` answers, remembered: preemption asks for the same queues many times.
    _cq_nodes: dict[str, QuotaNode] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def reservations_of(self, cq: str) -> list[Reservation]:
        """The reservations charged to ClusterQueue `cq`, in the snapshot's order."""
        if not self.indexed:
            return [r for r in self.reservations.values() if r.cluster_queue == cq]
        if self._by_cq is None:
            index: dict[str, list[Reservation]] = {}
            for res in self.reservations.values():
                index.setdefault(res.cluster_queue, []).append(res)
            self._by_cq = index
        return self._by_cq.get(cq, [])

    def least_priority(self, cq: str) -> int | float:
        """The lowest priority among `cq`'s reservations (infinity when it has none),
        remembered per snapshot: the reservations never change during a cycle."""
        found = self._least.get(cq)
        if found is None:
            found = self._least[cq] = min(
                (r.priority for r in self.reservations_of(cq)), default=math.inf
            )
        return found

    def node(self, cq: str) -> QuotaNode:
        found = self._cq_nodes.get(cq)
        if found is None:
            found = self._cq_nodes[cq] = self.nodes[f"{NodeKind.cluster_queue}/{cq}"]
        return found

    def cluster_queue_nodes(self) -> dict[str, QuotaNode]:
        prefix = f"{NodeKind.cluster_queue}/"
        return {k[len(prefix) :]: n for k, n in self.nodes.items() if k.startswith(prefix)}

    def add_usage(self, cq: str, usage: Mapping[FlavorResource, int]) -> None:
        add_usages(self.node(cq), dict(usage))

    def remove_usage(self, cq: str, usage: Mapping[FlavorResource, int]) -> None:
        remove_usages(self.node(cq), dict(usage))


@dataclass
class QueueState:
    """The long-lived queueing cache. Build with `QueueState.build(input)`.

    >>> from dralloc.queueing.reader import QueueInput
    >>> QueueState.build(QueueInput()).cluster_queues
    {}
    """

    flavors: dict[str, ResourceFlavor] = field(default_factory=dict)
    cluster_queues: dict[str, ClusterQueueState] = field(default_factory=dict)
    cohorts: dict[str, QuotaNode] = field(default_factory=dict)
    roots: list[QuotaNode] = field(default_factory=list)
    reservations: dict[str, Reservation] = field(default_factory=dict)
    # Snapshot.reservations_of's index (a speed-up; False is the plain scan).
    index_reservations: bool = True
    # Bumped by every `reserve` and `release`: a cycle's snapshot is a function of the
    # state at one generation, so answers computed on it (`cycle.Nominations`) hold until
    # the generation moves. Whoever changes queues or flavors builds a new state.
    generation: int = 0
    problems: list[Problem] = field(default_factory=list)
    inventory: DraInventory = field(default_factory=DraInventory)
    dra_config: DraQuotaConfig = field(default_factory=DraQuotaConfig)
    namespace_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    input: QueueInput = field(default_factory=QueueInput)
    cohorts_in_cycle: set[str] = field(default_factory=set)

    @classmethod
    def build(cls, inp: QueueInput, *, dra_config: DraQuotaConfig | None = None) -> QueueState:
        state = cls(
            flavors=dict(inp.flavors),
            inventory=DraInventory(
                classes=dict(inp.device_classes),
                slices=list(inp.slices),
                templates=dict(inp.claim_templates),
            ),
            dra_config=dra_config or DraQuotaConfig(),
            namespace_labels=dict(inp.namespace_labels),
            input=inp,
        )
        state._build_cohorts(inp)
        for name in sorted(inp.cluster_queues):
            state._add_cluster_queue(inp.cluster_queues[name])
        for name in sorted(state.cohorts):
            if not state._in_cycle(name):
                root = state.cohorts[name].root()
                if all(root is not r for r in state.roots):
                    state.roots.append(root)
        for root in state.roots:
            recompute(root)
        return state

    # -------------------------------------------------------------------------- building

    def _cohort_node(self, name: str) -> QuotaNode:
        node = self.cohorts.get(name)
        if node is None:
            node = QuotaNode(name, NodeKind.cohort)  # implicit: no quota of its own
            self.cohorts[name] = node
        return node

    def _build_cohorts(self, inp: QueueInput) -> None:
        for name, cohort in sorted(inp.cohorts.items()):
            node = self._cohort_node(name)
            node.quotas = _quotas(cohort.spec.resource_groups)
            node.weight = _weight(cohort.spec.fair_sharing)
        parents = {n: c.spec.parent_name for n, c in inp.cohorts.items() if c.spec.parent_name}
        in_cycle: set[str] = set()
        for start in sorted(parents):
            path: list[str] = []
            current: str | None = start
            while current is not None and current not in path and current not in in_cycle:
                path.append(current)
                current = parents.get(current)
            if current is not None and current in path:
                cycle = path[path.index(current) :]
                if not in_cycle.intersection(cycle):
                    first = min(cycle)
                    rotated = cycle[cycle.index(first) :] + cycle[: cycle.index(first)]
                    shown = " -> ".join([*rotated, first])
                    for member in rotated:
                        self.problems.append(
                            Problem(
                                inp.file_of("Cohort", member),
                                f"Cohort {member}",
                                "spec.parentName",
                                f"cohort cycle {shown}: every ClusterQueue under it is "
                                "inactive until the cycle is removed",
                            )
                        )
                in_cycle.update(cycle)
        for child, parent in sorted(parents.items()):
            if child in in_cycle:
                continue
            attach(self._cohort_node(child), self._cohort_node(parent))
        self.cohorts_in_cycle = in_cycle

    def _in_cycle(self, cohort: str) -> bool:
        node: QuotaNode | None = self.cohorts.get(cohort)
        cycle = self.cohorts_in_cycle
        while node is not None:
            if node.name in cycle:
                return True
            node = node.parent
        return False

    def _add_cluster_queue(self, cq: ClusterQueue) -> None:
        spec = cq.spec
        groups = []
        for group in spec.resource_groups:
            flavors = tuple(f.name for f in group.flavors)
            keys = frozenset(
                k for f in flavors if f in self.flavors for k in self.flavors[f].spec.node_labels
            )
            groups.append(GroupView(tuple(group.covered_resources), flavors, keys))
        quotas = _quotas(spec.resource_groups)
        borrow = spec.preemption.borrow_within_cohort
        view = QueueView(
            name=cq.metadata.name,
            groups=tuple(groups),
            fungibility=spec.flavor_fungibility,
            nominal={fr: q.nominal for fr, q in quotas.items()},
            can_preempt_while_borrowing=borrow is not None
            and borrow.policy != PreemptionPolicy.never,
        )
        node = QuotaNode(
            cq.metadata.name, NodeKind.cluster_queue, quotas, _weight(spec.fair_sharing)
        )
        entry = ClusterQueueState(cq, view, node)
        missing = sorted(
            {f.name for g in spec.resource_groups for f in g.flavors} - set(self.flavors)
        )
        checks = (spec.admission_checks_strategy or {}).get("admissionChecks") or []
        missing_topologies = [
            (f, topology)
            for f in sorted({f.name for g in spec.resource_groups for f in g.flavors})
            if f in self.flavors
            and (topology := self.flavors[f].spec.topology_name)
            and topology not in self.input.topologies
        ]
        if spec.cohort_name and self._in_cycle(spec.cohort_name):
            entry.inactive_reason = REASON_COHORT_CYCLE
            entry.inactive_message = (
                f"Can't admit new workloads: cohort {spec.cohort_name} is in a cycle"
            )
        elif spec.stop_policy != StopPolicy.none:
            entry.inactive_reason = REASON_STOPPED
            entry.inactive_message = "Can't admit new workloads: is stopped"
        elif missing:
            entry.inactive_reason = REASON_FLAVOR_NOT_FOUND
            entry.inactive_message = (
                "Can't admit new workloads: references missing ResourceFlavor(s): "
                + ",".join(missing)
            )
        elif missing_topologies:
            entry.inactive_reason = REASON_TOPOLOGY_NOT_FOUND
            entry.inactive_message = "Can't admit new workloads: " + ", ".join(
                f'there is no Topology "{t}" for TAS flavor "{f}"' for f, t in missing_topologies
            )
        elif checks:
            names = ",".join(sorted(str(c.get("name", "")) for c in checks if isinstance(c, dict)))
            entry.inactive_reason = REASON_CHECK_NOT_FOUND
            entry.inactive_message = (
                f"Can't admit new workloads: references missing AdmissionCheck(s): {names}"
            )
        self.cluster_queues[cq.metadata.name] = entry
        if spec.cohort_name and not self._in_cycle(spec.cohort_name):
            attach(node, self._cohort_node(spec.cohort_name))
        if node.parent is None:
            self.roots.append(node)

    # ------------------------------------------------------------------------- reservations

    def reserve(self, reservation: Reservation) -> None:
        """Charge a Workload's usage to its ClusterQueue (admission, or an admitted Workload
        found at start-up). Idempotent per key: a second call replaces the first."""
        if reservation.key in self.reservations:
            self.release(reservation.key)
        self.generation += 1
        self.reservations[reservation.key] = reservation
        cq = self.cluster_queues.get(reservation.cluster_queue)
        if cq is not None:
            add_usages(cq.node, dict(reservation.usage))

    def release(self, key: str) -> Reservation | None:
        """Give back a Workload's quota (finished, deleted or evicted)."""
        found = self.reservations.pop(key, None)
        if found is not None:
            self.generation += 1
            cq = self.cluster_queues.get(found.cluster_queue)
            if cq is not None:
                remove_usages(cq.node, dict(found.usage))
        return found

    def snapshot(self) -> Snapshot:
        nodes: dict[str, QuotaNode] = {}
        for root in self.roots:
            nodes.update(clone_tree(root))
        return Snapshot(
            nodes,
            self.cluster_queues,
            self.flavors,
            dict(self.reservations),
            indexed=self.index_reservations,
        )

    def namespace_matches(self, cq: ClusterQueueState, namespace: str) -> bool:
        labels = self.namespace_labels.get(namespace, {"kubernetes.io/metadata.name": namespace})
        return selector_matches(cq.obj.spec.namespace_selector, labels)

    def iter_cluster_queues(self) -> Iterable[ClusterQueueState]:
        return (self.cluster_queues[n] for n in sorted(self.cluster_queues))


def usage_from_admission(workload: Workload) -> dict[FlavorResource, int]:
    """The quota an admitted Workload holds, read back from its `status.admission`."""
    usage: dict[FlavorResource, int] = {}
    admission = workload.status.admission
    if admission is None:
        return usage
    for psa in admission.pod_set_assignments:
        for resource, flavor in psa.flavors.items():
            value = psa.resource_usage.get(resource)
            if value is not None:
                fr = FlavorResource(flavor, resource)
                usage[fr] = usage.get(fr, 0) + amount_of(resource, value)
    return usage


def check(state: QueueState) -> None:
    """Raise one InputError for every cross-object problem (cohort cycles)."""
    if state.problems:
        raise InputError(list(state.problems))


def fair_sharing_reclaims(cq: ClusterQueueState) -> bool:
    return cq.obj.spec.preemption.reclaim_within_cohort != PreemptionPolicy.never
