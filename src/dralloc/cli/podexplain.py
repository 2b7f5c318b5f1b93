"""`dralloc explain --pod NS/NAME`: why a pod is pending, node by node and claim by claim.

The pod is taken where `dralloc schedule` would meet it: the same input checks, the
ResourceClaim controller's claims from templates, running pods on their nodes, and every
pending pod ahead of it in the queue (priority, then input order) scheduled first. Then:

1. if DynamicResources' PreEnqueue holds it back (a claim it names does not exist, a template's
   claim is not created), that is the answer;
2. `scheduler.explain.explain_pod`: every Filter plugin of its profile on every node (or the
   `--node`), so each node shows every reason, and kube-scheduler's summary line;
3. every claim of the pod (by name, from a template, and later the extended-resource claim),
   allocated or not; an unallocated one is explained on each node by the allocator's own
   `explain` (request by request, device verdicts summarised by reason);
4. what kube-scheduler would do now: the node it picks, or its FitError message, preemption
   included.

With `--kubeconfig` the input is a live cluster's objects (`cli.inputs.read_live_cluster`):
the same steps answer "why is my pod pending" from what the API server holds now; the
cluster's pending pods of schedulers the configuration has no profile for are left out, unless
the pod asked about is one (then its profile is the input error it is offline).

Exit codes: 0 the pod fits on some node (or runs already), 1 it does not, 2 invalid input
(`--pod` naming no pod of the input, or one finished or being deleted, included), 3 a plugin
failed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dralloc.allocator import Allocator, ClaimExplanation, explain
from dralloc.api.core import Pod
from dralloc.api.io import to_builtins
from dralloc.cli.inputs import ClusterInput
from dralloc.cli.schedule import plan_schedule
from dralloc.errors import InputError, Problem
from dralloc.features import Features
from dralloc.scheduler.admission import profile_problems
from dralloc.scheduler.cache import SchedulerCache
from dralloc.scheduler.config import DEFAULT_SCHEDULER_NAME, SchedulerConfiguration
from dralloc.scheduler.explain import GangExplanation, PodExplanation, explain_pod
from dralloc.scheduler.framework import Code, Framework, NodeInfo, PodInfo
from dralloc.scheduler.offline import (
    PendingPod,
    SchedulePlan,
    explain_gang_member,
    queue_order,
    schedule_queue,
)
from dralloc.scheduler.scheduler import Scheduler

__all__ = ["ClaimReport", "PodReport", "explain_pod_in_input", "pod_report_json"]

EXIT_FITS = 0
EXIT_NO = 1
EXIT_FAILED = 3


@dataclass(frozen=True)
class ClaimReport:
    """One claim of the pod: `pod_claim` is its entry in `spec.resourceClaims`."""

    pod_claim: str
    claim: str | None  # namespace/name; None when not created
    source: str  # "resourceClaimName" or "template <name>"
    allocated: bool = False
    explanations: tuple[ClaimExplanation, ...] = ()  # per node, for an unallocated claim


@dataclass(frozen=True)
class PodReport:
    pod: str
    running_on: str | None = None
    gated: str | None = None  # PreEnqueue's message
    explanation: PodExplanation | None = None
    claims: tuple[ClaimReport, ...] = ()
    # What one scheduling cycle does now: the node, or kube-scheduler's message.
    scheduled_to: str | None = None
    message: str = ""
    error: bool = False
    notes: list[str] = field(default_factory=list)
    gang: str | None = None  # the PodGroup the pod belongs to, when it is in a gang

    @property
    def exit_code(self) -> int:
        if self.error:
            return EXIT_FAILED
        if self.running_on or self.scheduled_to:
            return EXIT_FITS
        return EXIT_NO


def _find(cluster: ClusterInput, ref: str) -> str:
    namespace, _, name = ref.rpartition("/")
    key = f"{namespace or 'default'}/{name}"
    pods = [o for o in cluster.objects if o.kind == "Pod"]
    if any(f"{o.obj.metadata.namespace}/{o.obj.metadata.name}" == key for o in pods):
        return key
    return ""


def explain_pod_in_input(
    cluster: ClusterInput,
    config: SchedulerConfiguration,
    features: Features,
    pod_ref: str,
    *,
    node: str | None = None,
    seed: int | None = None,
) -> PodReport:
    """The report for pod `pod_ref` (`NAME` in `default`, or `NAMESPACE/NAME`)."""
    key = _find(cluster, pod_ref)
    if not key:
        known = sorted(
            f"{o.obj.metadata.namespace}/{o.obj.metadata.name}"
            for o in cluster.objects
            if o.kind == "Pod"
        )
        hint = f" (pods: {', '.join(known[:10])})" if known else " (the input has no pods)"
        raise InputError([Problem("", "", "--pod", f"no pod {pod_ref!r} in the input{hint}")])
    plan, frameworks = plan_schedule(cluster, config, features, seed)
    if key in plan.other_schedulers:
        # A live cluster's pod that names no profile: the question is about this pod, so
        # it is the input error it is offline, not a pod left to another scheduler.
        loaded = next(
            o
            for o in cluster.objects
            if isinstance(o.obj, Pod) and f"{o.obj.metadata.namespace}/{o.obj.metadata.name}" == key
        )
        assert isinstance(loaded.obj, Pod)
        raise InputError(profile_problems(loaded, loaded.obj, frameworks))
    running = plan.running.get(key)
    if running is not None and isinstance(running.obj, Pod):
        return PodReport(key, running_on=running.obj.spec.node_name)
    queue = queue_order(plan)
    position = next((i for i, entry in enumerate(queue) if _key(entry) == key), None)
    if position is None:
        # Neither running nor queued: finished (Succeeded, Failed) or pending and being
        # deleted, which kube-scheduler skips.
        raise InputError(
            [
                Problem(
                    "",
                    "",
                    "--pod",
                    f"pod {key} is finished or being deleted: no scheduler considers it",
                )
            ]
        )
    target = queue[position]
    gang = plan.gangs.gang_of(key)
    if gang is not None:
        # The gang is queued as one entity: the queue runs up to its first member only.
        siblings = set(plan.gangs.members(gang.key))
        position = next(i for i, entry in enumerate(queue) if _key(entry) in siblings)
    schedule_queue(plan, frameworks, queue[:position])
    if target.gated is not None:
        return PodReport(key, gated=target.gated, message=target.gated)
    if gang is not None:
        found = explain_gang_member(plan, frameworks, key)
        if isinstance(found, str):
            return PodReport(key, gated=found, message=found, gang=gang.ref)
        if found is not None:
            return _gang_member_report(plan, frameworks, target, found, node, features)
    framework = frameworks[target.pod.spec.scheduler_name or DEFAULT_SCHEDULER_NAME]
    nodes = plan.cache.snapshot()
    if node is not None:
        nodes = [n for n in nodes if n.name == node]
    info = PodInfo.of(target.pod)
    explanation = explain_pod(framework, info, nodes)
    claims = _claim_reports(plan.cache, target, nodes, features)
    outcome = Scheduler(plan.cache, framework).schedule_one(target.pod)
    return PodReport(
        key,
        explanation=explanation,
        claims=claims,
        scheduled_to=outcome.node,
        message=outcome.message,
        error=outcome.status.code == Code.ERROR,
    )


def _gang_member_report(
    plan: SchedulePlan,
    frameworks: Mapping[str, Framework],
    target: PendingPod,
    found: GangExplanation,
    node: str | None,
    features: Features,
) -> PodReport:
    """A gang member: the gang's what-if cycle decides; the node table is the pod's own
    Filter verdicts on the cache as it is before the gang's cycle."""
    framework = frameworks[target.pod.spec.scheduler_name or DEFAULT_SCHEDULER_NAME]
    nodes = plan.cache.snapshot()
    if node is not None:
        nodes = [n for n in nodes if n.name == node]
    explanation = explain_pod(framework, PodInfo.of(target.pod), nodes)
    claims = _claim_reports(plan.cache, target, nodes, features)
    admitted = found.placement.is_admitted
    return PodReport(
        _key(target),
        explanation=explanation,
        claims=claims,
        scheduled_to=found.node if admitted else None,
        message=found.message(),
        error=found.placement.status.code == Code.ERROR,
        gang=found.gang.ref,
    )


