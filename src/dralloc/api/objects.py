"""A set of loaded objects, sorted by what the allocator does with them.

Pure data, no I/O: Nodes by name, DeviceClasses by name, ResourceSlices, DeviceTaintRules,
PodDisruptionBudgets, claims that hold an allocation (in use) and claims that do not (to
allocate, kept with their raw documents so output preserves every field).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from dralloc.api.core import Node
from dralloc.api.io import LoadedObject
from dralloc.api.meta import ObjectMeta
from dralloc.api.policy import PodDisruptionBudget
from dralloc.api.resource import DeviceClass, DeviceTaintRule, ResourceClaim, ResourceSlice


@dataclass
class ObjectSet:
    nodes: dict[str, Node] = field(default_factory=dict)
    classes: dict[str, DeviceClass] = field(default_factory=dict)
    slices: list[ResourceSlice] = field(default_factory=list)
    taint_rules: list[DeviceTaintRule] = field(default_factory=list)
    disruption_budgets: list[PodDisruptionBudget] = field(default_factory=list)
    allocated_claims: list[ResourceClaim] = field(default_factory=list)
    pending: list[LoadedObject] = field(default_factory=list)

    def add(self, loaded: LoadedObject) -> None:
        obj = loaded.obj
        if isinstance(obj, Node):
            self.nodes[obj.metadata.name] = obj
        elif isinstance(obj, DeviceClass):
            self.classes[obj.metadata.name] = obj
        elif isinstance(obj, ResourceSlice):
            self.slices.append(obj)
        elif isinstance(obj, DeviceTaintRule):
            self.taint_rules.append(obj)
        elif isinstance(obj, PodDisruptionBudget):
            self.disruption_budgets.append(obj)
        elif isinstance(obj, ResourceClaim):
            if obj.status.allocation is not None:
                self.allocated_claims.append(obj)
            else:
                self.pending.append(loaded)

    def add_all(self, objects: Iterable[LoadedObject]) -> None:
        for loaded in objects:
            self.add(loaded)

    def pending_claims(self) -> list[ResourceClaim]:
        return [c.obj for c in self.pending if isinstance(c.obj, ResourceClaim)]

    def node_names(self) -> list[str]:
        """Nodes in name order; without Node objects, the nodes slices name."""
        if self.nodes:
            return sorted(self.nodes)
        return sorted({s.spec.node_name for s in self.slices if s.spec.node_name})

    def node(self, name: str) -> Node:
        """The named Node, or a bare one (no labels) when the input has no such object."""
        found = self.nodes.get(name)
        if found is not None:
            return found
        return Node(metadata=ObjectMeta(name=name))
