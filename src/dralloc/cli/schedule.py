"""`dralloc schedule`: an offline what-if through kube-scheduler's scheduling cycle, a contract
that scripts depend on.

    dralloc schedule -f FILE [-f FILE ...] [--config FILE] [--feature-gates ...] [--seed N]
                     [-o yaml|json]

The files hold Nodes, Pods (a pod with `spec.nodeName` runs there; one without is pending),
PriorityClasses, RuntimeClasses, DeviceClasses, ResourceSlices, ResourceClaims and
ResourceClaimTemplates. The run, in order:

1. admits every pod as the API server's Priority and RuntimeClass admission plugins do, over
   the classes the input holds (`dralloc.scheduler.admission`: priority and preemption policy
   from the PriorityClass, overhead, node selector and tolerations from the RuntimeClass; a pod
   exported from a cluster, with a uid or creationTimestamp and a priority, was admitted when
   created and keeps what it carries, even if its classes are gone), and
   checks the input as a whole (every problem at once, exit 2): a pod's PriorityClass and
   RuntimeClass, its profile (`spec.schedulerName`), the claims and templates it names, the
   node a running pod runs on, and that a running pod's claims are allocated;
2. puts running pods on their nodes (their claims reserved for them) and lets the ResourceClaim
   controller create pending pods' claims from templates (names from a seeded rng);
3. schedules pending pods one at a time in queue order (PrioritySort: priority, then input
   order) with the default profile or `--config`'s profile named by `spec.schedulerName`;
   gangs go through one pod-group cycle each, after Volcano's enqueue step has held back the
   Volcano PodGroups whose `minResources` do not fit (`dralloc.scheduler.offline`);
4. prints a `kind: List`: every pending pod, in input order (with what its RuntimeClass gave
   it: overhead, node selector, tolerations), with `spec.nodeName` or a
   `PodScheduled=False` condition (reason `Unschedulable` and kube-scheduler's
   "0/N nodes are available: ..." message), then the running pods preemption evicted, then
   the claims allocated, generated, or changed by an eviction, then the Kubernetes PodGroups
   that had a cycle (their PodGroupScheduled condition) and the Volcano PodGroups whose
   status Volcano's scheduler would change (phase Pending/Inqueue/Running, condition
   Unschedulable or Scheduled).

PodGroups are admitted as the 1.36 API server does with WorkloadAwarePreemption: a
`spec.priorityClassName` (or the global default class) gives `spec.priority`, which gang
preemption reads; a class that does not exist is an input error.

Preemption (DefaultPreemption, in the default profile): when no node fits a pod, lower-priority
pods on one node may be evicted for it. The victims go at once, as if deleted and gone: off
their node, out of their claims' `reservedFor`, and a claim nobody reserves any more is
deallocated (what the ResourceClaim controller does). The preemptor is retried at once (upstream
requeues it when its victims' deletions arrive) and normally lands on the node it was nominated
for. A victim is printed with `status.phase: Failed`, `status.reason: Preempted`, a message
naming the preemptor, and upstream's `DisruptionTarget` condition (reason
`PreemptionByScheduler`). Victims are running pods of the input: in priority order, a pod placed
earlier in the run never has a lower priority than a later preemptor (were one evicted, it
would be printed among the pending pods, preempted, with the node it had). A preemptor that
still fits nowhere keeps its `status.nominatedNodeName`.

Exit codes: 0 every pending pod was placed; 1 some stay pending; 2 invalid input; 3 a plugin
failed (an allocator error or timeout: reason `SchedulerError`).

Determinism: ties between equally scored nodes go to the first node in name order, or are
drawn from `--seed`, and so does where preemption's dry run starts (so which of equally good
nodes is preempted on); generated claim names and shareIDs come from rngs seeded by `--seed`
(0 without it), so the same input gives the same output.

With `--kubeconfig FILE` (and `--context`), "where would these go if applied now": the input
is a live cluster's objects as its API server holds them (`dralloc.kube.readcluster`), with the
files' objects over them (a file's object replaces the cluster's of the same kind and name).
The cluster's bound pods run on their nodes holding their claims; its pending pods stay
pending, not tried (stderr says how many), unless `--include-pending`, which tries them with
the files' pods in queue order (pods naming a scheduler the configuration has no profile for
are left to it). Nothing is written to the cluster.

Register with `app.command("schedule")(schedule_command)`. This module must not import
`cli.main` (main imports it).
"""

from __future__ import annotations

import copy
import random
import sys
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any, NoReturn