def _key(entry: PendingPod) -> str:
    return f"{entry.pod.metadata.namespace}/{entry.pod.metadata.name}"


def _claim_reports(
    cache: SchedulerCache, target: PendingPod, nodes: Sequence[NodeInfo], features: Features
) -> tuple[ClaimReport, ...]:
    pod = target.pod
    namespace = pod.metadata.namespace
    generated = {s.name: s.resource_claim_name for s in pod.status.resource_claim_statuses}
    allocator = Allocator(features)
    reports = []
    for entry in pod.spec.resource_claims:
        if entry.resource_claim_name is not None:
            name: str | None = entry.resource_claim_name
            source = "resourceClaimName"
        else:
            name = generated.get(entry.name)
            source = f"template {entry.resource_claim_template_name}"
        if name is None:
            reports.append(ClaimReport(entry.name, None, source))
            continue
        claim_key = f"{namespace}/{name}"
        claim = cache.claims.get(claim_key)
        if claim is None:
            reports.append(ClaimReport(entry.name, None, source))
            continue
        if claim.status.allocation is not None:
            reports.append(ClaimReport(entry.name, claim_key, source, allocated=True))
            continue
        explanations = tuple(
            explain(allocator, n.node, claim, cache.inventory, cache.classes, cache.allocated)
            for n in nodes
        )
        reports.append(ClaimReport(entry.name, claim_key, source, explanations=explanations))
    return tuple(reports)


