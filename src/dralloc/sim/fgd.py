"""The FGD experiment's workload and measures (Weng et al., USENIX ATC '23), as pure functions.

Design
------
This module is the paper's *measure*, not a GPU model. The scheduler and the allocator elsewhere
decide placements; the functions here only read a node's state summary (`NodeState`: GPU model,
unallocated CPU, unallocated milli-GPU per GPU) and a pod's request, and compute what the
artifact computes (`../shared/spec/fgd.md` is the authority; section numbers below refer to it):

- the target workload M ("typical pods", §2 step 2): `TaskType`, `typical_workload`;
- the fragmentation measure (§3): `classify`, `task_fragment`, `node_fragment`,
  `FragmentationMeter` (memoised F_n(M)), `cluster_fragment`, `fragmentation_rate`,
  `fragmentation_amount`;
- the six policies' node scores and GPU choices (§4.2): `fgd_score`, `best_fgd_gpu`,
  `bestfit_score`, `normalize_scores`, `dotprod_score`, `gpu_packing_score`,
  `gpu_clustering_score`, `random_scores`, `best_fit_gpu`, `random_fit_gpu`, `lowest_free_gpus`;
- workload tuning and the tie-break ranking (§2 steps 4-6): `tune`, `node_order`;
- metric bookkeeping (§5): `RunLog`, `bucket`, `aggregate`.

Rules this module keeps:

- Pure computation: no I/O, no clock, no mutable module state. Randomness comes only from a
  `random.Random` the caller passes in. The only caches are owned, bounded dicts inside a
  `FragmentationMeter`.
- Pods are read through the `PodRequest` Protocol (`cpu_milli`, `num_gpu`, `gpu_milli`,
  `gpu_spec`), so any record with those attributes works (the openb loader's `OpenbPod`,
  `TaskType`, a test's dataclass); this module imports no loader.
- Units are integers: milli-cores and milli-GPU (1000 = one GPU). Scores are integers in 0..100,
  truncated exactly where the artifact (Go, `int64(x)`) truncates; integer divisions use Go's
  truncation toward zero.
- Floating-point order follows the artifact wherever a float is later truncated to a score:
  F_n(M) is summed per fragment category in the artifact's bin order (`pkg/utils/frag.go`), and
  the shares are computed as `(count/total) / (kept/total)`. Mathematically this is just
  Σ_m p_m F_n(m); keeping Go's order means Δ is exactly 0 (FGD score 50) whenever Go's is.

Decisions where the spec leaves room (each also stated where it is implemented):

- The key of a task type uses the *set* of allowed models (the trace README: a spec may repeat a
  model), so `V100M16|V100M32|V100M32` and `V100M16|V100M32` are one type. The artifact keys on
  the raw string; this only matters for the gpuspec variants.
- Equally common task types are ordered as the artifact orders them: by the key, descending
  (cpu_milli, then gpu_milli, then num_gpu, then the models joined with `|`).
- A multi-GPU task must ask for whole GPUs (`gpu_milli = 1000`); the trace has no other kind.
  Then §3's "fewer than k GPUs have left ≥ gpu_m" is §4.1's "k GPUs with left = 1000", because no
  GPU has more than 1000 left.
- A task with `gpu_milli = 0` is CPU-only for the measure (as in the artifact's `GetNodePodFrag`).
- The arrival axis rounds half to even (Python's `round`, which the artifact's analysis scripts
  use), computed exactly with fractions.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
import random
import statistics
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from fractions import Fraction
from typing import Any, NamedTuple, Protocol, TypeVar, cast

import msgspec

__all__ = [
    "ARRIVAL_AXIS",
    "MAX_CPU_MILLI",
    "MAX_GPU_MILLI",
    "MILLI",
    "Aggregate",
    "Band",
    "CurvePoint",
    "FgdChoice",
    "FragmentCase",
    "FragmentationMeter",
    "MeanSd",
    "Metric",
    "NamedPodRequest",
    "NodeState",
    "PodRequest",
    "RunLog",
    "TaskType",
    "aggregate",
    "arrival_x",
    "best_fgd_gpu",
    "best_fit_gpu",
    "bestfit_score",
    "bucket",
    "can_host",
    "classify",
    "cluster_fragment",
    "dotprod_score",
    "fgd_score",
    "fragmentation_amount",
    "fragmentation_rate",
    "gpu_clustering_score",
    "gpu_packing_score",
    "gpu_tag",
    "lowest_free_gpus",
    "node_fragment",
    "node_order",
    "normalize_scores",
    "random_fit_gpu",
    "random_scores",
    "task_fragment",
    "tune",
    "typical_workload",
]

MILLI = 1000
"""Capacity of one GPU in milli-GPU."""
MAX_CPU_MILLI = 128_000
"""The artifact's MaxSpecCpu: the CPU normaliser of BestFit and DotProd (§4.2)."""
MAX_GPU_MILLI = 8_000
"""The artifact's MaxSpecGpu: the GPU normaliser of BestFit, DotProd and GpuClustering (§4.2)."""
MAX_NODE_SCORE = 100
ARRIVAL_AXIS = range(0, 131)
"""The integer x values (arrived milli-GPU in % of capacity) that `bucket` reports (§5)."""

