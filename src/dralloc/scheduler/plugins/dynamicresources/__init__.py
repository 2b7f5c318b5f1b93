"""The `DynamicResources` plugin: ResourceClaims placed through the DRA allocator, and the
special claim of extended resources backed by DRA (KEP-5004)."""

from dralloc.scheduler.plugins.dynamicresources.extended import (
    EXTENDED_RESOURCE_CLAIM_ANNOTATION,
    ExtendedResourceIndex,
    extended_requests,
    find_extended_resource_claim,
    is_dra_extended_resource_name,
)
from dralloc.scheduler.plugins.dynamicresources.plugin import (
    CANNOT_ALLOCATE,
    NAME,
    NOT_AVAILABLE,
    DeviceOrderPolicy,
    DynamicResources,
    extended_claim_key,
    release_extended_claim,
)

__all__ = [
    "CANNOT_ALLOCATE",
    "EXTENDED_RESOURCE_CLAIM_ANNOTATION",
    "NAME",
    "NOT_AVAILABLE",
    "DeviceOrderPolicy",
    "DynamicResources",
    "ExtendedResourceIndex",
    "extended_claim_key",
    "extended_requests",
    "find_extended_resource_claim",
    "is_dra_extended_resource_name",
    "release_extended_claim",
]
