"""Slices and DeviceClasses shaped like the real drivers publish them, allocated for real."""

from __future__ import annotations

import pytest

from dralloc.allocator import Allocator, Inventory, allocated_state
from dralloc.api.core import Node
from dralloc.api.meta import ObjectMeta
from dralloc.api.resource import (
    ALLOCATION_MODE_ALL,
    CELDeviceSelector,
    DeviceClaim,
    DeviceRequest,
    DeviceSelector,
    ExactDeviceRequest,
    ResourceClaim,
    ResourceClaimSpec,
)
from dralloc.api.validation import validate
from dralloc.cel import selector_problems
from dralloc.devices import (
    driver_device_classes,
    gpu_node_slices,
    load_catalog,
    tpu_node_slices,
)
from dralloc.features import Features

CATALOG = load_catalog()
FEATURES = Features()
CLASSES = {c.metadata.name: c for c in driver_device_classes()}


def _claim(
    device_class: str, *, count: int = 1, all_devices: bool = False, cel: str = ""
) -> ResourceClaim:
    request = ExactDeviceRequest(
        device_class_name=device_class,
        allocation_mode=ALLOCATION_MODE_ALL if all_devices else "",
        count=None if all_devices else count,
        selectors=[DeviceSelector(cel=CELDeviceSelector(cel))] if cel else [],
    )
    return ResourceClaim(
        metadata=ObjectMeta(name="c", namespace="default"),
        spec=ResourceClaimSpec(
            devices=DeviceClaim(requests=[DeviceRequest(name="r", exactly=request)])
        ),
    )


def _devices(node: str, slices: list, claim: ResourceClaim) -> list[str] | None:
    result = Allocator(FEATURES).allocate(
        Node(metadata=ObjectMeta(name=node)),
        [claim],
        Inventory(slices, FEATURES),
        CLASSES,
        allocated_state([], FEATURES),
    )
    return None if result is None else [r.device for r in result[0].devices.results]


def test_generated_slices_and_classes_pass_api_validation() -> None:
    objects = [
        *gpu_node_slices("n1", CATALOG.gpu("l4"), 4),
        *gpu_node_slices("n2", CATALOG.gpu("h100-80gb-sxm"), 8, mig="dynamic"),
        *tpu_node_slices("n3", CATALOG.tpu("tpu-v6e"), "2x4"),
        *driver_device_classes(),
    ]
    for obj in objects:
        assert validate(obj) == [], obj.metadata.name
        assert selector_problems(obj) == []


def test_whole_gpus_are_allocated_through_the_gpu_class_with_a_memory_selector() -> None:
    slices = gpu_node_slices("n1", CATALOG.gpu("l4"), 4)
    claim = _claim(
        "gpu.nvidia.com",
        count=2,
        cel="device.capacity['gpu.nvidia.com'].memory.compareTo(quantity('20Gi')) >= 0",
    )
    assert _devices("n1", slices, claim) == ["gpu-0", "gpu-1"]


def test_the_mig_class_never_hands_out_a_whole_gpu() -> None:
    slices = gpu_node_slices("n1", CATALOG.gpu("h100-80gb-sxm"), 1, mig="dynamic")
    devices = _devices("n1", slices, _claim("mig.nvidia.com"))
    assert devices is not None and devices[0].startswith("gpu-0-mig-")


def test_a_whole_gpu_drains_the_counter_set_so_no_mig_device_fits_beside_it() -> None:
    slices = gpu_node_slices("n1", CATALOG.gpu("h100-80gb-sxm"), 1, mig="dynamic")
    both = ResourceClaim(
        metadata=ObjectMeta(name="c", namespace="default"),
        spec=ResourceClaimSpec(
            devices=DeviceClaim(
                requests=[
                    DeviceRequest(
                        name="gpu", exactly=ExactDeviceRequest(device_class_name="gpu.nvidia.com")
                    ),
                    DeviceRequest(
                        name="mig", exactly=ExactDeviceRequest(device_class_name="mig.nvidia.com")
                    ),
                ]
            )
        ),
    )
    assert _devices("n1", slices, both) is None


def test_a_v6e_host_of_a_2x4_slice_publishes_eight_vfio_named_chips() -> None:
    (slice_,) = tpu_node_slices("tpu-0", CATALOG.tpu("tpu-v6e"), "2x4")
    assert [d.name for d in slice_.spec.devices] == [str(i) for i in range(8)]
    chip = slice_.spec.devices[0].attributes
    assert chip["tpuGen"].string == "v6e" and chip["chipCount"].int_value == 8


def test_the_driver_documented_tpu_claim_takes_every_chip_of_the_host() -> None:
    slices = tpu_node_slices("tpu-0", CATALOG.tpu("tpu-v6e"), "2x4")
    claim = _claim(
        "tpu.google.com",
        all_devices=True,
        cel='device.attributes["tpu.google.com"].tpuGen == "v6e" && '
        'device.attributes["tpu.google.com"].topology == "2x4"',
    )
    assert _devices("tpu-0", slices, claim) == [str(i) for i in range(8)]


def test_v4_chips_are_named_after_their_accel_device() -> None:
    (slice_,) = tpu_node_slices("tpu-0", CATALOG.tpu("tpu-v4"), "2x2x1")
    assert [d.name for d in slice_.spec.devices] == ["accel0", "accel1", "accel2", "accel3"]


def test_a_multi_host_shape_puts_its_share_of_chips_on_each_host() -> None:
    model = CATALOG.tpu("tpu-v5p")
    shape = model.topology("2x2x2")
    (slice_,) = tpu_node_slices("tpu-0", model, "2x2x2")
    assert len(slice_.spec.devices) == shape.chips // shape.hosts


def test_a_generation_the_driver_does_not_support_is_refused() -> None:
    with pytest.raises(ValueError, match="does not support"):
        tpu_node_slices("tpu-0", CATALOG.tpu("tpu-v7"), "2x2x1")
