"""What a simulated fleet publishes: the Nodes, ResourceSlices and DeviceClasses of
`dralloc cluster generate`, as the plain dicts the API server takes.

Pure computation, no I/O. The objects come from `dralloc.devices.cluster.iter_cluster_json`,
the function behind `dralloc cluster generate -o json`, so a simulated fleet and a generated
file describe the same devices byte for byte. Two things are added, to the Nodes only:
the labels and taints given on the command line (`--label`, `--taint`). A name prefix is
applied through each group's `name` option, so that the GPU UUIDs, derived from node names,
are the ones `cluster generate --nodes 2xdgx-h100:name=<prefix>dgx-h100` would write.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import msgspec

from dralloc.devices.catalog import Catalog
from dralloc.devices.cluster import NodeGroup, iter_cluster_json
from dralloc.kube.client import KubeDict

TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
# A qualified name (`dralloc.dev/owner`, `zone`): an optional DNS-subdomain prefix, then a
# name of at most 63 characters, as Kubernetes validates label keys and taint keys.
_PREFIX = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")


def _qualified_name_problem(key: str) -> str | None:
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not _PREFIX.match(prefix)):
        return f"{key!r}: the prefix before '/' must be a DNS subdomain"
    if not name or len(name) > 63 or not _NAME.match(name):
        return (
            f"{key!r}: the name must be 1-63 letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit"
        )
    return None


def _value_problem(key: str, value: str) -> str | None:
    if len(value) > 63 or not _LABEL_VALUE.match(value):
        return (
            f"{key}={value!r}: a value must be at most 63 letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit"
        )
    return None


def parse_label(text: str) -> tuple[str, str]:
    """`key=value` into its parts; ValueError saying what is wrong."""
    key, sep, value = text.partition("=")
    if not sep:
        raise ValueError(f"{text!r}: expected key=value, e.g. dralloc.dev/owner=dralloc")
    problem = _qualified_name_problem(key) or _value_problem(key, value)
    if problem is not None:
        raise ValueError(problem)
    return key, value


def parse_taint(text: str) -> KubeDict:
    """`key=value:Effect` or `key:Effect` (kubectl taint's syntax) into a Node taint."""
    body, colon, effect = text.rpartition(":")
    if not colon:
        raise ValueError(
            f"{text!r}: expected key=value:Effect, e.g. dralloc.dev/owner=dralloc:NoSchedule"
        )
    if effect not in TAINT_EFFECTS:
        raise ValueError(f"{text!r}: the effect must be one of {', '.join(TAINT_EFFECTS)}")
    key, _, value = body.partition("=")
    problem = _qualified_name_problem(key) or _value_problem(key, value)
    if problem is not None:
        raise ValueError(problem)
    taint: KubeDict = {"key": key, "effect": effect}
    if value:
        taint["value"] = value
    return taint


@dataclass(frozen=True)
class FleetObjects:
    """The objects of one fleet, in the order they are created: classes, nodes, slices."""

    classes: tuple[KubeDict, ...] = ()
    nodes: tuple[KubeDict, ...] = ()
    slices: tuple[KubeDict, ...] = ()
    pools: frozenset[tuple[str, str]] = field(default_factory=frozenset)  # (driver, pool)

    @property
    def node_names(self) -> list[str]:
        return [str(node["metadata"]["name"]) for node in self.nodes]

    def count(self) -> str:
        """`16 Nodes, 144 ResourceSlices, 9 DeviceClasses`."""
        return count_objects(len(self.nodes), len(self.slices), len(self.classes))


def counted(count: int, kind: str) -> str:
    """`1 Node`, `2 Nodes`, `2 DeviceClasses`."""
    plural = kind + ("es" if kind.endswith("s") else "s")
    return f"{count} {kind if count == 1 else plural}"


def count_objects(nodes: int, slices: int, classes: int) -> str:
    return (
        f"{counted(nodes, 'Node')}, {counted(slices, 'ResourceSlice')}, "
        f"{counted(classes, 'DeviceClass')}"
    )


def prefixed_groups(groups: Iterable[NodeGroup], name_prefix: str) -> list[NodeGroup]:
    """The groups with `name_prefix` put before each group's node-name prefix."""
    if not name_prefix:
        return list(groups)
    return [
        NodeGroup(
            g.count, g.shape, {**g.options, "name": name_prefix + g.options.get("name", g.shape)}
        )
        for g in groups
    ]


def plan_fleet(
    groups: Sequence[NodeGroup],
    catalog: Catalog,
    *,
    name_prefix: str = "",
    labels: Mapping[str, str] | None = None,
    taints: Sequence[KubeDict] = (),
) -> FleetObjects:
    """Every object of the fleet. Raises `ClusterSpecError` for a group that cannot be built
    (the same message `dralloc cluster generate` gives)."""
    classes: list[KubeDict] = []
    nodes: list[KubeDict] = []
    slices: list[KubeDict] = []
    for document in iter_cluster_json(prefixed_groups(groups, name_prefix), catalog):
        obj: KubeDict = msgspec.json.decode(document)
        kind = obj["kind"]
        if kind == "DeviceClass":
            classes.append(obj)
        elif kind == "Node":
            if labels:
                obj["metadata"]["labels"] = {**obj["metadata"].get("labels", {}), **labels}
            if taints:
                obj["spec"]["taints"] = [dict(t) for t in taints]
            nodes.append(obj)
        else:
            slices.append(obj)
    pools = frozenset((s["spec"]["driver"], s["spec"]["pool"]["name"]) for s in slices)
    return FleetObjects(tuple(classes), tuple(nodes), tuple(slices), pools)
