"""What cluster-autoscaler does with ProvisioningRequests each loop (spec/autoscaling.md §7.2),
when `enableProvisioningRequests` is on.

Owns `ProvisioningRequestState` (the retry times the autoscaler keeps per request) and the
functions `ClusterAutoscaler.run_once` calls, in this order:

1. `refresh`: a booked request (`Provisioned=True`, neither `Failed` nor `BookingExpired`) whose
   pods are all scheduled gets `BookingExpired=True` (`CapacityBookingConsumed`); one booked
   for longer than 10 min gets `BookingExpired=True` (`CapacityReservationTimeExpired`,
   upstream's `defaultReservationTime`); one not provisioned 7 days after creation gets
   `Failed=True` (`Expired`, `defaultExpirationTime`). (dralloc) a best-effort-atomic request
   past its `ValidUntilSeconds` parameter fails the same way; upstream documents the
   parameter but does not act on it. A request `Failed` or `BookingExpired` for 7 days is
   deleted (left out of the loop's `provisioning_requests`).
2. `book`: every booked request's pods not yet scheduled (its count minus the bound pods
   consuming it) are placed in the loop's snapshot before anything else, so neither other
   pods nor scale-down take the room (upstream's `ShouldCapacityBeBooked` + the booking
   injector).
3. `process_one`, on the loop's provisioning turn: cluster-autoscaler's wrapper orchestrator
   alternates between regular pods and ProvisioningRequests when both wait (read in
   core/scaleup/orchestrator/wrapper_orchestrator.go), and serves one request per turn: the
   oldest not yet provisioned, whose retry time has come (with `checkCapacityBatchProcessing`,
   up to `checkCapacityProvisioningRequestMaxBatchSize` (10) check-capacity requests, each
   seeing the room the previous ones booked). It gets `Accepted=True`, then:
   * `check-capacity.autoscaling.x-k8s.io`: all its pods placed on a fork of the snapshot
     (stopping at the first that fits nowhere); all placed -> the fork becomes the loop's
     snapshot (booked), `Provisioned=True` `CapacityIsFound`; else `Provisioned=False`
     `CapacityIsNotFound`, or `Failed=True` `CapacityIsNotFound` with parameter
     `noRetry: "true"`.
   * `best-effort-atomic-scale-up.autoscaling.x-k8s.io`: pods that fit already are placed;
     none left -> `Provisioned=True` `CapacityIsFound`; else an all-or-nothing scale-up of
     the rest (`scaleup.scale_up(atomic=True)`: one node group whose estimate holds every
     pod, every node granted or none) -> `Provisioned=True` `CapacityIsProvisioned`, else
     `Provisioned=False` `CapacityIsNotFound`.
   A request left `Provisioned=False` is retried after 1 min, doubling to 10 min
   (upstream's best-effort-atomic retry; the same for check-capacity **(unverified)**).

Requests are immutable values; each change returns a new one and adds a
`ProvisioningRequestUpdate` record to the loop's result. Pods are `VirtualPod`s made from the
requests' PodTemplates (`virtualpods.py`), their template claims allocated in the snapshot.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dralloc.api.core import Pod
from dralloc.api.resource import ResourceClaimTemplate
from dralloc.autoscaling.config import Options
from dralloc.autoscaling.decisions import LoopResult, ProvisioningRequestUpdate
from dralloc.autoscaling.planning import ClusterState, PlanningSnapshot
from dralloc.autoscaling.provisioningrequest import (
    MESSAGES,
    NO_RETRY_PARAMETER,
    VALID_UNTIL_PARAMETER,
    Condition,
    ConditionReason,
    ConditionType,
    ProvisioningClass,
    ProvisioningRequest,
    consumed_request,
)
from dralloc.autoscaling.scaleup import scale_up
from dralloc.autoscaling.virtualpods import VirtualPod, place_virtual

if TYPE_CHECKING:
    from dralloc.autoscaling.clusterautoscaler import ClusterAutoscaler, FleetView

RESERVATION_SECONDS = 10 * 60.0  # upstream defaultReservationTime
EXPIRATION_SECONDS = 7 * 86400.0  # upstream defaultExpirationTime
_TERMINAL = (ConditionType.FAILED, ConditionType.BOOKING_EXPIRED)
RETRY_INITIAL_SECONDS = 60.0
RETRY_MAX_SECONDS = 600.0


@dataclass
class ProvisioningRequestState:
    """Per request key: when it may be tried again, and the delay after the next failure."""

    retry_at: dict[str, float] = field(default_factory=dict)
    delay: dict[str, float] = field(default_factory=dict)

    def failed(self, key: str, now: float) -> None:
        delay = self.delay.get(key, RETRY_INITIAL_SECONDS)
        self.retry_at[key] = now + delay
        self.delay[key] = min(delay * 2, RETRY_MAX_SECONDS)

    def is_due(self, key: str, now: float) -> bool:
        return self.retry_at.get(key, now) <= now


def _set(
    request: ProvisioningRequest,
    now: float,
    kind: ConditionType,
    status: bool,
    reason: ConditionReason,
    result: LoopResult,
) -> ProvisioningRequest:
    condition = Condition(kind, status, reason, MESSAGES[reason], now)
    updated = request.with_condition(condition)
    if updated.condition(kind) != request.condition(kind):
        result.decisions.append(
            ProvisioningRequestUpdate(now, request.key, kind, status, reason, MESSAGES[reason])
        )
    return updated


def _consumers(state: ClusterState) -> dict[str, int]:
    """Bound pods per consumed request key."""
    counts: dict[str, int] = {}
    for pod in state.pods:
        name = consumed_request(pod.metadata.annotations)
        if name and pod.spec.node_name:
            key = f"{pod.metadata.namespace or 'default'}/{name}"
            counts[key] = counts.get(key, 0) + 1
    return counts


def _valid_until(request: ProvisioningRequest) -> float | None:
    raw = request.parameters.get(VALID_UNTIL_PARAMETER)
    try:
        return request.created_at + float(raw) if raw is not None else None
    except ValueError:
        return None


def refresh(
    now: float,
    requests: Sequence[ProvisioningRequest],
    state: ClusterState,
    result: LoopResult,
) -> list[ProvisioningRequest]:
    """Step 1 of the module docstring."""
    bound = _consumers(state)
    out: list[ProvisioningRequest] = []
    for request in requests:
        if request.provisioning_class is not None and request.is_finished():
            ended = max(
                (c.at for c in request.conditions if c.status and c.type in _TERMINAL),
                default=now,
            )
            if ended + EXPIRATION_SECONDS >= now:
                out.append(request)  # kept 7 days after it ended, then deleted
            continue
        if request.provisioning_class is None:
            out.append(request)
            continue
        provisioned = request.condition(ConditionType.PROVISIONED)
        if request.is_booked():
            if bound.get(request.key, 0) >= request.pod_count:
                request = _set(
                    request,
                    now,
                    ConditionType.BOOKING_EXPIRED,
                    True,
                    ConditionReason.CAPACITY_BOOKING_CONSUMED,
                    result,
                )
            elif provisioned is not None and provisioned.at + RESERVATION_SECONDS < now:
                request = _set(
                    request,
                    now,
                    ConditionType.BOOKING_EXPIRED,
                    True,
                    ConditionReason.CAPACITY_RESERVATION_TIME_EXPIRED,
                    result,
                )
        else:
            valid_until = (
                _valid_until(request)
                if request.provisioning_class is ProvisioningClass.BEST_EFFORT_ATOMIC_SCALE_UP
                else None
            )
            if request.created_at + EXPIRATION_SECONDS < now or (
                valid_until is not None and valid_until < now
            ):
                request = _set(
                    request, now, ConditionType.FAILED, True, ConditionReason.EXPIRED, result
                )
        out.append(request)
    return out


def book(
    snapshot: PlanningSnapshot,
    requests: Sequence[ProvisioningRequest],
    state: ClusterState,
    claim_templates: Mapping[str, ResourceClaimTemplate],
) -> list[VirtualPod]:
    """Step 2: place the booked requests' unscheduled pods; returns those placed."""
    bound = _consumers(state)
    placed: list[VirtualPod] = []
    for request in requests:
        if not request.is_booked():
            continue
        for virtual in request.virtual_pods(claim_templates)[bound.get(request.key, 0) :]:
            if place_virtual(snapshot, virtual) is not None:
                placed.append(virtual)
    return placed