import typer

from dralloc.allocator import AllocatorOptions
from dralloc.api.core import Pod, PriorityClass, RuntimeClass
from dralloc.api.io import LoadedObject, dump, kube_dict, list_document, to_builtins
from dralloc.api.meta import LabelSelector, is_stored
from dralloc.api.resource import ResourceClaim, ResourceClaimTemplate
from dralloc.api.scheduling import PodGroup, VolcanoPodGroup
from dralloc.api.workloads import Deployment, Job, ReplicaSet, StatefulSet
from dralloc.cli.inputs import ClusterInput, read_cluster, read_live_cluster
from dralloc.cli.options import (
    RecursiveOption,
    Validate,
    ValidateOption,
    VerboseOption,
    field_validation,
    report_reading,
)
from dralloc.cli.options import (
    feature_gates as parse_feature_gates,
)
from dralloc.controllers import InMemoryClaimClient, ResourceClaimController
from dralloc.controllers.manifests import ControllerPods, expand_controllers
from dralloc.errors import InputError, Problem
from dralloc.features import Features
from dralloc.scheduler import offline
from dralloc.scheduler.admission import (
    admit_pod,
    pre_enqueue_message,
    profile_problems,
    running_pod_problems,
)
from dralloc.scheduler.builder import SchedulerInputs, build_scheduler
from dralloc.scheduler.cache import claim_key, pod_claim_keys
from dralloc.scheduler.config import DEFAULT_SCHEDULER_NAME, SchedulerConfiguration, load_config
from dralloc.scheduler.framework import Code, Framework
from dralloc.scheduler.gangs import GangKey, GangSource, collect_gangs
from dralloc.scheduler.gangs.model import admit_pod_group
from dralloc.scheduler.gangs.volcano import with_condition
from dralloc.scheduler.offline import (
    PendingPod,
    enqueue_volcano_gangs,
    place_running_pods,
    queue_order,
    schedule_queue,
    volcano_statuses,
)
from dralloc.scheduler.plugins.defaultpreemption import (
    DISRUPTION_TARGET,
    REASON_PREEMPTION_BY_SCHEDULER,
    Eviction,
)
from dralloc.scheduler.plugins.helper.listers import default_namespace_labels
from dralloc.scheduler.plugins.podtopologyspread import WorkloadSelectors
from dralloc.scheduler.profiles import plugin_names
from dralloc.scheduler.scheduler import ScheduleOutcome

EXIT_OK = 0
EXIT_PENDING = 1
EXIT_INPUT = 2
EXIT_FAILED = 3
ALLOCATOR_TIMEOUT_SECONDS = 10.0  # DynamicResources' filterTimeout default
POD_SCHEDULED = "PodScheduled"
REASON_UNSCHEDULABLE = "Unschedulable"
REASON_SCHEDULER_ERROR = "SchedulerError"
REASON_SCHEDULING_GATED = "SchedulingGated"
SCHEDULING_GATED_MESSAGE = "Scheduling is blocked due to non-empty scheduling gates"
PHASE_FAILED = "Failed"
REASON_PREEMPTED = "Preempted"
_TERMINAL_PHASES = ("Succeeded", "Failed")


class ScheduleOutputFormat(StrEnum):
    yaml = "yaml"
    json = "json"


def _err(message: str) -> None:
    sys.stderr.write(message.rstrip("\n") + "\n")


def _fail(code: int, message: str) -> NoReturn:
    _err(message)
    raise typer.Exit(code)


# -------------------------------------------------------------------------------- input


@dataclass
class SchedulePlan(offline.SchedulePlan):
    """The checked input, ready to schedule, and what the workload controllers made."""

    workloads: ControllerPods | None = None
    # With --kubeconfig: the cluster's pending pods whose scheduler no profile of the
    # configuration names (another scheduler's pods): pod key -> its spec.schedulerName.
    other_schedulers: dict[str, str] = field(default_factory=dict)


def _pod_key(pod: Pod) -> str:
    return f"{pod.metadata.namespace}/{pod.metadata.name}"


