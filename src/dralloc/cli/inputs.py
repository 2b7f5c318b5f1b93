"""Turning loaded files into what a command works on: nodes, classes, slices and claims.

Owns the cross-object checks a command needs (duplicate objects, the node named by `--node`,
CEL selectors that do not compile) and reports them as one InputError.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dralloc.api.core import Node
from dralloc.api.io import LoadedObject, read_files
from dralloc.api.meta import ObjectMeta
from dralloc.api.resource import DeviceClass, DeviceTaintRule, ResourceClaim, ResourceSlice
from dralloc.cel.environment import CelEnvironment
from dralloc.cel.validation import all_gates_on, selector_problems
from dralloc.errors import InputError, Problem


@dataclass
class ClusterInput:
    nodes: dict[str, Node] = field(default_factory=dict)
    classes: dict[str, DeviceClass] = field(default_factory=dict)
    slices: list[ResourceSlice] = field(default_factory=list)
    taint_rules: list[DeviceTaintRule] = field(default_factory=list)
    allocated_claims: list[ResourceClaim] = field(default_factory=list)
    pending: list[LoadedObject] = field(default_factory=list)
    objects: list[LoadedObject] = field(default_factory=list)

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


def read_cluster(paths: list[str]) -> ClusterInput:
    objects, problems = read_files(paths)
    cluster = ClusterInput(objects=objects)
    seen: dict[tuple[str, str, str], LoadedObject] = {}
    env = CelEnvironment(all_gates_on())
    for loaded in objects:
        meta = loaded.obj.metadata
        identity = (loaded.kind, meta.namespace, meta.name)
        if meta.name and identity in seen:
            first = seen[identity]
            problems.append(
                Problem(
                    loaded.file,
                    loaded.ref,
                    "metadata.name",
                    f"duplicate object (first defined in {first.file}, document {first.document})",
                )
            )
            continue
        seen[identity] = loaded
        obj = loaded.obj
        for path, message in selector_problems(obj, env):
            problems.append(Problem(loaded.file, loaded.ref, path, message))
        if isinstance(obj, Node):
            cluster.nodes[meta.name] = obj
        elif isinstance(obj, DeviceClass):
            cluster.classes[meta.name] = obj
        elif isinstance(obj, ResourceSlice):
            cluster.slices.append(obj)
        elif isinstance(obj, DeviceTaintRule):
            cluster.taint_rules.append(obj)
        elif isinstance(obj, ResourceClaim):
            if obj.status.allocation is not None:
                cluster.allocated_claims.append(obj)
            else:
                cluster.pending.append(loaded)
    if problems:
        raise InputError(problems)
    return cluster
