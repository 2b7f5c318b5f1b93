"""GPU sharing in one place: the FGD paper's placement policies (Weng et al., USENIX ATC '23;
spec/fgd.md), from the maths to the scheduler plugins.

- `measure`, `scores`, `workload`: pure maths over a node's GPU state summary. `NodeState`
  (GPU model, unallocated CPU, unallocated milli-GPU per GPU) and a pod's request
  (`PodRequest`) in; the fragmentation measure, the node scores and GPU choices, and the
  target workload's task types out. The simulator's FGD experiment (`dralloc.sim.fgd`)
  re-exports them beside its tuning and metrics.
- `view`: `GpuShareView` reads `NodeState`s and requests from DRA objects (a node's published
  GPUs and the cache's allocations), remembered per node generation.
- `policies`: the plugins (FGD, BestFit, DotProduct, GpuPacking, GpuClustering, Random score
  nodes and rank a node's GPUs for DynamicResources; GpuCapacityFilter filters), and `hints`:
  GpuCapacityFilter's queueing hint for the ResourceSlices that publish GPUs.
"""

from dralloc.scheduler.plugins.gpushare.measure import (
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
from dralloc.scheduler.plugins.gpushare.policies import (
    FGD,
    BestFit,
    DotProduct,
    GpuCapacityFilter,
    GpuClustering,
    GpuPacking,
    Random,
)
from dralloc.scheduler.plugins.gpushare.scores import (
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
from dralloc.scheduler.plugins.gpushare.view import GpuRequest, GpuShareView
from dralloc.scheduler.plugins.gpushare.workload import (
    MILLI,
    NamedPodRequest,
    PodRequest,
    TaskType,
    typical_workload,
)

__all__ = [
    "FGD",
    "MAX_CPU_MILLI",
    "MAX_GPU_MILLI",
    "MILLI",
    "BestFit",
    "DotProduct",
    "FgdChoice",
    "FragmentCase",
    "FragmentationMeter",
    "GpuCapacityFilter",
    "GpuClustering",
    "GpuPacking",
    "GpuRequest",
    "GpuShareView",
    "NamedPodRequest",
    "NodeState",
    "PodRequest",
    "Random",
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
