"""Small builders that emit Kubernetes YAML for allocator tests, so each test stays short.

Every builder returns one object as a plain dict in the wire shape (camelCase); `cluster()`
dumps them as a multi-document YAML string and loads it through `Cluster.from_yaml`, the same
path `dralloc allocate` takes, API validation included. `loose_cluster()` skips validation for
the few tests that feed the allocator objects the API server would reject (an empty selector,
an unknown taint effect) to see what the allocator itself does with them.

Defaults keep the common case terse: driver `gpu.example.com`, pool `pool-1`, slice `slice-1`
on node `node-1`, class `gpu` (no selectors, so it matches every device), claim `claim` in
namespace `default`, request `req`.

Attribute shorthand: `bool` -> `{bool: v}`, `int` -> `{int: v}`, `str` -> `{string: v}`,
`list[str]` -> `{strings: v}`, `list[int]` -> `{ints: v}`; a dict is passed through verbatim
(use it for `{version: "1.2.3"}`). Capacity shorthand: a quantity -> `{value: q}`; a dict is
passed through verbatim (use it for request policies).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import yaml

from dralloc.allocator import Allocator, AllocatorOptions, Inventory, allocated_state
from dralloc.api.io import load_text, to_builtins
from dralloc.api.resource import AllocationResult
from dralloc.features import Features
from dralloc.testing import Cluster, sequential_share_ids

DRIVER = "gpu.example.com"
RESOURCE = "resource.k8s.io/v1"

Doc = dict[str, Any]


# ------------------------------------------------------------------------------- objects


def node(name: str = "node-1", **labels: str) -> Doc:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}}


def device_class(name: str = "gpu", *selectors: str, config: Sequence[Doc] = ()) -> Doc:
    spec: Doc = {}
    if selectors:
        spec["selectors"] = [{"cel": {"expression": s}} for s in selectors]
    if config:
        spec["config"] = list(config)
    return {"apiVersion": RESOURCE, "kind": "DeviceClass", "metadata": {"name": name}, "spec": spec}


def driver_class(name: str, driver: str = DRIVER) -> Doc:
    """A class that matches every device of one driver."""
    return device_class(name, f'device.driver == "{driver}"')


def attribute(value: Any) -> Doc:
    if isinstance(value, dict):
        return value
    if isinstance(value, bool):
        return {"bool": value}
    if isinstance(value, int):
        return {"int": value}
    if isinstance(value, str):
        return {"string": value}
    if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
        return {"ints": value}
    if isinstance(value, list):
        return {"strings": value}
    raise TypeError(f"no attribute shorthand for {value!r}")


def device(
    name: str,
    attrs: dict[str, Any] | None = None,
    capacity: dict[str, Any] | None = None,
    **extra: Any,
) -> Doc:
    """A device; `extra` keys are camelCase wire fields (taints=..., bindingConditions=...)."""
    out: Doc = {"name": name}
    if attrs:
        out["attributes"] = {k: attribute(v) for k, v in attrs.items()}
    if capacity:
        out["capacity"] = {
            k: v if isinstance(v, dict) else {"value": str(v)} for k, v in capacity.items()
        }
    out.update(extra)
    return out


def devices(*names: str, **attrs: Any) -> list[Doc]:
    """Several plain devices sharing the same attributes."""
    return [device(n, attrs or None) for n in names]


def resource_slice(
    devs: Iterable[Doc | str] = (),
    *,
    name: str = "slice-1",
    driver: str = DRIVER,
    pool: str = "pool-1",
    generation: int = 1,
    count: int = 1,
    node: str = "node-1",
    all_nodes: bool = False,
    node_selector: Doc | None = None,
    per_device: bool = False,
    counters: Sequence[Doc] = (),
) -> Doc:
    """A ResourceSlice. Node selection: `nodeName: node` unless all_nodes, node_selector
    (one term, given as the term dict) or per_device is set. Strings in `devs` are names."""
    spec: Doc = {
        "driver": driver,
        "pool": {"name": pool, "generation": generation, "resourceSliceCount": count},
    }
    if all_nodes:
        spec["allNodes"] = True
    elif node_selector is not None:
        spec["nodeSelector"] = {"nodeSelectorTerms": [node_selector]}
    elif per_device:
        spec["perDeviceNodeSelection"] = True
    else:
        spec["nodeName"] = node
    dev_list = [device(d) if isinstance(d, str) else d for d in devs]
    if dev_list:
        spec["devices"] = dev_list
    if counters:
        spec["sharedCounters"] = list(counters)
    return {
        "apiVersion": RESOURCE,
        "kind": "ResourceSlice",
        "metadata": {"name": name},
        "spec": spec,
    }


def counter_set(name: str, **counters: str | int) -> Doc:
    return {"name": name, "counters": {k: {"value": str(v)} for k, v in counters.items()}}


def consumes(counter_set_name: str, **counters: str | int) -> Doc:
    return {
        "counterSet": counter_set_name,
        "counters": {k: {"value": str(v)} for k, v in counters.items()},
    }


def label_term(key: str, operator: str, *values: str) -> Doc:
    """A node selector term with one matchExpressions requirement."""
    req: Doc = {"key": key, "operator": operator}
    if values:
        req["values"] = list(values)
    return {"matchExpressions": [req]}


def taint(key: str, value: str = "", effect: str = "NoSchedule") -> Doc:
    out: Doc = {"key": key, "effect": effect}
    if value:
        out["value"] = value
    return out


def toleration(
    key: str = "",
    operator: str | None = None,
    value: str = "",
    effect: str = "",
    **extra: Any,
) -> Doc:
    out: Doc = {}
    if key:
        out["key"] = key
    if operator:
        out["operator"] = operator
    if value:
        out["value"] = value
    if effect:
        out["effect"] = effect
    out.update(extra)
    return out


def opaque(driver: str = DRIVER, **parameters: Any) -> Doc:
    return {"opaque": {"driver": driver, "parameters": parameters}}


def _exact(
    cls: str,
    count: int | None,
    mode: str | None,
    selectors: Sequence[str],
    tolerations: Sequence[Doc] | None,
    capacity: dict[str, Any] | None,
) -> Doc:
    out: Doc = {"deviceClassName": cls}
    if selectors:
        out["selectors"] = [{"cel": {"expression": s}} for s in selectors]
    if mode is not None:
        out["allocationMode"] = mode
    if count is not None:
        out["count"] = count
    if tolerations is not None:
        out["tolerations"] = list(tolerations)
    if capacity is not None:
        out["capacity"] = {"requests": {k: str(v) for k, v in capacity.items()}}
    return out


def request(
    name: str = "req",
    cls: str = "gpu",
    *selectors: str,
    count: int | None = None,
    mode: str | None = None,
    admin: bool | None = None,
    tolerations: Sequence[Doc] | None = None,
    capacity: dict[str, Any] | None = None,
) -> Doc:
    exactly = _exact(cls, count, mode, selectors, tolerations, capacity)
    if admin is not None:
        exactly["adminAccess"] = admin
    return {"name": name, "exactly": exactly}


def sub(
    name: str,
    cls: str = "gpu",
    *selectors: str,
    count: int | None = None,
    mode: str | None = None,
    tolerations: Sequence[Doc] | None = None,
    capacity: dict[str, Any] | None = None,
) -> Doc:
    return {"name": name, **_exact(cls, count, mode, selectors, tolerations, capacity)}


def first_available(name: str, *subs: Doc) -> Doc:
    return {"name": name, "firstAvailable": list(subs)}


def match(attribute_name: str, *requests: str) -> Doc:
    out: Doc = {"matchAttribute": attribute_name}
    if requests:
        out["requests"] = list(requests)
    return out


def distinct(attribute_name: str, *requests: str) -> Doc:
    out: Doc = {"distinctAttribute": attribute_name}
    if requests:
        out["requests"] = list(requests)
    return out


def claim(
    name: str = "claim",
    *requests: Doc,
    namespace: str = "default",
    constraints: Sequence[Doc] = (),
    config: Sequence[Doc] = (),
) -> Doc:
    devices_spec: Doc = {}
    if requests:
        devices_spec["requests"] = list(requests)
    if constraints:
        devices_spec["constraints"] = list(constraints)
    if config:
        devices_spec["config"] = [
            {**c, "requests": list(c["requests"])} if "requests" in c else c for c in config
        ]
    return {
        "apiVersion": RESOURCE,
        "kind": "ResourceClaim",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"devices": devices_spec},
    }


def claim_config(*requests: str, **parameters: Any) -> Doc:
    """A claim config entry (`requests` empty = all) with an opaque payload."""
    out: Doc = dict(opaque(**parameters))
    if requests:
        out["requests"] = list(requests)
    return out


def result(
    request_name: str,
    device_name: str,
    *,
    pool: str = "pool-1",
    driver: str = DRIVER,
    **extra: Any,
) -> Doc:
    return {
        "request": request_name,
        "driver": driver,
        "pool": pool,
        "device": device_name,
        **extra,
    }


def allocated(name: str, *results: Doc, namespace: str = "default") -> Doc:
    """A claim that already holds `results` (committed), with matching plain requests."""
    names: list[str] = []
    admin: set[str] = set()
    for r in results:
        if r["request"] not in names:
            names.append(r["request"])
        if r.get("adminAccess"):
            admin.add(r["request"])
    doc = claim(
        name,
        *(request(n, admin=True if n in admin else None) for n in names),
        namespace=namespace,
    )
    doc["status"] = {"allocation": {"devices": {"results": list(results)}}}
    return doc


# ------------------------------------------------------------------------------ clusters


def manifests(*docs: Doc | str) -> str:
    """One multi-document YAML string; strings are taken as YAML already."""
    parts = [d if isinstance(d, str) else yaml.safe_dump(d, sort_keys=False) for d in docs]
    return "---\n".join(parts)


def cluster(*docs: Doc | str) -> Cluster:
    return Cluster.from_yaml(manifests(*docs))


def loose_cluster(*docs: Doc | str) -> Cluster:
    """Like `cluster`, but without API validation (the allocator's own checks only)."""
    objects, _problems = load_text(manifests(*docs), "<test>")
    return Cluster.from_objects(objects)


def allocate_with(
    c: Cluster, features: Features, node_name: str = "node-1"
) -> list[AllocationResult] | None:
    """Allocate with an explicit `Features` value: for gates `parse_gates` refuses to switch
    off because they are locked on in 1.36 (DRAPrioritizedList, DRAAdminAccess), which the
    allocator must still honour when embedded with older gate sets."""
    allocator = Allocator(
        features, options=AllocatorOptions(timeout=None, share_ids=sequential_share_ids())
    )
    return allocator.allocate(
        c.node(node_name),
        c.pending,
        Inventory(c.slices, features),
        c.classes,
        allocated_state(c.allocated, features),
    )


# ------------------------------------------------------------------------------- results


def picks(results: Sequence[AllocationResult] | None) -> list[list[tuple[str, str]]]:
    """(request, device) pairs per claim, in result order."""
    assert results is not None, "expected an allocation, got none"
    return [[(r.request, r.device) for r in res.devices.results] for res in results]


def picked(results: Sequence[AllocationResult] | None) -> list[tuple[str, str]]:
    """(request, device) pairs of the only claim."""
    (only,) = picks(results)
    return only


def chosen_devices(results: Sequence[AllocationResult] | None) -> list[str]:
    """Device names of the only claim, in result order."""
    return [dev for _, dev in picked(results)]


def wire(obj: Any) -> Any:
    """The wire form (plain dicts, camelCase, empty fields omitted) of a struct."""
    return to_builtins(obj)


LOCAL_NODE_1 = {
    "nodeSelectorTerms": [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-1"]}]}
    ]
}