def _share_ids(rng: random.Random) -> Callable[[], str]:
    return lambda: str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _owner_selectors(
    objects: Sequence[LoadedObject], expansion: ControllerPods
) -> WorkloadSelectors:
    """The selectors PodTopologySpread's default constraints spread a pod by: those of the
    ReplicaSets and StatefulSets in the input or made by the workload controllers (dralloc
    reads no Services or ReplicationControllers), by namespace, kind and name."""
    made = expansion.expansion
    found: dict[tuple[str, str, str], LabelSelector] = {}
    for obj in (*(o.obj for o in objects), *made.replica_sets, *made.stateful_sets):
        if isinstance(obj, ReplicaSet | StatefulSet) and obj.spec.selector is not None:
            kind = "ReplicaSet" if isinstance(obj, ReplicaSet) else "StatefulSet"
            key = (obj.metadata.namespace or "default", kind, obj.metadata.name)
            found[key] = obj.spec.selector
    return WorkloadSelectors(found)


PREEMPTION_FREES_DEVICES_HELP = (
    "Let preemption free the devices of lower-priority pods' node-local claims (KEP-5690, "
    "beyond Kubernetes 1.36, which never preempts for devices)."
)


def plan_schedule(
    cluster: ClusterInput,
    config: SchedulerConfiguration,
    features: Features,
    seed: int | None,
    *,
    preemption_frees_devices: bool = False,
) -> tuple[SchedulePlan, dict[str, Framework]]:
    """Run the controllers over the input, build the scheduler (`build_scheduler`), admit and
    check every pod; InputError with every problem at once. `preemption_frees_devices`:
    SchedulerInputs' KEP-5690 option (off, as Kubernetes 1.36)."""
    base = seed if seed is not None else 0
    tie_rng = random.Random(seed) if seed is not None else None
    options = AllocatorOptions(
        timeout=ALLOCATOR_TIMEOUT_SECONDS, share_ids=_share_ids(random.Random(f"share-ids/{base}"))
    )
    expansion = expand_controllers(cluster.objects, base)
    deleted = {_pod_key(w.pod) for w in expansion.expansion.deleted}
    objects = [
        o for o in cluster.objects if not (isinstance(o.obj, Pod) and _pod_key(o.obj) in deleted)
    ] + expansion.created
    templates = [o.obj for o in objects if isinstance(o.obj, ResourceClaimTemplate)]
    classes = {o.obj.metadata.name: o.obj for o in objects if isinstance(o.obj, PriorityClass)}
    runtime_classes = {
        o.obj.metadata.name: o.obj for o in objects if isinstance(o.obj, RuntimeClass)
    }
    raw_claims: dict[str, LoadedObject] = {}
    claim_objects: dict[str, ResourceClaim] = {}
    for loaded in objects:
        if isinstance(loaded.obj, ResourceClaim):
            raw_claims[claim_key(loaded.obj)] = loaded
            claim_objects[claim_key(loaded.obj)] = loaded.obj
    evictions: list[Eviction] = []
    problems: list[Problem] = []
    # PodGroups as the API server's Priority admission leaves them (spec.priority resolved).
    admitted: list[LoadedObject] = []
    for loaded in objects:
        loaded, found = admit_pod_group(loaded, classes, features)
        admitted.append(loaded)
        problems.extend(found)
    objects = admitted
    # PodGroups (Kubernetes', Volcano's, KAI's) and the pods that join them, as the gates say.
    gangs = collect_gangs(objects, features)
    problems.extend(gangs.problems)
    owners = _owner_selectors(objects, expansion)
    # Pods alike to every plugin (one template, same requests) reuse node verdicts: only
    # nodes changed since such a pod was last scheduled are filtered and scored again.
    built = build_scheduler(
        SchedulerInputs(
            features,
            nodes=cluster.nodes.values(),
            slices=cluster.slices,
            classes=cluster.classes.values(),
            taint_rules=cluster.taint_rules,
            claims=claim_objects.values(),
            config=config,
            allocator_options=options,
            rng=tie_rng,
            on_evict=evictions.append,
            owners=owners,
            # InterPodAffinity's namespaceSelector reads the labels of the input's Namespaces
            # (any other namespace carries only kubernetes.io/metadata.name).
            namespace_labels=default_namespace_labels(cluster.namespace_labels),
            preemption_frees_devices=preemption_frees_devices,
            disruption_budgets=cluster.disruption_budgets,
            # The scale of the budgets' controllers: the input's and those its controllers made.
            workloads=[
                o.obj
                for o in objects
                if isinstance(o.obj, Deployment | ReplicaSet | StatefulSet | Job)
            ]
            + [*expansion.expansion.replica_sets, *expansion.expansion.stateful_sets],
            gangs=gangs.index,
        ),
        collect_problems=problems,
    )
    cache = built.cache
    client = InMemoryClaimClient(
        claim_objects.values(), templates, rng=random.Random(f"claim-names/{base}")
    )
    controller = ResourceClaimController(client)
    plan = SchedulePlan(
        cache, [], raw_claims, claim_objects, evictions=evictions, workloads=expansion
    )
    plan.gangs = gangs.index
    plan.warnings.extend(gangs.warnings)
    problems.extend(expansion.problems)
    running: list[Pod] = []
    for index, loaded in enumerate(objects):
        pod = loaded.obj
        if not isinstance(pod, Pod):
            continue
        is_running = bool(pod.spec.node_name)
        if pod.status.phase in _TERMINAL_PHASES:
            continue  # holds nothing any more
        if not is_running and pod.metadata.deletion_timestamp is not None:
            continue  # kube-scheduler skips a pending pod that is being deleted
        # A live cluster's pending pod of another scheduler is not ours to try.
        is_foreign = cluster.is_from_cluster(loaded) and profile_problems(
            loaded, pod, built.profiles
        )
        if not is_running and is_foreign:
            name = pod.spec.scheduler_name or DEFAULT_SCHEDULER_NAME
            plan.other_schedulers[_pod_key(pod)] = name
            continue
        if cluster.is_from_cluster(loaded) or _is_admitted_already(pod):
            # Admitted by an API server when created (a live cluster's pod, or one exported
            # from a cluster): its priority and overhead stand, even if its PriorityClass or
            # RuntimeClass has since been deleted (admission runs on create only; without
            # classes, admission keeps what a pod carries).
            pod, admission = admit_pod(loaded, pod, {})
        else:
            pod, admission = admit_pod(loaded, pod, classes, runtime_classes)
        problems.extend(admission)
        if is_running:
            problems.extend(running_pod_problems(loaded, pod, claim_objects, cluster.nodes))
            running.append(pod)
            plan.running[_pod_key(pod)] = loaded
            continue
        problems.extend(profile_problems(loaded, pod, built.profiles))
        synced = controller.sync_pod(pod)
        # The controller could not create a claim (its template is missing): upstream logs an
        # event and retries; the pod waits, and stderr says why.
        for path, message in synced.problems:
            plan.warnings.append(f"{loaded.file}: {loaded.ref}: {path}: {message}")
        for claim in synced.created:
            cache.set_claim(claim)
            plan.generated.append(claim_key(claim))
        changed = synced.pod.status.resource_claim_statuses != pod.status.resource_claim_statuses
        gated = pre_enqueue_message(synced.pod, cache.claims)
        plan.pending.append(PendingPod(loaded, synced.pod, index, changed, gated))
    if problems:
        raise InputError(problems)
    place_running_pods(cache, running)
    plan.baseline = dict(cache.claims)
    # One Volcano session's enqueue step, before any queue (the running pods are placed):
    # `schedule`, `explain --pod` and `queue` all see the groups it holds back.
    enqueue_volcano_gangs(plan)
    return plan, built.frameworks


