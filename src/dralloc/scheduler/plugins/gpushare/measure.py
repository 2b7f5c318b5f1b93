"""The fragmentation measure (§3): node states, fragment cases, F_n(m), F_n(M) and F(M).

`NodeState` is the node summary every score reads; `classify` and `task_fragment` relate one
node to one task type; `node_fragment` sums over the workload as the artifact does (bin order,
so floats are Go's bit for bit); `FragmentationMeter` memoises it (and `best_fgd_gpu`'s choices)
in owned, bounded caches; `cluster_fragment`, `fragmentation_rate` and `fragmentation_amount`
are the cluster-level figures. `can_host` is the CPU and GPU part of the filter (§4.1).

Decision where the spec leaves room: a task with `gpu_milli = 0` is CPU-only for the measure (as
in the artifact's `GetNodePodFrag`).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

from dralloc.scheduler.plugins.gpushare.workload import MILLI, PodRequest, TaskType

__all__ = [
    "FgdChoice",
    "FragmentCase",
    "FragmentationMeter",
    "NodeState",
    "can_host",
    "classify",
    "cluster_fragment",
    "fragmentation_amount",
    "fragmentation_rate",
    "node_fragment",
    "task_fragment",
]


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
