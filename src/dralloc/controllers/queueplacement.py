"""Admission that knows placement (spec/queueing.md 8.1): a `PlacementCheck` backed by the
real scheduler, so a Workload is admitted only if the framework and allocator that will place
its pods can place all of them now (kueue#4329: admitted, then stuck unschedulable).

Owns: `SchedulerPlacement`, which for one Fit assignment

1. makes the pods Kueue's admission would release: the Workload's Job or JobSet as Kueue
   starts it (`started_job`, what `PodSetInfo` injects: the assigned flavors' `nodeLabels`
   merged into the pod templates' `nodeSelector` and their `tolerations` appended, the
   `kueue.x-k8s.io/podset` label and `kueue.x-k8s.io/workload` annotation, the
   `kueue.x-k8s.io/topology` scheduling gate for a pod set with a topology assignment, a
   partially admitted Job's `parallelism` set to the admitted count), expanded by the same
   workload controllers `dralloc schedule` runs; a Workload given without its job gets pods
   from its pod set templates. Gated pods are released as Kueue's TopologyUngater releases
   them (`ungate`: the gate removed, the nodeSelector of the pod's domain added, by rank for
   indexed Jobs and JobSets), so each pod is checked inside its domain;
2. creates their claims from ResourceClaimTemplates as the ResourceClaim controller would;
3. asks `place_gang` (minCount: every pod of the admitted counts) on the cluster cache, where
   the pods of the Workloads admitted before are bound.

It is also a `PreemptionPlacement` (`queueing.cycle`): `placeable_without(victims)` takes
the victims' pods and claims out of the cache, asks `place_gang` without binding, and puts
everything back, so the preemptor names only victims whose removal lets all its pods be
placed (spec 8.2, kueue#5243); `what_ifs=False` turns that off.

On success the pods are bound in the cache at once (the cycle admits a Fit entry that passed
the check; nothing after the check can undo it), so the next check sees them; `forget`
removes them again when a Workload is evicted. On failure the cache is as before (place_gang
undoes its assumptions; the claims made for the trial are removed) and the answer names the
first member that fits nowhere with its FitError text.

`released_objects` gives `dralloc queue` the same started job, the Jobs its JobSet makes and
the ungated pods, to schedule for a Workload admitted with topology domains.

Lives in `controllers/` because it needs the workload controllers and the ResourceClaim
controller, which sit above `dralloc.queueing` and `dralloc.scheduler` in the layers; so
`dralloc queue` (cli), the job-trace replay (sim) and the live queue controller (kube) share
it. Pure computation over the cache it is given: no I/O.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from dralloc.api.core import Pod, PodSchedulingGate, PriorityClass, Toleration
from dralloc.api.io import LoadedObject, kube_dict
from dralloc.api.meta import ObjectMeta
from dralloc.api.resource import ResourceClaim, ResourceClaimTemplate
from dralloc.api.workloads import Job, JobSet, PodTemplateSpec
from dralloc.controllers import InMemoryClaimClient, ResourceClaimController
from dralloc.controllers.manifests import expand_controllers
from dralloc.queueing import Assignment, ResourceFlavor, Snapshot, Workload
from dralloc.queueing.objects import Admission
from dralloc.queueing.queues import QueuedWorkload
from dralloc.queueing.topology import (
    PODSET_LABEL,
    TOPOLOGY_GATE,
    UNCONSTRAINED_ANNOTATION,
    WORKLOAD_ANNOTATION,
    TopologyRequest,
    ungate_pods,
)
from dralloc.scheduler.admission import admit_pod
from dralloc.scheduler.cache import SchedulerCache, claim_key, pod_claim_keys
from dralloc.scheduler.config import DEFAULT_SCHEDULER_NAME
from dralloc.scheduler.framework import Framework, PodInfo
from dralloc.scheduler.gangs import Gang, GangKey, GangSource, place_gang


def flavor_pod_fields(
    flavors: Mapping[str, ResourceFlavor], names: Sequence[str]
) -> tuple[dict[str, str], list[Toleration]]:
    """The nodeSelector and tolerations Kueue injects for a pod set assigned `names`."""
    selector: dict[str, str] = {}
    tolerations: list[Toleration] = []
    for name in dict.fromkeys(names):
        flavor = flavors.get(name)
        if flavor is None:
            continue
        selector.update(flavor.spec.node_labels)
        tolerations += [t for t in flavor.spec.tolerations if t not in tolerations]
    return selector, tolerations


@dataclass
class PodSetInfo:
    """What Kueue's integration injects into one pod set's template when it starts the job
    (`podset.FromAssignment` and `getPodSetsInfoFromStatus`): the flavors' nodeLabels and
    tolerations, the `kueue.x-k8s.io/podset` label and `kueue.x-k8s.io/workload` annotation
    (gate TopologyAwareScheduling, on by default), and for a pod set with a topology
    assignment the `kueue.x-k8s.io/topology` scheduling gate (plus the unconstrained
    annotation for implicit TAS), which the TopologyUngater (`ungate`) lifts per pod."""

    node_selector: dict[str, str]
    tolerations: list[Toleration]
    labels: dict[str, str]
    annotations: dict[str, str]
    gates: list[str]

    @classmethod
    def of(cls, workload: Workload, name: str, flavors: Mapping[str, ResourceFlavor]) -> PodSetInfo:
        admission = workload.status.admission
        found = admission.pod_set_assignments if admission else []
        psa = next((a for a in found if a.name == name), None)
        selector, tolerations = flavor_pod_fields(
            flavors, list(psa.flavors.values()) if psa else []
        )
        info = cls(selector, tolerations, {PODSET_LABEL: name}, {}, [])
        info.annotations[WORKLOAD_ANNOTATION] = workload.metadata.name
        if psa is not None and psa.topology_assignment is not None:
            pod_set = next((p for p in workload.spec.pod_sets if p.name == name), None)
            request = TopologyRequest.from_dict(pod_set.topology_request if pod_set else None)
            if request is None or not (
                request.required or request.preferred or request.unconstrained
            ):
                info.annotations[UNCONSTRAINED_ANNOTATION] = "true"
            info.gates.append(TOPOLOGY_GATE)
        return info

    def apply(self, template: PodTemplateSpec) -> PodTemplateSpec:
        """A copy of `template` with this pod set's fields merged in."""
        template = copy.deepcopy(template)
        meta, spec = template.metadata, template.spec
        meta.labels = {**meta.labels, **self.labels}
        meta.annotations = {**meta.annotations, **self.annotations}
        spec.node_selector = {**spec.node_selector, **self.node_selector}
        spec.tolerations = [
            *spec.tolerations,
            *(t for t in self.tolerations if t not in spec.tolerations),
        ]
        # A template started before with a topology gate, now admitted without topology
        # domains, loses it (Kueue restores the template when it stops a job).
        kept = [g for g in spec.scheduling_gates if g.name in self.gates or g.name != TOPOLOGY_GATE]
        present = {g.name for g in kept}
        spec.scheduling_gates = [
            *kept,
            *(PodSchedulingGate(g) for g in self.gates if g not in present),
        ]
        return template

    def apply_raw(self, raw: dict[str, Any]) -> None:
        """The same merge on a wire-form pod template, in place."""
        from dralloc.api.io import to_builtins

        meta = raw.setdefault("metadata", {})
        meta["labels"] = {**(meta.get("labels") or {}), **self.labels}
        meta["annotations"] = {**(meta.get("annotations") or {}), **self.annotations}
        spec = raw.setdefault("spec", {})
        if self.node_selector:
            spec["nodeSelector"] = {**(spec.get("nodeSelector") or {}), **self.node_selector}
        present = list(spec.get("tolerations") or [])
        added = [t for t in (to_builtins(t) for t in self.tolerations) if t not in present]
        if added:
            spec["tolerations"] = present + added
        gates = [
            g
            for g in spec.get("schedulingGates") or []
            if not isinstance(g, dict)
            or g.get("name") in self.gates
            or g.get("name") != TOPOLOGY_GATE
        ]
        names = {g.get("name") for g in gates if isinstance(g, dict)}
        gates += [{"name": g} for g in self.gates if g not in names]
        if gates:
            spec["schedulingGates"] = gates
        elif "schedulingGates" in spec:
            spec["schedulingGates"] = None


