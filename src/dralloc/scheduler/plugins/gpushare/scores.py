"""The six policies' node scores and GPU choices (§4.2).

FGD (`fgd_score`, `best_fgd_gpu`), BestFit (`bestfit_score`, `normalize_scores`), DotProd
(`dotprod_score`), GpuPacking (`gpu_packing_score`), GpuClustering (`gpu_tag`,
`gpu_clustering_score`) and Random (`random_scores`, `random_fit_gpu`), with the GPU choices
they share (`best_fit_gpu`, `lowest_free_gpus`). Scores are integers in 0..100, truncated where
the artifact (Go, `int64(x)`) truncates; integer divisions truncate toward zero as Go's do
(`_go_div`). Every score expects a node the pod fits (`can_host`) and raises ValueError
otherwise: the filter runs first.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from dralloc.scheduler.plugins.gpushare.measure import (
    FgdChoice,
    FragmentationMeter,
    NodeState,
    can_host,
)
from dralloc.scheduler.plugins.gpushare.workload import MILLI, PodRequest

__all__ = [
    "MAX_CPU_MILLI",
    "MAX_GPU_MILLI",
    "best_fgd_gpu",
    "best_fit_gpu",
    "bestfit_score",
    "dotprod_score",
    "fgd_score",
    "gpu_clustering_score",
    "gpu_packing_score",
    "gpu_tag",
    "lowest_free_gpus",
    "normalize_score_array",
    "normalize_scores",
    "random_fit_gpu",
    "random_scores",
]

MAX_CPU_MILLI = 128_000
"""The artifact's MaxSpecCpu: the CPU normaliser of BestFit and DotProd (§4.2)."""
MAX_GPU_MILLI = 8_000
"""The artifact's MaxSpecGpu: the GPU normaliser of BestFit, DotProd and GpuClustering (§4.2)."""
MAX_NODE_SCORE = 100

NO_GPU_TAG = "no-gpu"
SHARE_GPU_TAG = "share-gpu"


def _sigmoid(x: float) -> float:
    if x < -700:  # math.exp would overflow; Go's math.Exp gives +Inf and the sigmoid 0.
        return 0.0
    return 1.0 / (1.0 + math.exp(-x))


