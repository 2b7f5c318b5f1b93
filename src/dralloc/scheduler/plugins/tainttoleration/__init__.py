"""The `TaintToleration` plugin: taints repel pods that do not tolerate them."""

from dralloc.scheduler.plugins.tainttoleration.plugin import (
    NAME,
    REASON_UNTOLERATED,
    TaintToleration,
    count_intolerable_prefer_no_schedule,
)

__all__ = ["NAME", "REASON_UNTOLERATED", "TaintToleration", "count_intolerable_prefer_no_schedule"]
