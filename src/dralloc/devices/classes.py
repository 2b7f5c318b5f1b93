"""The DeviceClasses users of NVIDIA's and Google's DRA drivers write claims against.

Pure data:
* the drivers' own classes: `gpu.nvidia.com` (whole GPUs), `mig.nvidia.com` (MIG devices)
  and `tpu.google.com` (TPU chips), with the selectors the drivers' Helm charts install;
* one class per sharing mode dralloc publishes (`dralloc.devices.slices.Sharing`), for whole
  GPUs and MIG devices: `gpu-time-slicing.dralloc.io`, `gpu-mps.dralloc.io`,
  `gpu-fractional.dralloc.io` and the `mig-...` equivalents. Each selects the devices
  published with that mode (attribute `dralloc.io/sharing`) and, for time-slicing and MPS,
  carries the NVIDIA config (GpuConfig / MigDeviceConfig) that makes the driver set the mode
  up; the allocator copies it into every allocation made through the class.
"""

from __future__ import annotations

from typing import Any

from dralloc.api.meta import ObjectMeta
from dralloc.api.resource import (
    CELDeviceSelector,
    DeviceClass,
    DeviceClassConfiguration,
    DeviceClassSpec,
    DeviceSelector,
    OpaqueDeviceConfiguration,
)

_NVIDIA_CONFIG = "resource.nvidia.com/v1beta1"
_TYPE = "device.driver == 'gpu.nvidia.com' && device.attributes['gpu.nvidia.com'].type == '{}'"


def _device_class(
    name: str,
    expression: str,
    parameters: dict[str, Any] | None = None,
    extended_resource_name: str | None = None,
) -> DeviceClass:
    config = []
    if parameters is not None:
        opaque = OpaqueDeviceConfiguration(driver="gpu.nvidia.com", parameters=parameters)
        config.append(DeviceClassConfiguration(opaque=opaque))
    return DeviceClass(
        metadata=ObjectMeta(name=name),
        spec=DeviceClassSpec(
            selectors=[DeviceSelector(cel=CELDeviceSelector(expression))],
            config=config,
            extended_resource_name=extended_resource_name,
        ),
    )


def _sharing_config(device_type: str, strategy: str) -> dict[str, Any] | None:
    kind = "GpuConfig" if device_type == "gpu" else "MigDeviceConfig"
    if strategy == "time-slicing":
        sharing: dict[str, Any] = {"strategy": "TimeSlicing"}
        if device_type == "gpu":
            sharing["timeSlicingConfig"] = {"interval": "Default"}
    elif strategy == "mps":
        sharing = {"strategy": "MPS"}
    else:
        return None
    return {"apiVersion": _NVIDIA_CONFIG, "kind": kind, "sharing": sharing}


def sharing_device_classes() -> list[DeviceClass]:
    """The classes of dralloc's sharing modes, new objects on every call."""
    classes = []
    for device_type in ("gpu", "mig"):
        for strategy in ("time-slicing", "mps", "fractional"):
            expression = (
                _TYPE.format(device_type)
                + " && 'sharing' in device.attributes['dralloc.io']"
                + f" && device.attributes['dralloc.io'].sharing == '{strategy}'"
            )
            classes.append(
                _device_class(
                    f"{device_type}-{strategy}.dralloc.io",
                    expression,
                    _sharing_config(device_type, strategy),
                )
            )
    return classes


def driver_device_classes() -> list[DeviceClass]:
    """The drivers' classes and the sharing classes, new objects on every call."""
    return [
        # KEP-5004: lets `nvidia.com/gpu: 1` pods use DRA nodes (spec/devices.md 2.7).
        _device_class(
            "gpu.nvidia.com", _TYPE.format("gpu"), extended_resource_name="nvidia.com/gpu"
        ),
        _device_class("mig.nvidia.com", _TYPE.format("mig")),
        _device_class("tpu.google.com", "device.driver == 'tpu.google.com'"),
        *sharing_device_classes(),
    ]