def _go_div(a: int, b: int) -> int:
    """Go's integer division: truncates toward zero (Python's // floors)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def _is_sharing(pod: PodRequest) -> bool:
    return pod.num_gpu == 1 and pod.gpu_milli < MILLI


def lowest_free_gpus(node: NodeState, count: int) -> tuple[int, ...]:
    """The `count` lowest-index fully free GPUs: where whole-GPU and multi-GPU pods always go.

    Raises ValueError if the node has fewer free GPUs.
    """
    free = tuple(g for g, left in enumerate(node.gpu_left) if left == MILLI)
    if len(free) < count:
        raise ValueError(f"node has {len(free)} free GPUs, {count} needed")
    return free[:count]


def _check_fits(node: NodeState, pod: PodRequest) -> None:
    if not can_host(node, pod):
        raise ValueError(
            f"pod (cpu {pod.cpu_milli}m, {pod.num_gpu} x {pod.gpu_milli}m GPU) does not fit "
            f"node {node}: filter before scoring"
        )


def fgd_score(before: NodeState, after: NodeState, meter: FragmentationMeter) -> int:
    """FGD's score for turning `before` into `after`: int(100 · sigmoid(Δ/1000)), Δ = F_n − F_n'.

    Δ > 0 means the placement lowers the node's fragmentation; Δ = 0 gives 50.
    """
    delta = meter.node_fragment(before) - meter.node_fragment(after)
    return int(_sigmoid(delta / 1000) * MAX_NODE_SCORE)


def best_fgd_gpu(node: NodeState, pod: PodRequest, meter: FragmentationMeter) -> FgdChoice:
    """FGD's node score for `pod` on `node` and the GPUs it reserves there (§4.2, FGD).

    A sharing pod tries every GPU with `left >= gpu_milli` and keeps the highest *integer*
    score; ties go to the lowest index (the artifact compares truncated scores, so a GPU with a
    larger Δ but the same score loses to a lower index). Whole-GPU and multi-GPU pods take the
    lowest-index fully free GPUs; a CPU-only pod takes none and only loses CPU.

    Raises ValueError if the pod does not fit (`can_host`): the filter runs first.
    """
    key = (node, pod.cpu_milli, pod.gpu_milli, pod.num_gpu, pod.gpu_spec)
    cached = meter._cached_choice(key)
    if cached is not None:
        return cached
    _check_fits(node, pod)
    if _is_sharing(pod):
        best: FgdChoice | None = None
        for g, left in enumerate(node.gpu_left):
            if left >= pod.gpu_milli:
                score = fgd_score(node, node.place(pod, (g,)), meter)
                if best is None or score > best.score:
                    best = FgdChoice(score, (g,))
        assert best is not None  # can_host found a GPU
        choice = best
    else:
        gpus = lowest_free_gpus(node, pod.num_gpu)
        choice = FgdChoice(fgd_score(node, node.place(pod, gpus), meter), gpus)
    meter._store_choice(key, choice)
    return choice


def best_fit_gpu(node: NodeState, pod: PodRequest) -> tuple[int, ...]:
    """The "best fit" GPU choice of BestFit, DotProd, GpuPacking and GpuClustering.

    A sharing pod gets the fitting GPU with the smallest `left` (ties: lowest index); whole-GPU
    and multi-GPU pods the lowest-index fully free GPUs; CPU-only pods none. Raises ValueError
    if no GPU fits.
    """
    if pod.num_gpu == 0:
        return ()
    if _is_sharing(pod):
        fitting = [(left, g) for g, left in enumerate(node.gpu_left) if left >= pod.gpu_milli]
        if not fitting:
            raise ValueError(f"no GPU of node {node} has {pod.gpu_milli}m left")
        return (min(fitting)[1],)
    return lowest_free_gpus(node, pod.num_gpu)


def random_fit_gpu(node: NodeState, pod: PodRequest, rng: random.Random) -> tuple[int, ...]:
    """The Random policy's GPU choice: a sharing pod gets a uniformly drawn fitting GPU.

    Whole-GPU and multi-GPU pods still take the lowest-index fully free GPUs.
    """
    if not _is_sharing(pod):
        return best_fit_gpu(node, pod)
    fitting = [g for g, left in enumerate(node.gpu_left) if left >= pod.gpu_milli]
    if not fitting:
        raise ValueError(f"no GPU of node {node} has {pod.gpu_milli}m left")
    return (fitting[rng.randrange(len(fitting))],)


def random_scores(feasible: int, rng: random.Random) -> list[int]:
    """The Random policy's scores: one feasible node drawn uniformly scores 100, the rest 0."""
    if feasible <= 0:
        return []
    scores = [0] * feasible
    scores[rng.randrange(feasible)] = MAX_NODE_SCORE
    return scores


def bestfit_score(node: NodeState, pod: PodRequest) -> int:
    """BestFit: int(100·(1 − s)), s = 0.5·(cpuLeft − cpuReq)/MaxCPU + 0.5·(idle − gpuReq)/MaxGPU.

    gpuReq is `num_gpu × gpu_milli`. The artifact then min-max normalises the scores of the
    feasible nodes (`normalize_scores`). Raises ValueError if CPU or total GPU does not fit.
    """
    cpu_free = node.cpu_left - pod.cpu_milli
    gpu_free = node.idle_milli - pod.num_gpu * pod.gpu_milli
    if cpu_free < 0 or gpu_free < 0:
        raise ValueError(f"pod does not fit node {node}: filter before scoring")
    s = 0.0
    s += cpu_free / MAX_CPU_MILLI * 0.5
    s += gpu_free / MAX_GPU_MILLI * 0.5
    return int((1.0 - s) * MAX_NODE_SCORE)


def normalize_scores(scores: Sequence[int]) -> list[int]:
    """Min-max normalisation to 0..100 with integer arithmetic (the artifact's `NormalizeScore`).

    `(s − lowest) × 100 // (highest − lowest)`, or 0 for every node when all scores are equal.
    This is not kube-scheduler's `DefaultNormalizeScore` (which scales by the maximum only); it is
    the helper the artifact's BestFit plugin uses. It keeps the order of the scores.
    (`normalize_score_array` on a list: one algorithm.)
    """
    array = np.fromiter(scores, dtype=np.int64, count=len(scores))
    normalized: list[int] = normalize_score_array(array).tolist()
    return normalized


