"""Accelerators as data and as the objects their DRA drivers publish.

The GPU and TPU model catalog and MIG placement geometry; ResourceSlices shaped as NVIDIA's and
Google's drivers publish them (whole GPUs, static and dynamic MIG, TPU slices' nodes) and dralloc's
sharing modes; multi-node NVLink racks (GB200 NVL72: the clique label, the compute-domain
driver's slices and classes); the DeviceClasses; NVIDIA opaque configs and the isolation each
allocation gets; the MIG layout planner; NVML discovery; fleets from compact descriptions.

Imports only `dralloc.api` (and the shared `dralloc.errors`); the allocator and scheduler
read device facts from here, never the other way round.
"""

from dralloc.devices.catalog import (
    Catalog,
    GpuModel,
    MigGeometry,
    MigProfile,
    TpuModel,
    TpuTopology,
    load_catalog,
)
from dralloc.devices.classes import driver_device_classes, sharing_device_classes
from dralloc.devices.isolation import DeviceIsolation, allocation_isolation, claim_isolation
from dralloc.devices.mig import Placement, fits_together, pack, placements
from dralloc.devices.nvlink import (
    NvlRack,
    clique_label_value,
    compute_domain_device_classes,
    compute_domain_node_slice,
)
from dralloc.devices.nvml import Discovery, DiscoveryError, discover, discover_with_pynvml
from dralloc.devices.slices import (
    MigInstance,
    PhysicalGpu,
    Sharing,
    SliceBuilder,
    gpu_node_slices,
    mig_device_name,
    synthetic_gpus,
)
from dralloc.devices.tpu import TpuSliceLayout, tpu_node_slices, tpu_slice_layout

__all__ = [
    "Catalog",
    "DeviceIsolation",
    "Discovery",
    "DiscoveryError",
    "GpuModel",
    "MigGeometry",
    "MigInstance",
    "MigProfile",
    "NvlRack",
    "PhysicalGpu",
    "Placement",
    "Sharing",
    "SliceBuilder",
    "TpuModel",
    "TpuSliceLayout",
    "TpuTopology",
    "allocation_isolation",
    "claim_isolation",
    "clique_label_value",
    "compute_domain_device_classes",
    "compute_domain_node_slice",
    "discover",
    "discover_with_pynvml",
    "driver_device_classes",
    "fits_together",
    "gpu_node_slices",
    "load_catalog",
    "mig_device_name",
    "pack",
    "placements",
    "sharing_device_classes",
    "synthetic_gpus",
    "tpu_node_slices",
    "tpu_slice_layout",
]
