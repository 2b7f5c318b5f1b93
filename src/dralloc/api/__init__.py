"""Kubernetes objects dralloc reads and writes: resource.k8s.io/v1 and the parts of core/v1
that scheduling needs, exact quantities, YAML/JSON in and out, and API validation."""

from dralloc.api.core import Node, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod
from dralloc.api.io import LoadedObject, dump, kube_dict, load_files, load_text, to_builtins
from dralloc.api.meta import ObjectMeta
from dralloc.api.quantity import Quantity, parse_quantity
from dralloc.api.resource import (
    AllocationResult,
    Device,
    DeviceClass,
    DeviceRequest,
    ResourceClaim,
    ResourceClaimTemplate,
    ResourceSlice,
)
from dralloc.api.validation import validate

__all__ = [
    "AllocationResult",
    "Device",
    "DeviceClass",
    "DeviceRequest",
    "LoadedObject",
    "Node",
    "NodeSelector",
    "NodeSelectorRequirement",
    "NodeSelectorTerm",
    "ObjectMeta",
    "Pod",
    "Quantity",
    "ResourceClaim",
    "ResourceClaimTemplate",
    "ResourceSlice",
    "dump",
    "kube_dict",
    "load_files",
    "load_text",
    "parse_quantity",
    "to_builtins",
    "validate",
]
