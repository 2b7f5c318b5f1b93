"""Accelerator facts as data: the GPU and TPU model catalog and MIG placement geometry.

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
from dralloc.devices.classes import driver_device_classes
from dralloc.devices.mig import Placement, fits_together, placements
from dralloc.devices.slices import gpu_node_slices, mig_device_name
from dralloc.devices.tpu import tpu_node_slices

__all__ = [
    "Catalog",
    "GpuModel",
    "MigGeometry",
    "MigProfile",
    "Placement",
    "TpuModel",
    "TpuTopology",
    "driver_device_classes",
    "fits_together",
    "gpu_node_slices",
    "load_catalog",
    "mig_device_name",
    "placements",
    "tpu_node_slices",
]