def started_job(
    loaded: LoadedObject, workload: Workload, flavors: Mapping[str, ResourceFlavor]
) -> LoadedObject:
    """The job as Kueue's integration starts it once `workload` is admitted (module
    docstring, `PodSetInfo`), raw document and typed object alike."""
    admission = workload.status.admission
    assignments = {a.name: a for a in admission.pod_set_assignments} if admission else {}
    raw = copy.deepcopy(loaded.raw)
    obj = copy.deepcopy(loaded.obj)
    raw_spec = raw.setdefault("spec", {})
    raw_spec["suspend"] = False
    if isinstance(obj, Job):
        info = PodSetInfo.of(workload, "main", flavors)
        obj.spec.suspend = False
        obj.spec.template = info.apply(obj.spec.template)
        info.apply_raw(raw_spec.setdefault("template", {}))
        psa = assignments.get("main")
        count = psa.count if psa is not None else None
        full = workload.spec.pod_sets[0].count if workload.spec.pod_sets else None
        if count is not None and full is not None and count < full:
            obj.spec.parallelism = count
            raw_spec["parallelism"] = count
    elif isinstance(obj, JobSet):
        obj.spec.suspend = False
        raw_jobs = raw_spec.get("replicatedJobs") or []
        for index, rj in enumerate(obj.spec.replicated_jobs):
            info = PodSetInfo.of(workload, rj.name, flavors)
            rj.template.spec.template = info.apply(rj.template.spec.template)
            if index < len(raw_jobs):
                job_spec = raw_jobs[index].setdefault("template", {}).setdefault("spec", {})
                info.apply_raw(job_spec.setdefault("template", {}))
    return LoadedObject(loaded.file, loaded.document, raw, obj)