NO_GPU_TAG = "no-gpu"
SHARE_GPU_TAG = "share-gpu"


# --------------------------------------------------------------------------------------------
# Requests and task types (§1, §2 step 2)


class PodRequest(Protocol):
    """What the measure reads from a pod: CPU, GPU count, per-GPU milli-GPU, allowed models.

    `gpu_milli` is the share of *each* GPU (the trace's convention); an empty `gpu_spec` means
    any model. Memory is deliberately absent: it appears in no score and not in the measure.
    """

    @property
    def cpu_milli(self) -> int: ...
    @property
    def num_gpu(self) -> int: ...
    @property
    def gpu_milli(self) -> int: ...
    @property
    def gpu_spec(self) -> frozenset[str]: ...


class NamedPodRequest(PodRequest, Protocol):
    """A `PodRequest` with a unique name, as `tune` needs (sorting, clone names)."""

    @property
    def name(self) -> str: ...


def _request_problem(pod: PodRequest) -> str | None:
    if pod.cpu_milli < 0:
        return f"cpu_milli must be >= 0, got {pod.cpu_milli}"
    if pod.num_gpu < 0:
        return f"num_gpu must be >= 0, got {pod.num_gpu}"
    if not 0 <= pod.gpu_milli <= MILLI:
        return f"gpu_milli must be in 0..{MILLI}, got {pod.gpu_milli}"
    if (pod.num_gpu == 0) != (pod.gpu_milli == 0):
        return (
            f"num_gpu and gpu_milli must be both 0 or both > 0, "
            f"got {pod.num_gpu} and {pod.gpu_milli}"
        )
    if pod.num_gpu > 1 and pod.gpu_milli != MILLI:
        # The trace has none, and §3 and §4.1 would disagree on them (see the module docstring).
        return f"a multi-GPU request must ask for whole GPUs ({MILLI}m each), got {pod.gpu_milli}"
    return None


def _spec_text(spec: frozenset[str]) -> str:
    return "|".join(sorted(spec))


@dataclass(frozen=True, slots=True)
class TaskType:
    """One pod shape of the target workload M: the key of §2 step 2 (memory is not part of it).

    >>> TaskType(cpu_milli=3152, gpu_milli=810, num_gpu=1)
    TaskType(cpu_milli=3152, gpu_milli=810, num_gpu=1, gpu_spec=frozenset())

    Raises ValueError for a request the trace cannot contain (negative values, a GPU count
    without milli-GPU or the reverse, or a fractional multi-GPU request).
    """

    cpu_milli: int
    gpu_milli: int
    num_gpu: int
    gpu_spec: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if (problem := _request_problem(self)) is not None:
            raise ValueError(f"task type {self}: {problem}")

    @classmethod
    def of(cls, pod: PodRequest) -> TaskType:
        """The task type of any pod record."""
        return cls(pod.cpu_milli, pod.gpu_milli, pod.num_gpu, frozenset(pod.gpu_spec))