# ---------------------------------------------------------------------------- output


def _reason_counts(result: ClaimExplanation) -> dict[str, Any]:
    return {
        "claim": result.claim,
        "node": result.node,
        "fits": result.fits,
        "message": result.message,
        "error": result.error or None,
        "requests": [
            {
                "name": r.name,
                "deviceClassName": r.device_class,
                "needed": r.needed,
                "fitting": r.fitting,
                "devices": len(r.devices),
                "verdicts": dict(Counter(d.verdict for d in r.devices)),
                "summary": r.summary(),
            }
            for r in result.requests
        ],
        "allocation": to_builtins(result.allocation) if result.allocation else None,
    }


def pod_report_json(report: PodReport) -> dict[str, Any]:
    """The report as data (`-o json`)."""
    out: dict[str, Any] = {"pod": report.pod}
    if report.running_on:
        out["runningOn"] = report.running_on
        return out
    if report.gang:
        out["gang"] = {"podGroup": report.gang, "message": report.message}
    if report.gated:
        out["gated"] = report.gated
        return out
    explanation = report.explanation
    if explanation is not None:
        out["summary"] = explanation.message()
        out["preFilter"] = (
            explanation.pre_filter_rejection.message if explanation.pre_filter_rejection else None
        )
        out["nodes"] = [
            {
                "node": n.node,
                "fits": n.fits,
                "rejections": [
                    {"plugin": s.plugin, "reasons": list(s.reasons)} for s in n.rejections
                ],
            }
            for n in explanation.nodes
        ]
    out["claims"] = [
        {
            "podClaim": c.pod_claim,
            "claim": c.claim,
            "source": c.source,
            "allocated": c.allocated,
            "nodes": [_reason_counts(e) for e in c.explanations],
        }
        for c in report.claims
    ]
    out["scheduledTo"] = report.scheduled_to
    out["message"] = report.message or None
    return out


def pod_report_lines(report: PodReport, *, all_nodes: bool = True) -> list[str]:
    """The headline and per-claim summaries (the node table is printed separately)."""
    if report.running_on:
        return [f"pod {report.pod}: running on node {report.running_on}"]
    if report.gated:
        why = (
            f"GangScheduling's PreEnqueue keeps the pods of {report.gang} out of the "
            "scheduling queue until the PodGroup and minCount of its pods exist"
            if report.gang
            else "DynamicResources' PreEnqueue keeps the pod out of the scheduling queue "
            "until its claims exist"
        )
        return [f"pod {report.pod}: pending, never tried: {report.gated}", f"  ({why})"]
    lines = []
    if report.gang:
        lines.append(report.message)
    elif report.scheduled_to:
        lines.append(f"pod {report.pod}: fits; kube-scheduler picks node {report.scheduled_to}")
    else:
        lines.append(f"pod {report.pod}: pending: {report.message}")
    for claim in report.claims:
        what = claim.claim or "not created"
        head = f"claim {what} (pod claim {claim.pod_claim}, {claim.source})"
        if claim.claim is None:
            lines.append(f"{head}: not created yet")
            continue
        if claim.allocated:
            lines.append(f"{head}: allocated")
            continue
        lines.append(f"{head}: not allocated")
        for result in claim.explanations:
            if result.fits and not all_nodes:
                continue
            lines.append(f"  node {result.node}: {result.message}")
            lines.extend(f"    {r.summary()}" for r in result.requests if not result.fits)
    return lines


def node_rows(report: PodReport) -> list[tuple[str, str, str]]:
    """(node, verdict, reasons) per node, for the table."""
    explanation = report.explanation
    if explanation is None:
        return []
    rows = []
    for node in explanation.nodes:
        if node.fits:
            rows.append((node.node, "fits", ""))
            continue
        reasons = "; ".join(
            f"{s.plugin}: {', '.join(s.reasons)}" if s.plugin else ", ".join(s.reasons)
            for s in node.rejections
        )
        rows.append((node.node, "no", reasons))
    return rows