# ------------------------------------------------------------------------------- output


def _is_admitted_already(pod: Pod) -> bool:
    """A pod exported from an API server (uid, creationTimestamp or resourceVersion) that
    carries the priority Priority admission gave it; one written by hand with server
    metadata but no priority is admitted as a pod being created."""
    return is_stored(pod.metadata) and pod.spec.priority is not None


def _with_defaulted_requests(spec: dict[str, Any], pod: Pod) -> None:
    """Requests the API server defaulted (a limit without a request), added to the wire spec
    as the server stores them; everything the input says is kept as written."""

    def merged(raw: Any, typed: Mapping[str, Any]) -> dict[str, Any] | None:
        given = raw if isinstance(raw, dict) else {}
        added = {k: str(v) for k, v in typed.items() if k not in given}
        return {**given, **added} if added else None

    for key, typed_containers in (
        ("containers", pod.spec.containers),
        ("initContainers", pod.spec.init_containers),
    ):
        containers = spec.get(key)
        if not isinstance(containers, list):
            continue
        copied = list(containers)
        for index, (container, typed) in enumerate(zip(containers, typed_containers, strict=False)):
            if not isinstance(container, dict):
                continue
            resources = container.get("resources")
            resources = resources if isinstance(resources, dict) else {}
            requests = merged(resources.get("requests"), typed.resources.requests)
            if requests is not None:
                copied[index] = {**container, "resources": {**resources, "requests": requests}}
        spec[key] = copied
    pod_level = spec.get("resources")
    if isinstance(pod_level, dict) and pod.spec.resources is not None:
        requests = merged(pod_level.get("requests"), pod.spec.resources.requests)
        if requests is not None:
            spec["resources"] = {**pod_level, "requests": requests}


