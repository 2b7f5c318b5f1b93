"""The `PodTopologySpread` plugin: keep matching pods spread over topology domains."""

from dralloc.scheduler.plugins.podtopologyspread.args import (
    SYSTEM_DEFAULT_CONSTRAINTS,
    DefaultingType,
    PodTopologySpreadArgs,
)
from dralloc.scheduler.plugins.podtopologyspread.constraints import (
    OwnerSelectors,
    WorkloadSelectors,
)
from dralloc.scheduler.plugins.podtopologyspread.plugin import (
    NAME,
    REASON_CONSTRAINTS_NOT_MATCH,
    REASON_NODE_LABEL_NOT_MATCH,
    PodTopologySpread,
)

__all__ = [
    "NAME",
    "REASON_CONSTRAINTS_NOT_MATCH",
    "REASON_NODE_LABEL_NOT_MATCH",
    "SYSTEM_DEFAULT_CONSTRAINTS",
    "DefaultingType",
    "OwnerSelectors",
    "PodTopologySpread",
    "PodTopologySpreadArgs",
    "WorkloadSelectors",
]
