"""Karpenter's provisioning as a library: batches of pending pods become NodeClaims whose
candidate shapes narrow as pods join (spec/autoscaling.md §5.1, §5.3).

Owns the batch window, the offerings marked unavailable after a failed launch, the nodes'
last pod events (for `consolidateAfter`) and the run's count of pods upstream would not have
provisioned for; it grows a `Fleet` (`Fleet.request_offering`) and reads the cluster
(`ClusterState`) without changing it. Disruption (emptiness, drift, consolidation, expiry,
budgets) is `disruption.py`'s and carrying its commands out `orchestration.py`'s;
spot notices `interruption.py`'s, the §5.3 reasons `upstreamgaps.py`'s; `Karpenter.run_once`
calls them all and keeps the pending commands. The replay drives it exactly as
it drives `ClusterAutoscaler` (push the nodes' transitions, materialize Nodes and slices, feed
the pending pods). No I/O. Behaviour read in kubernetes-sigs/karpenter (`pkg/operator/options`,
`pkg/controllers/provisioning`, `pkg/controllers/disruption`, `designs/dra-scheduling.md`):

* Batching: a window opens when pods are pending and closes once no new pod came for
  `batchIdleDuration` (1 s), or `batchMaxDuration` (10 s) after it opened; only then are the
  pending pods provisioned for. (Upstream's window is wall-clock; here it is virtual.)
* Each pod, largest first (CPU, then memory, then accelerators asked), goes to an existing or
  in-flight node if it fits there (in-cluster devices first), else to a NodeClaim opened in
  this batch, else to a new NodeClaim. A NodeClaim holds a set of candidate shapes: a pod
  joins it if it fits at least one, and the shapes it does not fit (with the claim's earlier
  pods, claims included: the DRA allocator runs on each shape's template copy) are dropped.
  So a MIG claim narrows a claim to the shapes that publish MIG devices.
* A new NodeClaim tries NodePools by descending `weight` (then name); a pool's candidates are
  its shapes x capacity types that have a price, are not marked unavailable, and stay within
  its `limits` counting its existing and in-flight nodes (`nodes`; `cpu`, `memory` by the
  template's capacity; any other key, such as `nvidia.com/gpu`, counts the template's
  physical accelerators: dralloc's device limit).
* Launch takes, among the candidates left, reserved capacity while the shape's reserved count
  lasts, else the cheapest offering (ties: the pool's shape order, then capacity-type order);
  a capacity block is offered only inside its window, and its node is deleted at its end.
  A launch that fails marks that offering unavailable for 3 min **(unverified)**; its pods are
  provisioned for again in a later batch. A NodeClaim not registered within 15 min of its
  request, or not initialized (its DRA drivers' pools published, §3.2) within 15 min of
  registering, is deleted (`registration_timeouts`).
* §5.3: upstream v1.14 skips pods with claims unless `IGNORE_DRA_REQUESTS=false`, and even then
  refuses `firstAvailable`, partitionable devices, consumable capacity and adminAccess. Each
  provisioned-for pod with claims is counted once under the first of those reasons it meets
  (`upstream_unsupported_pods`).
* Spot interruption (upstream's interruption controller, outside budgets): at a node's notice
  it is deleted at once (tainted and drained) and its pods are provisioned for in the same
  loop, without waiting for a batch window: in-cluster room first, else new NodeClaims.
* Disruption: every loop moves the pending commands on (`orchestration.py`: validation 15 s
  after the decision, then the replacement launched and waited for before the nodes are
  deleted); every 10 s the methods of `disruption.py` may decide a new command.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar

from dralloc.api.core import Pod
from dralloc.api.resource import DeviceClass, ResourceClaim
from dralloc.autoscaling.clusterautoscaler import (
    FleetAutoscaler,
    FleetView,
    UnschedulablePod,
    view_of,
    with_held,
)
from dralloc.autoscaling.config import CapacityType, NodePool
from dralloc.autoscaling.cron import EPOCH
from dralloc.autoscaling.decisions import Disrupted, NodeClaimLaunch, Offering
from dralloc.autoscaling.disruption import CommandPhase, DisruptionCommand, disrupt
from dralloc.autoscaling.estimator import container_requests, requested_devices
from dralloc.autoscaling.fleet import FleetNode, block_open
from dralloc.autoscaling.interruption import interrupt, replace_interrupted
from dralloc.autoscaling.orchestration import QUEUE_TIMEOUT, orchestrate
from dralloc.autoscaling.planning import ClusterState, PlanningSnapshot, pod_key, unbound

# Users and the package import UpstreamGap from here, where it is counted.
from dralloc.autoscaling.upstreamgaps import UpstreamGap as UpstreamGap
from dralloc.autoscaling.upstreamgaps import upstream_gap
from dralloc.autoscaling.virtualpods import VirtualPod, place_virtual
from dralloc.scheduler.cache import pod_claim_keys
from dralloc.scheduler.config import SchedulerConfiguration

UNAVAILABLE_SECONDS = 180.0  # a failed offering's cool-off (unverified)
DISRUPTION_INTERVAL = 10.0  # the disruption controller's poll
REGISTRATION_TTL = 15 * 60.0  # a NodeClaim not registered and initialized by then is deleted
CAPACITY_TYPE_ORDER = (
    CapacityType.RESERVED,
    CapacityType.SPOT,
    CapacityType.ON_DEMAND,
    CapacityType.BLOCK,
)


@dataclass
class KarpenterResult:
    """One `run_once`: what was launched and disrupted, and what it saw. `disruptions` are
    commands carried out (their nodes deleted) and forceful expiries; `replacements` the
    NodeClaims launched for commands, `abandoned` the commands dropped (see
    `orchestration.py`); `interrupted` the spot nodes deleted at their notice."""

    time: float
    launches: list[NodeClaimLaunch] = field(default_factory=list)
    disruptions: list[Disrupted] = field(default_factory=list)
    batch_open: bool = False  # pods wait for the window to close
    unprovisionable: tuple[str, ...] = ()  # pods no NodePool can take
    failed_launches: tuple[str, ...] = ()
    registration_timeouts: tuple[str, ...] = ()
    replacements: list[NodeClaimLaunch] = field(default_factory=list)  # for commands
    abandoned: list[Disrupted] = field(default_factory=list)  # commands dropped
    interrupted: tuple[str, ...] = ()  # spot nodes whose notice came: deleted


@dataclass
class _OpenClaim:
    """A NodeClaim being filled this batch: per candidate shape, a what-if node of it."""

    pool: NodePool
    candidates: dict[str, PlanningSnapshot]
    pods: list[Pod] = field(default_factory=list)


def pod_size(pod: Pod, claims: Mapping[str, ResourceClaim]) -> tuple[float, float, int]:
    cpu, memory = container_requests(pod)
    return cpu, memory, requested_devices(pod, claims, 8)


@dataclass
class Karpenter(FleetAutoscaler):
    """karpenter mode over one run's fleet (see the module docstring).

    karpenter = Karpenter(config, Fleet(config, seed=7), catalog, seed=7)
    result = karpenter.run_once(600.0, state, [UnschedulablePod(pod, since=599.0)])
    [str(x) for x in result.launches]   # ['launch gpu-0000 (gpu): l4x4 on-demand $4/h ...']
    karpenter.commands                  # disruption commands decided, not carried out yet
    """

    rng_name: ClassVar[str] = "karpenter"
    epoch: datetime = EPOCH  # the UTC time of virtual second 0, for budgets' cron schedules
    upstream_unsupported_pods: Counter[UpstreamGap] = field(default_factory=Counter)
    batch_opened_at: float | None = None
    batch_last_pod_at: float | None = None
    last_disruption: float | None = None
    _seen: set[str] = field(default_factory=set)
    _counted: set[str] = field(default_factory=set)
    _unavailable: dict[tuple[str, CapacityType], float] = field(default_factory=dict)
    _handled: set[str] = field(default_factory=set)
    _pods_on: dict[str, frozenset[str]] = field(default_factory=dict)
    last_pod_event: dict[str, float] = field(default_factory=dict)
    _classes: Sequence[DeviceClass] = ()  # the cluster's DeviceClasses, as of the last loop
    commands: list[DisruptionCommand] = field(default_factory=list)  # decided, not done
    interrupted: set[str] = field(default_factory=set)  # spot nodes whose notice was handled

    def pool(self, name: str) -> NodePool:
        return next(p for p in self.config.node_pools if p.name == name)

    # --------------------------------------------------------------------------- loop

    def run_once(
        self,
        now: float,
        state: ClusterState,
        unschedulable: Sequence[UnschedulablePod],
        *,
        buffer_pods: Sequence[VirtualPod] = (),
    ) -> KarpenterResult:
        """Failed launches noticed, pod events recorded, a closed batch provisioned for,
        and, every 10 s, one disruption command (see the module docstring).

        `buffer_pods` are CapacityBuffer chunks (Karpenter's `CapacityBuffer` feature, off
        upstream by default): after the real pods, they take room that is left, are
        provisioned for like pending pods, and keep their room from consolidation."""
        result = KarpenterResult(now)
        self._classes = state.classes
        self._notice_failures(now, result)
        result.interrupted = interrupt(self, now)
        seen = view_of(self.fleet, self.templates, now, state)
        self._record_pod_events(now, state, seen)
        view = self._without_marked(seen)
        snapshot = self.planning_snapshot(state, view)
        if result.interrupted:
            replace_interrupted(self, now, state, view, snapshot, result)
        pending = [p for p in unschedulable if snapshot.place(unbound(p.pod)) is None]
        held: list[VirtualPod] = []
        for virtual in buffer_pods:
            if place_virtual(snapshot, virtual) is not None:
                held.append(virtual)
            else:
                for claim in virtual.claims:
                    snapshot.built.cache.set_claim(claim)
                pending.append(UnschedulablePod(virtual.pod, now))
        new = [p for p in pending if pod_key(p.pod) not in self._seen]
        for each in new:
            self._seen.add(pod_key(each.pod))
        if pending and self.batch_opened_at is None:
            # Pods still pending (none could be placed last time, or their node failed)
            # open a window too, so they are provisioned for again once it closes.
            self.batch_opened_at = self.batch_last_pod_at = now
        if new:
            self.batch_last_pod_at = now
        if self.batch_opened_at is not None:
            options = self.config.options
            assert self.batch_last_pod_at is not None
            closed = (
                now >= self.batch_last_pod_at + options.batch_idle_duration
                or now >= self.batch_opened_at + options.batch_max_duration
            )
            if not closed:
                result.batch_open = True
            else:
                self.batch_opened_at = self.batch_last_pod_at = None
                self.provision(now, state, view, snapshot, [p.pod for p in pending], result)
        held_state = with_held(state, snapshot, held)
        orchestrate(self, now, held_state, view, result)
        if self.last_disruption is None or now >= self.last_disruption + DISRUPTION_INTERVAL:
            self.last_disruption = now
            if not result.launches:
                decided = len(self.commands)
                disrupt(self, now, held_state, self._without_marked(seen), result)
                if len(self.commands) > decided:  # one not validated (drift) goes on at once
                    orchestrate(self, now, held_state, self._without_marked(seen), result)
        # Pods left waiting are new to the next batch once their NodeClaim is gone.
        self._seen &= {pod_key(p.pod) for p in pending}
        return result

    def marked_for_deletion(self) -> set[str]:
        """Nodes of commands waiting for their replacement: tainted, counted as disrupting."""
        return {n for c in self.commands if c.phase is CommandPhase.WAITING for n in c.nodes}

    def command_timers(self) -> list[float]:
        """When a pending command may move with nothing else changing: its validation, or
        its queue timeout (a replacement coming up is a change of its own)."""
        times: list[float] = []
        for command in self.commands:
            if command.phase is CommandPhase.VALIDATING:
                times.append(command.validate_at)
            elif command.queued_at is not None:
                times.append(command.queued_at + QUEUE_TIMEOUT)
        return times

    def _without_marked(self, view: FleetView) -> FleetView:
        """`view` with the nodes marked for deletion counted as leaving."""
        marked = self.marked_for_deletion()
        if not marked:
            return view
        both = (*view.ready, *view.upcoming)
        return FleetView(
            tuple(n for n in view.ready if n.name not in marked),
            tuple(n for n in view.upcoming if n.name not in marked),
            (*view.leaving, *(n for n in both if n.name in marked)),
        )

    def _notice_failures(self, now: float, result: KarpenterResult) -> None:
        failed: list[str] = []
        timed_out: list[str] = []
        for node in self.fleet.nodes():
            life = node.lifecycle
            if node.name in self._handled or life.requested_at > now:
                continue
            if life.launch_failed:
                if life.launched_at <= now:
                    self._handled.add(node.name)
                    life.delete(now)
                    self._unavailable[(life.shape, node.capacity_type)] = now + UNAVAILABLE_SECONDS
                    failed.append(node.name)
                continue
            # Registration (and initialization: devices published) within 15 min, else the
            # NodeClaim is deleted; its pods are provisioned for again.
            deadline = life.startup_deadline(REGISTRATION_TTL, REGISTRATION_TTL)
            if not life.is_deleting(now) and deadline is not None and deadline[0] <= now:
                self._handled.add(node.name)
                life.delete(now)
                timed_out.append(node.name)
        result.failed_launches = tuple(failed)
        result.registration_timeouts = tuple(timed_out)

    def _record_pod_events(self, now: float, state: ClusterState, view: FleetView) -> None:
        by_node: dict[str, set[str]] = {}
        for pod in state.pods:
            by_node.setdefault(pod.spec.node_name, set()).add(pod_key(pod))
        for node in view.ready:
            pods = frozenset(by_node.get(node.name, set()))
            if self._pods_on.get(node.name) != pods:
                self._pods_on[node.name] = pods
                self.last_pod_event[node.name] = now

    # -------------------------------------------------------------------- offerings

    def offerings(
        self, pool: NodePool, now: float, shapes: Sequence[str] | None = None
    ) -> list[Offering]:
        """`pool`'s priced, available offerings (of `shapes` only, when given)."""
        out: list[Offering] = []
        for shape in pool.shapes:
            if shapes is not None and shape not in shapes:
                continue
            spec = self.config.shapes[shape]
            for capacity_type in pool.capacity_types:
                price = spec.price(capacity_type)
                if price is None or self._unavailable.get((shape, capacity_type), -1.0) > now:
                    continue
                if capacity_type is CapacityType.RESERVED and self._reserved_left(shape, now) <= 0:
                    continue
                if not block_open(self.config, shape, capacity_type, now):
                    continue
                out.append(Offering(shape, capacity_type, price))
        return out

    def live(self, now: float) -> list[FleetNode]:
        """Fleet nodes neither failed, leaving nor gone at `now`."""
        return [
            n
            for n in self.fleet.nodes()
            if not n.lifecycle.launch_failed
            and not n.lifecycle.is_leaving(now)
            and (n.lifecycle.gone_at is None or n.lifecycle.gone_at > now)
        ]

    def _reserved_left(self, shape: str, now: float) -> int:
        used = sum(
            1
            for n in self.live(now)
            if n.lifecycle.shape == shape and n.capacity_type is CapacityType.RESERVED
        )
        return self.config.shapes[shape].availability.reserved - used

    def cheapest(self, offerings: Sequence[Offering], pool: NodePool) -> Offering | None:
        """Reserved first, then the lowest price (ties: shape order, capacity-type order)."""
        if not offerings:
            return None

        def rank(o: Offering) -> tuple[int, float, int, int]:
            return (
                0 if o.capacity_type is CapacityType.RESERVED else 1,
                o.price,
                pool.shapes.index(o.shape),
                CAPACITY_TYPE_ORDER.index(o.capacity_type),
            )

        return min(offerings, key=rank)

    def limit_usage(self, pool: NodePool, shape: str) -> dict[str, int]:
        """What one node of `shape` counts against `pool.limits` (nano-units for cpu and
        memory, whole units otherwise)."""
        template = self.templates[shape]
        usage: dict[str, int] = {}
        for key in pool.limits:
            if key == "nodes":
                usage[key] = 1
            elif key in ("cpu", "memory"):
                amount = template.node.status.capacity.get(key)
                usage[key] = amount.nano if amount is not None else 0
            else:
                usage[key] = template.accelerator_count()
        return usage

    def pool_usage(self, pool: NodePool, now: float, extra: Sequence[str] = ()) -> dict[str, int]:
        """`pool`'s live nodes (in any state but gone or deleting) plus `extra` shapes."""
        totals: dict[str, int] = dict.fromkeys(pool.limits, 0)
        shapes = [n.lifecycle.shape for n in self.live(now) if n.group == pool.name]
        for shape in [*shapes, *extra]:
            for key, value in self.limit_usage(pool, shape).items():
                totals[key] += value
        return totals

    def within_limits(self, pool: NodePool, now: float, shapes: Sequence[str]) -> bool:
        usage = self.pool_usage(pool, now, shapes)
        for key, limit in pool.limits.items():
            ceiling = limit.nano if key in ("cpu", "memory") else limit.nano // 10**9
            if usage[key] > ceiling:
                return False
        return True

    # ------------------------------------------------------------------ provisioning

    def shape_snapshot(
        self, shape: str, claims: Sequence[ResourceClaim], index: int
    ) -> PlanningSnapshot:
        """A what-if cluster of one fresh node of `shape`, with the pods' claims."""
        snapshot = PlanningSnapshot.build(
            self.features,
            self.scheduler_config or SchedulerConfiguration(),
            self.seed,
            classes=self._classes,
            taint_rules=(),
            budgets=(),
            nodes=(),
            slices=(),
            claims=claims,
            pods=(),
        )
        snapshot.add_node(self.templates[shape].instantiate(f"nodeclaim-{index}"))
        return snapshot

    def provision(
        self,
        now: float,
        state: ClusterState,
        view: FleetView,
        snapshot: PlanningSnapshot,
        pods: Sequence[Pod],
        result: KarpenterResult,
    ) -> list[NodeClaimLaunch]:
        """Provision for `pods` (none fit the cluster or in-flight nodes): open NodeClaims,
        narrow them, launch them (see the module docstring)."""
        claims = {f"{c.metadata.namespace}/{c.metadata.name}": c for c in snapshot.claims()}
        ordered = sorted(pods, key=lambda p: tuple(-x for x in pod_size(p, claims)))
        open_claims: list[_OpenClaim] = []
        unprovisionable: list[str] = []
        for pod in ordered:
            pod_claims = [
                claims[k] for _, k in pod_claim_keys(pod) if k is not None and k in claims
            ]
            if any(self._join(claim, pod, pod_claims) for claim in open_claims):
                continue
            opened = self._open(now, pod, pod_claims, open_claims)
            if opened is None:
                unprovisionable.append(pod_key(pod))
            else:
                open_claims.append(opened)
        result.unprovisionable += tuple(unprovisionable)
        launches: list[NodeClaimLaunch] = []
        for claim in open_claims:
            launch = self.launch(now, claim.pool, list(claim.candidates), claim.pods)
            if launch is not None:
                launches.append(launch)
                self._count_gaps(claim.pods, claims, launch.offering.shape)
        result.launches.extend(launches)
        return launches

    def _join(self, claim: _OpenClaim, pod: Pod, pod_claims: Sequence[ResourceClaim]) -> bool:
        fits = [
            shape
            for shape, what_if in claim.candidates.items()
            if place_virtual(what_if, VirtualPod(pod, tuple(pod_claims))) is not None
        ]
        if not fits:
            return False
        claim.candidates = {s: w for s, w in claim.candidates.items() if s in fits}
        claim.pods.append(pod)
        return True

    def _open(
        self,
        now: float,
        pod: Pod,
        pod_claims: Sequence[ResourceClaim],
        open_claims: Sequence[_OpenClaim],
    ) -> _OpenClaim | None:
        pools = sorted(self.config.node_pools, key=lambda p: (-p.weight, p.name))
        for pool in pools:
            in_flight = [next(iter(c.candidates)) for c in open_claims if c.pool.name == pool.name]
            shapes = list(dict.fromkeys(o.shape for o in self.offerings(pool, now)))
            candidates: dict[str, PlanningSnapshot] = {}
            for shape in shapes:
                if not self.within_limits(pool, now, [*in_flight, shape]):
                    continue
                what_if = self.shape_snapshot(shape, pod_claims, len(open_claims))
                if what_if.place(pod) is not None:
                    candidates[shape] = what_if
            if candidates:
                return _OpenClaim(pool, candidates, [pod])
        return None

    def launch(
        self, now: float, pool: NodePool, shapes: Sequence[str], pods: Sequence[Pod]
    ) -> NodeClaimLaunch | None:
        """Launch the cheapest offering of `pool` among `shapes` for `pods`."""
        offering = self.cheapest(self.offerings(pool, now, shapes), pool)
        if offering is None:
            return None
        return self.launch_offering(now, pool, offering, pods, shapes)

    def launch_offering(
        self,
        now: float,
        pool: NodePool,
        offering: Offering,
        pods: Sequence[Pod],
        shapes: Sequence[str],
    ) -> NodeClaimLaunch:
        """Launch `offering` of `pool` for `pods`, `shapes` its NodeClaim's candidates."""
        life = self.fleet.request_offering(pool.name, offering.shape, offering.capacity_type, now)
        return NodeClaimLaunch(
            now,
            life.name,
            pool.name,
            offering,
            tuple(pod_key(p) for p in pods),
            tuple(s for s in pool.shapes if s in shapes),
        )

    def _count_gaps(
        self, pods: Sequence[Pod], claims: Mapping[str, ResourceClaim], shape: str
    ) -> None:
        partitionable = any(
            d.consumes_counters for s in self.templates[shape].slices for d in s.spec.devices
        )
        for pod in pods:
            key = pod_key(pod)
            if key in self._counted or not pod.spec.resource_claims:
                continue
            self._counted.add(key)
            self.upstream_unsupported_pods[upstream_gap(pod, claims, partitionable)] += 1