def _with_runtime_class(spec: dict[str, Any], entry: PendingPod) -> None:
    """What RuntimeClass admission set on the pod (its class's overhead, node selector and
    tolerations merged into the pod's), written to the wire spec as the server stores it."""
    given, admitted = entry.loaded.obj, entry.pod.spec
    if not isinstance(given, Pod):
        return
    if admitted.overhead != given.spec.overhead:
        spec["overhead"] = {name: str(amount) for name, amount in admitted.overhead.items()}
    if admitted.node_selector != given.spec.node_selector:
        spec["nodeSelector"] = dict(admitted.node_selector)
    if admitted.tolerations != given.spec.tolerations:
        spec["tolerations"] = to_builtins(admitted.tolerations)


def _with_priority(spec: dict[str, Any], entry: PendingPod) -> None:
    """What Priority admission set on the pod (the priority and preemption policy it computed,
    the global default class's name for a pod naming none), written to the wire spec as the
    server stores it: every pod the server admitted carries both fields."""
    given, admitted = entry.loaded.obj, entry.pod.spec
    if not isinstance(given, Pod):
        return
    if admitted.priority_class_name and not given.spec.priority_class_name:
        spec["priorityClassName"] = admitted.priority_class_name
    if admitted.priority is not None and given.spec.priority is None:
        spec["priority"] = admitted.priority
    if admitted.preemption_policy and not given.spec.preemption_policy:
        spec["preemptionPolicy"] = admitted.preemption_policy


def _pod_output(
    entry: PendingPod, outcome: ScheduleOutcome, nominated: str | None
) -> dict[str, Any]:
    # Shallow copies of what changes: input documents can be large, and thousands of pods
    # from one template share nothing worth a deep copy.
    out = dict(entry.loaded.raw)
    spec = dict(out.get("spec") or {})
    out["spec"] = spec
    _with_defaulted_requests(spec, entry.pod)
    _with_runtime_class(spec, entry)
    _with_priority(spec, entry)
    status = dict(out.get("status") or {})
    conditions = [
        c
        for c in status.get("conditions") or []
        if not (isinstance(c, dict) and c.get("type") == POD_SCHEDULED)
    ]
    if outcome.node is not None:
        spec["nodeName"] = outcome.node
    elif entry.pod.spec.scheduling_gates:
        # What the API server writes on a pod created with scheduling gates (pod strategy,
        # `applySchedulingGatedCondition`); kube-scheduler never tries it.
        conditions.append(
            {
                "type": POD_SCHEDULED,
                "status": "False",
                "reason": REASON_SCHEDULING_GATED,
                "message": SCHEDULING_GATED_MESSAGE,
            }
        )
    elif entry.gated is None:  # a pod PreEnqueue holds back is never tried: no condition
        reason = (
            REASON_SCHEDULER_ERROR if outcome.status.code == Code.ERROR else REASON_UNSCHEDULABLE
        )
        conditions.append(
            {"type": POD_SCHEDULED, "status": "False", "reason": reason, "message": outcome.message}
        )
        if nominated is not None:
            status["nominatedNodeName"] = nominated
    if conditions:
        status["conditions"] = conditions
    else:
        status.pop("conditions", None)
    if entry.claims_changed:
        status["resourceClaimStatuses"] = to_builtins(entry.pod.status.resource_claim_statuses)
    # PreBind recorded the claim made for DRA-backed extended resources (KEP-5004).
    extended = outcome.pod.pod.status.extended_resource_claim_status
    if outcome.node is not None and extended is not None:
        status["extendedResourceClaimStatus"] = to_builtins(extended)
    if status:
        out["status"] = status
    return out


def _preempted_output(out: dict[str, Any], eviction: Eviction) -> dict[str, Any]:
    """A victim as the output shows it: Failed, reason Preempted, with the DisruptionTarget
    condition upstream patches on before deleting the pod."""
    status = out.get("status") or {}
    conditions = [
        c
        for c in status.get("conditions") or []
        if not (isinstance(c, dict) and c.get("type") == DISRUPTION_TARGET)
    ]
    conditions.append(
        {
            "type": DISRUPTION_TARGET,
            "status": "True",
            "reason": REASON_PREEMPTION_BY_SCHEDULER,
            "message": eviction.message,
        }
    )
    status["phase"] = PHASE_FAILED
    status["reason"] = REASON_PREEMPTED
    # Upstream's Preempted event names the preemptor's UID; input pods often have none.
    status["message"] = f"Preempted by pod {eviction.preemptor.key} on node {eviction.node_name}"
    status["conditions"] = conditions
    out["status"] = status
    return out


