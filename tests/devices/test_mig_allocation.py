"""Dynamic MIG through the allocator: the counters the slices publish admit exactly the
packings the hardware admits (the MIG placement rules in `dralloc.devices.mig`)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from dralloc.allocator import Allocator, AllocatorOptions, Inventory, allocated_state
from dralloc.api.core import Node
from dralloc.api.meta import ObjectMeta
from dralloc.api.resource import (
    AllocationResult,
    CELDeviceSelector,
    DeviceAllocationResult,
    DeviceClaim,
    DeviceClass,
    DeviceClassSpec,
    DeviceRequest,
    DeviceRequestAllocationResult,
    DeviceSelector,
    ExactDeviceRequest,
    ResourceClaim,
    ResourceClaimSpec,
)
from dralloc.devices import load_catalog
from dralloc.devices.mig import Placement, fits_together, placements
from dralloc.devices.slices import gpu_node_slices, mig_device_name
from dralloc.features import Features

CATALOG = load_catalog()
H100 = CATALOG.gpu("h100-80gb-sxm")
NODE = Node(metadata=ObjectMeta(name="dgx-0"))
FEATURES = Features()
SLICES = gpu_node_slices("dgx-0", H100, 1, mig="dynamic")
INVENTORY = Inventory(SLICES, FEATURES)
MIG_CLASS = DeviceClass(
    metadata=ObjectMeta(name="mig.nvidia.com"),
    spec=DeviceClassSpec(
        selectors=[
            DeviceSelector(
                cel=CELDeviceSelector(
                    "device.driver == 'gpu.nvidia.com' && "
                    "device.attributes['gpu.nvidia.com'].type == 'mig'"
                )
            )
        ]
    ),
)
BY_NAME = {mig_device_name(0, p): p for p in placements(H100)}
PROFILES = [p.name for p in H100.mig.profiles] if H100.mig else []


def _claim(profile: str) -> ResourceClaim:
    selector = f"device.attributes['gpu.nvidia.com'].profile == '{profile}'"
    return ResourceClaim(
        metadata=ObjectMeta(name="want", namespace="default"),
        spec=ResourceClaimSpec(
            devices=DeviceClaim(
                requests=[
                    DeviceRequest(
                        name="mig",
                        exactly=ExactDeviceRequest(
                            device_class_name="mig.nvidia.com",
                            selectors=[DeviceSelector(cel=CELDeviceSelector(selector))],
                        ),
                    )
                ]
            )
        ),
    )


def _held(index: int, device: str) -> ResourceClaim:
    claim = _claim("held")
    claim.metadata.name = f"held-{index}"
    claim.status.allocation = AllocationResult(
        devices=DeviceAllocationResult(
            results=[
                DeviceRequestAllocationResult(
                    request="mig", driver="gpu.nvidia.com", pool="dgx-0", device=device
                )
            ]
        )
    )
    return claim


def _try(profile: str, held: list[str]) -> str | None:
    allocator = Allocator(FEATURES, options=AllocatorOptions(timeout=None))
    state = allocated_state([_held(i, d) for i, d in enumerate(held)], FEATURES)
    result = allocator.allocate(
        NODE, [_claim(profile)], INVENTORY, {"mig.nvidia.com": MIG_CLASS}, state
    )
    return None if result is None else result[0].devices.results[0].device


def _can_add(profile: str, held: list[Placement]) -> bool:
    return any(
        fits_together(H100, [*held, candidate])
        for candidate in placements(H100)
        if candidate.profile.name == profile
    )


def test_an_h100_node_publishes_26_devices_per_gpu_on_its_counter_set() -> None:
    counters, gpu = SLICES
    assert counters.spec.shared_counters[0].name == "gpu-0-counter-set"
    assert len(gpu.spec.devices) == 26
    assert counters.spec.pool.resource_slice_count == 2


def test_seven_1g10gb_fit_and_an_eighth_does_not() -> None:
    held: list[str] = []
    for _ in range(7):
        device = _try("1g.10gb", held)
        assert device is not None
        held.append(device)
    assert _try("1g.10gb", held) is None


def test_4g40gb_and_3g40gb_fit_together_but_two_4g40gb_never() -> None:
    first = _try("4g.40gb", [])
    assert first is not None
    assert _try("3g.40gb", [first]) == "gpu-0-mig-3g40gb-9-4"
    assert _try("4g.40gb", [first]) is None


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(st.sampled_from(PROFILES), min_size=1, max_size=9))
def test_the_allocator_admits_a_mig_profile_exactly_when_the_hardware_does(
    wanted: list[str],
) -> None:
    held_names: list[str] = []
    held: list[Placement] = []
    for profile in wanted:
        device = _try(profile, held_names)
        assert (device is not None) == _can_add(profile, held), (profile, [str(p) for p in held])
        if device is not None:
            placement = BY_NAME[device]
            held.append(placement)
            held_names.append(device)
            assert fits_together(H100, held)
