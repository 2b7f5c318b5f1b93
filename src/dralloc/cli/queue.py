"""`dralloc queue`: Kueue's admission and kube-scheduler's placement, offline, in one run.

    dralloc queue -f FILE|DIR [-f ...] [--config FILE] [--feature-gates ...] [--seed N]
                  [--placement/--no-placement] [-o table|yaml|json] [--explain NS/NAME]

The files hold the cluster (Nodes, ResourceSlices, DeviceClasses, PriorityClasses, running
Pods), Kueue's objects (`kueue.x-k8s.io`: ResourceFlavors, ClusterQueues, Cohorts,
LocalQueues, WorkloadPriorityClasses, Workloads) and the Jobs and JobSets that name a
LocalQueue (`kueue.x-k8s.io/queue-name`), with their ResourceClaimTemplates. The run:

1. reads and checks everything (exit 2, every problem at once: file, object, field); a
   ClusterQueue naming a ResourceFlavor that is not in the input is bad input here (Kueue
   would keep the queue inactive, `FlavorNotFound`);
2. makes each queued job's Workload as Kueue's Job / JobSet integration does, and keeps the
   job suspended, as Kueue's webhook does;
3. runs admission cycles (`dralloc.queueing.schedule`, classical preemption) until one
   changes nothing. With `--placement` (the default) a Workload whose quota fits is admitted
   only if the scheduler can place all its pods now (`controllers.queueplacement`), on the
   cluster with the pods of the Workloads admitted before it; otherwise it waits with reason
   `PlacementInfeasible`, naming the pod and the FitError, and BestEffortFIFO moves on to
   the next. `--no-placement` is Kueue: quota only. Where a ResourceFlavor names a Topology
   (Kueue's topology-aware scheduling), each pod set is first given topology domains
   (`queueing.tasplacement`, with or without `--placement`), written as Kueue's
   `topologyAssignment`; a Workload no domain can hold waits with Kueue's TAS message;
4. starts the admitted jobs as Kueue does (unsuspended, the flavors' `nodeLabels` and
   `tolerations` injected, the `kueue.x-k8s.io/podset` label and `kueue.x-k8s.io/workload`
   annotation added, a partially admitted Job's `parallelism` set) and schedules the pods
   with the same controllers and scheduler as `dralloc schedule`. The pods of a pod set with
   a topology assignment are made gated (`kueue.x-k8s.io/topology`) and released as Kueue's
   TopologyUngater releases them: each gets the nodeSelector of its domain's level values,
   by rank for indexed Jobs and JobSets (completion index, then job index), so the scheduler
   places it inside its domain (`controllers.queueplacement.released_objects`); the
   scheduler-backed check of step 3 places the same ungated pods;
5. prints one table per ClusterQueue (usage against quota, admitted Workloads with their
   pods and, for pod sets placed by topology, their domains with pod counts, pending ones
   with the reason), or with `-o yaml|json` a `kind: List` of the Workloads (Kueue's
   `status.admission` and conditions) followed by what `dralloc schedule` prints for the
   pods.

Exit codes: 0 every Workload admitted and every pod placed; 1 some Workload pending or some
admitted pod unschedulable; 2 invalid input; 3 a plugin failed.

Register with `app.command("queue")(...)` from `cli.main`; this module must not import it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, NoReturn

import typer

from dralloc.api.io import LoadedObject, dump, list_document, to_builtins
from dralloc.api.resource import ResourceClaim, ResourceClaimTemplate
from dralloc.api.workloads import Job, JobSet
from dralloc.cli.inputs import ClusterInput, read_cluster
from dralloc.cli.options import Validate, field_validation, report_reading
from dralloc.cli.options import feature_gates as parse_feature_gates
from dralloc.cli.schedule import ScheduleRun, plan_schedule, run_schedule
from dralloc.controllers.queueplacement import (
    SchedulerPlacement,
    released_objects,
    started_job,
    suspended_job,
)
from dralloc.errors import InputError, Problem
from dralloc.features import Features
from dralloc.queueing import (
    ClassicalPreemptor,
    PlacementCheck,
    QueueInput,
    QueueManager,
    QueueState,
    Workload,
    check,
    decode_assignment,
    decode_documents,
    evict,
    explain,
    schedule,
    workload_for_job,
    workload_for_jobset,
)
from dralloc.queueing.jobs import QUEUE_NAME_LABEL
from dralloc.queueing.objects import GROUP, KINDS
from dralloc.queueing.quota import FlavorResource
from dralloc.queueing.tasplacement import TopologyPlacement
from dralloc.scheduler.config import SchedulerConfiguration, load_config
from dralloc.scheduler.profiles import plugin_names

EXIT_OK = 0
EXIT_PENDING = 1
EXIT_INPUT = 2
EXIT_FAILED = 3
QUOTA_RESERVED = "QuotaReserved"


class QueueOutputFormat(StrEnum):
    table = "table"
    yaml = "yaml"
    json = "json"


def _key(workload: Workload) -> str:
    return f"{workload.metadata.namespace}/{workload.metadata.name}"


def read_queue_input(cluster: ClusterInput) -> tuple[QueueInput, dict[str, LoadedObject]]:
    """The Kueue objects of the input (decoded from the documents the reader set aside),
    the Kubernetes objects admission reads, and the Workload of every queued job; returns
    the bundle and Workload key -> its job. InputError with every problem."""
    inputs = QueueInput()
    for loaded in cluster.objects:
        inputs.add_kube(loaded)
    chosen = [
        (item.file, item.document, item.raw)
        for item in cluster.set_aside
        if item.api_version.rpartition("/")[0] == GROUP and item.kind in KINDS
    ]
    _, problems = decode_documents(chosen, inputs)
    inputs.namespace_labels.update(cluster.namespace_labels)
    problems += missing_flavors(inputs)
    if problems:
        raise InputError(problems)
    jobs: dict[str, LoadedObject] = {}
    wpcs, pcs = inputs.workload_priority_classes, inputs.priority_classes
    for loaded in cluster.objects:
        obj = loaded.obj
        if not isinstance(obj, Job | JobSet) or not obj.metadata.labels.get(QUEUE_NAME_LABEL):
            continue
        if isinstance(obj, Job):
            workload = workload_for_job(obj, wpcs, pcs)
        else:
            workload = workload_for_jobset(obj, wpcs, pcs)
        key = _key(workload)
        jobs[key] = loaded
        inputs.workloads.setdefault(key, workload)
    return inputs, jobs


def missing_flavors(inputs: QueueInput) -> list[Problem]:
    """A ClusterQueue naming a ResourceFlavor the input lacks: offline, that is a typo or a
    forgotten file (Kueue would keep the queue inactive with reason FlavorNotFound)."""
    problems = []
    for name, cq in inputs.cluster_queues.items():
        for g, group in enumerate(cq.spec.resource_groups):
            for f, fq in enumerate(group.flavors):
                if fq.name not in inputs.flavors:
                    problems.append(
                        Problem(
                            inputs.file_of("ClusterQueue", name),
                            f"ClusterQueue {name}",
                            f"spec.resourceGroups[{g}].flavors[{f}].name",
                            f'ResourceFlavor "{fq.name}" not found',
                        )
                    )
    return problems


@dataclass
class QueueRun:
    """One `dralloc queue` run: the queueing state after the last cycle, the Workloads in
    admission order, the scheduling of the admitted jobs' pods, and the exit code."""

    state: QueueState
    manager: QueueManager
    inputs: QueueInput
    jobs: dict[str, LoadedObject]
    admitted: list[str]
    scheduled: ScheduleRun
    placement: SchedulerPlacement | None
    cycles: int
    exit_code: int = EXIT_OK
    # Workload key -> (pod key, node or None) of the pods its job made.
    pods: dict[str, list[tuple[str, str | None]]] = field(default_factory=dict)
    # What step 4 scheduled: the input with the admitted jobs started (their pods released)
    # and the others suspended; scheduling it again gives the same outcomes (the dashboard
    # draws the admitted jobs' pods from it).
    scheduled_input: ClusterInput | None = None

    def pending(self) -> list[str]:
        return [k for k in self.inputs.workloads if k not in self.state.reservations]

    def reason(self, key: str) -> tuple[str, str]:
        """Why a Workload waits: its QuotaReserved=False condition, or `explain`."""
        workload = self.inputs.workloads[key]
        for condition in workload.status.conditions:
            if condition.type == QUOTA_RESERVED and condition.status == "False":
                return condition.reason, condition.message
        answer = explain(self.state, self.manager, key)
        return str(answer.reason), answer.message