def _claim_output(key: str, plan: SchedulePlan) -> dict[str, Any]:
    claim = plan.cache.claims[key]
    loaded = plan.raw_claims.get(key)
    if loaded is None:
        return kube_dict(claim)
    out = copy.deepcopy(loaded.raw)
    status = dict(out.get("status") or {})
    for modelled in ("allocation", "reservedFor", "devices"):
        status.pop(modelled, None)  # an eviction may have cleared them
    status.update(to_builtins(claim.status))
    out["status"] = status
    return out


def _changed_claims(plan: SchedulePlan) -> list[str]:
    """Input claims allocated by this run or changed by an eviction (input order), then
    generated ones (as created)."""
    evicted = {
        key
        for eviction in plan.evictions
        for victim in eviction.victims
        for _, key in pod_claim_keys(victim.pod)
        if key is not None
    }
    changed = []
    for key, claim in plan.input_claims.items():
        now = plan.cache.claims[key].status
        allocated_here = claim.status.allocation is None and now.allocation is not None
        if allocated_here or (key in evicted and now != plan.baseline[key].status):
            changed.append(key)
    return changed + plan.generated


# ------------------------------------------------------------------------------ command


@dataclass(frozen=True)
class ScheduleRun:
    """Outcomes in queue order (each pod's last attempt), the preemptions in the order they
    happened, the output document and the exit code."""

    outcomes: Sequence[ScheduleOutcome]
    document: dict[str, Any]
    exit_code: int
    evictions: Sequence[Eviction] = ()
    warnings: Sequence[str] = ()
    # The pods of each top-level workload: (pod key, node or None, made by this run), the
    # controllers' new pods and the input pods they count as theirs.
    made: Mapping[str, Sequence[tuple[str, str | None, bool]]] = field(default_factory=dict)
    notes: Sequence[str] = ()

    def made_lines(self) -> list[str]:
        """The pods each workload made and where they went, one block per workload; pods it
        already had are listed as there."""
        lines = []
        for owner, pods in self.made.items():
            new = [(key, node) for key, node, created in pods if created]
            placed = sum(1 for _, node in new if node)
            there = len(pods) - len(new)
            head = f"{owner}: made {len(new)} pod(s), {placed} placed"
            lines.append(head + (f"; {there} already there" if there else ""))
            width = max(len(key) for key, _, _ in pods)
            for key, node, created in pods:
                where = (node or "pending") if created else f"already there ({node or 'pending'})"
                lines.append(f"  {key.ljust(width)}  {where}")
        return lines


def _pod_group_outputs(plan: SchedulePlan, objects: Sequence[LoadedObject]) -> list[Any]:
    """Each scheduling.k8s.io PodGroup whose gang had a cycle, with the PodGroupScheduled
    condition the scheduler writes, then each Volcano PodGroup whose status Volcano's
    scheduler would change (`offline.volcano_statuses`: its phase, and its Unschedulable or
    Scheduled condition replacing the one of that type). KAI's PodGroups keep their own
    status, written by KAI's scheduler and controllers: they are not output."""
    by_key = {
        (o.obj.metadata.namespace or "default", o.obj.metadata.name): o
        for o in objects
        if isinstance(o.obj, PodGroup)
    }
    out = []
    for key, placement in plan.gang_placements.items():
        if key.source is not GangSource.POD_GROUP:
            continue
        loaded = by_key.get((key.namespace, key.name))
        if loaded is None:
            continue
        raw = copy.deepcopy(loaded.raw)
        status = raw.setdefault("status", {})
        conditions = [
            c
            for c in status.get("conditions") or []
            if c.get("type") != placement.condition()["type"]
        ]
        status["conditions"] = [*conditions, placement.condition()]
        out.append(raw)
    volcano = {
        (o.obj.metadata.namespace or "default", o.obj.metadata.name): o
        for o in objects
        if isinstance(o.obj, VolcanoPodGroup)
    }
    statuses = volcano_statuses(plan)
    for vkey, vloaded in volcano.items():
        found = statuses.get(GangKey(*vkey, GangSource.VOLCANO))
        if found is None:
            continue
        phase, condition = found
        raw = copy.deepcopy(vloaded.raw)
        before = raw.get("status") or {}
        after = with_condition({**before, "phase": phase}, condition)
        if after != before:
            raw["status"] = after
            out.append(raw)
    return out


