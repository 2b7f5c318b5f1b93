"""The `NodePorts` plugin: a pod's host ports must be free on the node."""

from dralloc.scheduler.plugins.nodeports.plugin import NAME, REASON_PORTS, NodePorts

__all__ = ["NAME", "REASON_PORTS", "NodePorts"]