def normalize_score_array(scores: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """`normalize_scores` over an array. Both operands of the division are non-negative,
    where Go's truncation and floor division agree."""
    if not scores.size:
        return scores
    lowest = int(scores.min())
    spread = int(scores.max()) - lowest
    if spread == 0:
        return np.zeros(scores.size, dtype=np.int64)
    normalized: npt.NDArray[np.int64] = (scores - lowest) * MAX_NODE_SCORE // spread
    return normalized


def dotprod_score(node: NodeState, pod: PodRequest) -> int:
    """DotProd (merge, norm by max): int(100·(1 − (node·pod)/2)); 0 if the CPU does not fit.

    node = (cpuLeft/MaxCPU, idle/MaxGPU), pod = (cpuReq/MaxCPU, num_gpu×gpu_milli/MaxGPU): the
    smallest dot product wins, a packing rule.
    """
    if node.cpu_left < pod.cpu_milli:
        return 0
    dot = 0.0
    dot += (node.cpu_left / MAX_CPU_MILLI) * (pod.cpu_milli / MAX_CPU_MILLI)
    dot += (node.idle_milli / MAX_GPU_MILLI) * (pod.num_gpu * pod.gpu_milli / MAX_GPU_MILLI)
    return int(MAX_NODE_SCORE * (1 - dot / 2))


def gpu_packing_score(node: NodeState, pod: PodRequest) -> int:
    """GpuPacking: shared GPUs on used nodes, then free GPUs on used nodes, then small idle nodes.

    CPU-only pod: 0. Node with every GPU free: max(33 − nFree, nFree). Otherwise the pod takes
    fitting GPUs in ascending `left` order (stable): if any is fully free,
    max(50 − #fully free used, 33); else max(100 − (Σ ⌊left·100/1000⌋) / 10, 50).
    Raises ValueError if the GPUs do not fit.
    """
    if pod.gpu_milli <= 0:
        return 0
    free = node.free_gpus
    if free == len(node.gpu_left):
        return max(MAX_NODE_SCORE // 3 - free, free)
    needed = pod.num_gpu
    used: list[int] = []
    for g in sorted(range(len(node.gpu_left)), key=lambda g: node.gpu_left[g]):
        if needed == 0:
            break
        if pod.gpu_milli <= node.gpu_left[g]:
            needed -= 1
            used.append(g)
    if needed:
        raise ValueError(f"pod does not fit the GPUs of node {node}: filter before scoring")
    fully_free_used = sum(1 for g in used if node.gpu_left[g] == MILLI)
    if fully_free_used:
        return max(MAX_NODE_SCORE // 2 - fully_free_used, MAX_NODE_SCORE // 3)
    left_pct = sum(node.gpu_left[g] * 100 // MILLI for g in used)
    return max(MAX_NODE_SCORE - left_pct // 10, MAX_NODE_SCORE // 2)


def gpu_tag(pod: PodRequest) -> str:
    """GpuClustering's tag of a pod: `no-gpu`, `share-gpu` or `<k>-gpu` (k whole GPUs)."""
    if pod.num_gpu == 0:
        return NO_GPU_TAG
    if _is_sharing(pod):
        return SHARE_GPU_TAG
    return f"{pod.num_gpu}-gpu"


def gpu_clustering_score(node: NodeState, pod: PodRequest, node_tags: Mapping[str, int]) -> int:
    """GpuClustering: tier + ⌊25·(8000 − idle)/8000⌋ (integer, left to right); 0 for CPU-only pods.

    `node_tags` counts the tags (`gpu_tag`) of the pods on the node; `no-gpu` entries and zero
    counts are ignored, as the artifact never records them. Tier: 75 if the node holds only
    pods with this pod's tag, 50 if this tag among others, 25 if no GPU pods, 0 if only others.
    """
    tag = gpu_tag(pod)
    if tag == NO_GPU_TAG:
        return 0
    present = {t for t, count in node_tags.items() if count > 0 and t != NO_GPU_TAG}
    quarter = MAX_NODE_SCORE // 4
    fullness = _go_div(quarter * (MAX_GPU_MILLI - node.idle_milli), MAX_GPU_MILLI)
    if tag in present:
        tier = MAX_NODE_SCORE * 3 // 4 if len(present) == 1 else MAX_NODE_SCORE * 2 // 4
    else:
        tier = quarter if not present else 0
    return fullness + tier
