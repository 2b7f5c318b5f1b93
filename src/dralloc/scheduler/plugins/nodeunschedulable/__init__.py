"""The `NodeUnschedulable` plugin: cordoned nodes take only pods that tolerate it."""

from dralloc.scheduler.plugins.nodeunschedulable.plugin import (
    NAME,
    REASON_UNSCHEDULABLE,
    NodeUnschedulable,
)

__all__ = ["NAME", "REASON_UNSCHEDULABLE", "NodeUnschedulable"]