def run_schedule(
    cluster: ClusterInput,
    config: SchedulerConfiguration,
    features: Features,
    seed: int | None = None,
    *,
    preemption_frees_devices: bool = False,
) -> ScheduleRun:
    """Schedule the pending pods of `cluster`. Raises InputError for invalid input."""
    plan, frameworks = plan_schedule(
        cluster, config, features, seed, preemption_frees_devices=preemption_frees_devices
    )
    queue = queue_order(plan)
    outcomes, nominated = schedule_queue(plan, frameworks, queue)
    preempted = {v.key: e for e in plan.evictions for v in e.victims}
    items = []
    for entry in plan.pending:
        out = _pod_output(entry, outcomes[entry.index], nominated.get(entry.index))
        eviction = preempted.get(outcomes[entry.index].pod.key)
        items.append(out if eviction is None else _preempted_output(out, eviction))
    items += [
        _preempted_output(copy.deepcopy(loaded.raw), preempted[key])
        for key, loaded in plan.running.items()
        if key in preempted
    ]
    ordered = [outcomes[entry.index] for entry in queue]
    changed = _changed_claims(plan)
    for outcome in ordered:
        extended = outcome.pod.pod.status.extended_resource_claim_status
        if outcome.node is not None and extended is not None:
            key = f"{outcome.pod.pod.metadata.namespace}/{extended.resource_claim_name}"
            if key in plan.cache.claims and key not in changed:
                changed.append(key)
    items += [_claim_output(key, plan) for key in changed]
    items += _pod_group_outputs(plan, cluster.objects)
    if any(o.status.code == Code.ERROR for o in ordered):
        code = EXIT_FAILED
    elif any(not o.is_scheduled for o in ordered):
        code = EXIT_PENDING
    else:
        code = EXIT_OK
    made: dict[str, list[tuple[str, str | None, bool]]] = {}
    notes: list[str] = []
    if plan.workloads is not None:
        placed = {o.pod.key: o.node for o in ordered}
        created = {_pod_key(w.pod) for w in plan.workloads.expansion.pods}
        for owner, pods in plan.workloads.expansion.by_owner().items():
            made[str(owner)] = [
                (
                    _pod_key(w.pod),
                    placed.get(_pod_key(w.pod), w.pod.spec.node_name or None),
                    _pod_key(w.pod) in created,
                )
                for w in pods
            ]
        notes = [str(note) for note in plan.workloads.expansion.notes]
    if plan.other_schedulers:
        count = len(plan.other_schedulers)
        names = ", ".join(sorted(set(plan.other_schedulers.values())))
        notes.append(
            f"{count} pending pod{'s' if count > 1 else ''} of the cluster not tried: they "
            f"name schedulers no profile of the configuration is ({names})"
        )
    return ScheduleRun(
        ordered,
        list_document(items),
        code,
        tuple(plan.evictions),
        tuple(plan.warnings),
        made,
        tuple(notes),
    )


FilesOption = Annotated[
    list[str],
    typer.Option(
        "-f",
        "--filename",
        help="YAML or JSON file with Nodes, Pods, PriorityClasses, DeviceClasses, "
        "ResourceSlices, ResourceClaims and ResourceClaimTemplates, or a folder of them "
        "(repeatable; '-' reads stdin). Other kinds are read and set aside.",
    ),
]
KUBECONFIG_HELP = (
    "Read a live cluster's objects from the API server this kubeconfig names, the files' "
    "objects over them (replacing the cluster's of the same name), and schedule the files' "
    "pending pods; nothing is written to the cluster."
)
CONTEXT_HELP = "With --kubeconfig: the kubeconfig context to use (default: its current one)."
INCLUDE_PENDING_HELP = (
    "With --kubeconfig: try the cluster's pending pods too, with the files' pods in queue "
    "order (otherwise they stay pending, not tried)."
)


def _read_live(
    kubeconfig: str,
    context: str | None,
    files: Sequence[str],
    recursive: bool,
    validate: Validate,
    include_pending: bool,
) -> ClusterInput:
    """The live cluster with the files' objects; without `include_pending` the cluster's
    pending pods are left out (stderr says how many). A server that cannot be read is one
    line and exit 3; InputError passes to the caller."""
    from dralloc.kube.readcluster import ClusterUnreadable

    try:
        cluster = read_live_cluster(
            kubeconfig, context, files, recursive=recursive, validation=field_validation(validate)
        )
    except ClusterUnreadable as err:
        _fail(EXIT_FAILED, f"error: {err}")
    waiting = cluster.cluster_pending_pods()
    if waiting and not include_pending:
        what = (
            "1 pending pod of the cluster stays"
            if len(waiting) == 1
            else (f"{len(waiting)} pending pods of the cluster stay")
        )
        _err(f"note: {what} pending, not tried (--include-pending tries them too, in queue order)")
        cluster = cluster.without(waiting)
    return cluster


