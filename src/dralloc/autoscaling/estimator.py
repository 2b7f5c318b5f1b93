"""How many new nodes of one node group the pending pods need: cluster-autoscaler's
first-fit-decreasing bin packing (spec/autoscaling.md §4.2), with the real scheduler.

Owns the estimate only; it works on a `PlanningSnapshot` the caller forked for it and leaves
the placed pods there. The behaviour reproduced is CA's `BinpackingNodeEstimator.Estimate`
(estimator/binpacking_estimator.go, read in kubernetes/autoscaler), pod by pod:

1. try the pod on the nodes this estimate already added (any of them);
2. else, if the last added node is still empty, stop trying this pod (a fresh copy would
   not take it either), and if the limit allows one more node, add a fresh template copy
   (`e-<n>`, CA's suffix) and try the pod on it; a pod that fits no fresh copy leaves the
   empty copy in place, so later pods try it first;
3. the estimate is the number of added nodes that received a pod, and the pods placed.

Upstream walks pods in equivalence groups and stops a group at its first failure; here each
pod is its own group, which changes nothing but speed.

Pod order (CA's `DecreasingPodOrderer`): descending cpu/allocatable + memory/allocatable of
the template node, over the containers' requests (stable for equal scores; upstream's
`sort.Slice` is not). `packOrder: device` (dralloc) adds the fraction of the template's
accelerators the pod's claims ask for, so GPU pods pack first even when they ask for little
CPU. The pod's device count is read from its claims' requests (`exactCount`, `All` as every
accelerator, the first `firstAvailable` alternative): an estimate for ordering only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from dralloc.api.core import Pod
from dralloc.api.resource import DeviceSubRequest, ExactDeviceRequest, ResourceClaim
from dralloc.autoscaling.config import PackOrder
from dralloc.autoscaling.planning import PlanningSnapshot, pod_key
from dralloc.autoscaling.templates import NodeTemplate
from dralloc.scheduler.cache import pod_claim_keys


@dataclass(frozen=True)
class Estimate:
    """`node_count` new nodes (named `nodes`, those that received pods) hold `pods`."""

    node_count: int
    pods: tuple[Pod, ...]
    nodes: tuple[str, ...]
    placements: Mapping[str, str]  # pod key -> new node


def requested_devices(pod: Pod, claims: Mapping[str, ResourceClaim], accelerators: int) -> int:
    """Devices the pod's claims ask for (see the module docstring)."""
    total = 0
    for _, key in pod_claim_keys(pod):
        claim = claims.get(key) if key is not None else None
        if claim is None:
            continue
        for request in claim.spec.devices.requests:
            exact: ExactDeviceRequest | DeviceSubRequest | None = request.exactly
            if exact is None and request.first_available:
                exact = request.first_available[0]
            if exact is None:
                continue
            if exact.allocation_mode == "All":
                total += accelerators
            else:
                total += exact.count or 1
    return total


def container_requests(pod: Pod) -> tuple[float, float]:
    """(cores, bytes) the pod's containers request: what CA's orderer and least-waste
    expander add up (init containers, pod-level requests and overhead are not read)."""
    cpu = memory = 0
    for container in pod.spec.containers:
        requests = container.resources.requests
        if "cpu" in requests:
            cpu += requests["cpu"].nano
        if "memory" in requests:
            memory += requests["memory"].nano
    return cpu / 1e9, memory / 1e9


def pack_order(
    pods: Sequence[Pod],
    template: NodeTemplate,
    order: PackOrder,
    claims: Mapping[str, ResourceClaim],
) -> list[Pod]:
    """`pods` in CA's decreasing order against `template` (stable for equal scores)."""
    allocatable = template.node.status.allocatable
    cpu = allocatable.get("cpu")
    memory = allocatable.get("memory")
    cpu_total = -(-cpu.nano // 1_000_000) if cpu is not None else 0
    memory_total = -(-memory.nano // 1_000_000_000) if memory is not None else 0
    accelerators = template.accelerator_count()

    def score(pod: Pod) -> float:
        cpu_used, memory_used = container_requests(pod)
        value = (cpu_used * 1000 / cpu_total if cpu_total else 0.0) + (
            memory_used / memory_total if memory_total else 0.0
        )
        if order is PackOrder.DEVICE and accelerators:
            value += requested_devices(pod, claims, accelerators) / accelerators
        return value

    scored = [(score(p), index, p) for index, p in enumerate(pods)]
    scored.sort(key=lambda entry: (-entry[0], entry[1]))
    return [p for _, _, p in scored]


def estimate(
    snapshot: PlanningSnapshot, template: NodeTemplate, pods: Sequence[Pod], limit: int
) -> Estimate:
    """Bin-pack `pods` (already ordered) onto at most `limit` fresh copies of `template`
    added to `snapshot` (see the module docstring). The snapshot keeps the copies and pods."""
    added: list[str] = []
    with_pods: list[str] = []
    placements: dict[str, str] = {}
    placed: list[Pod] = []
    for pod in pods:
        node = snapshot.place(pod, among=added) if added else None
        if node is None:
            if added and added[-1] not in with_pods:
                continue
            if len(added) >= limit:
                continue
            copy = template.instantiate(f"e-{len(added)}")
            snapshot.add_node(copy)
            added.append(copy.name)
            node = snapshot.place(pod, among=[copy.name])
            if node is None:
                continue
        if node not in with_pods:
            with_pods.append(node)
        placements[pod_key(pod)] = node
        placed.append(pod)
    return Estimate(len(with_pods), tuple(placed), tuple(with_pods), placements)
