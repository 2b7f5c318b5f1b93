"""One read of a live cluster's objects, for the questions dralloc answers offline.

`dralloc explain --kubeconfig` and `dralloc schedule --kubeconfig` ask what the offline
commands ask of files, of the objects a kube-apiserver holds now. This module lists them once,
with the client of `client.py`, and hands them over in the shape the files' objects take
(`LoadedObject`, file name `cluster:<server>` so that a message names where an object came
from), so the offline machinery runs on them unchanged:

    read = read_cluster_once(Path("admin.kubeconfig"))
    for loaded in read.objects: ...  # Nodes, Pods, ResourceSlices, claims, ...

What is read: Nodes, Pods not finished (phase neither Succeeded nor Failed), ResourceSlices,
DeviceClasses, ResourceClaims, ResourceClaimTemplates, PriorityClasses, PodDisruptionBudgets
(with the status the disruption controller wrote; preemption reads it), the labels of the
Namespaces (InterPodAffinity's namespaceSelector reads them), and DeviceTaintRules where the
server serves resource.k8s.io/v1beta2. Pods come in creation order, the order in which the
scheduling queue met them; a pod with `spec.nodeName` is bound and runs there, one without is
pending.

The server validated and defaulted every object already, so objects are decoded leniently
(`from_server`): a field dralloc does not model is dropped, never an error. An object that
still cannot be decoded is left out with a warning rather than stopping the read.

Reads only, never writes. Each kind is one list (paged), so the kinds are read at slightly
different resourceVersions, as any client's informers start.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from dralloc.api.core import Node, Pod, PriorityClass
from dralloc.api.io import KubeObject, LoadedObject, from_server
from dralloc.api.policy import PodDisruptionBudget
from dralloc.api.resource import (
    DeviceClass,
    DeviceTaintRule,
    ResourceClaim,
    ResourceClaimTemplate,
    ResourceSlice,
)
from dralloc.errors import Problem
from dralloc.kube.client import (
    DEVICE_CLASSES,
    DEVICE_TAINT_RULES,
    NAMESPACES,
    NODES,
    POD_DISRUPTION_BUDGETS,
    PODS,
    PRIORITY_CLASSES,
    RESOURCE_CLAIM_TEMPLATES,
    RESOURCE_CLAIMS,
    RESOURCE_SLICES,
    ApiStatusError,
    ApiUnavailable,
    KubeClient,
    KubeDict,
    Resource,
)

__all__ = ["ClusterRead", "ClusterUnreadable", "read_cluster", "read_cluster_once"]

# Items per list request: big fleets (thousands of slices) come in pages, as kubectl pages.
PAGE_SIZE = 500
# Finished pods hold neither node resources nor claims.
NOT_FINISHED = "status.phase!=Succeeded,status.phase!=Failed"

_KINDS: tuple[tuple[Resource, type[Any]], ...] = (
    (NODES, Node),
    (PRIORITY_CLASSES, PriorityClass),
    (DEVICE_CLASSES, DeviceClass),
    (RESOURCE_SLICES, ResourceSlice),
    (RESOURCE_CLAIM_TEMPLATES, ResourceClaimTemplate),
    (RESOURCE_CLAIMS, ResourceClaim),
    (POD_DISRUPTION_BUDGETS, PodDisruptionBudget),
    (PODS, Pod),
)


class ClusterUnreadable(Exception):
    """The cluster could not be read: the server is unreachable, or refused a list (a 403
    names the resource). The message is one line naming the server."""


@dataclass
class ClusterRead:
    """What one read found. `source` is the file name the objects carry (`cluster:<server>`)."""

    server: str
    objects: list[LoadedObject] = field(default_factory=list)
    namespace_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    warnings: list[Problem] = field(default_factory=list)  # objects left out, and why

    @property
    def source(self) -> str:
        return f"cluster:{self.server}"


def read_cluster_once(kubeconfig: Path | None, context: str | None = None) -> ClusterRead:
    """Connect, read, close. Raises InputError for a kubeconfig that cannot be used and
    ClusterUnreadable when the server cannot be read."""
    client = KubeClient.connect(kubeconfig, context=context)

    async def read() -> ClusterRead:
        try:
            return await read_cluster(client)
        finally:
            await client.aclose()

    return asyncio.run(read())


async def read_cluster(client: KubeClient) -> ClusterRead:
    """Every object scheduling reads, listed from `client`'s server."""
    server = client.server.rstrip("/")
    read = ClusterRead(server)
    kinds = list(_KINDS)
    try:
        # A beta API, off unless the cluster enables it (DRADeviceTaints).
        if "devicetaintrules" in await client.served(DEVICE_TAINT_RULES.group_version):
            kinds.append((DEVICE_TAINT_RULES, DeviceTaintRule))
        for namespace in await _list_all(client, NAMESPACES):
            labels = (namespace.get("metadata") or {}).get("labels") or {}
            name = str((namespace.get("metadata") or {}).get("name") or "")
            read.namespace_labels[name] = {str(k): str(v) for k, v in labels.items()}
        for resource, cls in kinds:
            selector = NOT_FINISHED if resource is PODS else ""
            items = await _list_all(client, resource, field_selector=selector)
            if resource is PODS:
                items.sort(key=_arrival)
            for raw in items:
                loaded = _loaded(read, resource, cls, raw)
                if loaded is not None:
                    read.objects.append(loaded)
    except ApiUnavailable as err:
        raise ClusterUnreadable(f"cannot reach the API server at {server}: {err}") from err
    except ApiStatusError as err:
        what = _resource_words(err.path)
        if err.is_forbidden:
            raise ClusterUnreadable(
                f"the API server at {server} refused to list {what} (403 Forbidden): {err.message}"
            ) from err
        raise ClusterUnreadable(
            f"the API server at {server} could not list {what}: {err.code} {err.reason}: "
            f"{err.message}"
        ) from err
    return read


