"""What the queue controller reads (`queue.py` says what it does with it): the Kueue
resources it watches (`kueue.x-k8s.io/v1beta2`) and `QueueReader`, which turns the informers'
stores into one pass's `dralloc.queueing.QueueInput`: Kueue's objects decoded and validated
as `dralloc queue` reads them, PriorityClasses, DeviceClasses, ResourceClaimTemplates,
namespace labels and, where served, Topologies; the queued Jobs and JobSets by uid; and the
Workload Kueue's integration would make for each of them.

A bad object is left out and logged once per resourceVersion (the pass runs on every event,
so it would be logged again each time otherwise).

Owns its set of objects already reported; the informers own the objects. No writes.
"""

from __future__ import annotations

import logging
from typing import Any

from dralloc.api.core import PriorityClass
from dralloc.api.io import from_server
from dralloc.api.resource import DeviceClass, ResourceClaimTemplate
from dralloc.api.workloads import Job, JobSet
from dralloc.kube.client import (
    DEVICE_CLASSES,
    JOBS,
    NAMESPACES,
    PRIORITY_CLASSES,
    RESOURCE_CLAIM_TEMPLATES,
    KubeDict,
    Resource,
)
from dralloc.kube.controllers.base import metadata, name_of, namespace_of, uid_of
from dralloc.kube.controllers.queuetopology import TopologyView
from dralloc.kube.informer import Informer
from dralloc.kube.shared_informers import SharedInformers
from dralloc.queueing import (
    QueueInput,
    Workload,
    decode_document,
    workload_for_job,
    workload_for_jobset,
)
from dralloc.queueing.jobs import QUEUE_NAME_LABEL

log = logging.getLogger(__name__)

KUEUE_API_VERSION = "kueue.x-k8s.io/v1beta2"
RESOURCE_FLAVORS = Resource(KUEUE_API_VERSION, "resourceflavors", "ResourceFlavor", False)
CLUSTER_QUEUES = Resource(KUEUE_API_VERSION, "clusterqueues", "ClusterQueue", False)
COHORTS = Resource(KUEUE_API_VERSION, "cohorts", "Cohort", False)
LOCAL_QUEUES = Resource(KUEUE_API_VERSION, "localqueues", "LocalQueue")
WORKLOAD_PRIORITY_CLASSES = Resource(
    KUEUE_API_VERSION, "workloadpriorityclasses", "WorkloadPriorityClass", False
)
WORKLOADS = Resource(KUEUE_API_VERSION, "workloads", "Workload")
KUEUE_RESOURCES = (
    RESOURCE_FLAVORS,
    CLUSTER_QUEUES,
    COHORTS,
    LOCAL_QUEUES,
    WORKLOAD_PRIORITY_CLASSES,
    WORKLOADS,
)
# Kueue's controller manager's leader-election Lease (config: leaderElection.resourceName),
# in the namespace it runs in (kueue-system by default).
KUEUE_LEASE = "c1f6bfd2.kueue.x-k8s.io"
# Bad objects remembered so each version is logged once; forgotten all at once past this.
REPORTED_LIMIT = 1000


class QueueReader:
    """One pass's view of the informers' stores (module docstring).

    >>> reader = QueueReader(informers)  # doctest: +SKIP
    >>> inp, raws = reader.read(), reader.workloads(inp)  # doctest: +SKIP
    """

    def __init__(self, informers: SharedInformers) -> None:
        self.kueue = {r.plural: informers.informer(r) for r in KUEUE_RESOURCES}
        self.jobs = informers.informer(JOBS)
        # JobSets only where their CRD is served (Kueue enables an integration the same
        # way): the controller adds the informer when it starts.
        self.jobsets: Informer | None = None
        self.priority_classes = informers.informer(PRIORITY_CLASSES)
        self.namespaces = informers.informer(NAMESPACES)
        self.device_classes = informers.informer(DEVICE_CLASSES)
        self.claim_templates = informers.informer(RESOURCE_CLAIM_TEMPLATES)
        # Topology-aware scheduling where Topologies are served: set when the controller starts.
        self.topology: TopologyView | None = None
        # Bad objects already reported, so a pass repeated every event does not log them again.
        self._reported: set[str] = set()

    @property
    def informers(self) -> list[Informer]:
        """The informers read on every pass (JobSets and Topologies come later, if served)."""
        return [
            *self.kueue.values(),
            self.jobs,
            self.priority_classes,
            self.namespaces,
            self.device_classes,
            self.claim_templates,
        ]

    def read(self) -> QueueInput:
        """Everything but the Workloads (`workloads` adds them)."""
        inp = QueueInput()
        for informer in self.kueue.values():
            if informer.resource is WORKLOADS:
                continue
            for raw in informer.store.values():
                obj = self.decode(raw)
                if obj is not None:
                    inp.add(obj)
        for raw in self.priority_classes.store.values():
            pc = from_server(raw, PriorityClass)
            inp.priority_classes[pc.metadata.name] = pc
        for raw in self.device_classes.store.values():
            dc = from_server(raw, DeviceClass)
            inp.device_classes[dc.metadata.name] = dc
        for raw in self.claim_templates.store.values():
            rct = from_server(raw, ResourceClaimTemplate)
            inp.claim_templates[(rct.metadata.namespace or "default", rct.metadata.name)] = rct
        for raw in self.namespaces.store.values():
            inp.namespace_labels[name_of(raw)] = dict(metadata(raw).get("labels") or {})
        if self.topology is not None:
            for topology in self.topology.topologies(self.decode):
                inp.add(topology)
        return inp

    def workloads(self, inp: QueueInput) -> dict[str, KubeDict]:
        """Adds the stored Workloads to `inp` by `namespace/name`; their raw objects, by the
        same key (what the status writes start from)."""
        raws: dict[str, KubeDict] = {}
        for raw in self.kueue[WORKLOADS.plural].store.values():
            workload = self.decode(raw)
            if isinstance(workload, Workload):
                wl_key = f"{namespace_of(raw)}/{name_of(raw)}"
                inp.workloads[wl_key] = workload
                raws[wl_key] = raw
        return raws

    def decode(self, raw: KubeDict) -> Any:
        """A Kueue object (or Topology) as `dralloc queue` reads it; None when it is bad."""
        label = f"{raw.get('kind')} {namespace_of(raw)}/{name_of(raw)}".replace(" /", " ")
        obj, problems = decode_document(raw, label, 0)
        if problems:
            seen = f"{label}@{metadata(raw).get('resourceVersion')}"
            if seen not in self._reported:
                if len(self._reported) >= REPORTED_LIMIT:
                    self._reported.clear()
                self._reported.add(seen)
                for problem in problems:
                    log.warning("queue: ignoring %s", problem)
            return None
        return obj

    def queued_jobs(self) -> dict[str, KubeDict]:
        """Queued Jobs and JobSets by uid."""
        out: dict[str, KubeDict] = {}
        for informer, kind in ((self.jobs, "Job"), (self.jobsets, "JobSet")):
            if informer is None:
                continue
            for raw in informer.store.values():
                if (metadata(raw).get("labels") or {}).get(QUEUE_NAME_LABEL):
                    out[uid_of(raw)] = {**raw, "kind": kind}
        return out


def workload_for(job: KubeDict, inp: QueueInput) -> Workload:
    """The Workload Kueue's integration makes for a queued Job or JobSet."""
    wpcs, pcs = inp.workload_priority_classes, inp.priority_classes
    if job["kind"] == "JobSet":
        return workload_for_jobset(from_server(job, JobSet), wpcs, pcs)
    return workload_for_job(from_server(job, Job), wpcs, pcs)
