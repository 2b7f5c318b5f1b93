"""The `NodeAffinity` plugin: nodeSelector and node affinity, required and preferred."""

from dralloc.scheduler.plugins.helper.nodeselector import (
    PreferredSchedulingTerm,
    required_node_affinity,
)
from dralloc.scheduler.plugins.nodeaffinity.args import NodeAffinityArgs
from dralloc.scheduler.plugins.nodeaffinity.plugin import (
    NAME,
    REASON_CONFLICT,
    REASON_ENFORCED,
    REASON_POD,
    NodeAffinity,
)

__all__ = [
    "NAME",
    "REASON_CONFLICT",
    "REASON_ENFORCED",
    "REASON_POD",
    "NodeAffinity",
    "NodeAffinityArgs",
    "PreferredSchedulingTerm",
    "required_node_affinity",
]