def _tie_key(task: TaskType) -> tuple[int, int, int, str]:
    return (task.cpu_milli, task.gpu_milli, task.num_gpu, _spec_text(task.gpu_spec))


def typical_workload(
    pods: Iterable[PodRequest], coverage: float = 0.95
) -> list[tuple[TaskType, float]]:
    """The target workload M: the most common task types covering `coverage` of the pods (§2.2).

    Types are sorted by pod count, largest first; equally common types in descending key order
    (cpu_milli, gpu_milli, num_gpu, models joined with `|`), which is the artifact's order
    (`sort.Reverse` of `TargetPodList.Less`). Types are added one at a time until the kept pods
    are at least `coverage` of all pods; CPU-only pods count. The kept shares are renormalised
    to sum to 1, computed as the artifact does, `(count/total) / (kept/total)`.

    `coverage` is read as the nearest fraction with a denominator up to 10**6, so 0.95 is exactly
    19/20 (the artifact's integer `podPopularityThreshold=95`). For openb `default` this keeps 35
    of 91 types, covering 7,766 of 8,152 pods (95.26%). No pods give an empty workload.
    """
    if not 0 < coverage <= 1:
        raise ValueError(f"coverage must be in (0, 1], got {coverage}")
    counts = Counter(TaskType.of(pod) for pod in pods)
    total = sum(counts.values())
    if total == 0:
        return []
    wanted = Fraction(coverage).limit_denominator(10**6) * total
    ranked = sorted(counts.items(), key=lambda item: (item[1], _tie_key(item[0])), reverse=True)
    kept: list[tuple[TaskType, int]] = []
    covered = 0
    for task, count in ranked:
        if covered >= wanted:
            break
        kept.append((task, count))
        covered += count
    return [(task, (count / total) / (covered / total)) for task, count in kept]


# --------------------------------------------------------------------------------------------
# Node state and the fragmentation measure (§3)


@dataclass(frozen=True, slots=True)
class NodeState:
    """What the measure and the scores read from a node: model, free CPU, free milli-GPU per GPU.

    `cpu_left` is in milli-cores and `gpu_left[g]` in milli-GPU (0..1000); the index is the GPU
    device index. Frozen and hashable, so it can key a cache.

    >>> node = NodeState.empty("G2", cpu_milli=96_000, gpus=2)
    >>> node.place(TaskType(4_000, 500, 1), [1])
    NodeState(model='G2', cpu_left=92000, gpu_left=(1000, 500))
    """

    model: str
    cpu_left: int
    gpu_left: tuple[int, ...]
    # Computed once: node states key the meter's caches on every score of every node.
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.cpu_left < 0 or (
            self.gpu_left and not (min(self.gpu_left) >= 0 and max(self.gpu_left) <= MILLI)
        ):
            raise ValueError(
                f"node state {self}: cpu_left must be >= 0 and every gpu_left in 0..{MILLI}"
            )
        object.__setattr__(self, "_hash", hash((self.model, self.cpu_left, self.gpu_left)))

    def __hash__(self) -> int:
        return self._hash

    def __reduce__(self) -> tuple[type[NodeState], tuple[str, int, tuple[int, ...]]]:
        # Rebuild through __init__ so an unpickled copy rehashes: str hashes differ per process.
        return (NodeState, (self.model, self.cpu_left, self.gpu_left))

    @classmethod
    def empty(cls, model: str, cpu_milli: int, gpus: int) -> NodeState:
        """A node with nothing allocated."""
        return cls(model, cpu_milli, (MILLI,) * gpus)

    @property
    def idle_milli(self) -> int:
        """idle_n: the unallocated milli-GPU summed over the node's GPUs."""
        return sum(self.gpu_left)

    @property
    def free_gpus(self) -> int:
        """How many GPUs are fully free (left = 1000)."""
        return self.gpu_left.count(MILLI)

    def place(self, pod: PodRequest, gpus: Iterable[int]) -> NodeState:
        """The state after `pod` is given `gpus` (its CPU, and `gpu_milli` from each listed GPU).

        Raises ValueError if the CPU or a listed GPU does not have enough left, or if the number
        of GPUs listed is not the pod's GPU count.
        """
        left = list(self.gpu_left)
        chosen = list(gpus)
        if len(chosen) != pod.num_gpu or len(set(chosen)) != len(chosen):
            raise ValueError(f"pod needs {pod.num_gpu} distinct GPUs, got {chosen}")
        for g in chosen:
            left[g] -= pod.gpu_milli
        return NodeState(self.model, self.cpu_left - pod.cpu_milli, tuple(left))


