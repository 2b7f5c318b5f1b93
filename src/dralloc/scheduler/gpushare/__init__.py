"""GPU-sharing placement policies as pure math: the six policies of the FGD paper (Weng et al.,
USENIX ATC '23; spec/fgd.md) over a node's GPU state summary.

`NodeState` (GPU model, unallocated CPU, unallocated milli-GPU per GPU) and a pod's request
(`PodRequest`) in; the fragmentation measure (`measure`), the node scores and GPU choices
(`scores`) and the target workload's task types (`workload`) out. The scheduler's GPU-sharing
plugins adapt DRA state to `NodeState` and call these; the simulator's FGD experiment
(`dralloc.sim.fgd`) re-exports them beside its tuning and metrics.
"""

from dralloc.scheduler.gpushare.measure import (
    FgdChoice,
    FragmentationMeter,
    FragmentCase,
    NodeState,
    can_host,
    classify,
    cluster_fragment,
    fragmentation_amount,
    fragmentation_rate,
    node_fragment,
    task_fragment,
)
from dralloc.scheduler.gpushare.scores import (
    MAX_CPU_MILLI,
    MAX_GPU_MILLI,
    best_fgd_gpu,
    best_fit_gpu,
    bestfit_score,
    dotprod_score,
    fgd_score,
    gpu_clustering_score,
    gpu_packing_score,
    gpu_tag,
    lowest_free_gpus,
    normalize_score_array,
    normalize_scores,
    random_fit_gpu,
    random_scores,
)
from dralloc.scheduler.gpushare.workload import (
    MILLI,
    NamedPodRequest,
    PodRequest,
    TaskType,
    typical_workload,
)

__all__ = [
    "MAX_CPU_MILLI",
    "MAX_GPU_MILLI",
    "MILLI",
    "FgdChoice",
    "FragmentCase",
    "FragmentationMeter",
    "NamedPodRequest",
    "NodeState",
    "PodRequest",
    "TaskType",
    "best_fgd_gpu",
    "best_fit_gpu",
    "bestfit_score",
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
    "normalize_score_array",
    "normalize_scores",
    "random_fit_gpu",
    "random_scores",
    "task_fragment",
    "typical_workload",
]
