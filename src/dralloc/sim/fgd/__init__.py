"""The FGD experiment's workload and measures (Weng et al., USENIX ATC '23), as pure functions.

Design
------
This package is the paper's *measure*, not a GPU model. The scheduler and the allocator elsewhere
decide placements; the functions here only read a node's state summary (`NodeState`: GPU model,
unallocated CPU, unallocated milli-GPU per GPU) and a pod's request, and compute what the
artifact computes (`../shared/spec/fgd.md` is the authority; section numbers below refer to it):

- the target workload M ("typical pods", §2 step 2): `TaskType`, `typical_workload`;
- the fragmentation measure (§3): `classify`, `task_fragment`, `node_fragment`,
  `FragmentationMeter` (memoised F_n(M)), `cluster_fragment`, `fragmentation_rate`,
  `fragmentation_amount`;
- the six policies' node scores and GPU choices (§4.2): `fgd_score`,
  `best_fgd_gpu`, `bestfit_score`, `normalize_scores`, `dotprod_score`, `gpu_packing_score`,
  `gpu_clustering_score`, `random_scores`, `best_fit_gpu`, `random_fit_gpu`, `lowest_free_gpus`;
- workload tuning and the tie-break ranking (§2 steps 4-6), in `tuning`: `tune`, `node_order`;
- metric bookkeeping (§5), in `metrics`: `RunLog`, `bucket`, `aggregate`.

The workload, measure and scores live in `dralloc.scheduler.plugins.gpushare` (the scheduler's
GPU-sharing plugins use them; `sim` sits above `scheduler`); tuning and metrics live here.
Import from `dralloc.sim.fgd`, which re-exports every public name.

Rules this package keeps:

- Pure computation: no I/O, no clock, no mutable module state. Randomness comes only from a
  `random.Random` the caller passes in. The only caches are owned, bounded dicts inside a
  `FragmentationMeter`.
- Pods are read through the `PodRequest` Protocol (`cpu_milli`, `num_gpu`, `gpu_milli`,
  `gpu_spec`), so any record with those attributes works (the simulator's `TracePod`,
  `TaskType`, a test's dataclass); this package imports no loader.
- Units are integers: milli-cores and milli-GPU (1000 = one GPU). Scores are integers in 0..100,
  truncated exactly where the artifact (Go, `int64(x)`) truncates; integer divisions use Go's
  truncation toward zero.
- Floating-point order follows the artifact wherever a float is later truncated to a score:
  F_n(M) is summed per fragment category in the artifact's bin order (`pkg/utils/frag.go`), and
  the shares are computed as `(count/total) / (kept/total)`. Mathematically this is just
  Σ_m p_m F_n(m); keeping Go's order means Δ is exactly 0 (FGD score 50) whenever Go's is.

Decisions where the spec leaves room are stated in the docstring of the submodule that implements
them (and again where they are implemented): task-type keys, their tie order and whole-GPU
multi-GPU tasks in `workload`; CPU-only tasks in `measure`; the arrival axis's rounding in
`metrics`.
"""

from __future__ import annotations

from dralloc.scheduler.plugins.gpushare import (
    MAX_CPU_MILLI,
    MAX_GPU_MILLI,
    MILLI,
    FgdChoice,
    FragmentationMeter,
    FragmentCase,
    NamedPodRequest,
    NodeState,
    PodRequest,
    TaskType,
    best_fgd_gpu,
    best_fit_gpu,
    bestfit_score,
    can_host,
    classify,
    cluster_fragment,
    dotprod_score,
    fgd_score,
    fragmentation_amount,
    fragmentation_rate,
    gpu_clustering_score,
    gpu_packing_score,
    gpu_tag,
    lowest_free_gpus,
    node_fragment,
    normalize_score_array,
    normalize_scores,
    random_fit_gpu,
    random_scores,
    task_fragment,
    typical_workload,
)
from dralloc.sim.fgd.metrics import (
    ARRIVAL_AXIS,
    Aggregate,
    Band,
    CurvePoint,
    MeanSd,
    Metric,
    RunLog,
    aggregate,
    arrival_x,
    bucket,
)
from dralloc.sim.fgd.tuning import node_order, tune

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
    "normalize_score_array",
    "normalize_scores",
    "random_fit_gpu",
    "random_scores",
    "task_fragment",
    "tune",
    "typical_workload",
]
