"""The `NodeName` plugin: a pod that names its node fits only there."""

from dralloc.scheduler.plugins.nodename.plugin import NAME, REASON_NODE_NAME, NodeName

__all__ = ["NAME", "REASON_NODE_NAME", "NodeName"]
