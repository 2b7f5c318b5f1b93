"""A node's life on the virtual clock: phases, delays, launch failure, deletion, billing (§1).

Owns `NodeLifecycle`, one provisioned node from the autoscaler's request until it is gone, and
the plain records a replay consumes. Pure computation on times in seconds; no clock is read
and nothing is scheduled here: the owner (a replay engine, later) asks for `transitions()` and
pushes them on its own event heap. No dependency on `dralloc.sim`.

    Requested --launch--> Launched --register--> Registered --ready--> Ready
        --devices--> DevicesPublished ... Deleting --drain + terminate--> Gone

Every draw is made at request time, in a fixed order (launch failure, then the launch,
register, ready, devices and terminate delays, then the spot interruption time), from the
node's own `random.Random` seeded from (run seed, node name) (`delays.node_random`). A node's
timings therefore depend only on the seed, its name and its shape's distributions, never on
other nodes or on when it is deleted.

A failed launch (probability `launch_failure`) ends at request + launch delay with
`LaunchFailed`: the node never launches, is never billed, and the autoscaler's own rules
(immediate detection or `maxNodeProvisionTime`, §4.5) decide what to do with the group.

Deletion may start in any phase (scale-down, expiry, a spot interruption before the devices
are published, a start-up timeout): later phases that had not happened are cancelled, and the
node is gone after the drain (capped at `maxGracefulTerminationSec`, 600 s) plus the terminate
delay. A node deleted before it launched is gone at once. A deletion may be scheduled ahead (a
spot deadline, a capacity block's end, §6): the node is deleting only from then on
(`is_deleting(now)`), and an earlier deletion (a scale-down, a start-up timeout) replaces it.

Billing: from `Launched` (or from the request with `billingStart: request`) until gone, per
second rounded up, at least `minimumBilledSeconds` (60 by default, as EC2's per-second billing).

Cluster events (scheduler.md §1.8): `Ready` emits `Node/Add`, `DevicesPublished`
`resource.k8s.io/ResourceSlice/Add`, `Deleting` `Node/Update` (the node is tainted), `Gone`
`resource.k8s.io/ResourceSlice/Delete` then `Node/Delete`; the strings equal the scheduler
framework's `ClusterEvent` resources and actions.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from enum import StrEnum

from dralloc.autoscaling.config import BillingStart, Provisioning
from dralloc.autoscaling.delays import node_random

NODE = "Node"
RESOURCE_SLICE = "resource.k8s.io/ResourceSlice"
MAX_DRAIN_SECONDS = 600.0


class StartupFailure(StrEnum):
    """Why CA gives up on a node that never became usable (§4.1, §12)."""

    NOT_REGISTERED = "NotRegisteredInTime"  # no Node object by request + maxNodeProvisionTime
    NOT_READY = "NotReadyInTime"  # registered, devices not published by + maxNodeStartupTime


class NodePhase(StrEnum):
    REQUESTED = "Requested"
    LAUNCH_FAILED = "LaunchFailed"
    LAUNCHED = "Launched"
    REGISTERED = "Registered"
    READY = "Ready"
    DEVICES_PUBLISHED = "DevicesPublished"
    DELETING = "Deleting"
    GONE = "Gone"

    @property
    def is_schedulable(self) -> bool:
        """Pods without device claims may land from Ready; all pods from DevicesPublished."""
        return self in (NodePhase.READY, NodePhase.DEVICES_PUBLISHED)

    @property
    def is_billed(self) -> bool:
        """Billed phases under `billingStart: launched` (the default)."""
        return self in (
            NodePhase.LAUNCHED,
            NodePhase.REGISTERED,
            NodePhase.READY,
            NodePhase.DEVICES_PUBLISHED,
            NodePhase.DELETING,
        )


@dataclass(frozen=True)
class ClusterChange:
    """A cluster event a replay feeds its scheduling queue: `resource`/`action` as the
    scheduler framework spells them (`Node`/`Add`)."""

    resource: str
    action: str

    def __str__(self) -> str:
        return f"{self.resource}/{self.action}"


_CHANGES: dict[NodePhase, tuple[ClusterChange, ...]] = {
    NodePhase.READY: (ClusterChange(NODE, "Add"),),
    NodePhase.DEVICES_PUBLISHED: (ClusterChange(RESOURCE_SLICE, "Add"),),
    NodePhase.DELETING: (ClusterChange(NODE, "Update"),),
    NodePhase.GONE: (ClusterChange(RESOURCE_SLICE, "Delete"), ClusterChange(NODE, "Delete")),
}


@dataclass(frozen=True)
class Transition:
    """At `time` (seconds) node `node` entered `phase`; `changes` are the cluster events it
    emits (empty for phases the scheduler does not see)."""

    time: float
    node: str
    phase: NodePhase

    @property
    def changes(self) -> tuple[ClusterChange, ...]:
        return _CHANGES.get(self.phase, ())


@dataclass(frozen=True)
class Billing:
    """How a node is billed: `price` USD per node-hour, from launch or request, per second
    with a minimum."""

    price_per_hour: float
    start: BillingStart = BillingStart.LAUNCHED
    minimum_seconds: float = 60.0


def billed_seconds(start: float, end: float, minimum_seconds: float) -> float:
    """Whole seconds billed for [start, end): rounded up, at least `minimum_seconds`."""
    return max(float(math.ceil(end - start - 1e-9)), minimum_seconds)


@dataclass
class NodeLifecycle:
    """One node from request to gone; owned and mutated by the autoscaler that requested it.

    node = NodeLifecycle.request("h100-od-0000", "h100-mig", 0.0, delays, seed=42)
    node.ready_at             # 180.0 with the default fixed delays
    node.delete(3600.0, drain_seconds=30.0)
    node.cost(Billing(98.32), until=7200.0)
    """

    name: str
    shape: str
    requested_at: float
    launch_failed: bool
    # When each later phase happens (or would have): request + cumulative delays.
    launched_at: float
    registered_at: float
    ready_at: float
    devices_published_at: float
    terminate_delay: float
    # Spot only: when the provider's interruption notice arrives (None: never).
    interruption_notice_at: float | None = None
    deleting_at: float | None = None
    gone_at: float | None = None
    _phases: list[tuple[float, NodePhase]] = field(default_factory=list, repr=False)
    # Speed-up switch (same transitions either way, tested): `transitions()` builds its list
    # once per timeline (a replay asks every node's at every loop); `_phases` is replaced,
    # never mutated, so its identity says whether the timeline changed.
    remember_transitions: bool = field(default=True, repr=False, compare=False)
    _transitions: tuple[list[tuple[float, NodePhase]], list[Transition]] | None = field(
        default=None, repr=False, compare=False
    )

    @classmethod
    def request(
        cls,
        name: str,
        shape: str,
        requested_at: float,
        delays: Provisioning,
        *,
        seed: int,
        launch_failure: float = 0.0,
        interruption_rate_per_hour: float = 0.0,
        rng: random.Random | None = None,
    ) -> NodeLifecycle:
        """A node requested at `requested_at`, its whole timeline drawn now (see module doc).

        `interruption_rate_per_hour` > 0 (spot capacity) draws, last, the exponential time
        from launch to the provider's interruption notice (§6); the owner deletes the node at
        notice + `noticeSeconds`. `rng` overrides the (seed, name) source, for tests only."""
        rng = rng or node_random(seed, name)
        failed = rng.random() < launch_failure
        launch = delays.launch.sample(rng)
        register = delays.register.sample(rng)
        ready = delays.ready.sample(rng)
        devices = delays.devices.sample(rng)
        terminate = delays.terminate.sample(rng)
        # Drawn even without a hazard, so turning interruption on changes no other draw.
        hazard_draw = 1.0 - rng.random()  # in (0, 1]
        launched = requested_at + launch
        notice = None
        if interruption_rate_per_hour > 0 and not failed:
            notice = launched - math.log(hazard_draw) * 3600.0 / interruption_rate_per_hour
        node = cls(
            name=name,
            shape=shape,
            requested_at=requested_at,
            launch_failed=failed,
            launched_at=launched,
            registered_at=launched + register,
            ready_at=launched + register + ready,
            devices_published_at=launched + register + ready + devices,
            terminate_delay=terminate,
            interruption_notice_at=notice,
        )
        node._phases = node._planned()
        return node

    def _planned(self) -> list[tuple[float, NodePhase]]:
        if self.launch_failed:
            return [
                (self.requested_at, NodePhase.REQUESTED),
                (self.launched_at, NodePhase.LAUNCH_FAILED),
            ]
        return [
            (self.requested_at, NodePhase.REQUESTED),
            (self.launched_at, NodePhase.LAUNCHED),
            (self.registered_at, NodePhase.REGISTERED),
            (self.ready_at, NodePhase.READY),
            (self.devices_published_at, NodePhase.DEVICES_PUBLISHED),
        ]

    def delete(
        self, at: float, drain_seconds: float = 0.0, max_drain_seconds: float = MAX_DRAIN_SECONDS
    ) -> float:
        """Start deleting at `at`; returns when the node is gone. Phases after `at` that had
        not happened are cancelled. Deleting twice keeps the earlier deletion."""
        if self.gone_at is not None:
            if self.deleting_at is None or at >= self.deleting_at:
                return self.gone_at
            # A deletion scheduled ahead gives way: replan from the drawn timeline.
            self.deleting_at = self.gone_at = None
            self._phases = self._planned()
        if at < self.requested_at:
            raise ValueError(f"node {self.name}: deleted at {at} before its request")
        kept = [(time, phase) for time, phase in self._phases if time <= at]
        if self.launch_failed or at < self.launched_at:
            # Never launched (or failed): nothing to drain or terminate.
            gone = at if not self.launch_failed else min(at, self.launched_at)
            self.gone_at = gone
            self._phases = [*kept, (gone, NodePhase.GONE)]
            return gone
        drain = min(max(drain_seconds, 0.0), max_drain_seconds)
        self.deleting_at = at
        self.gone_at = at + drain + self.terminate_delay
        self._phases = [*kept, (at, NodePhase.DELETING), (self.gone_at, NodePhase.GONE)]
        return self.gone_at

    def is_deleting(self, now: float) -> bool:
        """Deletion has started by `now` (one scheduled ahead has not, see the module doc)."""
        return self.deleting_at is not None and self.deleting_at <= now

    def is_leaving(self, now: float) -> bool:
        """Deleting by `now`, or a spot node past its interruption notice: the provider
        taints it `NoSchedule` then (§6), so an autoscaler no longer counts on it."""
        notice = self.interruption_notice_at
        return self.is_deleting(now) or (notice is not None and notice <= now)

    def startup_deadline(
        self, max_node_provision_time: float, max_node_startup_time: float
    ) -> tuple[float, StartupFailure] | None:
        """When the autoscaler will give up on this node if nothing else happens, and why;
        None when it registers and publishes its devices in time (or its launch failed: that
        is reported by `LaunchFailed`). A node is usable for DRA pods only once its devices
        are published (§3.2), so "ready" here means DevicesPublished."""
        if self.launch_failed:
            return None
        provision_limit = self.requested_at + max_node_provision_time
        if self.registered_at > provision_limit:
            return provision_limit, StartupFailure.NOT_REGISTERED
        startup_limit = self.registered_at + max_node_startup_time
        if self.devices_published_at > startup_limit:
            return startup_limit, StartupFailure.NOT_READY
        return None

    def transitions(self) -> list[Transition]:
        """Every phase the node enters (or will enter, if nothing else happens), in time order."""
        known = self._transitions
        if known is not None and known[0] is self._phases:
            return list(known[1])
        built = [Transition(time, self.name, phase) for time, phase in self._phases]
        if self.remember_transitions:
            self._transitions = (self._phases, built)
            return list(built)
        return built

    def phase_at(self, time: float) -> NodePhase | None:
        """The phase at `time` (None before the request); a phase holds from its start on."""
        current = None
        for start, phase in self._phases:
            if start > time:
                break
            current = phase
        return current

    def billing_window(self, billing: Billing, until: float) -> tuple[float, float] | None:
        """[start, end) billed up to `until` (the run's end when the node is never gone);
        None when nothing is billed (a failed or cancelled launch)."""
        if self.launch_failed:
            return None
        end = min(self.gone_at, until) if self.gone_at is not None else until
        if end <= self.launched_at and billing.start is BillingStart.LAUNCHED:
            return None
        if self.gone_at is not None and self.gone_at <= self.launched_at:
            return None  # cancelled before launch: the provider never started it
        start = self.launched_at if billing.start is BillingStart.LAUNCHED else self.requested_at
        return (start, max(end, start))

    def cost(self, billing: Billing, until: float) -> float:
        """USD billed up to `until` (see `billing_window`)."""
        window = self.billing_window(billing, until)
        if window is None:
            return 0.0
        seconds = billed_seconds(window[0], window[1], billing.minimum_seconds)
        return billing.price_per_hour * seconds / 3600.0
