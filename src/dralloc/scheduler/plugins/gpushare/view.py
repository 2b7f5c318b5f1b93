"""GPU-sharing state read from DRA objects: what the policies of `scheduler.gpushare` see.

`GpuShareView` turns a node's published GPUs (driver `gpu.nvidia.com`, `type: gpu`) and the
cache's allocated state into a `NodeState`: the GPU product name, unallocated CPU, and per GPU
the unallocated milli-GPU. A GPU with the fractional `cores` capacity (percent) has
`1000 - 10 * booked cores` left; any other GPU has 1000 left while nothing holds it and 0 once
something does. States are memoised per (node, generation): the cache bumps a node's generation
whenever a pod lands on or leaves it, which is when its devices change hands.

`gpu_request` reads a pod's GPU request from its claims in the same terms: the device count of
its requests, and `10 * cores` milli-GPU for a request that books `cores`, else a whole GPU.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from dralloc.allocator import DeviceKey
from dralloc.api.resource import ResourceSlice
from dralloc.scheduler.cache import SchedulerCache, pod_claim_keys
from dralloc.scheduler.framework import NodeInfo, PodInfo
from dralloc.scheduler.framework.generations import NodeMemo
from dralloc.scheduler.plugins.gpushare.measure import NodeState
from dralloc.scheduler.plugins.gpushare.workload import MILLI

GPU_DRIVER = "gpu.nvidia.com"
CORES = "cores"
_NANO = 1_000_000_000
_NUMBER = re.compile(r"(\d+)")


@dataclass(frozen=True)
class GpuDevice:
    key: DeviceKey
    cores: int | None  # the `cores` capacity in whole percent, None when not fractional


@dataclass(frozen=True)
class GpuRequest:
    """A pod's request in the policies' terms (`scheduler.gpushare.PodRequest`)."""

    cpu_milli: int
    gpu_milli: int
    num_gpu: int
    gpu_spec: frozenset[str] = frozenset()


def slice_gpus(resource_slice: ResourceSlice) -> tuple[GpuDevice, ...]:
    """The GPUs `resource_slice` publishes as the view counts them: devices of `type: gpu` in
    a node-local slice of driver `gpu.nvidia.com`; none for any other slice."""
    return tuple(gpu for _, gpu, _ in _published(resource_slice))


def _published(resource_slice: ResourceSlice) -> Iterator[tuple[str, GpuDevice, str]]:
    """Each GPU of the slice with its node and its `productName` ("" when it has none)."""
    spec = resource_slice.spec
    node_name = spec.node_name
    if spec.driver != GPU_DRIVER or not node_name:
        return
    for device in spec.devices:
        kind = device.attributes.get("type")
        if kind is None or kind.string != "gpu":
            continue
        capacity = device.capacity.get(CORES)
        cores = capacity.value.as_integer() if capacity is not None else None
        product = device.attributes.get("productName")
        product_name = (product.string or "") if product is not None else ""
        key = DeviceKey(spec.driver, spec.pool.name, device.name)
        yield node_name, GpuDevice(key, cores), product_name


def _natural(name: str) -> tuple[object, ...]:
    return tuple(int(p) if p.isdigit() else p for p in _NUMBER.split(name))


class GpuShareView:
    """Node GPU states over a cache; owns only its memo."""

    def __init__(self, cache: SchedulerCache) -> None:
        self.cache = cache
        self._states: NodeMemo[NodeState] = NodeMemo()
        self._index()

    def _index(self) -> None:
        """Index the GPUs the cache's inventory publishes, per node (again whenever a live
        cluster's slices change and the cache replaces its inventory)."""
        self._indexed = self.cache.inventory
        self._gpus: dict[str, list[GpuDevice]] = {}
        self._products: dict[str, str] = {}
        for entry in self._indexed.slices:
            for node_name, gpu, product in _published(entry.slice):
                self._gpus.setdefault(node_name, []).append(gpu)
                if product:
                    self._products.setdefault(node_name, product)
        for devices in self._gpus.values():
            devices.sort(key=lambda d: _natural(d.key.device))

    @property
    def gpus(self) -> dict[str, list[GpuDevice]]:
        """Each node's GPUs in name order."""
        if self._indexed is not self.cache.inventory:
            self._index()
        return self._gpus

    @property
    def products(self) -> dict[str, str]:
        """Each node's GPU product name."""
        if self._indexed is not self.cache.inventory:
            self._index()
        return self._products

    def node_state(self, node: NodeInfo) -> NodeState:
        """The node's GPUs' free shares and its free CPU, remembered per node generation."""
        return self._states.get(node, self._node_state)

    def _node_state(self, node: NodeInfo) -> NodeState:
        allocated = self.cache.allocated
        left = []
        for gpu in self.gpus.get(node.name, ()):
            if gpu.cores:
                booked = allocated.capacity.get(gpu.key, {}).get(CORES, 0)
                left.append(max(0, MILLI - MILLI * booked // (gpu.cores * _NANO)))
            else:
                left.append(0 if allocated.has_allocation(gpu.key) else MILLI)
        cpu_left = max(0, node.allocatable.milli_cpu - node.requested.milli_cpu)
        return NodeState(self.products.get(node.name, ""), cpu_left, tuple(left))

    def gpu_keys(self, node_name: str) -> list[DeviceKey]:
        return [gpu.key for gpu in self.gpus.get(node_name, ())]

    def gpu_request(self, pod: PodInfo) -> GpuRequest:
        count = 0
        milli = 0
        for _, key in pod_claim_keys(pod.pod):
            claim = self.cache.claims.get(key) if key is not None else None
            if claim is None:
                continue
            for request in claim.spec.devices.requests:
                exactly = request.exactly
                if exactly is None:
                    continue
                count += exactly.count or 1
                cores = exactly.capacity.requests.get(CORES) if exactly.capacity else None
                share = MILLI if cores is None else min(MILLI, cores.as_integer() * 10)
                milli = max(milli, share)
        return GpuRequest(pod.requests.milli_cpu, milli if count else 0, count)