def _has_topology_assignment(workload: Workload) -> bool:
    admission = workload.status.admission
    return admission is not None and any(
        psa.topology_assignment is not None for psa in admission.pod_set_assignments
    )


def _cluster_of(cluster: ClusterInput, objects: Sequence[LoadedObject]) -> ClusterInput:
    out = ClusterInput(
        set_aside=cluster.set_aside,
        warnings=cluster.warnings,
        namespace_labels=cluster.namespace_labels,
        cluster_source=cluster.cluster_source,
    )
    for loaded in objects:
        out.objects.append(loaded)
        out.add(loaded)
    return out


def run_queue(
    cluster: ClusterInput,
    config: SchedulerConfiguration,
    features: Features,
    seed: int | None = None,
    *,
    placement: bool = True,
    now: datetime | None = None,
) -> QueueRun:
    """Admit (module docstring, steps 2-3) and schedule (step 4). InputError for bad input."""
    now = now or datetime.now(UTC).replace(microsecond=0)
    inputs, jobs = read_queue_input(cluster)
    state = QueueState.build(inputs)
    check(state)
    manager = QueueManager(state)
    manager.add_all(inputs.workloads.values())
    queued = {id(loaded) for loaded in jobs.values()}
    others = [o for o in cluster.objects if id(o) not in queued]
    checker: SchedulerPlacement | None = None
    if placement:
        plan, frameworks = plan_schedule(_cluster_of(cluster, others), config, features, seed)
        checker = SchedulerPlacement(
            plan.cache,
            frameworks,
            inputs.flavors,
            jobs,
            [o.obj for o in cluster.objects if isinstance(o.obj, ResourceClaimTemplate)],
            inputs.priority_classes,
            seed or 0,
        )
    topology: TopologyPlacement | None = None
    if any(flavor.spec.topology_name for flavor in inputs.flavors.values()):
        allocated = [
            o.obj
            for o in cluster.objects
            if isinstance(o.obj, ResourceClaim) and o.obj.status.allocation is not None
        ]
        topology = TopologyPlacement.from_input(inputs, allocated)
        topology.add_admitted(state, inputs.workloads.values())
    check_placement: PlacementCheck | None = checker
    if topology is not None:
        check_placement = topology.then(checker) if checker is not None else topology
    admitted: list[str] = []
    preemptor = ClassicalPreemptor()
    previous: dict[str, tuple[str, str]] | None = None
    cycles = 0
    # Each cycle admits, preempts or parks a head; a bound keeps StrictFIFO's blocked head
    # (popped again every cycle) from looping.
    while cycles < 4 * len(inputs.workloads) + 8:
        cycles += 1
        result = schedule(state, manager, now, preemptor=preemptor, placement=check_placement)
        admitted += result.admitted
        for victim, by, reason in result.preemptions:
            if victim in inputs.workloads:
                evict(state, manager, inputs.workloads[victim], by, reason, now)
                if victim in admitted:
                    admitted.remove(victim)
                if checker is not None:
                    checker.forget(victim)
                if topology is not None:
                    topology.forget(victim)
        waiting = {k: (str(e.reason), e.message) for k, e in result.pending.items()}
        if not result.order or (
            not result.admitted and not result.preemptions and waiting == previous
        ):
            break
        previous = waiting
    started: list[LoadedObject] = []
    for k in admitted:
        if k not in jobs:
            continue
        workload = inputs.workloads[k]
        if _has_topology_assignment(workload):
            # Kueue starts the job with its pods gated; the TopologyUngater then gives each
            # pod its domain: the pods are made here, ungated, and scheduled as given.
            started += released_objects(jobs[k], workload, inputs.flavors, seed or 0)
        else:
            started.append(started_job(jobs[k], workload, inputs.flavors))
    held = [suspended_job(jobs[k]) for k in jobs if k not in admitted]
    scheduled_input = _cluster_of(cluster, [*others, *started, *held])
    scheduled = run_schedule(scheduled_input, config, features, seed)
    run = QueueRun(
        state,
        manager,
        inputs,
        jobs,
        admitted,
        scheduled,
        checker,
        cycles,
        scheduled_input=scheduled_input,
    )
    placed = {o.pod.key: o.node for o in scheduled.outcomes}
    for key, loaded in jobs.items():
        owner = (
            f"{loaded.kind} {loaded.obj.metadata.namespace or 'default'}/{loaded.obj.metadata.name}"
        )
        run.pods[key] = [
            (pod, placed.get(pod, node)) for pod, node, _ in scheduled.made.get(owner, ())
        ]
    if scheduled.exit_code == EXIT_FAILED:
        run.exit_code = EXIT_FAILED
    elif run.pending() or scheduled.exit_code != EXIT_OK:
        run.exit_code = EXIT_PENDING
    return run