def ungate(workload: Workload, pods: Sequence[Pod]) -> list[Pod]:
    """Kueue's TopologyUngater for the pods of admitted `workload`: per pod set with a
    topology assignment, its pods (label `kueue.x-k8s.io/podset`, annotation
    `kueue.x-k8s.io/workload`, not finished) are matched to the assignment's slots, by rank
    for indexed Jobs and JobSets or greedily (`topology.ungate_pods`), and each gated one
    loses the `kueue.x-k8s.io/topology` gate and gets its domain's level labels merged into
    its nodeSelector. Returns the pods changed, as copies; the others are not touched.
    Not modelled: LeaderWorkerSet leader/worker groups and the pod index offset annotation."""
    admission = workload.status.admission
    if admission is None:
        return []
    requests = {
        p.name: TopologyRequest.from_dict(p.topology_request) for p in workload.spec.pod_sets
    }
    counts = {p.name: p.count for p in workload.spec.pod_sets}
    out: list[Pod] = []
    for psa in admission.pod_set_assignments:
        if psa.topology_assignment is None:
            continue
        members = [
            p
            for p in pods
            if p.metadata.labels.get(PODSET_LABEL) == psa.name
            and p.metadata.annotations.get(WORKLOAD_ANNOTATION) == workload.metadata.name
            and p.status.phase not in ("Succeeded", "Failed")
        ]
        count = psa.count if psa.count is not None else counts.get(psa.name, len(members))
        for pod, selector in ungate_pods(
            psa.topology_assignment, requests.get(psa.name), count, members
        ):
            changed = copy.deepcopy(pod)
            changed.spec.scheduling_gates = [
                g for g in changed.spec.scheduling_gates if g.name != TOPOLOGY_GATE
            ]
            changed.spec.node_selector = {**changed.spec.node_selector, **selector}
            out.append(changed)
    return out


def released_objects(
    loaded: LoadedObject,
    workload: Workload,
    flavors: Mapping[str, ResourceFlavor],
    seed: int,
) -> list[LoadedObject]:
    """The admitted `workload`'s job started, the Jobs its JobSet makes, and the pods they
    make, with the TopologyUngater's nodeSelectors: what `dralloc queue` schedules for a
    Workload admitted by TAS. The Jobs and pods carry the owner references and
    controller-uid labels that make the workload controllers count them as the job's own."""
    started = started_job(loaded, workload, flavors)
    made = expand_controllers([started], seed)
    pods = [c.obj for c in made.created if isinstance(c.obj, Pod)]
    ungated = {id(p): u for p, u in _ungated_by_identity(workload, pods)}
    out = [started]
    out += [
        LoadedObject(loaded.file, loaded.document, kube_dict(job), job)
        for job in made.expansion.jobs
        if job.metadata.owner_references
    ]
    for created in made.created:
        pod = created.obj
        if not isinstance(pod, Pod) or id(pod) not in ungated:
            out.append(created)
            continue
        changed = ungated[id(pod)]
        raw = copy.deepcopy(created.raw)
        spec = raw.setdefault("spec", {})
        spec["nodeSelector"] = dict(changed.spec.node_selector)
        gates = [g for g in spec.get("schedulingGates") or [] if g.get("name") != TOPOLOGY_GATE]
        if gates:
            spec["schedulingGates"] = gates
        else:
            spec.pop("schedulingGates", None)
        out.append(LoadedObject(created.file, created.document, raw, changed))
    return out


def _ungated_by_identity(workload: Workload, pods: Sequence[Pod]) -> list[tuple[Pod, Pod]]:
    """(the pod given, its ungated copy) for each pod `ungate` changes."""
    by_key = {(p.metadata.namespace, p.metadata.name): p for p in pods}
    return [(by_key[(u.metadata.namespace, u.metadata.name)], u) for u in ungate(workload, pods)]


