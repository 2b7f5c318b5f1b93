"""What admission writes on a Workload, in Kueue's shapes (spec/queueing.md 1.5, 2.7, 8.4).

Owns: the condition reasons (`PendingReason`, a closed enum) and the status writers:
`set_quota_reserved` (status.admission, QuotaReserved=True, Admitted=True when the queue has no
admission checks, earlier Evicted/Preempted set False) and `set_pending` (QuotaReserved=False
with the reason and Kueue's message, admission cleared, `resourceRequests` filled in). They
change the Workload given; the caller owns it. Time is passed in. Pure computation, no I/O.

Reasons are v0.19's tiered ones (gate UnadmittedWorkloadsObservability, on since v0.19); with
`legacy=True` every pending reason is the older `Pending`, as Kueue v0.17 writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

from dralloc.api.validation.times import format_time
from dralloc.queueing.objects import Admission, Condition, PodSetRequest, Workload
from dralloc.queueing.quota import quantity_of
from dralloc.queueing.requests import PodSetRequests

QUOTA_RESERVED = "QuotaReserved"
ADMITTED = "Admitted"


class PendingReason(StrEnum):
    """Why QuotaReserved is False, most severe first within each tier (spec 8.4)."""

    deactivated = "Deactivated"
    on_hold = "OnHold"
    misconfigured = "Misconfigured"
    no_matching_flavor = "NoMatchingFlavor"
    suspended = "Suspended"
    exceeds_max_quota = "ExceedsMaxQuota"
    waiting_for_quota = "WaitingForQuota"
    waiting_for_preempted_workloads = "WaitingForPreemptedWorkloads"
    # dralloc's own: quota fits but no node placement does (spec 8.1, `PlacementCheck`).
    placement_infeasible = "PlacementInfeasible"
    pending_evaluation = "PendingEvaluation"
    legacy_pending = "Pending"


def _set(workload: Workload, condition: Condition) -> None:
    """metav1's SetStatusCondition: the transition time changes only with the status."""
    conditions = workload.status.conditions
    for i, existing in enumerate(conditions):
        if existing.type == condition.type:
            if existing.status == condition.status:
                condition.last_transition_time = existing.last_transition_time
            conditions[i] = condition
            return
    conditions.append(condition)


def _truncate(message: str) -> str:
    # Kueue truncates condition messages to 32 KiB (api.TruncateConditionMessage).
    limit = 32 * 1024
    return message if len(message) <= limit else message[: limit - 3] + "..."


def set_quota_reserved(
    workload: Workload, admission: Admission, now: datetime, *, has_checks: bool = False
) -> None:
    stamp = format_time(now)
    generation = workload.metadata.generation or None
    workload.status.admission = admission
    _set(
        workload,
        Condition(
            type=QUOTA_RESERVED,
            status="True",
            reason="QuotaReserved",
            message=f"Quota reserved in ClusterQueue {admission.cluster_queue}",
            last_transition_time=stamp,
            observed_generation=generation,
        ),
    )
    for kind in ("Evicted", "Preempted"):
        found = workload.condition(kind)
        if found is not None and found.status == "True":
            _set(
                workload,
                Condition(
                    type=kind,
                    status="False",
                    reason="QuotaReserved",
                    message=_truncate("Previously: " + found.message),
                    last_transition_time=stamp,
                    observed_generation=generation,
                ),
            )
    if not has_checks:
        _set(
            workload,
            Condition(
                type=ADMITTED,
                status="True",
                reason="Admitted",
                message="The workload is admitted",
                last_transition_time=stamp,
                observed_generation=generation,
            ),
        )
    workload.status.resource_requests = []


def set_pending(
    workload: Workload,
    reason: PendingReason,
    message: str,
    now: datetime,
    requests: Sequence[PodSetRequests] = (),
    *,
    legacy: bool = False,
) -> None:
    stamp = format_time(now)
    generation = workload.metadata.generation or None
    was_admitted = workload.condition(ADMITTED)
    _set(
        workload,
        Condition(
            type=QUOTA_RESERVED,
            status="False",
            reason=PendingReason.legacy_pending if legacy else reason,
            message=_truncate(message),
            last_transition_time=stamp,
            observed_generation=generation,
        ),
    )
    workload.status.admission = None
    if was_admitted is not None and was_admitted.status == "True":
        _set(
            workload,
            Condition(
                type=ADMITTED,
                status="False",
                reason="NoReservation",
                message="The workload has no reservation",
                last_transition_time=stamp,
                observed_generation=generation,
            ),
        )
    workload.status.resource_requests = [
        PodSetRequest(
            name=ps.name,
            resources={r: quantity_of(r, v) for r, v in sorted(ps.total().items())},
        )
        for ps in requests
    ]


PREEMPTION_REASONS = {
    "InClusterQueue": "prioritization in the ClusterQueue",
    "InCohortReclamation": "reclamation within the cohort",
    "InCohortFairSharing": "Fair Sharing within the cohort",
    "InCohortReclaimWhileBorrowing": "reclamation within the cohort while borrowing",
}


def preemption_message(preemptor: Workload, reason: str, preemptor_path: str, path: str) -> str:
    """Kueue's message on a preempted Workload's Evicted and Preempted conditions."""
    uid = preemptor.metadata.uid or "UNKNOWN"
    job_uid = preemptor.metadata.labels.get("kueue.x-k8s.io/job-uid") or "UNKNOWN"
    return (
        f"Preempted to accommodate a workload (UID: {uid}, JobUID: {job_uid}) due to "
        f"{PREEMPTION_REASONS.get(reason, 'UNKNOWN')}; "
        f"preemptor path: {preemptor_path or 'UNKNOWN'}; preemptee path: {path or 'UNKNOWN'}"
    )


def set_preempted(workload: Workload, reason: str, message: str, now: datetime) -> None:
    """Evicted=True (reason Preempted) and Preempted=True (the variant's reason), then, as
    once the victim's pods are gone, its reservation cleared and Requeued=True."""
    stamp = format_time(now)
    generation = workload.metadata.generation or None
    for type_, why in (("Evicted", "Preempted"), ("Preempted", reason)):
        _set(
            workload,
            Condition(
                type=type_,
                status="True",
                reason=why,
                message=_truncate(message),
                last_transition_time=stamp,
                observed_generation=generation,
            ),
        )
    set_pending(workload, PendingReason.pending_evaluation, "The workload was preempted", now)
    _set(
        workload,
        Condition(
            type="Requeued",
            status="True",
            reason="Preempted",
            message=_truncate(message),
            last_transition_time=stamp,
            observed_generation=generation,
        ),
    )