def _allows(spec: frozenset[str], model: str) -> bool:
    return not spec or model in spec


def _gpus_fit(gpu_left: tuple[int, ...], gpu_milli: int, count: int) -> bool:
    """Whether at least `count` GPUs have `left >= gpu_milli` (fast paths for the common shapes)."""
    if count == 1:
        return bool(gpu_left) and max(gpu_left) >= gpu_milli
    if gpu_milli == MILLI:
        return gpu_left.count(MILLI) >= count
    return sum(1 for left in gpu_left if left >= gpu_milli) >= count


class FragmentCase(StrEnum):
    """How a node relates to a task type (the artifact's categories, in its bin order)."""

    LACK_BOTH = "q1_lack_both"
    """Fewer than k GPUs have enough left, and the CPU does not fit either."""
    LACK_GPU = "q2_lack_gpu"
    """Fewer than k GPUs have enough left; the CPU fits."""
    SATISFIED = "q3_satisfied"
    """The task fits: only GPUs too small for it are fragment."""
    LACK_CPU = "q4_lack_cpu"
    """Enough GPUs, but not enough CPU."""
    CPU_TASK_FITS = "xl_satisfied"
    """A CPU-only task whose CPU fits (its idle GPU is still all fragment)."""
    CPU_TASK_LACKS_CPU = "xr_lack_cpu"
    """A CPU-only task whose CPU does not fit."""
    NO_ACCESS = "no_access"
    """The task's allowed models exclude the node's model."""


_CASES = tuple(FragmentCase)
_BIN = {case: index for index, case in enumerate(_CASES)}
_LACK_GPU_BIN = _BIN[FragmentCase.LACK_GPU]
_SATISFIED_BIN = _BIN[FragmentCase.SATISFIED]


def can_host(node: NodeState, pod: PodRequest) -> bool:
    """Whether the node's CPU and GPUs can take the pod (§4.1; the caller checks memory).

    A GPU pod needs a model in its spec; a 1-GPU pod one GPU with `left >= gpu_milli`; a k-GPU
    pod k GPUs with `left = 1000`. CPU-only pods pass the GPU part everywhere.
    """
    if node.cpu_left < pod.cpu_milli:
        return False
    if pod.num_gpu == 0:
        return True
    if not _allows(pod.gpu_spec, node.model):
        return False
    return _gpus_fit(node.gpu_left, pod.gpu_milli, pod.num_gpu)


def classify(node: NodeState, task: TaskType) -> FragmentCase:
    """Which case of §3 applies to (node, task); the order of the checks is the artifact's."""
    cpu_fits = node.cpu_left >= task.cpu_milli
    if task.gpu_milli == 0:
        return FragmentCase.CPU_TASK_FITS if cpu_fits else FragmentCase.CPU_TASK_LACKS_CPU
    if not _allows(task.gpu_spec, node.model):
        return FragmentCase.NO_ACCESS
    # For a whole-GPU request (gpu_milli = 1000) "left >= gpu_milli" is "fully free" (§4.1).
    gpus_fit = _gpus_fit(node.gpu_left, task.gpu_milli, task.num_gpu)
    if gpus_fit:
        return FragmentCase.SATISFIED if cpu_fits else FragmentCase.LACK_CPU
    return FragmentCase.LACK_GPU if cpu_fits else FragmentCase.LACK_BOTH


