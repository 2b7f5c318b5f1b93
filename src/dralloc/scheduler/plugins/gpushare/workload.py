"""The target workload M (§1, §2 step 2): what the measure reads from a pod, and task types.

`PodRequest` is the Protocol the whole package reads pods through (`NamedPodRequest` adds the
name `tune` needs); `TaskType` is one pod shape and `typical_workload` keeps the most common
shapes. `MILLI` is the unit every module shares. Pure computation, as all of
`dralloc.scheduler.plugins.gpushare`.

Decisions where the spec leaves room (`../shared/spec/fgd.md`):

- The key of a task type uses the *set* of allowed models (the trace README: a spec may repeat a
  model), so `V100M16|V100M32|V100M32` and `V100M16|V100M32` are one type. The artifact keys on
  the raw string; this only matters for the gpuspec variants.
- Equally common task types are ordered as the artifact orders them: by the key, descending
  (cpu_milli, then gpu_milli, then num_gpu, then the models joined with `|`).
- A multi-GPU task must ask for whole GPUs (`gpu_milli = 1000`); the trace has no other kind.
  Then §3's "fewer than k GPUs have left ≥ gpu_m" is §4.1's "k GPUs with left = 1000", because no
  GPU has more than 1000 left.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from typing import Protocol

__all__ = ["MILLI", "NamedPodRequest", "PodRequest", "TaskType", "typical_workload"]

MILLI = 1000
"""Capacity of one GPU in milli-GPU."""


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
