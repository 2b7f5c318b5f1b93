"""Helpers for testing code that uses dralloc: build a cluster from YAML and allocate on it.

Public, so users can write tests against their own manifests:

>>> cluster = Cluster.from_yaml(MANIFESTS)                 # doctest: +SKIP
>>> results = cluster.allocate(node="node-1")              # doctest: +SKIP

`Cluster` splits objects the way `dralloc allocate` does: claims with `status.allocation` are in
use, the others are allocated together.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import count

from dralloc.allocator import (
    Allocator,
    AllocatorOptions,
    ClaimExplanation,
    DeviceOrder,
    Inventory,
    allocated_state,
    explain,
)
from dralloc.api.core import Node
from dralloc.api.io import LoadedObject, load_text
from dralloc.api.meta import ObjectMeta
from dralloc.api.objects import ObjectSet
from dralloc.api.resource import (
    AllocationResult,
    DeviceClass,
    DeviceTaintRule,
    ResourceClaim,
    ResourceSlice,
)
from dralloc.errors import InputError
from dralloc.features import Features, parse_gates


def sequential_share_ids() -> Callable[[], str]:
    """Deterministic shareIDs (valid lower-case UUIDs) for tests that compare output."""
    counter = count(1)
    return lambda: f"00000000-0000-4000-8000-{next(counter):012x}"


@dataclass
class Cluster:
    nodes: dict[str, Node] = field(default_factory=dict)
    classes: dict[str, DeviceClass] = field(default_factory=dict)
    slices: list[ResourceSlice] = field(default_factory=list)
    taint_rules: list[DeviceTaintRule] = field(default_factory=list)
    allocated: list[ResourceClaim] = field(default_factory=list)
    pending: list[ResourceClaim] = field(default_factory=list)

    @classmethod
    def from_yaml(cls, text: str) -> Cluster:
        """Load and validate manifests (raises InputError listing every problem)."""
        objects, problems = load_text(text, "<test>")
        if problems:
            raise InputError(problems)
        return cls.from_objects(objects)

    @classmethod
    def from_objects(cls, objects: Iterable[LoadedObject]) -> Cluster:
        """A cluster of already loaded objects (no validation of its own)."""
        found = ObjectSet()
        found.add_all(objects)
        return cls(
            nodes=found.nodes,
            classes=found.classes,
            slices=found.slices,
            taint_rules=found.taint_rules,
            allocated=found.allocated_claims,
            pending=found.pending_claims(),
        )

    def node(self, name: str) -> Node:
        return self.nodes.get(name) or Node(metadata=ObjectMeta(name=name))

    def allocator(
        self, gates: str = "", timeout: float | None = None, *, pairwise_distinct: bool = False
    ) -> Allocator:
        return Allocator(
            parse_gates(gates),
            options=AllocatorOptions(
                timeout=timeout,
                share_ids=sequential_share_ids(),
                pairwise_distinct_attribute=pairwise_distinct,
            ),
        )

    def allocate(
        self,
        node: str = "node-1",
        gates: str = "",
        timeout: float | None = None,
        device_order: DeviceOrder | None = None,
        *,
        pairwise_distinct: bool = False,
    ) -> list[AllocationResult] | None:
        features = parse_gates(gates)
        allocator = self.allocator(gates, timeout, pairwise_distinct=pairwise_distinct)
        return allocator.allocate(
            self.node(node),
            self.pending,
            Inventory(self.slices, features, self.taint_rules),
            self.classes,
            allocated_state(self.allocated, features),
            device_order,
        )

    def explain(self, claim: str, node: str = "node-1", gates: str = "") -> ClaimExplanation:
        features = parse_gates(gates)
        target = next(c for c in (*self.pending, *self.allocated) if c.metadata.name == claim)
        others = [c for c in self.allocated if c is not target]
        return explain(
            self.allocator(gates),
            self.node(node),
            target,
            Inventory(self.slices, features, self.taint_rules),
            self.classes,
            allocated_state(others, features),
        )


def devices_of(result: AllocationResult) -> list[tuple[str, str]]:
    """(request, device) pairs of one allocation, in result order."""
    return [(r.request, r.device) for r in result.devices.results]


__all__ = ["Cluster", "Features", "devices_of", "sequential_share_ids"]