def _small_gpus_milli(node: NodeState, task: TaskType) -> int:
    return sum(left for left in node.gpu_left if left < task.gpu_milli)


def task_fragment(node: NodeState, task: TaskType) -> int:
    """F_n(m): the node's idle milli-GPU that task type m cannot use (§3).

    All of idle_n when m is CPU-only, when m's models exclude the node, when fewer than k GPUs
    have `left >= gpu_m`, or when the CPU does not fit; otherwise Σ left_g over the GPUs with
    `left_g < gpu_m` (for a whole-GPU task: every partly used GPU).
    """
    if classify(node, task) is FragmentCase.SATISFIED:
        return _small_gpus_milli(node, task)
    return node.idle_milli


def node_fragment(node: NodeState, workload: Sequence[tuple[TaskType, float]]) -> float:
    """F_n(M) = Σ_m p_m · F_n(m) in milli-GPU, uncached (`FragmentationMeter` caches it).

    Summed as the artifact sums it (`NodeGpuShareFragAmount` then `FragAmountSumExceptQ3`): each
    term goes into its case's bin (a satisfied task's small GPUs into the lack-GPU bin), and the
    bins are added in their fixed order, so the float result is the artifact's bit for bit.
    """
    bins = [0.0] * len(_CASES)
    idle = node.idle_milli
    for task, share in workload:
        case = classify(node, task)
        if case is FragmentCase.SATISFIED:
            bins[_LACK_GPU_BIN] += share * _small_gpus_milli(node, task)
        else:
            bins[_BIN[case]] += share * idle
    total = 0.0
    for index, amount in enumerate(bins):
        if index != _SATISFIED_BIN:
            total += amount
    return total


class FgdChoice(NamedTuple):
    """FGD's node score for a pod and the GPUs it would reserve there."""

    score: int
    gpus: tuple[int, ...]


_NodeKey = tuple[str, int, tuple[int, ...]]
_ChoiceKey = tuple[NodeState, int, int, int, frozenset[str]]


class FragmentationMeter:
    """F_n(M) against one target workload, memoised by node state (the artifact memoises too).

    The cache key is the node state reduced to what F_n(M) depends on: the model, the number of
    distinct task CPU requests that `cpu_left` covers, and the sorted `gpu_left` (F does not
    depend on GPU order). So nodes that differ only in CPU between two task thresholds, or only
    in GPU order, share an entry; values are exactly those of `node_fragment`. It also caches
    `best_fgd_gpu` results per (node state, request). Both caches are bounded: when one reaches
    `max_entries` it is cleared, which costs recomputation, never correctness.

    >>> meter = FragmentationMeter([(TaskType(1_000, 1000, 1), 1.0)])
    >>> meter.node_fragment(NodeState("T4", 8_000, (1000, 300)))
    300.0
    """

    def __init__(
        self, workload: Sequence[tuple[TaskType, float]], *, max_entries: int = 1 << 18
    ) -> None:
        if max_entries <= 0:
            raise ValueError(f"max_entries must be > 0, got {max_entries}")
        for task, share in workload:
            if not share >= 0:
                raise ValueError(f"share of {task} must be >= 0, got {share}")
        self._workload = tuple(workload)
        self._cpu_thresholds = sorted({task.cpu_milli for task, _ in self._workload})
        self._max_entries = max_entries
        self._fragments: dict[_NodeKey, float] = {}
        self._choices: dict[_ChoiceKey, FgdChoice] = {}
        self.hits = 0
        self.misses = 0

    @property
    def workload(self) -> tuple[tuple[TaskType, float], ...]:
        """The target workload M, as (task type, share) pairs."""
        return self._workload

    def node_fragment(self, node: NodeState) -> float:
        """F_n(M) of `node`, from the cache when an equivalent state was seen."""
        key = (
            node.model,
            bisect.bisect_right(self._cpu_thresholds, node.cpu_left),
            tuple(sorted(node.gpu_left)),
        )
        value = self._fragments.get(key)
        if value is not None:
            self.hits += 1
            return value
        self.misses += 1
        value = node_fragment(node, self._workload)
        if len(self._fragments) >= self._max_entries:
            self._fragments.clear()
        self._fragments[key] = value
        return value

    def _cached_choice(self, key: _ChoiceKey) -> FgdChoice | None:
        return self._choices.get(key)

    def _store_choice(self, key: _ChoiceKey, choice: FgdChoice) -> None:
        if len(self._choices) >= self._max_entries:
            self._choices.clear()
        self._choices[key] = choice


