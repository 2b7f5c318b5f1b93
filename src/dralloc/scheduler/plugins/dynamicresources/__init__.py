"""The `DynamicResources` plugin: ResourceClaims placed through the DRA allocator."""

from dralloc.scheduler.plugins.dynamicresources.plugin import (
    CANNOT_ALLOCATE,
    NAME,
    NOT_AVAILABLE,
    DeviceOrderPolicy,
    DynamicResources,
)

__all__ = [
    "CANNOT_ALLOCATE",
    "NAME",
    "NOT_AVAILABLE",
    "DeviceOrderPolicy",
    "DynamicResources",
]
