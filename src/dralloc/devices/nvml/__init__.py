"""Node agent discovery: the GPUs a node really has, read through NVML, as ResourceSlices.

This package owns one step: asking NVML (the `pynvml` module of `nvidia-ml-py`) what GPUs,
MIG mode and MIG devices a node has, matching them to the catalog and handing them to
`SliceBuilder`, so that a real node publishes exactly the slices the catalog would generate
for the same hardware. It does I/O only through the NVML object it is given and the PCIe-root
reader (sysfs by default); it never changes GPU state (no MIG mode switch, no instance created
or destroyed) and keeps no module-level state. It imports no `pynvml` except lazily, in
`discover_with_pynvml`, so importing dralloc never needs the NVIDIA library.

Design
------
* `discover(nvml, catalog, node_name=..., mig=...)` takes anything shaped like the `pynvml`
  module: `Nvml` is a Protocol listing exactly the functions called (with pynvml's names,
  parameter names and return shapes) plus its `NVMLError` class, whose `value` is the
  `nvmlReturn_t` code. Production passes the module itself; tests pass a fake
  (`tests/devices/fake_nvml.py`). Errors are reacted to by code (`NvmlReturn`), as the
  NVIDIA DRA driver does (`cmd/gpu-kubelet-plugin/nvlib.go`).
* One NVML session: `nvmlInit`, read everything, `nvmlShutdown` in a `finally` (only after a
  successful init: NVML refuses to shut down what it never started).
* Per GPU (NVML index 0..count-1): minor number, UUID, name, PCI bus id, memory, MIG mode
  and, in MIG mode, its MIG devices. Conversions follow the driver:

  - product name -> catalog model (`Catalog.gpu_by_product_name`); an unknown name is an
    error saying how to add the model to `gpus.yaml`;
  - driver version: parsed the way the driver's semver library (Masterminds) parses it, each
    part an integer: `570.172.08` -> `570.172.8`, `470.82` -> `470.82.0`;
  - CUDA driver version: `nvmlSystemGetCudaDriverVersion` (12080) -> `12.8` (major = v/1000,
    minor = v%1000/10, as `nvlib.go` formats it) -> semver `12.8.0`;
  - PCI bus id: NVML's `busId` (`00000000:18:00.0`) lowercased with the 8-digit domain cut
    to 4 digits, as go-nvlib's `GetPCIBusID` does -> `0000:18:00.0`;
  - pcieRoot: not derivable from the bus id (a GPU at bus 18 sits under root bus 17 on one
    board and 10 on another, behind any number of switches). Like
    `k8s.io/dynamic-resource-allocation/deviceattribute`, `read_pcie_root` reads sysfs:
    `/sys/bus/pci/devices/<bus id>` links to `/sys/devices/pci<domain>:<bus>/.../<bus id>`,
    and the first component is the root complex (`pci0000:17`). `pcie_root=` injects another
    reader (tests, agents without `/sys`); a GPU whose root cannot be read is an error
    rather than a made-up value, because `matchAttribute` on the root groups devices by it;
  - memory: NVML's total (`nvmlDeviceGetMemoryInfo().total`), as the driver publishes it;
  - MIG mode: `nvmlDeviceGetMigMode` current mode; `NOT_SUPPORTED` means a GPU without MIG;
  - MIG devices, walked like the driver's `walkMigDevices` (indexes up to
    `nvmlDeviceGetMaxMigDeviceCount`, skipping `NOT_FOUND`/`INVALID_ARGUMENT`): each one's
    GPU instance (`nvmlDeviceGetGpuInstanceId` -> `nvmlDeviceGetGpuInstanceById` ->
    `nvmlGpuInstanceGetInfo`) gives the GI profile ID (19 for 1g.10gb, as
    `nvidia-smi mig -lgip` lists it) and the placement (start, size), mapped to
    `MigInstance(Placement(catalog profile, start), MIG uuid)`. A profile ID, start or size
    the catalog does not know, a GPU instance split into several compute instances, or a
    compute instance smaller than its GPU instance (`nvmlDeviceGetAttributes`) is an error
    naming the GPU: the driver's profiles cover only full-size compute instances, and a
    device dralloc cannot describe must not be published wrongly.
* Slices come from `SliceBuilder` with NVML's versions. `mig="static"` (the driver's
  default): GPUs in MIG mode publish their existing instances, others the whole GPU.
  `mig="dynamic"` (DynamicMIG): every MIG-capable GPU publishes the full abstract layout and
  its counter set, whatever instances exist (in a running cluster those belong to allocated
  claims, which the allocator already accounts for); GPUs without MIG publish whole.
* Mixed models on one node: the driver publishes one pool per node. `SliceBuilder` takes one
  model, so each model's GPUs are built separately and merged into one pool: the counter
  sets into one counters-only slice, whole-GPU and static-MIG devices into one slice, the
  DynamicMIG per-GPU slices kept, and `resourceSliceCount` recomputed. A node with one model
  gets exactly `SliceBuilder.node_slices`'s slices.

Errors reach users as `DiscoveryError` (a `DrallocError`): the library is missing, NVML
failed a call (named, with the GPU), or the hardware is not what the catalog describes.

Layout: `protocol` declares `Nvml` and the records discovery returns, `conversions` holds the
value conversions and the sysfs reader, `discovery` runs the session and builds the slices.
Import from `dralloc.devices.nvml`.
"""

from __future__ import annotations

from dralloc.devices.nvml.conversions import (
    format_cuda_version,
    normalize_bus_id,
    normalize_driver_version,
    read_pcie_root,
)
from dralloc.devices.nvml.discovery import discover, discover_with_pynvml
from dralloc.devices.nvml.protocol import (
    DiscoveredGpu,
    Discovery,
    DiscoveryError,
    DiscoveryMigMode,
    Nvml,
    NvmlReturn,
    PcieRootReader,
)

__all__ = [
    "DiscoveredGpu",
    "Discovery",
    "DiscoveryError",
    "DiscoveryMigMode",
    "Nvml",
    "NvmlReturn",
    "PcieRootReader",
    "discover",
    "discover_with_pynvml",
    "format_cuda_version",
    "normalize_bus_id",
    "normalize_driver_version",
    "read_pcie_root",
]