async def _list_all(
    client: KubeClient, resource: Resource, *, field_selector: str = ""
) -> list[KubeDict]:
    """Every item of a collection, page by page, each given the apiVersion and kind that
    list responses leave out of their items."""
    items: list[KubeDict] = []
    token = ""
    while True:
        params: dict[str, str | int | bool] = {"limit": PAGE_SIZE}
        if field_selector:
            params["fieldSelector"] = field_selector
        if token:
            params["continue"] = token
        page = await client.list(resource.collection(), **params)
        for item in page.get("items") or []:
            if isinstance(item, dict):
                item["apiVersion"] = resource.api_version
                item["kind"] = resource.kind
                items.append(item)
        token = str((page.get("metadata") or {}).get("continue") or "")
        if not token:
            return items


def _arrival(raw: KubeDict) -> tuple[str, str, str]:
    metadata = raw.get("metadata") or {}
    # RFC 3339 in UTC at second resolution: string order is time order.
    return (
        str(metadata.get("creationTimestamp") or ""),
        str(metadata.get("namespace") or ""),
        str(metadata.get("name") or ""),
    )


def _loaded(
    read: ClusterRead, resource: Resource, cls: type[Any], raw: KubeDict
) -> LoadedObject | None:
    try:
        obj: KubeObject = from_server(raw, cls)
    except (msgspec.ValidationError, ValueError) as err:
        metadata = raw.get("metadata") or {}
        name = "/".join(
            str(part) for part in (metadata.get("namespace"), metadata.get("name")) if part
        )
        message = f"left out, dralloc cannot read it: {err}"
        read.warnings.append(Problem(read.source, f"{resource.kind} {name}", "", message))
        return None
    return LoadedObject(read.source, len(read.objects) + 1, raw, obj)


def _resource_words(path: str) -> str:
    """A list path as kubectl names the resource (`resourceslices.resource.k8s.io`)."""
    parts = [p for p in path.split("?")[0].split("/") if p]
    if not parts:
        return path
    plural = parts[-1]
    group = parts[1] if parts[0] == "apis" and len(parts) > 2 else ""
    return f"{plural}.{group}" if group else plural