def schedule_command(
    files: FilesOption,
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            help="A KubeSchedulerConfiguration (kubescheduler.config.k8s.io/v1): profiles, "
            "plugins, pluginConfig, percentageOfNodesToScore.",
        ),
    ] = None,
    feature_gates: Annotated[
        str,
        typer.Option(
            "--feature-gates",
            help="Comma-separated Gate=true|false pairs, as kube-scheduler takes them "
            "(Kubernetes 1.36 defaults otherwise).",
        ),
    ] = "",
    seed: Annotated[
        int | None,
        typer.Option(
            help="Break ties between equally scored nodes at random from this seed "
            "(default: the first node in name order)."
        ),
    ] = None,
    output: Annotated[
        ScheduleOutputFormat, typer.Option("-o", "--output")
    ] = ScheduleOutputFormat.yaml,
    recursive: RecursiveOption = False,
    validate: ValidateOption = Validate.strict,
    verbose: VerboseOption = False,
    preemption_frees_devices: Annotated[
        bool,
        typer.Option(
            "--preemption-frees-devices",
            help=PREEMPTION_FREES_DEVICES_HELP,
        ),
    ] = False,
    kubeconfig: Annotated[str | None, typer.Option("--kubeconfig", help=KUBECONFIG_HELP)] = None,
    context: Annotated[str | None, typer.Option("--context", help=CONTEXT_HELP)] = None,
    include_pending: Annotated[
        bool, typer.Option("--include-pending", help=INCLUDE_PENDING_HELP)
    ] = False,
) -> None:
    """Schedule the pending pods offline, one at a time in queue order (priority, then input
    order), and print them with spec.nodeName or a PodScheduled=False condition, followed by
    the pods preemption evicted (phase Failed, reason Preempted) and the claims allocated,
    generated or freed.

    A pod that fits nowhere may preempt lower-priority pods on one node: they are evicted at
    once and the pod is retried.

    Exit codes: 0 all were placed; 1 some stay pending; 2 invalid input; 3 a plugin failed.
    """
    features = parse_feature_gates(feature_gates)
    if kubeconfig is None:
        if context is not None or include_pending:
            flag = "--context" if context is not None else "--include-pending"
            _fail(EXIT_INPUT, f"{flag} needs --kubeconfig (a live cluster to read)")
        if not files:
            _fail(EXIT_INPUT, "give the objects with -f FILE (or a live cluster with --kubeconfig)")
    try:
        if kubeconfig is None:
            validation = field_validation(validate)
            cluster = read_cluster(files, recursive=recursive, validation=validation)
        else:
            cluster = _read_live(kubeconfig, context, files, recursive, validate, include_pending)
        report_reading(cluster, verbose=verbose)
        configuration = load_config(config, plugin_names()) if config else SchedulerConfiguration()
        for warning in configuration.warnings:
            _err(f"warning: {config}: {warning}")
        run = run_schedule(
            cluster,
            configuration,
            features,
            seed,
            preemption_frees_devices=preemption_frees_devices,
        )
    except InputError as err:
        _fail(EXIT_INPUT, str(err))
    sys.stdout.write(dump(run.document, output.value))
    for warning in run.warnings:
        _err(f"warning: {warning}")
    for note in run.notes:
        _err(f"note: {note}")
    for line in run.made_lines():
        _err(line)
    pending = [o for o in run.outcomes if not o.is_scheduled]
    for outcome in pending:
        _err(f"pod {outcome.pod.key}: {outcome.message}")
    victims = 0
    for eviction in run.evictions:
        for victim in eviction.victims:
            victims += 1
            _err(
                f"pod {victim.key}: preempted by {eviction.preemptor.key} on node "
                f"{eviction.node_name}"
            )
    total = len(run.outcomes)
    summary = f"scheduled {total - len(pending)} of {total} pending pods"
    if victims:
        summary += f"; preempted {victims} pod{'s' if victims > 1 else ''}"
    _err(summary)
    raise typer.Exit(run.exit_code)