def waiting(
    requests: Sequence[ProvisioningRequest], memory: ProvisioningRequestState, now: float
) -> list[ProvisioningRequest]:
    """Requests a provisioning turn may serve, oldest first."""
    ready = [
        r
        for r in requests
        if r.provisioning_class is not None
        and not r.is_finished()
        and not r.is_true(ConditionType.PROVISIONED)
        and memory.is_due(r.key, now)
    ]
    return sorted(ready, key=lambda r: (r.created_at, r.key))


def turn(options: Options, waiting: Sequence[ProvisioningRequest]) -> list[ProvisioningRequest]:
    """The requests one provisioning turn serves: the first waiting one, or, with
    `checkCapacityBatchProcessing` and a check-capacity request first, up to
    `checkCapacityProvisioningRequestMaxBatchSize` check-capacity requests in order."""
    first = waiting[0]
    if (
        not options.check_capacity_batch_processing
        or first.provisioning_class is not ProvisioningClass.CHECK_CAPACITY
    ):
        return [first]
    batch = [r for r in waiting if r.provisioning_class is ProvisioningClass.CHECK_CAPACITY]
    return batch[: options.check_capacity_provisioning_request_max_batch_size]


@dataclass
class Outcome:
    """`process_one`'s answer: the updated request, the snapshot the loop goes on with, the
    request's pods placed in it, and whether nodes were requested."""

    request: ProvisioningRequest
    snapshot: PlanningSnapshot
    placed: list[VirtualPod]
    scaled_up: bool = False


