"""The cluster the live queue controller's placement check runs on (spec/queueing.md 8.1,
kueue#4329): admission that knows placement, in cluster mode.

`LivePlacement` holds what a check needs besides the objects: the feature gates, the
scheduler's profiles (the same `KubeSchedulerConfiguration` as `dralloc scheduler`) and the
ownership rule. `ClusterView` watches Nodes, ResourceSlices, DeviceClasses, ResourceClaims,
pods not finished and Namespaces through the process's `SharedInformers`, so in a process that
also runs the scheduler both read the same stores (one watch per resource): the cluster as the
live scheduler sees it. Each queue pass asks `ClusterView.placement(...)` for a
`PlacementCheck`; the first check of the pass builds a `SchedulerCache` from the stores
(owned nodes only, slices the ownership rule allows, allocated claims, bound pods on their
nodes) and a framework per profile, and then reserves room for every Workload that holds
quota but whose pods are not all bound yet (they were admitted by an earlier pass and are
being created and scheduled): without that, two passes could admit two Workloads into the
same free GPUs. `controllers.queueplacement.SchedulerPlacement` does the rest, as in
`dralloc queue`. A pass that checks nothing builds nothing.

Departures, stated: the cache is what the API server has said, not the live scheduler's
in-flight assumptions (a pod being bound this instant is seen a moment later); of a Workload
partly bound, the pods still to come are its pod sets' last ones, whichever they are.

Reads the informers' stores; never writes. Owns nothing long-lived: each pass's cache is
dropped with the pass.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from dralloc.api.core import Node, Pod, PriorityClass
from dralloc.api.io import LoadedObject, from_server
from dralloc.api.resource import DeviceClass, ResourceClaim, ResourceClaimTemplate, ResourceSlice
from dralloc.api.workloads import Job, JobSet
from dralloc.controllers.queueplacement import SchedulerPlacement
from dralloc.controllers.workloads.jobset import JOBSET_UID_KEY
from dralloc.features import Features
from dralloc.kube.client import (
    DEVICE_CLASSES,
    NAMESPACES,
    NODES,
    PODS,
    RESOURCE_CLAIMS,
    RESOURCE_SLICES,
    KubeDict,
)
from dralloc.kube.controllers.base import metadata, name_of
from dralloc.kube.informer import Informer
from dralloc.kube.ownership import Ownership
from dralloc.kube.shared_informers import SharedInformers
from dralloc.queueing import Assignment, ResourceFlavor, Snapshot, Workload
from dralloc.queueing.queues import QueuedWorkload
from dralloc.scheduler.builder import SchedulerInputs, build_scheduler
from dralloc.scheduler.config import SchedulerConfiguration
from dralloc.scheduler.offline import place_running_pods

log = logging.getLogger(__name__)

# The live scheduler's pod informer: the same selector shares its store.
NOT_TERMINAL = "status.phase!=Succeeded,status.phase!=Failed"
# Where a pass's trial claims get their names from (never written anywhere).
SEED = 0


@dataclass(frozen=True)
class LivePlacement:
    """What the queue controller's placement check is built from (`dralloc scheduler`'s
    flags): feature gates, profiles (by schedulerName) and which nodes are dralloc's."""

    features: Features = field(default_factory=Features)
    config: SchedulerConfiguration = field(default_factory=SchedulerConfiguration)
    ownership: Ownership = field(default_factory=Ownership)


