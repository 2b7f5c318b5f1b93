"""A fleet of simulated GPU and TPU nodes in a live cluster: publish, simulate, withdraw.

`SimulatedFleet` owns the objects it created and the kubelet that serves them. `start()`
creates the DeviceClasses, then the Nodes (made Ready at once by the kubelet), then the
ResourceSlices, exactly as `dralloc cluster generate` writes them (see `objects.py`);
`run()` simulates the kubelet and DRA driver until cancelled; `stop()` stops it and deletes
what `start()` created, newest kind first, unless `keep` is set. An object that already
exists is used as it is and never deleted: a DeviceClass another driver installed, or the
Nodes of an earlier run with `--keep` (whose pods the kubelet takes over).

Pods bound to the fleet's nodes are not deleted on stop: without kube-controller-manager's
pod garbage collector they stay, bound to a Node that no longer exists.

What the identity needs, beyond an admin's convenience:
* nodes: create, delete; nodes/status: patch;
* resourceslices, deviceclasses (resource.k8s.io): create, delete;
* pods: list, watch, delete; pods/status: patch;
* resourceclaims: get, list, watch; resourceclaims/status: update; and, for writing the
  conditions of devices on nodes other than the writer's own, `resourceclaims/driver` with
  the verbs `arbitrary-node:update` and `arbitrary-node:patch` (spec/cluster-mode.md
  section 6).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType

from dralloc.devices.catalog import Catalog, load_catalog
from dralloc.devices.cluster import NodeGroup, parse_group
from dralloc.features import Features
from dralloc.kube.client import (
    DEVICE_CLASSES,
    NODES,
    RESOURCE_SLICES,
    ApiStatusError,
    ApiUnavailable,
    KubeClient,
    KubeDict,
    Resource,
)
from dralloc.kube.nodesim.kubelet import HEARTBEAT_SECONDS, SimulatedKubelet, WallClock
from dralloc.kube.nodesim.objects import FleetObjects, count_objects, counted, plan_fleet
from dralloc.kube.nodesim.status import node_address
from dralloc.kube.shared_informers import SharedInformers

logger = logging.getLogger(__name__)

# Creates and deletes in flight at once; the client's rate limit still applies.
CONCURRENT_WRITES = 16


@dataclass
class Published:
    """Names by kind: what `start()` created (and so what `stop()` deletes) and what it
    found existing; or what `stop()` deleted."""

    classes: list[str] = field(default_factory=list)
    nodes: list[str] = field(default_factory=list)
    slices: list[str] = field(default_factory=list)
    existing: dict[str, list[str]] = field(default_factory=dict)  # kind -> names

    def count(self) -> str:
        return count_objects(len(self.nodes), len(self.slices), len(self.classes))

    def existing_count(self) -> str:
        return ", ".join(counted(len(names), kind) for kind, names in self.existing.items())


class SimulatedFleet:
    """Simulated nodes with devices, and the kubelet that keeps them Ready and runs their pods.

        async with SimulatedFleet(client, ["2xdgx-h100:mig=dynamic", "1xtpu-v6e-2x4"]) as fleet:
            ...                          # nodes Ready, slices published, pods start and end
        # everything created is deleted again

    Or `await fleet.start()`, `await fleet.run()` (until cancelled) and `await fleet.stop()`.
    `groups` are `NodeGroup`s or their command-line text (`16xdgx-h100:mig=dynamic`); a group
    that cannot be built raises `ClusterSpecError` here, before anything is written.
    `labels` and `taints` go on every Node; `name_prefix` goes before every node name. Or
    `groups` is a `FleetObjects` from `plan_fleet` (then the catalog, prefix, labels and
    taints given here are not used).
    With `informers`, the kubelet shares a scheduler's pod and claim informers.
    """

    def __init__(
        self,
        client: KubeClient,
        groups: Sequence[NodeGroup | str] | FleetObjects,
        *,
        catalog: Catalog | None = None,
        name_prefix: str = "",
        labels: Mapping[str, str] | None = None,
        taints: Sequence[KubeDict] = (),
        keep: bool = False,
        features: Features | None = None,
        informers: SharedInformers | None = None,
        clock: WallClock | None = None,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
        log: Callable[[str], None] | None = None,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.client = client
        self.keep = keep
        self.warn = warn if warn is not None else (lambda message: logger.warning("%s", message))
        if isinstance(groups, FleetObjects):
            self.objects = groups
        else:
            self.objects = plan_fleet(
                [parse_group(g) if isinstance(g, str) else g for g in groups],
                catalog if catalog is not None else load_catalog(),
                name_prefix=name_prefix,
                labels=labels,
                taints=taints,
            )
        self.published = Published()
        self.withdrawn = Published()  # what stop() deleted
        features = features if features is not None else Features()
        addresses = {name: node_address(i) for i, name in enumerate(self.objects.node_names)}
        self.kubelet = SimulatedKubelet(
            client,
            addresses,
            self.objects.pools,
            informers=informers,
            device_status=features.device_binding_and_status,
            clock=clock,
            heartbeat_seconds=heartbeat_seconds,
            log=log,
            warn=warn,
        )
        self._kubelet_started = False

    @property
    def node_names(self) -> list[str]:
        return self.objects.node_names

    async def start(self) -> None:
        """Publish the fleet and start the kubelet. On an error, what was created so far is
        recorded in `published`, so `stop()` still removes it."""
        await self._create_all(DEVICE_CLASSES, self.objects.classes, self.published.classes)
        await self._create_all(NODES, self.objects.nodes, self.published.nodes)
        self._kubelet_started = True
        await self.kubelet.start()
        await self._create_all(RESOURCE_SLICES, self.objects.slices, self.published.slices)

    async def run(self) -> None:
        await self.kubelet.run()

    async def stop(self) -> None:
        """Stop the kubelet; then delete what start() created, unless `keep`."""
        if self._kubelet_started:
            await self.kubelet.stop()
            self._kubelet_started = False
        if self.keep:
            return
        for resource, created, deleted in (
            (RESOURCE_SLICES, self.published.slices, self.withdrawn.slices),
            (NODES, self.published.nodes, self.withdrawn.nodes),
            (DEVICE_CLASSES, self.published.classes, self.withdrawn.classes),
        ):
            left = [name for name in created if name not in set(deleted)]
            await _bounded(self._delete(resource, name, deleted) for name in left)

    async def __aenter__(self) -> SimulatedFleet:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _create_all(
        self, resource: Resource, objects: Sequence[KubeDict], created: list[str]
    ) -> None:
        async def create(obj: KubeDict) -> None:
            name = obj["metadata"]["name"]
            try:
                await self.client.create(resource.collection(), obj)
            except ApiStatusError as err:
                if not err.is_conflict:  # 409 AlreadyExists: someone else's, left alone
                    raise
                self.published.existing.setdefault(resource.kind, []).append(name)
                return
            created.append(name)

        await _bounded(create(obj) for obj in objects)

    async def _delete(self, resource: Resource, name: str, deleted: list[str]) -> None:
        try:
            await self.client.delete(resource.item(None, name))
        except ApiStatusError as err:
            if not err.is_not_found:
                self.warn(f"cannot delete {resource.kind} {name}: {err}")
                return
        except ApiUnavailable as err:
            self.warn(f"cannot delete {resource.kind} {name}: {err}")
            return
        deleted.append(name)


async def _bounded(calls: Iterable[Awaitable[None]]) -> None:
    """Run the calls with at most CONCURRENT_WRITES in flight; the first error is raised
    once every call has finished (so none is left running)."""
    limit = asyncio.Semaphore(CONCURRENT_WRITES)

    async def one(call: Awaitable[None]) -> None:
        async with limit:
            await call

    results = await asyncio.gather(*(one(c) for c in calls), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
