"""GPU-sharing plugins: the FGD paper's placement policies over DRA state."""

from dralloc.scheduler.plugins.gpushare.policies import (
    FGD,
    BestFit,
    DotProduct,
    GpuClustering,
    GpuPacking,
    Random,
)
from dralloc.scheduler.plugins.gpushare.view import GpuRequest, GpuShareView

__all__ = [
    "FGD",
    "BestFit",
    "DotProduct",
    "GpuClustering",
    "GpuPacking",
    "GpuRequest",
    "GpuShareView",
    "Random",
]
