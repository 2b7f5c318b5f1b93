"""GPU-sharing score plugins: the FGD paper's six placement policies as kube-scheduler Score
plugins, each also choosing *which GPU* inside the node (device scoring, which upstream lacks).

Each plugin scores a feasible node from its `NodeState` exactly as spec/fgd.md section 4.2
defines the policy, and hands `DynamicResources` a device order (`device_order`) so that the
allocator, which stays complete, tries the policy's preferred GPU first: for a one-GPU request
the allocation is the best-ranked feasible GPU. Whole- and multi-GPU requests keep the drivers'
order, which is the lowest-index free GPUs every policy uses.

Plugins: `FGD` (fragmentation gradient descent, needs the target workload), `BestFit`
(min-max normalised), `DotProduct`, `GpuPacking`, `GpuClustering`, `Random` (seeded). A node
the policy's arithmetic says cannot host the pod scores 0 (DRA's filter is the authority on
feasibility; the two agree on the openb model).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from dralloc.allocator import DeviceKey, DeviceOrder
from dralloc.scheduler.framework import (
    SUCCESS,
    ClusterEventWithHint,
    CycleState,
    NodeInfo,
    PodInfo,
    Status,
)
from dralloc.scheduler.framework.generations import NodeMemo
from dralloc.scheduler.plugins.gpushare.hints import SLICE_EVENTS
from dralloc.scheduler.plugins.gpushare.measure import FragmentationMeter, NodeState, can_host
from dralloc.scheduler.plugins.gpushare.scores import (
    best_fgd_gpu,
    bestfit_score,
    dotprod_score,
    gpu_clustering_score,
    gpu_packing_score,
    gpu_tag,
    normalize_score_array,
    normalize_scores,
)
from dralloc.scheduler.plugins.gpushare.view import GpuRequest, GpuShareView
from dralloc.scheduler.plugins.gpushare.workload import MILLI, TaskType
from dralloc.scheduler.plugins.helper import ASSIGNED_POD_DELETE, node_events


def _is_sharing(request: GpuRequest) -> bool:
    return request.num_gpu == 1 and request.gpu_milli < MILLI


def _chosen_first(keys: Sequence[DeviceKey], chosen: int) -> DeviceOrder:
    """The GPU at index `chosen` first, the others in the drivers' order."""
    return _order_from_ranks(keys, [0.0 if g == chosen else 1.0 for g in range(len(keys))])


def _order_from_ranks(keys: Sequence[DeviceKey], ranks: Sequence[float]) -> DeviceOrder:
    table = dict(zip(keys, ranks, strict=True))
    worst = max(ranks, default=0.0) + 1.0
    return lambda key: table.get(key, worst)


class _Policy:
    """What every policy shares: the view, the pod's request per cycle, best-fit GPU order."""

    name = ""
    deterministic_order = True
    node_local = True  # scores read the pod and this node's state only

    def __init__(self, view: GpuShareView) -> None:
        self.view = view

    def _request(self, state: CycleState, pod: PodInfo) -> GpuRequest:
        key = f"Request{self.name}"
        cached = state.get(key, GpuRequest)
        if cached is None:
            cached = self.view.gpu_request(pod)
            state.write(key, cached)
        return cached

    def device_order(self, pod: PodInfo, node: NodeInfo) -> DeviceOrder | None:
        """Best fit: the fitting GPU with the least left first (ties: lowest index)."""
        request = self.view.gpu_request(pod)
        if not _is_sharing(request):
            return None
        before = self.view.node_state(node)
        ranks = [
            float(left) if left >= request.gpu_milli else float(MILLI + 1)
            for left in before.gpu_left
        ]
        return _order_from_ranks(self.view.gpu_keys(node.name), ranks)

    def _fits(self, node: NodeState, request: GpuRequest) -> bool:
        return can_host(node, request)


class FGD(_Policy):
    """Fragmentation gradient descent: score = int(100·sigmoid(ΔF/1000)) against the target
    workload; the GPU is the one whose placement lowers fragmentation most."""

    name = "FGD"

    def __init__(self, view: GpuShareView, workload: Sequence[tuple[TaskType, float]]) -> None:
        super().__init__(view)
        self.meter = FragmentationMeter(workload)

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> tuple[int, Status]:
        request = self._request(state, pod)
        before = self.view.node_state(node)
        if not self._fits(before, request):
            return 0, SUCCESS
        return best_fgd_gpu(before, request, self.meter).score, SUCCESS

    def device_order(self, pod: PodInfo, node: NodeInfo) -> DeviceOrder | None:
        request = self.view.gpu_request(pod)
        if not _is_sharing(request):
            return None
        before = self.view.node_state(node)
        if not self._fits(before, request):
            return None
        (chosen,) = best_fgd_gpu(before, request, self.meter).gpus
        return _chosen_first(self.view.gpu_keys(node.name), chosen)


