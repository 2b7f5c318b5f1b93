"""Kueue's topology-aware scheduling in the live queue controller (spec/queueing.md 6):
Topologies read from the API server, each pass's topology snapshot, and the TopologyUngater.

Owns `TOPOLOGIES` and `TopologyView`, which the queue controller builds when the cluster
serves `kueue.x-k8s.io/v1beta2` Topologies. It watches Topologies, Nodes, ResourceSlices,
ResourceClaims and pods not finished through the process's `SharedInformers` (one watch per
resource, shared with the scheduler and the placement check when they run in the process),
and gives the controller:

* `topologies()`: the Topology objects for the pass's `QueueInput` (a TAS flavor whose
  Topology is absent keeps its ClusterQueue inactive, as Kueue does);
* `placement(...)`: a `TopologyPlacement` over the stores as they are now (Kueue's TAS
  cache: schedulable nodes with the flavor's labels and every level label, less the
  requests of bound non-TAS pods, less the `topologyAssignment` of every Workload holding
  quota, read back from its status), or None when no flavor names a Topology;
* `ungate_patches(...)`: Kueue's TopologyUngater: for each Workload admitted with a
  topology assignment, its pods (label `kueue.x-k8s.io/podset`, annotation
  `kueue.x-k8s.io/workload`) still carrying the `kueue.x-k8s.io/topology` gate get a merge
  patch that removes the gate and adds their domain's level labels to `nodeSelector`
  (allowed by the API server while a pod is gated), by rank for indexed Jobs and JobSets
  (`controllers.queueplacement.ungate`). As Kueue's expectations store, a Workload whose
  earlier patches the informer has not shown yet is left to a later pass, so a greedy
  assignment never counts a slot twice.

Departures, stated: no TAS preemption and no switch to Preempt on fragmented capacity (a
Fit that no domain holds waits, `queueing.tasplacement`); nodes' readiness and
NoSchedule taints are read as Kueue's cache reads them (`queueing.tas`), not the live
scheduler's view.

Reads the informers' stores; the controller writes what this module computes.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from dralloc.api.core import Node, Pod
from dralloc.api.io import from_server
from dralloc.api.resource import ResourceClaim, ResourceSlice
from dralloc.controllers.queueplacement import ungate
from dralloc.kube.client import NODES, PODS, RESOURCE_CLAIMS, RESOURCE_SLICES, KubeDict, Resource
from dralloc.kube.controllers.base import metadata, namespace_of
from dralloc.kube.informer import Informer
from dralloc.kube.shared_informers import SharedInformers
from dralloc.queueing import QueueInput, QueueState, TopologyPlacement, Workload
from dralloc.queueing.topology import TOPOLOGY_GATE, WORKLOAD_ANNOTATION, Topology

TOPOLOGIES = Resource("kueue.x-k8s.io/v1beta2", "topologies", "Topology", False)
# The live scheduler's pod informer selector: the same selector shares its store.
NOT_TERMINAL = "status.phase!=Succeeded,status.phase!=Failed"


class TopologyView:
    """The informers TAS reads and what a pass computes from them (module docstring).

    >>> view = TopologyView(informers)                                # doctest: +SKIP
    >>> tas = view.placement(inputs, state, workloads)                # doctest: +SKIP
    >>> for pod, patch in view.ungate_patches(workloads): ...         # doctest: +SKIP
    """

    def __init__(self, informers: SharedInformers) -> None:
        self.topology_informer = informers.informer(TOPOLOGIES)
        self.nodes = informers.informer(NODES)
        self.slices = informers.informer(RESOURCE_SLICES)
        self.claims = informers.informer(RESOURCE_CLAIMS)
        self.pods = informers.informer(PODS, field_selector=NOT_TERMINAL)
        self.informers: list[Informer] = [
            self.topology_informer,
            self.nodes,
            self.slices,
            self.claims,
            self.pods,
        ]
        # Pod uid -> the resourceVersion it had when this view's owner patched it: the
        # patch is not yet seen while the store still holds that version.
        self._expected: dict[str, str] = {}

    def topologies(self, decode: Callable[[KubeDict], Any]) -> list[Topology]:
        return [
            t
            for t in (decode(raw) for raw in self.topology_informer.store.values())
            if isinstance(t, Topology)
        ]

    def placement(
        self, inputs: QueueInput, state: QueueState, workloads: Iterable[Workload]
    ) -> TopologyPlacement | None:
        """The pass's TAS check; `workloads` are the pass's active Workloads (those holding
        quota are charged). `inputs` is not changed."""
        if not any(f.spec.topology_name for f in inputs.flavors.values()):
            return None
        tas = copy.copy(inputs)
        tas.nodes = [from_server(raw, Node) for raw in self.nodes.store.values()]
        tas.pods = [
            from_server(raw, Pod)
            for raw in self.pods.store.values()
            if (raw.get("spec") or {}).get("nodeName")
        ]
        tas.slices = [from_server(raw, ResourceSlice) for raw in self.slices.store.values()]
        claims = [
            claim
            for claim in (from_server(raw, ResourceClaim) for raw in self.claims.store.values())
            if claim.status.allocation is not None
        ]
        placement = TopologyPlacement.from_input(tas, claims)
        placement.add_admitted(state, workloads)
        return placement

    def ungate_patches(self, workloads: Mapping[str, Workload]) -> list[tuple[KubeDict, KubeDict]]:
        """(pod as stored, merge patch) for every gated pod the ungater releases now."""
        self._observe()
        by_workload: dict[tuple[str, str], list[KubeDict]] = {}
        for raw in self.pods.store.values():
            name = (metadata(raw).get("annotations") or {}).get(WORKLOAD_ANNOTATION)
            if name:
                by_workload.setdefault((namespace_of(raw), name), []).append(raw)
        out: list[tuple[KubeDict, KubeDict]] = []
        for workload in workloads.values():
            admission = workload.status.admission
            if admission is None or not workload.has_quota_reservation():
                continue
            if all(psa.topology_assignment is None for psa in admission.pod_set_assignments):
                continue
            raws = by_workload.get(
                (workload.metadata.namespace or "default", workload.metadata.name), []
            )
            if any(str(metadata(raw).get("uid")) in self._expected for raw in raws):
                continue  # Kueue's errPendingUngateOps: wait until the earlier ones show
            pods = [from_server(raw, Pod) for raw in raws]
            by_name = {str(metadata(raw).get("name")): raw for raw in raws}
            for pod in ungate(workload, pods):
                raw = by_name[pod.metadata.name]
                gates = [
                    g
                    for g in (raw.get("spec") or {}).get("schedulingGates") or []
                    if isinstance(g, dict) and g.get("name") != TOPOLOGY_GATE
                ]
                patch: KubeDict = {
                    "metadata": {"resourceVersion": metadata(raw).get("resourceVersion")},
                    "spec": {
                        "schedulingGates": gates or None,
                        "nodeSelector": dict(pod.spec.node_selector),
                    },
                }
                out.append((raw, patch))
        return out

    def expect(self, raw: KubeDict) -> None:
        """`raw` (as stored) was patched: ungate nothing more of its Workload until the
        store shows a newer version."""
        meta = metadata(raw)
        self._expected[str(meta.get("uid"))] = str(meta.get("resourceVersion"))

    def _observe(self) -> None:
        current = {
            str(metadata(raw).get("uid")): str(metadata(raw).get("resourceVersion"))
            for raw in self.pods.store.values()
        }
        for uid, version in list(self._expected.items()):
            if current.get(uid) != version:
                del self._expected[uid]
