"""The autoscaled nodes of one run: their names, life cycles and bills (spec §1, §6, §11).

Owns the nodes a run's autoscaler requested: it names them (`<group>-<index>`, four digits, an
index never reused within a run, so every name, and hence every seeded draw, is stable), makes
each `NodeLifecycle` with its shape's delays, launch-failure probability and, for spot capacity,
its interruption hazard, and totals what they cost and how many node- and accelerator-hours they
provided. It decides nothing (when to scale is the scaler's job, §4-5) and schedules nothing
(the replay owns the event heap and pushes `NodeLifecycle.transitions()` on it). One `Fleet` per
run; only its owner calls `request`, `start` and `NodeLifecycle.delete`.

`start` gives every node group its `min` nodes, already running at time 0 (a static fleet, or a
cluster-autoscaler group's floor): they are requested at 0 with zero provisioning delays (their
terminate delay is the shape's).

A capacity block's node (§6) is scheduled at its request for deletion at the block's `end`:
the replay drains it then (its pods evicted, as at a spot deadline) and billing stops when it is
gone. Keeping launches inside the window is the scaler's job (`block_open`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

from dralloc.autoscaling.config import (
    AutoscalingConfig,
    CapacityType,
    NodeGroup,
    Provisioning,
)
from dralloc.autoscaling.delays import FixedDelay
from dralloc.autoscaling.lifecycle import Billing, NodeLifecycle


@dataclass(frozen=True)
class FleetNode:
    """One node of the fleet with what it was bought as."""

    lifecycle: NodeLifecycle
    group: str
    capacity_type: CapacityType
    billing: Billing

    @property
    def name(self) -> str:
        return self.lifecycle.name


def block_open(
    config: AutoscalingConfig, shape: str, capacity_type: CapacityType, at: float
) -> bool:
    """False for a capacity block's offering outside its [start, end) window (§6): the
    provider launches nothing there; True for every other offering."""
    window = config.shapes[shape].availability.block
    if capacity_type is not CapacityType.BLOCK or window is None:
        return True
    return window[0] <= at < window[1]


@dataclass
class Fleet:
    """The nodes of one run (see the module docstring).

    fleet = Fleet(config, seed=42)
    fleet.start()                                  # every group's min nodes, running at 0
    node = fleet.request("h100-od", at=600.0)      # h100-od-0000, ready ~7 min later
    fleet.cost_by_capacity_type(until=86400.0)     # {CapacityType.ON_DEMAND: 1234.5}
    """

    config: AutoscalingConfig
    seed: int
    _nodes: list[FleetNode] = field(default_factory=list)
    _next_index: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    # The nodes not retired yet, by name, in request order (dicts keep insertion order).
    _live: dict[str, FleetNode] = field(default_factory=dict)

    def group(self, name: str) -> NodeGroup:
        for group in self.config.node_groups:
            if group.name == name:
                return group
        raise KeyError(f"no node group {name!r}")

    def _new(
        self, group: NodeGroup, at: float, delays: Provisioning, launch_failure: float
    ) -> NodeLifecycle:
        shape = self.config.shapes[group.shape]
        index = self._next_index[group.name]
        self._next_index[group.name] = index + 1
        price = shape.price(group.capacity_type)
        if price is None:  # the reader refuses such offerings; a hand-built config may not
            raise ValueError(f"shape {shape.name} has no {group.capacity_type} price")
        hazard = (
            shape.interruption.rate_per_hour if group.capacity_type is CapacityType.SPOT else 0.0
        )
        lifecycle = NodeLifecycle.request(
            f"{group.name}-{index:04d}",
            shape.name,
            at,
            delays,
            seed=self.seed,
            launch_failure=launch_failure,
            interruption_rate_per_hour=hazard,
        )
        window = shape.availability.block
        block = window if group.capacity_type is CapacityType.BLOCK else None
        if block is not None and not lifecycle.launch_failed:
            lifecycle.delete(max(block[1], at))
        options = self.config.options
        billing = Billing(price, options.billing_start, options.minimum_billed_seconds)
        node = FleetNode(lifecycle, group.name, group.capacity_type, billing)
        self._nodes.append(node)
        self._live[node.name] = node
        return lifecycle

    def request(self, group_name: str, at: float) -> NodeLifecycle:
        """A new node of `group_name` requested at `at`, with the shape's delays."""
        group = self.group(group_name)
        shape = self.config.shapes[group.shape]
        return self._new(group, at, shape.provisioning, shape.availability.launch_failure)

    def request_offering(
        self, pool: str, shape: str, capacity_type: CapacityType, at: float
    ) -> NodeLifecycle:
        """A new node of `shape` bought as `capacity_type` for karpenter NodePool `pool`,
        named `<pool>-<index>` (Karpenter's NodeClaims are `<nodepool>-<random>`; here the
        index keeps names, and hence draws, stable)."""
        offering = NodeGroup(pool, shape, 0, 0, capacity_type)
        spec = self.config.shapes[shape]
        return self._new(offering, at, spec.provisioning, spec.availability.launch_failure)

    def start(self) -> list[NodeLifecycle]:
        """Every group's `min` nodes, running from time 0 (call once, before any request)."""
        started: list[NodeLifecycle] = []
        for group in self.config.node_groups:
            terminate = self.config.shapes[group.shape].provisioning.terminate
            instant = Provisioning(
                launch=FixedDelay(0.0),
                register=FixedDelay(0.0),
                ready=FixedDelay(0.0),
                devices=FixedDelay(0.0),
                terminate=terminate,
            )
            # Start-up nodes never fail to launch: they exist when the run begins.
            started.extend(self._new(group, 0.0, instant, 0.0) for _ in range(group.min_size))
        return started

    def nodes(self, group: str | None = None) -> list[FleetNode]:
        """The fleet's nodes in request order (of one group when `group` is given)."""
        return [n for n in self._nodes if group is None or n.group == group]

    def live_nodes(self) -> list[FleetNode]:
        """The nodes not `retire`d yet, in request order: what an owner that walks the fleet at
        every step still needs to look at."""
        return list(self._live.values())

    def retire(self, name: str) -> None:
        """The owner is done with node `name` (gone, its every phase handled): it leaves
        `live_nodes` and stays in `nodes` and the bills."""
        self._live.pop(name, None)

    def count(self, group: str, at: float) -> int:
        """Nodes of `group` that count toward its size at `at`: requested, not failed, not gone
        (CA counts upcoming nodes as part of the target size)."""
        return sum(
            1
            for n in self.nodes(group)
            if n.lifecycle.requested_at <= at
            and not (n.lifecycle.launch_failed and n.lifecycle.launched_at <= at)
            and (n.lifecycle.gone_at is None or n.lifecycle.gone_at > at)
        )

    def cost_by_capacity_type(self, until: float) -> dict[CapacityType, float]:
        """USD billed per capacity type up to `until` (the run's end)."""
        totals: dict[CapacityType, float] = defaultdict(float)
        for node in self._nodes:
            totals[node.capacity_type] += node.lifecycle.cost(node.billing, until)
        return dict(totals)

    def node_seconds_by_shape(self, until: float) -> Mapping[str, float]:
        """Seconds each shape's nodes existed from launch to gone (or `until`), unrounded:
        multiply by a shape's accelerators per node for provisioned GPU-hours (§11)."""
        totals: dict[str, float] = defaultdict(float)
        launched = Billing(0.0, minimum_seconds=0.0)
        for node in self._nodes:
            window = node.lifecycle.billing_window(launched, until)
            if window is not None:
                totals[node.lifecycle.shape] += window[1] - window[0]
        return dict(totals)