class BestFit(_Policy):
    name = "BestFit"

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> tuple[int, Status]:
        request = self._request(state, pod)
        before = self.view.node_state(node)
        if not self._fits(before, request):
            return 0, SUCCESS
        return bestfit_score(before, request), SUCCESS

    def normalize_scores(self, state: CycleState, pod: PodInfo, scores: dict[str, int]) -> Status:
        names = list(scores)
        scores.update(zip(names, normalize_scores(list(scores.values())), strict=True))
        return SUCCESS

    def normalize_array(
        self, state: CycleState, pod: PodInfo, scores: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.int64]:
        return normalize_score_array(scores)


class DotProduct(_Policy):
    name = "DotProduct"

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> tuple[int, Status]:
        return dotprod_score(self.view.node_state(node), self._request(state, pod)), SUCCESS


class GpuPacking(_Policy):
    name = "GpuPacking"

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> tuple[int, Status]:
        request = self._request(state, pod)
        before = self.view.node_state(node)
        if not self._fits(before, request):
            return 0, SUCCESS
        return gpu_packing_score(before, request), SUCCESS


class GpuClustering(_Policy):
    name = "GpuClustering"

    def __init__(self, view: GpuShareView) -> None:
        super().__init__(view)
        self._tags: NodeMemo[Counter[str]] = NodeMemo()

    def node_tags(self, node: NodeInfo) -> Counter[str]:
        """How many pods of each `gpu_tag` the node holds (what the score reads of its pods)."""
        return self._tags.get(node, self._node_tags)

    def _node_tags(self, node: NodeInfo) -> Counter[str]:
        return Counter(gpu_tag(self.view.gpu_request(info)) for info in node.pods)

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> tuple[int, Status]:
        request = self._request(state, pod)
        before = self.view.node_state(node)
        if not self._fits(before, request):
            return 0, SUCCESS
        return gpu_clustering_score(before, request, self.node_tags(node)), SUCCESS


class Random(_Policy):
    """One feasible node drawn uniformly scores 100 (PreScore); a sharing pod's GPU is drawn
    uniformly among the fitting ones."""

    name = "Random"
    deterministic_order = False
    node_local = False  # one node drawn per cycle

    def __init__(self, view: GpuShareView, rng: random.Random) -> None:
        super().__init__(view)
        self.rng = rng

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status:
        chosen = nodes[self.rng.randrange(len(nodes))].name if nodes else ""
        state.write("PreScoreRandom", chosen)
        return SUCCESS

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> tuple[int, Status]:
        chosen = state.get("PreScoreRandom", str)
        return (100 if chosen == node.name else 0), SUCCESS

    def score_nodes(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> dict[str, int]:
        """`score` on every node at once: a thousand calls per pod were most of a run."""
        scores = dict.fromkeys((node.name for node in nodes), 0)
        chosen = state.get("PreScoreRandom", str)
        if chosen in scores:
            scores[chosen] = 100
        return scores

    def device_order(self, pod: PodInfo, node: NodeInfo) -> DeviceOrder | None:
        request = self.view.gpu_request(pod)
        if not _is_sharing(request):
            return None
        before = self.view.node_state(node)
        fitting = [g for g, left in enumerate(before.gpu_left) if left >= request.gpu_milli]
        if not fitting:
            return None
        chosen = fitting[self.rng.randrange(len(fitting))]
        return _chosen_first(self.view.gpu_keys(node.name), chosen)


class GpuCapacityFilter(_Policy):
    """A quick necessary check before `DynamicResources`: the node must have `num_gpu` GPUs
    with the pod's share still free (whole GPUs: untouched ones), as its `NodeState` says.

    It only rejects nodes the allocator would reject too (a GPU's booked `cores` are what the
    allocator checks), so placements do not change; it saves allocator calls on full nodes.
    """

    name = "GpuCapacityFilter"
    REASON = "node(s) didn't have enough free GPU"

    def events_to_register(self) -> Sequence[ClusterEventWithHint]:
        """A pod that ran somewhere left (its GPU share is free again), a node was added with
        the GPUs the pod needs free, or a ResourceSlice published GPUs (`hints.py`)."""
        return (ASSIGNED_POD_DELETE, node_events("Add", self), SLICE_EVENTS)

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        request = self._request(state, pod)
        if request.num_gpu == 0:
            return SUCCESS
        gpu_left = self.view.node_state(node).gpu_left
        if request.num_gpu == 1:
            fits = bool(gpu_left) and max(gpu_left) >= request.gpu_milli
        else:
            fits = sum(1 for left in gpu_left if left >= request.gpu_milli) >= request.num_gpu
        return SUCCESS if fits else self._rejected

    _rejected = Status.unresolvable(REASON).stamped(name)  # stamped: shared as it is
