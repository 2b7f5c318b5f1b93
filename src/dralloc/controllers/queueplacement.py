"""Admission that knows placement (spec/queueing.md 8.1): a `PlacementCheck` backed by the
real scheduler, so a Workload is admitted only if the framework and allocator that will place
its pods can place all of them now (kueue#4329: admitted, then stuck unschedulable).

Owns: `SchedulerPlacement`, which for one Fit assignment

1. makes the pods Kueue's admission would release: the Workload's Job or JobSet as Kueue
   starts it (`started_job`: unsuspended, the assigned flavors' `nodeLabels` merged into the
   pod templates' `nodeSelector` and their `tolerations` appended, a partially admitted Job's
   `parallelism` set to the admitted count), expanded by the same workload controllers
   `dralloc schedule` runs; a Workload given without its job gets pods from its pod set
   templates;
2. creates their claims from ResourceClaimTemplates as the ResourceClaim controller would;
3. asks `place_gang` (minCount: every pod of the admitted counts) on the cluster cache, where
   the pods of the Workloads admitted before are bound.

On success the pods are bound in the cache at once (the cycle admits a Fit entry that passed
the check; nothing after the check can undo it), so the next check sees them; `forget`
removes them again when a Workload is evicted. On failure the cache is as before (place_gang
undoes its assumptions; the claims made for the trial are removed) and the answer names the
first member that fits nowhere with its FitError text.

Lives in `controllers/` because it needs the workload controllers and the ResourceClaim
controller, which sit above `dralloc.queueing` and `dralloc.scheduler` in the layers; so
`dralloc queue` (cli), the job-trace replay (sim) and the live queue controller (kube) share
it. Pure computation over the cache it is given: no I/O.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from dralloc.api.core import Pod, PriorityClass, Toleration
from dralloc.api.io import LoadedObject
from dralloc.api.meta import ObjectMeta
from dralloc.api.resource import ResourceClaimTemplate
from dralloc.api.workloads import Job, JobSet, PodTemplateSpec
from dralloc.controllers import InMemoryClaimClient, ResourceClaimController
from dralloc.controllers.manifests import expand_controllers
from dralloc.queueing import Assignment, ResourceFlavor, Snapshot, Workload
from dralloc.queueing.objects import Admission
from dralloc.queueing.queues import QueuedWorkload
from dralloc.scheduler.admission import admit_pod
from dralloc.scheduler.cache import SchedulerCache, claim_key
from dralloc.scheduler.config import DEFAULT_SCHEDULER_NAME
from dralloc.scheduler.framework import Framework
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


def _injected(
    template: PodTemplateSpec, selector: Mapping[str, str], tolerations: Sequence[Toleration]
) -> PodTemplateSpec:
    template = copy.deepcopy(template)
    template.spec.node_selector = {**template.spec.node_selector, **selector}
    template.spec.tolerations = [
        *template.spec.tolerations,
        *(t for t in tolerations if t not in template.spec.tolerations),
    ]
    return template


def _raw_template(
    raw: dict[str, object], selector: Mapping[str, str], tolerations: list[object]
) -> None:
    spec = raw.setdefault("spec", {})
    assert isinstance(spec, dict)
    if selector:
        spec["nodeSelector"] = {**(spec.get("nodeSelector") or {}), **selector}
    if tolerations:
        spec["tolerations"] = [*(spec.get("tolerations") or []), *tolerations]


def started_job(
    loaded: LoadedObject, workload: Workload, flavors: Mapping[str, ResourceFlavor]
) -> LoadedObject:
    """The job as Kueue's integration starts it once `workload` is admitted (module
    docstring), raw document and typed object alike."""
    from dralloc.api.io import to_builtins

    admission = workload.status.admission
    assignments = {a.name: a for a in admission.pod_set_assignments} if admission else {}
    raw = copy.deepcopy(loaded.raw)
    obj = copy.deepcopy(loaded.obj)
    raw_spec = raw.setdefault("spec", {})
    raw_spec["suspend"] = False

    def fields(name: str) -> tuple[dict[str, str], list[Toleration]]:
        psa = assignments.get(name)
        return flavor_pod_fields(flavors, list(psa.flavors.values()) if psa else [])

    if isinstance(obj, Job):
        selector, tolerations = fields("main")
        obj.spec.suspend = False
        obj.spec.template = _injected(obj.spec.template, selector, tolerations)
        _raw_template(
            raw_spec.setdefault("template", {}), selector, [to_builtins(t) for t in tolerations]
        )
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
            selector, tolerations = fields(rj.name)
            rj.template.spec.template = _injected(rj.template.spec.template, selector, tolerations)
            if index < len(raw_jobs):
                job_spec = raw_jobs[index].setdefault("template", {}).setdefault("spec", {})
                _raw_template(
                    job_spec.setdefault("template", {}),
                    selector,
                    [to_builtins(t) for t in tolerations],
                )
    return LoadedObject(loaded.file, loaded.document, raw, obj)


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
    # The last answer per Workload key, for `--explain` and the tables.
    answers: dict[str, str] = field(default_factory=dict)

    def pods_of(self, workload: Workload) -> list[Pod]:
        """The pods the admitted `workload` releases, before their claims exist."""
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
            return pods
        return self._template_pods(workload)

    def _template_pods(self, workload: Workload) -> list[Pod]:
        admission = workload.status.admission
        counts = {a.name: a for a in admission.pod_set_assignments} if admission else {}
        pods = []
        for ps in workload.spec.pod_sets:
            psa = counts.get(ps.name)
            count = psa.count if psa is not None and psa.count is not None else ps.count
            names = list(psa.flavors.values()) if psa is not None else []
            selector, tolerations = flavor_pod_fields(self.flavors, names)
            template = _injected(ps.template, selector, tolerations)
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

    def place(self, workload: Workload, *, running: int = 0) -> str | None:
        """Place (and on success bind in the cache) the pods of `workload`, whose
        `status.admission` says the counts and flavors; None, or why not. `running`: how
        many of its pods are bound already (and in the cache): only the others are placed."""
        key = f"{workload.metadata.namespace}/{workload.metadata.name}"
        pods, claims = self._with_claims(key, self.pods_of(workload)[running:])
        if not pods:
            self.placed[key] = PlacedWorkload([], {}, claims)
            return None
        names = {pod.spec.scheduler_name or DEFAULT_SCHEDULER_NAME for pod in pods}
        name = sorted(names)[0]
        framework = self.frameworks.get(name)
        if framework is None and self.skip_other_schedulers and len(names) == 1:
            self._drop_claims(claims)
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
        bound = place_gang(self.cache, framework, gang, pods, bind=True)
        self.placed[key] = PlacedWorkload(pods, bound.placed, claims)
        return None

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