def suspended_job(loaded: LoadedObject) -> LoadedObject:
    """The job as Kueue's webhook keeps it until its Workload is admitted: suspended."""
    raw = copy.deepcopy(loaded.raw)
    obj = copy.deepcopy(loaded.obj)
    raw.setdefault("spec", {})["suspend"] = True
    if isinstance(obj, Job | JobSet):
        obj.spec.suspend = True
    return LoadedObject(loaded.file, loaded.document, raw, obj)


@dataclass
class PlacedWorkload:
    """What an admitted Workload holds in the placement cache: its pods and their claims."""

    pods: list[Pod]
    nodes: dict[str, str]
    claims: list[str]


@dataclass
class SchedulerPlacement:
    """The `PlacementCheck` (see the module docstring). `jobs`: the Workload key -> the
    Job or JobSet it stands for; `frameworks`: the profiles by scheduler name."""

    cache: SchedulerCache
    frameworks: Mapping[str, Framework]
    flavors: Mapping[str, ResourceFlavor]
    jobs: Mapping[str, LoadedObject]
    templates: Sequence[ResourceClaimTemplate]
    priority_classes: Mapping[str, PriorityClass]
    seed: int = 0
    # True: pods whose schedulerName has no profile here are not checked (the Workload is
    # admitted on quota), as the live queue controller does, where another scheduler places
    # them; False: such a Workload waits, as offline, where nothing else would place them.
    skip_other_schedulers: bool = False
    placed: dict[str, PlacedWorkload] = field(default_factory=dict)
    # Answer the preemptor's what-ifs (`placeable_without`); False: every victim set is
    # placeable as far as this check says, so victims are chosen by quota only (the switch
    # the cycle's `placement_preemption` also gives).
    what_ifs: bool = True
    # The last answer per Workload key, for `--explain` and the tables.
    answers: dict[str, str] = field(default_factory=dict)

    def pods_of(self, workload: Workload) -> list[Pod]:
        """The pods the admitted `workload` releases, before their claims exist; a pod set
        with a topology assignment has its pods ungated (`ungate`), so each is checked in
        its domain."""
        key = f"{workload.metadata.namespace}/{workload.metadata.name}"
        loaded = self.jobs.get(key)
        if loaded is not None:
            started = started_job(loaded, workload, self.flavors)
            made = expand_controllers([started], self.seed)
            pods = []
            for created in made.created:
                assert isinstance(created.obj, Pod)
                pod, _ = admit_pod(created, created.obj, self.priority_classes)
                pods.append(pod)
        else:
            pods = self._template_pods(workload)
        ungated = {(p.metadata.namespace, p.metadata.name): p for p in ungate(workload, pods)}
        return [ungated.get((p.metadata.namespace, p.metadata.name), p) for p in pods]

    def _template_pods(self, workload: Workload) -> list[Pod]:
        admission = workload.status.admission
        counts = {a.name: a for a in admission.pod_set_assignments} if admission else {}
        pods = []
        for ps in workload.spec.pod_sets:
            psa = counts.get(ps.name)
            count = psa.count if psa is not None and psa.count is not None else ps.count
            template = PodSetInfo.of(workload, ps.name, self.flavors).apply(ps.template)
            for index in range(count):
                meta = copy.deepcopy(template.metadata)
                pods.append(
                    Pod(
                        metadata=ObjectMeta(
                            name=f"{workload.metadata.name}-{ps.name}-{index}",
                            namespace=workload.metadata.namespace or "default",
                            labels=meta.labels,
                            annotations=meta.annotations,
                        ),
                        spec=copy.deepcopy(template.spec),
                    )
                )
        return pods

    def _with_claims(self, key: str, pods: list[Pod]) -> tuple[list[Pod], list[str]]:
        client = InMemoryClaimClient(
            self.cache.claims.values(),
            list(self.templates),
            rng=random.Random(f"claim-names/{self.seed}/{key}"),
        )
        controller = ResourceClaimController(client)
        synced_pods: list[Pod] = []
        made: list[str] = []
        for pod in pods:
            synced = controller.sync_pod(pod)
            for claim in synced.created:
                self.cache.set_claim(claim)
                made.append(claim_key(claim))
            synced_pods.append(synced.pod)
        return synced_pods, made

    def check(
        self, snapshot: Snapshot, entry: QueuedWorkload, assignment: Assignment
    ) -> str | None:
        workload = copy.deepcopy(entry.workload)
        workload.status.admission = _admission(entry, assignment)
        answer = self.place(workload)
        if answer is not None:
            self.answers[entry.key] = answer
        else:
            self.answers.pop(entry.key, None)
        return answer

    def place(self, workload: Workload, *, running: int = 0, bind: bool = True) -> str | None:
        """Place (and on success bind in the cache) the pods of `workload`, whose
        `status.admission` says the counts and flavors; None, or why not. `running`: how
        many of its pods are bound already (and in the cache): only the others are placed.
        `bind=False`: only ask (the cache and `placed` are left as they were)."""
        key = f"{workload.metadata.namespace}/{workload.metadata.name}"
        pods, claims = self._with_claims(key, self.pods_of(workload)[running:])
        if not pods:
            if bind:
                self.placed[key] = PlacedWorkload([], {}, claims)
            return None
        names = {pod.spec.scheduler_name or DEFAULT_SCHEDULER_NAME for pod in pods}
        name = sorted(names)[0]
        framework = self.frameworks.get(name)
        if framework is None and self.skip_other_schedulers and len(names) == 1:
            self._drop_claims(claims)
            if bind:
                self.placed[key] = PlacedWorkload([], {}, [])
            return None
        if framework is None or len(names) > 1:
            self._drop_claims(claims)
            return f"no scheduler profile {name!r} for the pods of {key}"
        gang = Gang(
            GangKey(
                workload.metadata.namespace or "default",
                workload.metadata.name,
                GangSource.POD_GROUP,
            ),
            min_count=len(pods),
        )
        placement = place_gang(self.cache, framework, gang, pods)
        if not placement.is_admitted:
            self._drop_claims(claims)
            blocking = placement.blocking
            if blocking is not None:
                return f"pod {blocking.key}: {blocking.message}"
            return placement.message
        if not bind:
            self._drop_claims(claims)
            return None
        bound = place_gang(self.cache, framework, gang, pods, bind=True)
        self.placed[key] = PlacedWorkload(pods, bound.placed, claims)
        return None

    def placeable_without(
        self,
        snapshot: Snapshot,
        entry: QueuedWorkload,
        assignment: Assignment,
        victims: Sequence[str],
    ) -> str | None:
        """`PreemptionPlacement`: could every pod of `assignment` be placed if the admitted
        Workloads `victims` were gone? A what-if on the cache: the victims' pods and claims
        are taken out, the pods placed without binding, and everything put back as it was
        (the claim objects themselves, so allocations and reservations are restored)."""
        if not self.what_ifs:
            return None
        workload = copy.deepcopy(entry.workload)
        workload.status.admission = _admission(entry, assignment)
        with self._without(victims):
            return self.place(workload, bind=False)

    def fragmented_pod_sets(self, entry: QueuedWorkload) -> Sequence[str]:
        """`PreemptionPlacement`: never (a refusal here is not Kueue's TAS fragmentation)."""
        return ()

    @contextmanager
    def _without(self, victims: Sequence[str]) -> Iterator[None]:
        gone = [self.placed[k] for k in dict.fromkeys(victims) if k in self.placed]
        cache = self.cache
        pods: list[tuple[PodInfo, str]] = []
        claims: dict[str, ResourceClaim] = {}
        for placed in gone:
            for key in placed.claims:
                if key in cache.claims:
                    claims.setdefault(key, cache.claims[key])
            for pod in placed.pods:
                key = f"{pod.metadata.namespace}/{pod.metadata.name}"
                cached = cache.pods.get(key)
                if cached is None:
                    continue
                for _, claim_name in pod_claim_keys(cached[0].pod):
                    if claim_name is not None and claim_name in cache.claims:
                        claims.setdefault(claim_name, cache.claims[claim_name])
                pods.append(cached)
        try:
            for info, _ in pods:
                cache.remove_pod(info.pod)
            for placed in gone:
                for key in placed.claims:
                    cache.remove_claim(key)
            yield
        finally:
            for key, claim in claims.items():
                if cache.claims.get(key) is not claim:
                    cache.set_claim(claim)
            for info, node in pods:
                cache.assume_pod(info, node)

    def _drop_claims(self, claims: Sequence[str]) -> None:
        for claim in claims:
            self.cache.remove_claim(claim)

    def forget(self, key: str) -> None:
        """An admitted Workload was evicted: its pods and claims leave the cache."""
        placed = self.placed.pop(key, None)
        if placed is None:
            return
        for pod in placed.pods:
            self.cache.remove_pod(pod)
        self._drop_claims(placed.claims)


def _admission(entry: QueuedWorkload, assignment: Assignment) -> Admission:
    return Admission(cluster_queue=entry.cluster_queue, pod_set_assignments=assignment.to_api())