def process_one(
    ca: ClusterAutoscaler,
    now: float,
    state: ClusterState,
    snapshot: PlanningSnapshot,
    view: FleetView,
    request: ProvisioningRequest,
    claim_templates: Mapping[str, ResourceClaimTemplate],
    result: LoopResult,
) -> Outcome:
    """Step 3 of the module docstring for one request."""
    memory = ca.provisioning_request_state
    request = _set(request, now, ConditionType.ACCEPTED, True, ConditionReason.ACCEPTED, result)
    pods = request.virtual_pods(claim_templates)
    fork = snapshot.fork()
    placed: list[VirtualPod] = []
    left: list[VirtualPod] = []
    atomic = request.provisioning_class is ProvisioningClass.BEST_EFFORT_ATOMIC_SCALE_UP
    for virtual in pods:
        if place_virtual(fork, virtual) is not None:
            placed.append(virtual)
        else:
            left.append(virtual)
            if not atomic:
                break  # check-capacity stops at the first pod that fits nowhere
    if not left:
        request = _set(
            request,
            now,
            ConditionType.PROVISIONED,
            True,
            ConditionReason.CAPACITY_IS_FOUND,
            result,
        )
        return Outcome(request, fork, placed)
    if atomic:
        cache = fork.built.cache
        for virtual in left:
            for claim in virtual.claims:
                cache.set_claim(claim)
        to_add: list[Pod] = [v.pod for v in left]
        if scale_up(ca, now, state, fork, view, to_add, result, atomic=True):
            request = _set(
                request,
                now,
                ConditionType.PROVISIONED,
                True,
                ConditionReason.CAPACITY_IS_PROVISIONED,
                result,
            )
            return Outcome(request, snapshot, [], scaled_up=True)
    if request.parameters.get(NO_RETRY_PARAMETER) == "true" and not atomic:
        request = _set(
            request, now, ConditionType.FAILED, True, ConditionReason.CAPACITY_IS_NOT_FOUND, result
        )
    else:
        request = _set(
            request,
            now,
            ConditionType.PROVISIONED,
            False,
            ConditionReason.CAPACITY_IS_NOT_FOUND,
            result,
        )
        memory.failed(request.key, now)
    return Outcome(request, snapshot, [])