class ClusterView:
    """The informers the check reads, and a `PlacementCheck` per pass (module docstring).

    >>> view = ClusterView(informers, LivePlacement(features, config))   # doctest: +SKIP
    >>> check = view.placement(flavors, jobs, templates, classes, admitted)  # doctest: +SKIP
    """

    def __init__(self, informers: SharedInformers, options: LivePlacement) -> None:
        self.options = options
        self.nodes = informers.informer(NODES)
        self.slices = informers.informer(RESOURCE_SLICES)
        self.classes = informers.informer(DEVICE_CLASSES)
        self.claims = informers.informer(RESOURCE_CLAIMS)
        self.pods = informers.informer(PODS, field_selector=NOT_TERMINAL)
        self.namespaces = informers.informer(NAMESPACES)
        self.informers: list[Informer] = [
            self.nodes,
            self.slices,
            self.classes,
            self.claims,
            self.pods,
        ]

    def placement(
        self,
        flavors: Mapping[str, ResourceFlavor],
        jobs: Mapping[str, KubeDict],
        templates: Sequence[ResourceClaimTemplate],
        priority_classes: Mapping[str, PriorityClass],
        admitted: Mapping[str, Workload],
    ) -> PassPlacement:
        """A check for one pass: `jobs` is Workload key -> its Job or JobSet (as the
        informer holds it, with its kind); `admitted` the Workloads holding quota."""
        return PassPlacement(self, flavors, jobs, templates, priority_classes, admitted)

    def build(
        self,
        flavors: Mapping[str, ResourceFlavor],
        jobs: Mapping[str, KubeDict],
        templates: Sequence[ResourceClaimTemplate],
        priority_classes: Mapping[str, PriorityClass],
    ) -> SchedulerPlacement:
        """A `SchedulerPlacement` over a cache of the stores as they are now."""
        ownership = self.options.ownership
        nodes = [from_server(raw, Node) for raw in self.nodes.store.values()]
        owned = {n.metadata.name: n for n in nodes if ownership.owns_node(n.metadata.labels)}
        slices = [from_server(raw, ResourceSlice) for raw in self.slices.store.values()]
        labels = {
            name_of(raw): dict(metadata(raw).get("labels") or {})
            for raw in self.namespaces.store.values()
        }
        built = build_scheduler(
            SchedulerInputs(
                self.options.features,
                nodes=owned.values(),
                slices=[s for s in slices if ownership.may_use(s, owned)],
                classes=[from_server(raw, DeviceClass) for raw in self.classes.store.values()],
                claims=[from_server(raw, ResourceClaim) for raw in self.claims.store.values()],
                config=self.options.config,
                rng=random.Random(SEED),
                namespace_labels=lambda name: labels.get(name, {}),
            )
        )
        running = []
        for raw in self.pods.store.values():
            pod = from_server(raw, Pod)
            if pod.spec.node_name in owned:
                running.append(pod)
        place_running_pods(built.cache, running)
        loaded = {key: _loaded(raw) for key, raw in jobs.items()}
        return SchedulerPlacement(
            built.cache,
            built.frameworks,
            flavors,
            {k: v for k, v in loaded.items() if v is not None},
            list(templates),
            priority_classes,
            SEED,
            skip_other_schedulers=True,
        )

    def bound_pods(self, job: KubeDict) -> int:
        """How many pods of `job` (a Job's by owner, a JobSet's by its uid label) are bound."""
        uid = str(metadata(job).get("uid") or "")
        count = 0
        for raw in self.pods.store.values():
            meta = metadata(raw)
            owners = meta.get("ownerReferences") or []
            mine = any(o.get("uid") == uid for o in owners if isinstance(o, dict)) or (
                (meta.get("labels") or {}).get(JOBSET_UID_KEY) == uid
            )
            if mine and (raw.get("spec") or {}).get("nodeName"):
                count += 1
        return count


class PassPlacement:
    """The `PlacementCheck` of one queue pass; builds its cache at the first check."""

    def __init__(
        self,
        view: ClusterView,
        flavors: Mapping[str, ResourceFlavor],
        jobs: Mapping[str, KubeDict],
        templates: Sequence[ResourceClaimTemplate],
        priority_classes: Mapping[str, PriorityClass],
        admitted: Mapping[str, Workload],
    ) -> None:
        self.view = view
        self.flavors = flavors
        self.jobs = jobs
        self.templates = templates
        self.priority_classes = priority_classes
        self.admitted = admitted
        self.checker: SchedulerPlacement | None = None

    def _checker(self) -> SchedulerPlacement:
        if self.checker is None:
            checker = self.view.build(
                self.flavors, self.jobs, self.templates, self.priority_classes
            )
            for key, workload in self.admitted.items():
                job = self.jobs.get(key)
                running = self.view.bound_pods(job) if job is not None else 0
                why = checker.place(workload, running=running)
                if why is not None:
                    # Admitted before (or by a quota-only controller) and not placeable now:
                    # its pods wait in the scheduler's queue; nothing is reserved for them.
                    log.debug("queue: admitted %s holds no room: %s", key, why)
            self.checker = checker
        return self.checker

    def check(
        self, snapshot: Snapshot, entry: QueuedWorkload, assignment: Assignment
    ) -> str | None:
        return self._checker().check(snapshot, entry, assignment)

    def forget(self, key: str) -> None:
        """An admitted Workload was evicted in this pass: its pods leave the cache."""
        if self.checker is not None:
            self.checker.forget(key)


def _loaded(raw: KubeDict) -> LoadedObject | None:
    kind = raw.get("kind")
    where = f"cluster:{kind}"
    if kind == "JobSet":
        return LoadedObject(where, 0, raw, from_server(raw, JobSet))
    if kind == "Job":
        return LoadedObject(where, 0, raw, from_server(raw, Job))
    return None
