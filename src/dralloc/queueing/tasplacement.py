"""Topology-Aware Scheduling in the admission cycle (spec/queueing.md 6.4, 6.5): a
`PlacementCheck` that gives each admitted pod set its `topologyAssignment`.

Owns: `TopologyPlacement`, which keeps one `TASFlavorSnapshot` per TAS flavor (a
ResourceFlavor with `spec.topologyName`) for the life of the owner's queue state, and
`pod_set_node_selectors`, the nodeSelector each pod of an admitted Workload gets.

For a Fit assignment, per pod set (as Kueue's `WorkloadsTopologyRequests` and
`checkPodSetAndFlavorMatchForTAS`):

* TAS applies when the pod set asks for it (`topologyRequest`) or implicitly when every
  flavor of its ClusterQueue is a TAS flavor (then unconstrained at the lowest level);
* it needs exactly one TAS flavor among the pod set's flavors ("no TAS flavor assigned",
  "more than one TAS flavor assigned: a, b"), no plain flavor for an explicit request
  ("Flavor %q does not support TopologyAwareScheduling"), and the requested levels in the
  flavor's Topology ("Flavor %q does not contain the requested level"); a TAS flavor given
  to a pod set that does not ask for TAS is refused ("Flavor %q supports only
  TopologyAwareScheduling");
* the pod set is placed with `TASFlavorSnapshot.find_assignment`, earlier pod sets of the
  Workload counted as assumed usage; a failure answers
  `couldn't assign flavors to pod set <name>: <Kueue's TAS message>`.

On success the assignments are written into the `Assignment`'s pod sets (so the cycle's
`status.admission.podSetAssignments[].topologyAssignment` carries them) and charged to the
snapshots at once, as `controllers/queueplacement.SchedulerPlacement` binds pods: later heads of the
same cycle see the usage. `forget(key)` returns it when the Workload is evicted or finishes.
Workloads admitted before the snapshot was built are charged with `add_admitted` (their
`topologyAssignment` read back), so a rebuilt snapshot (a live pass, a restart) sees them.

Capacity that exists but that no domain holds (Kueue v0.17, `flavorassigner` and
`preemption.workloadFits`): when the pod sets get no domains, Kueue retries on the empty
topology (`WithSimulateEmpty`); if they would fit there the Fit becomes Preempt and
classical preemption searches victims whose quota *and* domains, removed together, let the
Workload fit; otherwise it is NoFit. Here `fits_if_empty` and `fits_without(victims)` are
those two topology answers, and `TopologyPlacement` is a `PreemptionPlacement`: a refused
Workload the empty topology would hold names its TAS pod sets in `fragmented_pod_sets`, the
cycle turns them to Preempt and the preemptor takes victims only while `placeable_without`
(the victims' domains given back) refuses, so nothing is evicted that does not open a
domain. With no such victims the Workload waits as `PlacementInfeasible` with Kueue's
message, which says the topology is fragmented. Departure from Kueue: the switch happens
when the entry is processed (the TAS check is the cycle's PlacementCheck, run after
ordering) rather than at flavor assignment, so Kueue's ordering of such an entry as Preempt
(and its reserving quota when no victims are found) is not reproduced; a Preempt-by-quota
Workload's domains are not recomputed on the empty topology (no NoFit for a Workload that
needs preemption and fits no empty domain: its victim search finds nothing instead).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dralloc.api.core import NodeSelector, PodSpec
from dralloc.api.resource import ResourceClaim
from dralloc.queueing.cycle import PlacementCheck, PreemptionPlacement
from dralloc.queueing.dra import DraInventory
from dralloc.queueing.flavors import Assignment
from dralloc.queueing.objects import ClusterQueue, ResourceFlavor, Workload
from dralloc.queueing.queues import QueuedWorkload
from dralloc.queueing.reader import QueueInput
from dralloc.queueing.requests import workload_requests
from dralloc.queueing.state import QueueState, Snapshot
from dralloc.queueing.tas import TASFlavorSnapshot, TASPodSetRequest
from dralloc.queueing.topology import (
    DomainAssignment,
    TopologyRequest,
    decode_assignment,
    encode_assignment,
    pod_node_selectors,
)

# Appended to Kueue's message when the topology is fragmented (see the module docstring).
_FRAGMENTED = (
    "; fragmented: the empty topology would hold it (Kueue then looks for Workloads to "
    "preempt for its domains; dralloc waits for domains to free up)"
)


@dataclass
class _Failure:
    """Why a Workload's pod sets got no domains; `fragmented`: whether they would on the
    empty topology (None: not asked yet; False: the failure is not about capacity)."""

    message: str
    fragmented: bool | None = None


@dataclass
class _Charged:
    flavor: str
    domains: tuple[DomainAssignment, ...]
    per_pod: dict[str, int]


@dataclass
class TopologyPlacement:
    """The PlacementCheck for TAS flavors; build it with `from_input`.

    `snapshots` maps a TAS flavor's name to its domains; `missing` maps a TAS flavor to the
    Topology it names that is absent (its pod sets are refused with that message)."""

    flavors: Mapping[str, ResourceFlavor]
    cluster_queues: Mapping[str, ClusterQueue]
    snapshots: dict[str, TASFlavorSnapshot] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    charged: dict[str, list[_Charged]] = field(default_factory=dict)
    # Workloads whose last check failed only for fragmented capacity, with Kueue's message,
    # and their TAS pod sets (`fragmented_pod_sets`).
    fragmented: dict[str, str] = field(default_factory=dict)
    fragmented_sets: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def from_input(
        cls, inputs: QueueInput, claims: Iterable[ResourceClaim] = ()
    ) -> TopologyPlacement:
        """Snapshots of every TAS flavor from the input's Nodes, bound pods, DeviceClasses
        and ResourceSlices (`claims`: the allocated ResourceClaims, whose devices are used)."""
        inventory = DraInventory(classes=dict(inputs.device_classes), slices=inputs.slices)
        claim_list = list(claims)
        out = cls(inputs.flavors, inputs.cluster_queues)
        for name, flavor in sorted(inputs.flavors.items()):
            topology_name = flavor.spec.topology_name
            if not topology_name:
                continue
            topology = inputs.topologies.get(topology_name)
            if topology is None:
                out.missing[name] = f'topology "{topology_name}" not found'
                continue
            out.snapshots[name] = TASFlavorSnapshot.build(
                topology_name, topology, flavor, inputs.nodes, inputs.pods, claim_list, inventory
            )
        return out

    def add_admitted(self, state: QueueState, workloads: Iterable[Workload]) -> None:
        """Charge the topology assignments of Workloads already holding quota (read back
        from their `status.admission`, as Kueue's TAS cache does after a restart): per pod
        set, its TAS flavor's leaves get the per-pod requests times the domain's count."""
        for workload in workloads:
            admission = workload.status.admission
            if admission is None or not workload.has_quota_reservation():
                continue
            requests = workload_requests(workload, state.inventory, state.dra_config)
            per_pod = {r.name: r.per_pod for r in requests.pod_sets}
            charges = []
            for psa in admission.pod_set_assignments:
                flavors = [f for f in psa.flavors.values() if f in self.snapshots]
                if psa.topology_assignment is None or not flavors:
                    continue
                _, domains = decode_assignment(psa.topology_assignment)
                charge = _Charged(flavors[0], tuple(domains), dict(per_pod.get(psa.name, {})))
                self.snapshots[charge.flavor].add_usage(charge.domains, charge.per_pod)
                charges.append(charge)
            if charges:
                meta = workload.metadata
                self.charged[f"{meta.namespace}/{meta.name}"] = charges

    def _is_tas_flavor(self, name: str) -> bool:
        flavor = self.flavors.get(name)
        return flavor is not None and bool(flavor.spec.topology_name)

    def _is_tas_only(self, cq_name: str) -> bool:
        cq = self.cluster_queues.get(cq_name)
        if cq is None:
            return False
        names = [f.name for g in cq.spec.resource_groups for f in g.flavors]
        return bool(names) and all(self._is_tas_flavor(n) for n in names)

    def check(
        self, snapshot: Snapshot, entry: QueuedWorkload, assignment: Assignment
    ) -> str | None:
        planned = self._plan(entry, assignment)
        if isinstance(planned, _Failure):
            if planned.fragmented is None:
                planned.fragmented = self.fits_if_empty(entry, assignment)
            if planned.fragmented:
                self.fragmented[entry.key] = planned.message
                self.fragmented_sets[entry.key] = self._tas_pod_sets(entry, assignment)
            else:
                self.fragmented.pop(entry.key, None)
                self.fragmented_sets.pop(entry.key, None)
            return planned.message + (_FRAGMENTED if planned.fragmented else "")
        self.fragmented.pop(entry.key, None)
        self.fragmented_sets.pop(entry.key, None)
        for i, charge, encoded in planned:
            assignment.pod_sets[i].topology_assignment = encoded
            self.snapshots[charge.flavor].add_usage(charge.domains, charge.per_pod)
        if planned:
            self.charged[entry.key] = [c for _, c, _ in planned]
        return None

    def fits_if_empty(self, entry: QueuedWorkload, assignment: Assignment) -> bool:
        """Kueue's `WithSimulateEmpty` check after a TAS failure: would every pod set find
        domains if no admitted Workload used the topology (then Kueue's flavor assigner turns
        the Fit into Preempt; otherwise it is NoFit)."""
        return not isinstance(self._plan(entry, assignment, simulate_empty=True), _Failure)

    def fits_without(
        self, entry: QueuedWorkload, assignment: Assignment, victims: Iterable[str]
    ) -> bool:
        """Whether every pod set finds domains once the admitted Workloads `victims` (keys)
        give their domains back: the topology half of Kueue's `workloadFits` during
        preemption (`Snapshot.SimulateWorkloadRemoval`). Changes nothing."""
        return not isinstance(self._plan_without(entry, assignment, victims), _Failure)

    def placeable_without(
        self,
        snapshot: Snapshot,
        entry: QueuedWorkload,
        assignment: Assignment,
        victims: Sequence[str],
    ) -> str | None:
        """`PreemptionPlacement`: `fits_without`, with Kueue's message when it does not."""
        planned = self._plan_without(entry, assignment, victims)
        return planned.message if isinstance(planned, _Failure) else None

    def fragmented_pod_sets(self, entry: QueuedWorkload) -> Sequence[str]:
        """`PreemptionPlacement`: after a refused `check`, the TAS pod sets of a Workload the
        empty topology would hold (Kueue then turns them to Preempt); else none."""
        return self.fragmented_sets.get(entry.key, ())

    def _plan_without(
        self, entry: QueuedWorkload, assignment: Assignment, victims: Iterable[str]
    ) -> list[tuple[int, _Charged, dict[str, Any]]] | _Failure:
        removed = [c for key in dict.fromkeys(victims) for c in self.charged.get(key, [])]
        for charge in removed:
            self.snapshots[charge.flavor].remove_usage(charge.domains, charge.per_pod)
        try:
            return self._plan(entry, assignment)
        finally:
            for charge in removed:
                self.snapshots[charge.flavor].add_usage(charge.domains, charge.per_pod)

    def _plan(
        self, entry: QueuedWorkload, assignment: Assignment, *, simulate_empty: bool = False
    ) -> list[tuple[int, _Charged, dict[str, Any]]] | _Failure:
        """Each TAS pod set's domains (earlier pod sets assumed), or why not; commits
        nothing. A failure that is not about domains (flavors, levels) is never
        fragmentation."""
        workload = entry.workload
        tas_only = self._is_tas_only(entry.cluster_queue)
        planned: list[tuple[int, _Charged, dict[str, Any]]] = []
        assumed: dict[str, dict[tuple[str, ...], dict[str, int]]] = {}
        for i, psa in enumerate(assignment.pod_sets):
            pod_set = workload.spec.pod_sets[i]
            request = TopologyRequest.from_dict(pod_set.topology_request)
            explicit = request is not None and request.is_explicit()
            tas_flavors = sorted(
                {c.flavor for c in psa.flavors.values() if self._is_tas_flavor(c.flavor)}
            )
            if not explicit and not tas_only:
                if tas_flavors:
                    return _Failure(
                        f"couldn't assign flavors to pod set {psa.name}: "
                        f'Flavor "{tas_flavors[0]}" supports only TopologyAwareScheduling',
                        False,
                    )
                continue
            plain = sorted(
                {c.flavor for c in psa.flavors.values() if not self._is_tas_flavor(c.flavor)}
            )
            why = self._no_single_flavor(tas_flavors)
            if explicit and plain:
                # Kueue's checkPodSetAndFlavorMatchForTAS, for a flavor covering requested
                # resources (every flavor in the assignment does).
                why = f'Flavor "{plain[0]}" does not support TopologyAwareScheduling'
            elif why is None and tas_flavors[0] in self.missing:
                why = self.missing[tas_flavors[0]]
            elif why is None and explicit and not self.snapshots[tas_flavors[0]].has_level(request):
                why = f'Flavor "{tas_flavors[0]}" does not contain the requested level'
            if why is not None:
                return _Failure(f"couldn't assign flavors to pod set {psa.name}: {why}", False)
            flavor = tas_flavors[0]
            snap = self.snapshots[flavor]
            per_pod = dict(entry.requests.pod_sets[i].per_pod)
            spec = pod_set.template.spec
            result = snap.find_assignment(
                TASPodSetRequest(
                    psa.name,
                    psa.count,
                    per_pod,
                    request,
                    implied=not explicit,
                    node_selector=spec.node_selector,
                    tolerations=spec.tolerations,
                    required_affinity=_required_affinity(pod_set.template.spec),
                ),
                simulate_empty=simulate_empty,
                assumed=assumed.get(flavor, {}),
            )
            if result.failure is not None:
                return _Failure(f"couldn't assign flavors to pod set {psa.name}: {result.failure}")
            charge = _Charged(flavor, result.domains, per_pod)
            planned.append((i, charge, encode_assignment(result.levels, result.domains)))
            self._assume(snap, assumed.setdefault(flavor, {}), charge)
        return planned

    def _tas_pod_sets(self, entry: QueuedWorkload, assignment: Assignment) -> tuple[str, ...]:
        """The pod sets placed by topology (explicit requests, or all under implicit TAS)."""
        tas_only = self._is_tas_only(entry.cluster_queue)
        out = []
        for i, psa in enumerate(assignment.pod_sets):
            request = TopologyRequest.from_dict(entry.workload.spec.pod_sets[i].topology_request)
            if tas_only or (request is not None and request.is_explicit()):
                out.append(psa.name)
        return tuple(out)

    @staticmethod
    def _no_single_flavor(tas_flavors: list[str]) -> str | None:
        if not tas_flavors:
            return "no TAS flavor assigned"
        if len(tas_flavors) > 1:
            return f"more than one TAS flavor assigned: {', '.join(tas_flavors)}"
        return None

    @staticmethod
    def _assume(
        snap: TASFlavorSnapshot,
        assumed: dict[tuple[str, ...], dict[str, int]],
        charge: _Charged,
    ) -> None:
        for domain in charge.domains:
            values = snap.full_values(domain.values)
            if values is None:
                continue
            usage = assumed.setdefault(values, {})
            for res, value in {**charge.per_pod, "pods": 1}.items():
                usage[res] = usage.get(res, 0) + value * domain.count

    def then(self, other: PlacementCheck) -> PlacementCheck:
        """A check running TAS first and `other` (e.g. the scheduler-backed check of
        `dralloc queue`) on success; when `other` refuses, the TAS usage is returned."""
        return _Chained(self, other)

    def forget(self, key: str) -> None:
        """Return an evicted or finished Workload's TAS usage (idempotent)."""
        for charge in self.charged.pop(key, []):
            self.snapshots[charge.flavor].remove_usage(charge.domains, charge.per_pod)


@dataclass
class _Chained:
    """TAS, then another check given the domains. A `PreemptionPlacement` whichever the
    second is: its what-if asks the second too when the second can answer one (with the
    domains TAS would give once the victims are gone), else it is the topology's alone."""

    first: TopologyPlacement
    second: PlacementCheck

    def placeable_without(
        self,
        snapshot: Snapshot,
        entry: QueuedWorkload,
        assignment: Assignment,
        victims: Sequence[str],
    ) -> str | None:
        planned = self.first._plan_without(entry, assignment, victims)
        if isinstance(planned, _Failure):
            return planned.message
        if not isinstance(self.second, PreemptionPlacement):
            return None
        trial = copy.copy(assignment)
        trial.pod_sets = [copy.copy(ps) for ps in assignment.pod_sets]
        for i, _, encoded in planned:
            trial.pod_sets[i].topology_assignment = encoded
        # The second check must see the domains the victims' pods leave: theirs are taken
        # out with them in its own what-if.
        return self.second.placeable_without(snapshot, entry, trial, victims)

    def fragmented_pod_sets(self, entry: QueuedWorkload) -> Sequence[str]:
        return self.first.fragmented_pod_sets(entry)

    def check(
        self, snapshot: Snapshot, entry: QueuedWorkload, assignment: Assignment
    ) -> str | None:
        why = self.first.check(snapshot, entry, assignment)
        if why is not None:
            return why
        why = self.second.check(snapshot, entry, assignment)
        if why is not None:
            self.first.forget(entry.key)
            for pod_set in assignment.pod_sets:
                pod_set.topology_assignment = None
        return why


def _required_affinity(spec: PodSpec) -> NodeSelector | None:
    affinity = spec.affinity.node_affinity if spec.affinity else None
    return affinity.required_during_scheduling_ignored_during_execution if affinity else None


def pod_set_node_selectors(workload: Workload) -> dict[str, list[dict[str, str]]]:
    """Per pod set of an admitted Workload, the nodeSelector of each pod (in pod order)
    that Kueue's TopologyUngater gives it; pod sets without a topology assignment are left
    out. Merge into the pod's own nodeSelector (with the flavor's nodeLabels)."""
    admission = workload.status.admission
    if admission is None:
        return {}
    return {
        psa.name: pod_node_selectors(psa.topology_assignment)
        for psa in admission.pod_set_assignments
        if psa.topology_assignment
    }