def cluster_fragment(nodes: Iterable[NodeState], meter: FragmentationMeter) -> float:
    """F(M) = Σ_n F_n(M), in milli-GPU (§3).

    A simulator that logs after every pod should rather keep a running total and add the change
    of the one node that moved.
    """
    return sum((meter.node_fragment(node) for node in nodes), 0.0)


def fragmentation_rate(fragment_milli: float, idle_milli: int) -> float:
    """Fragmentation rate = F(M) / Σ_n idle_n × 100 (Fig. 7 "Frag Rate").

    0.0 when nothing is idle (then nothing is fragment either; the artifact would divide 0 by 0).
    """
    if idle_milli <= 0:
        return 0.0
    return fragment_milli / idle_milli * 100


def fragmentation_amount(fragment_milli: float, capacity_milli: int) -> float:
    """Fragmentation amount = F(M) / cluster GPU capacity × 100 (Fig. 7 "Frag / Total")."""
    if capacity_milli <= 0:
        raise ValueError(f"capacity_milli must be > 0, got {capacity_milli}")
    return fragment_milli / capacity_milli * 100


# --------------------------------------------------------------------------------------------
# Scores and GPU choice (§4.2)


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
    """
    if not scores:
        return []
    lowest, highest = min(scores), max(scores)
    spread = highest - lowest
    if spread == 0:
        return [0] * len(scores)
    return [_go_div((s - lowest) * MAX_NODE_SCORE, spread) for s in scores]


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


# --------------------------------------------------------------------------------------------
# Workload tuning and the node ranking (§2 steps 4-6)

P = TypeVar("P", bound=NamedPodRequest)


def _renamed(pod: P, name: str) -> P:
    """A copy of `pod` named `name`: dataclasses, NamedTuples and msgspec Structs."""
    if dataclasses.is_dataclass(pod) and not isinstance(pod, type):
        return cast(P, dataclasses.replace(cast(Any, pod), name=name))
    if isinstance(pod, msgspec.Struct):
        return cast(P, msgspec.structs.replace(pod, name=name))
    replace = getattr(pod, "_replace", None)
    if callable(replace):
        return cast(P, replace(name=name))
    raise TypeError(f"cannot copy a {type(pod).__name__} under a new name: pass clone=")


def _gpu_request(pod: PodRequest) -> int:
    return pod.num_gpu * pod.gpu_milli


def tune(
    pods: Sequence[P],
    capacity_milli: int,
    *,
    rng: random.Random,
    factor: float = 1.3,
    clone: Callable[[P, str], P] | None = None,
) -> list[P]:
    """The arrival stream: the pods shuffled, then tuned to `factor` × GPU capacity (§2 steps 4-5).

    The pods are sorted by name and shuffled with `rng`. With T = factor × capacity_milli and the
    total GPU request Σ num_gpu × gpu_milli:

    - below T: clones drawn uniformly with replacement from the original pods (indexing the
      name-sorted list, so the result does not depend on the input order) are appended until the
      next sample would pass T. The stop test adds the sample's *per-GPU* `gpu_milli` (the
      artifact's quirk), while the total grows by its full request, so the result ends within
      one pod of T: above T − 1000 and at most T + (k − 1) × 1000 for the largest k-GPU clone.
      The clones are named `<name>-tuned-<i>`, i = 0, 1, ... in order, which is unique as long as
      no original name already has that form; `clone(pod, name)` makes them (by default a copy of
      a dataclass, NamedTuple or msgspec Struct with `name` replaced).
    - above T: pods are removed at uniformly drawn positions until the total is <= T.
    - equal: the shuffled pods.

    Raises ValueError for duplicate names or when no pod requests a GPU (tuning up would never
    stop; the artifact panics).
    """
    if capacity_milli <= 0:
        raise ValueError(f"capacity_milli must be > 0, got {capacity_milli}")
    originals = sorted(pods, key=lambda pod: pod.name)
    if len({pod.name for pod in originals}) != len(originals):
        raise ValueError("pod names must be unique")
    stream = list(originals)
    rng.shuffle(stream)
    total = sum(_gpu_request(pod) for pod in stream)
    if total <= 0:
        raise ValueError("no pod requests a GPU: cannot tune to a GPU target")
    target = factor * float(capacity_milli)
    if total == target:
        return stream
    if total > target:
        while total > target:
            total -= _gpu_request(stream.pop(rng.randrange(len(stream))))
        return stream
    make = _renamed if clone is None else clone
    index = 0
    while True:
        sample = originals[rng.randrange(len(originals))]
        if total + sample.gpu_milli > target:
            return stream
        total += _gpu_request(sample)
        stream.append(make(sample, f"{sample.name}-tuned-{index}"))
        index += 1


def node_order(names: Iterable[str], rng: random.Random) -> dict[str, int]:
    """The run's fixed random node ranking for ties (§2 step 6, §4.3): name → rank, 0 first.

    Nodes are sorted by name and the i-th gets rank perm[i] of a random permutation (the
    artifact's `%04d-` prefix from `rand.Perm`). Among equal scores the lowest rank wins, which
    is the artifact's "smallest prefixed name". Raises ValueError for duplicate names.
    """
    ordered = sorted(names)
    if len(set(ordered)) != len(ordered):
        raise ValueError("node names must be unique")
    perm = list(range(len(ordered)))
    rng.shuffle(perm)
    return dict(zip(ordered, perm, strict=True))


# --------------------------------------------------------------------------------------------
# Metrics (§5)


@dataclass
class RunLog:
    """One run's per-pod record (§2 step 8); the simulator's engine owns and appends to it.

    After every submitted pod: the used milli-GPU (Σ over GPUs of 1000 − left), the arrived
    milli-GPU (Σ num_gpu × gpu_milli over every pod submitted so far, failed ones included) and
    the cluster fragmentation F(M) in milli-GPU.

    >>> log = RunLog()
    >>> log.record(used_milli=500, arrived_milli=500, fragment_milli=0.0)
    >>> len(log)
    1
    """

    used_milli: list[int] = field(default_factory=list)
    arrived_milli: list[int] = field(default_factory=list)
    fragment_milli: list[float] = field(default_factory=list)

    def record(self, *, used_milli: int, arrived_milli: int, fragment_milli: float) -> None:
        """Append one event. Raises ValueError if the arrivals go down (they only accumulate)."""
        if self.arrived_milli and arrived_milli < self.arrived_milli[-1]:
            raise ValueError(
                f"arrived_milli went down from {self.arrived_milli[-1]} to {arrived_milli}"
            )
        self.used_milli.append(used_milli)
        self.arrived_milli.append(arrived_milli)
        self.fragment_milli.append(fragment_milli)

    def __len__(self) -> int:
        return len(self.used_milli)


class CurvePoint(NamedTuple):
    """One x of a run's curve: means over the events bucketed at x, all in % (§5)."""

    alloc_ratio: float
    """GPU allocation ratio: used / capacity × 100."""
    frag_amount: float
    """Fragmentation amount: F(M) / capacity × 100."""
    frag_rate: float
    """Fragmentation rate: F(M) / idle × 100 (0 when nothing is idle)."""


def arrival_x(arrived_milli: int, capacity_milli: int) -> int:
    """The x-axis value: arrived / capacity × 100, rounded half to even, computed exactly."""
    return round(Fraction(arrived_milli * 100, capacity_milli))


def bucket(log: RunLog, capacity_milli: int) -> dict[int, CurvePoint | None]:
    """A run's curve: for each x in 0..130, the mean of the events whose rounded x equals x (§5).

    If no event rounds to x, the events with x − 1 <= rounded x <= x + 1 are used. If there are
    none either, the value is None (the artifact skips x, so its CSV cell is empty).
    """
    if capacity_milli <= 0:
        raise ValueError(f"capacity_milli must be > 0, got {capacity_milli}")
    groups: dict[int, list[int]] = {}
    for index, arrived in enumerate(log.arrived_milli):
        groups.setdefault(arrival_x(arrived, capacity_milli), []).append(index)
    curve: dict[int, CurvePoint | None] = {}
    for x in ARRIVAL_AXIS:
        events = groups.get(x)
        if events is None:
            events = [i for near in (x - 1, x + 1) for i in groups.get(near, ())]
        curve[x] = _mean_point(log, events, capacity_milli) if events else None
    return curve


def _mean_point(log: RunLog, events: list[int], capacity_milli: int) -> CurvePoint:
    alloc = [log.used_milli[i] / capacity_milli * 100 for i in events]
    amount = [log.fragment_milli[i] / capacity_milli * 100 for i in events]
    rate = [
        fragmentation_rate(log.fragment_milli[i], capacity_milli - log.used_milli[i])
        for i in events
    ]
    n = len(events)
    return CurvePoint(math.fsum(alloc) / n, math.fsum(amount) / n, math.fsum(rate) / n)


class Metric(StrEnum):
    """Which value of a `CurvePoint` to aggregate."""

    ALLOC_RATIO = "alloc_ratio"
    UNALLOCATED = "unallocated"
    """100 − allocation ratio: the paper's main KPI (Fig. 9(a), Figs. 11-14)."""
    FRAG_AMOUNT = "frag_amount"
    FRAG_RATE = "frag_rate"


def _metric_value(point: CurvePoint, metric: Metric) -> float:
    match metric:
        case Metric.ALLOC_RATIO:
            return point.alloc_ratio
        case Metric.UNALLOCATED:
            return 100 - point.alloc_ratio
        case Metric.FRAG_AMOUNT:
            return point.frag_amount
        case Metric.FRAG_RATE:
            return point.frag_rate


class Band(NamedTuple):
    """The median over runs and the 50% interval around it (25th and 75th percentiles)."""

    median: float
    low: float
    high: float
    runs: int


class MeanSd(NamedTuple):
    """Mean and sample standard deviation (n − 1; NaN for one run) over runs."""

    mean: float
    sd: float
    runs: int


@dataclass(frozen=True)
class Aggregate:
    """One metric over several runs (seeds): a band per x, and mean ± sd at x = 100 (§5)."""

    metric: Metric
    bands: dict[int, Band | None]
    """For each x in 0..130; None where no run has a value."""
    at_100: MeanSd | None
    """For the bar charts; None where no run has a value at x = 100."""


def _percentile(ordered: Sequence[float], q: float) -> float:
    # Linear interpolation between closest ranks: numpy's default, which seaborn's ("pi", 50) uses.
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (position - low) * (ordered[high] - ordered[low])


def aggregate(curves: Sequence[Mapping[int, CurvePoint | None]], metric: Metric) -> Aggregate:
    """Median and interquartile band per x (line plots), mean ± sd at x = 100 (bar charts).

    Runs without a value at some x are left out there, as the artifact's plots drop empty cells.
    """
    bands: dict[int, Band | None] = {}
    at_100: MeanSd | None = None
    for x in ARRIVAL_AXIS:
        values = sorted(
            _metric_value(point, metric) for curve in curves if (point := curve.get(x)) is not None
        )
        if not values:
            bands[x] = None
            continue
        bands[x] = Band(
            statistics.median(values),
            _percentile(values, 0.25),
            _percentile(values, 0.75),
            len(values),
        )
        if x == 100:
            sd = statistics.stdev(values) if len(values) > 1 else math.nan
            at_100 = MeanSd(statistics.fmean(values), sd, len(values))
    return Aggregate(metric, bands, at_100)
