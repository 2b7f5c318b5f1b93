"""The DRA structured allocator (resource.k8s.io/v1, Kubernetes 1.36 semantics).

Public entry points: `Allocator.allocate` (one node, all claims together, all or none),
`explain` (why a claim does or does not fit; `explain_nodes` for many nodes, with progress),
`Inventory` (published devices, built once per set of slices) and `AllocatedState` (what other
claims hold).
"""

from dralloc.allocator.allocator import Allocator, AllocatorOptions
from dralloc.allocator.errors import AllocationError, AllocationGaveUp, NodeFailure
from dralloc.allocator.explain import (
    ClaimExplanation,
    DeviceVerdict,
    ExplainProgress,
    RequestExplanation,
    explain,
    explain_nodes,
)
from dralloc.allocator.inventory import DeviceKey, DeviceOrder, Inventory, PoolKey
from dralloc.allocator.prepared import Reason
from dralloc.allocator.state import AllocatedState, allocated_state

__all__ = [
    "AllocatedState",
    "AllocationError",
    "AllocationGaveUp",
    "Allocator",
    "AllocatorOptions",
    "ClaimExplanation",
    "DeviceKey",
    "DeviceOrder",
    "DeviceVerdict",
    "ExplainProgress",
    "Inventory",
    "NodeFailure",
    "PoolKey",
    "Reason",
    "RequestExplanation",
    "allocated_state",
    "explain",
    "explain_nodes",
]
