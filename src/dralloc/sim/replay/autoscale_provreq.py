"""ProvisioningRequests in the replay, without queues (spec/autoscaling.md §7.1-7.2): the
requests of the manifests (`ReplayAutoscaling.objects`), served by cluster-autoscaler mode's
`run_once`, and the trace pods that consume them.

Owns the run's requests as the last loop left them (their conditions), which trace pods
consume which request, and every condition change; the `FleetDriver` (`replay.autoscaled`)
calls it around each loop and never changes a request itself. What a request's class does
(check-capacity, best-effort-atomic scale-up, booking, expiry) is `autoscaling.provisioning`'s.

- **Requests** exist from the start of the run (`created_at` 0) and are served when the
  config sets `options.enableProvisioningRequests` (upstream's flag; off, they are carried
  unchanged). karpenter mode does not serve them (neither does upstream) and static mode has
  no loop: the requests stay as read.
- **Consumers.** A trace pod consumes a request when the request names it in its
  `dralloc.io/consumed-by` annotation (a replay cannot annotate a trace's pods); the
  autoscaler then sees the pod with `autoscaling.x-k8s.io/consume-provisioning-request` and
  `autoscaling.x-k8s.io/provisioning-class-name`, as a pod created for the request carries.
  Such a pod never triggers an ordinary scale-up: it is left out of the loop's unschedulable
  pods, as upstream's ProvisioningRequest pod filter does ("didn't trigger scale-up, because
  it's consuming ProvisioningRequest"), and waits for the request's capacity (booked once
  `Provisioned=True`). A booking ends when all its pods are bound (`BookingExpired`,
  `CapacityBookingConsumed`) or 10 min after `Provisioned`.
- **Timers.** A request left `Provisioned=False` is retried when its backoff ends; a booking
  expires 10 min after `Provisioned`; an unprovisioned request fails 7 days after creation.
  These are loop timers of the driver (`timers`), so a run ends only when no request can
  change any more.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import msgspec

from dralloc.api.core import Pod
from dralloc.autoscaling.clusterautoscaler import UnschedulablePod
from dralloc.autoscaling.decisions import LoopResult, ProvisioningRequestUpdate
from dralloc.autoscaling.objects import AutoscalingObjects
from dralloc.autoscaling.provisioning import (
    EXPIRATION_SECONDS,
    RESERVATION_SECONDS,
    ProvisioningRequestState,
)
from dralloc.autoscaling.provisioningrequest import (
    CLASS_ANNOTATION,
    CONSUME_ANNOTATION,
    ConditionType,
    ProvisioningRequest,
)

__all__ = ["ProvisioningRequestOutcome", "ReplayProvisioningRequests", "outcomes_by_final"]


@dataclass(frozen=True)
class ProvisioningRequestOutcome:
    """One request at the end of the run: its class, its conditions as (type, status,
    reason) in the order they were first set, when it became `Provisioned=True` (seconds
    after its creation, None if it never did), and every condition change, in order."""

    key: str
    class_name: str
    conditions: tuple[tuple[str, bool, str], ...]
    provisioned_after: float | None
    updates: tuple[ProvisioningRequestUpdate, ...] = field(default=())

    @property
    def final(self) -> str:
        """The condition that ended it (`Failed`, `BookingExpired`), else `Provisioned`
        when true, else `Pending`."""
        for kind in (ConditionType.FAILED, ConditionType.BOOKING_EXPIRED):
            if (str(kind), True) in {(c[0], c[1]) for c in self.conditions}:
                return str(kind)
        if (str(ConditionType.PROVISIONED), True) in {(c[0], c[1]) for c in self.conditions}:
            return str(ConditionType.PROVISIONED)
        return "Pending"


class ReplayProvisioningRequests:
    """The ProvisioningRequests of one run (see the module docstring)."""

    def __init__(self, objects: AutoscalingObjects) -> None:
        self.requests: list[ProvisioningRequest] = list(objects.provisioning_requests)
        self.claim_templates = objects.claim_templates
        self.consumer_of: dict[str, ProvisioningRequest] = {
            f"{request.namespace}/{pod}": request
            for request in self.requests
            for pod in request.consumed_by
        }
        self.updates: list[ProvisioningRequestUpdate] = []
        self.provisioned_at: dict[str, float] = {}

    def __bool__(self) -> bool:
        return bool(self.requests)

    def consumes(self, pod: Pod) -> ProvisioningRequest | None:
        meta = pod.metadata
        return self.consumer_of.get(f"{meta.namespace or 'default'}/{meta.name}")

    def annotated(self, pod: Pod) -> Pod:
        """`pod` with the consume and class annotations of the request it consumes."""
        request = self.consumes(pod)
        if request is None:
            return pod
        annotations = {
            **pod.metadata.annotations,
            CONSUME_ANNOTATION: request.name,
            CLASS_ANNOTATION: request.class_name,
        }
        return msgspec.structs.replace(
            pod, metadata=msgspec.structs.replace(pod.metadata, annotations=annotations)
        )

    def regular(self, unschedulable: Sequence[UnschedulablePod]) -> list[UnschedulablePod]:
        """The pending pods an ordinary scale-up may help: not the requests' consumers."""
        return [p for p in unschedulable if self.consumes(p.pod) is None]

    def active(self) -> list[ProvisioningRequest]:
        """The requests a loop may still change: a finished one (`Failed`, `BookingExpired`)
        is only kept, then deleted, by the autoscaler, so it is not handed to it (a loop
        with requests builds its planning snapshot, and this keeps finished ones from making
        every later loop do so). Kept here for the summary."""
        return [r for r in self.requests if not r.is_finished()]

    def loop_done(self, result: LoopResult) -> None:
        """Keep the requests as the loop left them, and their condition changes."""
        changed = {r.key: r for r in result.provisioning_requests}
        self.requests = [changed.get(r.key, r) for r in self.requests]
        for decision in result.of_type(ProvisioningRequestUpdate):
            self.updates.append(decision)
            if decision.condition == ConditionType.PROVISIONED and decision.status:
                self.provisioned_at.setdefault(decision.request, decision.time)

    def timers(self, memory: ProvisioningRequestState) -> list[float]:
        """When a request may change with nothing else happening (module docstring)."""
        times: list[float] = []
        for request in self.requests:
            if request.provisioning_class is None or request.is_finished():
                continue
            if request.is_booked():
                provisioned = request.condition(ConditionType.PROVISIONED)
                if provisioned is not None:
                    times.append(_just_after(provisioned.at + RESERVATION_SECONDS))
                continue
            times.append(_just_after(request.created_at + EXPIRATION_SECONDS))
            retry = memory.retry_at.get(request.key)
            if retry is not None:
                times.append(retry)
        return times

    def outcomes(self) -> tuple[ProvisioningRequestOutcome, ...]:
        out = []
        for request in sorted(self.requests, key=lambda r: r.key):
            at = self.provisioned_at.get(request.key)
            out.append(
                ProvisioningRequestOutcome(
                    request.key,
                    request.class_name,
                    tuple((str(c.type), c.status, c.reason) for c in request.conditions),
                    None if at is None else at - request.created_at,
                    tuple(u for u in self.updates if u.request == request.key),
                )
            )
        return tuple(out)


def _just_after(deadline: float) -> float:
    # A booking or a request expires once the deadline has passed (strictly), so the loop
    # that sees it is the first one after it.
    return math.nextafter(deadline, math.inf)


def outcomes_by_final(outcomes: Sequence[ProvisioningRequestOutcome]) -> Mapping[str, int]:
    """Requests counted by `ProvisioningRequestOutcome.final` (§11's `provreq_*`)."""
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.final] = counts.get(outcome.final, 0) + 1
    return dict(sorted(counts.items()))