# ------------------------------------------------------------------------------- output


def _amount(resource: str, value: int) -> str:
    from dralloc.queueing.quota import quantity_of

    return str(quantity_of(resource, value))


def queue_tables(run: QueueRun) -> str:
    """One block per ClusterQueue: usage against quota per flavor and resource, then its
    Workloads (admitted first, in admission order, then pending with their reasons)."""
    lines: list[str] = []
    by_cq: dict[str, list[str]] = {}
    for key in run.inputs.workloads:
        queued = run.manager.workloads.get(key)
        res = run.state.reservations.get(key)
        name = res.cluster_queue if res is not None else (queued.cluster_queue if queued else "")
        by_cq.setdefault(name, []).append(key)
    order = {key: i for i, key in enumerate(run.admitted)}
    for cq in run.state.iter_cluster_queues():
        obj = cq.obj
        cohort = f"cohort {obj.spec.cohort_name}, " if obj.spec.cohort_name else ""
        lines.append(f"ClusterQueue {cq.name} ({cohort}{obj.spec.queueing_strategy})")
        rows = [("FLAVOR", "RESOURCE", "USED", "NOMINAL", "BORROWED")]
        for group in obj.spec.resource_groups:
            for fq in group.flavors:
                for quota in fq.resources:
                    fr = FlavorResource(fq.name, quota.name)
                    used = cq.node.usage.get(fr, 0)
                    nominal = cq.node.quotas[fr].nominal if fr in cq.node.quotas else 0
                    rows.append(
                        (
                            fq.name,
                            quota.name,
                            _amount(quota.name, used),
                            _amount(quota.name, nominal),
                            _amount(quota.name, max(0, used - nominal)),
                        )
                    )
        lines += _rows(rows)
        keys = by_cq.get(cq.name, [])
        admitted = sorted(
            (k for k in keys if k in run.state.reservations), key=lambda k: order.get(k, 0)
        )
        pending = [k for k in keys if k not in run.state.reservations]
        if admitted:
            table = [("ADMITTED", "FLAVORS", "PODS")]
            for key in admitted:
                table.append((key, _flavors(run.inputs.workloads[key]), _pods(run, key)))
            lines += _rows(table)
            for key in admitted:
                lines += _domains(run.inputs.workloads[key], key)
        for key in pending:
            reason, message = run.reason(key)
            lines.append(f"  pending {key}: {reason}: {message}")
        lines.append("")
    orphans = by_cq.get("", [])
    for key in orphans:
        reason, message = run.reason(key)
        lines.append(f"pending {key}: {reason}: {message}")
    return "\n".join(lines).rstrip("\n") + "\n"


