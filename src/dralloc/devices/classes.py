"""The DeviceClasses users of NVIDIA's and Google's DRA drivers write claims against.

Pure data: `gpu.nvidia.com` (whole GPUs), `mig.nvidia.com` (MIG devices) and
`tpu.google.com` (TPU chips), with the selectors the drivers' Helm charts install.
"""

from __future__ import annotations

from dralloc.api.meta import ObjectMeta
from dralloc.api.resource import CELDeviceSelector, DeviceClass, DeviceClassSpec, DeviceSelector


def _device_class(name: str, expression: str) -> DeviceClass:
    return DeviceClass(
        metadata=ObjectMeta(name=name),
        spec=DeviceClassSpec(selectors=[DeviceSelector(cel=CELDeviceSelector(expression))]),
    )


def driver_device_classes() -> list[DeviceClass]:
    """New objects on every call (the caller owns them)."""
    return [
        _device_class(
            "gpu.nvidia.com",
            "device.driver == 'gpu.nvidia.com' && "
            "device.attributes['gpu.nvidia.com'].type == 'gpu'",
        ),
        _device_class(
            "mig.nvidia.com",
            "device.driver == 'gpu.nvidia.com' && "
            "device.attributes['gpu.nvidia.com'].type == 'mig'",
        ),
        _device_class("tpu.google.com", "device.driver == 'tpu.google.com'"),
    ]
