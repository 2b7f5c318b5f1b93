"""The node-resource plugins: `NodeResourcesFit` and `NodeResourcesBalancedAllocation`,
their args, and the scoring formulas they share."""

from dralloc.scheduler.plugins.noderesources.args import (
    DEFAULT_RESOURCES,
    NodeResourcesBalancedAllocationArgs,
    NodeResourcesFitArgs,
    RequestedToCapacityRatioParam,
    ResourceSpec,
    ScoringStrategy,
    ScoringStrategyType,
    UtilizationShapePoint,
)
from dralloc.scheduler.plugins.noderesources.balanced_allocation import (
    NodeResourcesBalancedAllocation,
)
from dralloc.scheduler.plugins.noderesources.fit import (
    REASON_TOO_MANY_PODS,
    InsufficientResource,
    NodeResourcesFit,
    insufficient,
)

__all__ = [
    "DEFAULT_RESOURCES",
    "REASON_TOO_MANY_PODS",
    "InsufficientResource",
    "NodeResourcesBalancedAllocation",
    "NodeResourcesBalancedAllocationArgs",
    "NodeResourcesFit",
    "NodeResourcesFitArgs",
    "RequestedToCapacityRatioParam",
    "ResourceSpec",
    "ScoringStrategy",
    "ScoringStrategyType",
    "UtilizationShapePoint",
    "insufficient",
]