def _rows(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def _flavors(workload: Workload) -> str:
    admission = workload.status.admission
    if admission is None:
        return "-"
    names = dict.fromkeys(f for psa in admission.pod_set_assignments for f in psa.flavors.values())
    return ",".join(names) or "-"


def _domains(workload: Workload, key: str) -> list[str]:
    """One line per pod set with a topology assignment: its domains and pod counts."""
    admission = workload.status.admission
    out = []
    for psa in admission.pod_set_assignments if admission else []:
        if psa.topology_assignment is None:
            continue
        levels, domains = decode_assignment(psa.topology_assignment)
        shown = ", ".join(f"{'/'.join(d.values)} x{d.count}" for d in domains)
        out.append(f"  {key} pod set {psa.name} domains ({', '.join(levels)}): {shown}")
    return out


def _pods(run: QueueRun, key: str) -> str:
    pods = run.pods.get(key)
    if pods is None:
        return "(no job)"
    placed = sum(1 for _, node in pods if node)
    nodes = sorted({node for _, node in pods if node})
    text = f"{placed}/{len(pods)} placed"
    return text + (f" on {','.join(nodes)}" if nodes else "")


def queue_document(run: QueueRun) -> dict[str, Any]:
    """The Workloads with Kueue's status, then what `dralloc schedule` prints."""
    items: list[Any] = [
        # The wire form omits defaults, apiVersion and kind among them.
        {"apiVersion": w.api_version, "kind": w.kind, **to_builtins(w)}
        for w in run.inputs.workloads.values()
    ]
    items += list(run.scheduled.document.get("items") or [])
    return list_document(items)


def print_run(run: QueueRun, output: QueueOutputFormat, explain_key: str | None) -> None:
    if output is QueueOutputFormat.table:
        sys.stdout.write(queue_tables(run))
    else:
        sys.stdout.write(dump(queue_document(run), output.value))
    for warning in run.scheduled.warnings:
        sys.stderr.write(f"warning: {warning}\n")
    if explain_key is not None:
        sys.stderr.write(explain_text(run, explain_key) + "\n")
    pending = run.pending()
    pods = [p for v in run.pods.values() for p in v]
    placed = sum(1 for _, node in pods if node)
    sys.stderr.write(
        f"admitted {len(run.inputs.workloads) - len(pending)} of {len(run.inputs.workloads)} "
        f"workloads in {run.cycles} cycle(s); placed {placed} of {len(pods)} pods\n"
    )


def explain_text(run: QueueRun, key: str) -> str:
    """Why `key` waits (or that it is admitted), with the placement answer when there is one."""
    if key not in run.inputs.workloads:
        namespace = key.partition("/")[0]
        names = [k for k in run.inputs.workloads if k.startswith(f"{namespace}/{_job_prefix(key)}")]
        if len(names) == 1:
            key = names[0]
        else:
            return f"workload {key}: not found"
    if key in run.state.reservations:
        cq = run.state.reservations[key].cluster_queue
        return f"workload {key}: admitted by ClusterQueue {cq}; pods {_pods(run, key)}"
    reason, message = run.reason(key)
    text = f"workload {key}: {reason}: {message}"
    answer = explain(run.state, run.manager, key)
    detail = str(answer)
    if detail and detail not in text:
        text += f"\nquota now: {detail}"
    return text


def _job_prefix(key: str) -> str:
    _, _, name = key.partition("/")
    return f"job-{name}-"


def queue_command(
    files: Sequence[str],
    *,
    config: str | None,
    feature_gates: str,
    seed: int | None,
    placement: bool,
    output: QueueOutputFormat,
    explain_key: str | None,
    recursive: bool,
    validate: Validate,
) -> None:
    """What `dralloc queue` does (see the module docstring); exits with its code."""
    if not files:
        _fail(EXIT_INPUT, "give the cluster, queues and jobs with -f FILE")
    features = parse_feature_gates(feature_gates)
    try:
        cluster = read_cluster(
            list(files), recursive=recursive, validation=field_validation(validate)
        )
        report_reading(cluster, verbose=False)
        configuration = load_config(config, plugin_names()) if config else SchedulerConfiguration()
        for warning in configuration.warnings:
            _err(f"warning: {config}: {warning}")
        run = run_queue(cluster, configuration, features, seed, placement=placement)
    except InputError as err:
        _fail(EXIT_INPUT, str(err))
    print_run(run, output, explain_key)
    raise typer.Exit(run.exit_code)


def _err(message: str) -> None:
    sys.stderr.write(message.rstrip("\n") + "\n")


def _fail(code: int, message: str) -> NoReturn:
    _err(message)
    raise typer.Exit(code)
