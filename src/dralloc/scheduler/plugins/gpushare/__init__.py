"""GPU-sharing plugins: the FGD paper's placement policies over DRA state."""

from dralloc.scheduler.plugins.gpushare.policies import (
    FGD,
    BestFit,
    DotProduct,
    GpuCapacityFilter,
    GpuClustering,
    GpuPacking,
    Random,
)
from dralloc.scheduler.plugins.gpushare.view import GpuRequest, GpuShareView

__all__ = [
    "FGD",
    "BestFit",
    "DotProduct",
    "GpuCapacityFilter",
    "GpuClustering",
    "GpuPacking",
    "GpuRequest",
    "GpuShareView",
    "Random",
]
