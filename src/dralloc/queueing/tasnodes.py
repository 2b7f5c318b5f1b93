"""What one TAS leaf can hold (spec/queueing.md 6.1, 6.3 step 1): helpers of
`dralloc.queueing.tas`.

Owns: `count_in` (how many pods fit in a free capacity, and the limiting resource), the node
filters (`is_schedulable`, `affinity_matches`), `ExclusionStats` (Kueue's exclusion counts in
a failure message) and `NodeDevices`, the per-DeviceClass device counts of the nodes, added to
the leaves' free capacity on demand. Pure computation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from dralloc.api.core import Node, NodeSelector
from dralloc.api.resource import Device
from dralloc.cel import CelCompileError, CelDevice, CelRuntimeError
from dralloc.queueing.dra import DraInventory, device_count_key
from dralloc.queueing.flavormatch import _requirement_matches


@dataclass
class ExclusionStats:
    """Why leaves were left out, for Kueue's failure message (`ExclusionStats`)."""

    total: int = 0
    node_selector: int = 0
    affinity: int = 0
    taints: dict[str, int] = field(default_factory=dict)
    resources: dict[str, int] = field(default_factory=dict)

    def reasons(self) -> str:
        out: list[str] = []
        if self.node_selector:
            out.append(f"nodeSelector: {self.node_selector}")
        if self.affinity:
            out.append(f"affinity: {self.affinity}")
        out += [f'taint "{t}": {n}' for t, n in self.taints.items()]
        out += [f'resource "{r}": {n}' for r, n in self.resources.items()]
        return ", ".join(sorted(out))


def count_in(requests: Mapping[str, int], free: Mapping[str, int]) -> tuple[int, str]:
    """How many times `requests` fit in `free`, and the resource that limits it."""
    best: int | None = None
    limiting = ""
    for name, value in sorted(requests.items()):
        if value <= 0:
            continue
        fits = max(0, free.get(name, 0)) // value
        if best is None or fits < best:
            best, limiting = fits, name
    return (best if best is not None else 0), limiting


def affinity_matches(required: NodeSelector | None, node: Node) -> bool:
    """Required node affinity: any term whose expressions (labels) and fields
    (`metadata.name`) all match; no terms means no constraint here."""
    if required is None or not required.node_selector_terms:
        return True
    labels = node.metadata.labels
    fields = {"metadata.name": node.metadata.name}
    return any(
        (term.match_expressions or term.match_fields)
        and all(
            _requirement_matches(e.operator, e.key, e.values, labels)
            for e in term.match_expressions
        )
        and all(
            _requirement_matches(e.operator, e.key, e.values, fields) for e in term.match_fields
        )
        for term in required.node_selector_terms
    )


def is_schedulable(node: Node) -> bool:
    return not node.spec.unschedulable


@dataclass
class NodeDevices:
    """The node-local devices of the snapshot's nodes, counted per DeviceClass on demand.

    A cache owned by one `TASFlavorSnapshot`: `counted` holds the classes already added to
    the leaves' free capacity; each device's CEL value is built once, on first use. Nothing
    invalidates it: a snapshot is rebuilt when the cluster's objects change."""

    inventory: DraInventory
    # (driver, pool, device) -> (its leaf's free capacity, driver, device); allocated: the
    # claims' allocated devices.
    devices: dict[tuple[str, str, str], tuple[dict[str, int], str, Device]] = field(
        default_factory=dict
    )
    allocated: set[tuple[str, str, str]] = field(default_factory=set)
    counted: set[str] = field(default_factory=set)
    _cel: dict[tuple[str, str, str], CelDevice] = field(default_factory=dict)

    def count(self, class_name: str) -> None:
        """Add `devices.dralloc.io/<class>` capacity to every leaf (once per class)."""
        if class_name in self.counted:
            return
        self.counted.add(class_name)
        cls = self.inventory.classes.get(class_name)
        if cls is None:
            return
        env = self.inventory.env()
        try:
            selectors = [env.compile(s.cel.expression) for s in cls.spec.selectors if s.cel]
        except CelCompileError:
            return
        key = device_count_key(class_name)
        for ref, (free, driver, device) in self.devices.items():
            cel = self._cel.get(ref)
            if cel is None:
                cel = self._cel[ref] = CelDevice.build(driver, device, self.inventory.features)
            try:
                if not all(selector.evaluate(cel) for selector in selectors):
                    continue
            except CelRuntimeError:
                continue
            used = 1 if ref in self.allocated else 0
            free[key] = free.get(key, 0) + 1 - used
