"""Dynamic MIG through the allocator: the counters the slices publish admit exactly the
packings the hardware admits (the MIG placement rules in `dralloc.devices.mig`), on one GPU of
every MIG-capable model in the catalog.

The allocator is asked two ways. By profile, as users write claims: a hypothesis test adds
profiles one at a time and checks each answer against `fits_together`. By exact device: a walk
from an empty GPU allocates every MIG device the allocator admits, one at a time, each step
committed, and must reach exactly the packings that `fits_together` admits, found without the
allocator (spec/devices.md 2.3, 2.4 and 3.1).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import msgspec
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from dralloc.allocator import (
    AllocatedState,
    Allocator,
    AllocatorOptions,
    Inventory,
    allocated_state,
)
from dralloc.api.core import Node
from dralloc.api.meta import ObjectMeta
from dralloc.api.resource import (
    AllocationResult,
    CELDeviceSelector,
    DeviceAllocationResult,
    DeviceAttribute,
    DeviceClaim,
    DeviceClass,
    DeviceClassSpec,
    DeviceRequest,
    DeviceRequestAllocationResult,
    DeviceSelector,
    ExactDeviceRequest,
    ResourceClaim,
    ResourceClaimSpec,
    ResourceSlice,
)
from dralloc.devices import GpuModel, MigProfile, load_catalog
from dralloc.devices.mig import Placement, fits_together, placements
from dralloc.devices.slices import DRIVER, gpu_node_slices, mig_device_name
from dralloc.features import Features

CATALOG = load_catalog()
MIG_MODELS = [g for g in CATALOG.gpus if g.mig is not None]
H100 = CATALOG.gpu("h100-80gb-sxm")
NODE_NAME = "dgx-0"
NODE = Node(metadata=ObjectMeta(name=NODE_NAME))
FEATURES = Features()
WHOLE_GPU = "gpu-0"

# CEL sees no device names, so to ask for one exact device the walk gives every device a
# test-only attribute holding its own name. Attributes take no part in counter accounting,
# which is what these tests are about.
NAME_DOMAIN = "dralloc.example.com"

Packing = frozenset[Placement]
# What identifies a profile across models: (compute slices, memory slices, media extensions).
Shape = tuple[int, int, bool]
MEDIA_EXTENSION: Shape = (1, 1, True)


def _device_class(name: str, expression: str) -> DeviceClass:
    return DeviceClass(
        metadata=ObjectMeta(name=name),
        spec=DeviceClassSpec(selectors=[DeviceSelector(cel=CELDeviceSelector(expression))]),
    )


CLASSES = {
    "mig.nvidia.com": _device_class(
        "mig.nvidia.com",
        f"device.driver == '{DRIVER}' && device.attributes['{DRIVER}'].type == 'mig'",
    ),
    # Every device of the driver, whole GPUs and MIG devices alike: exact claims pick by name.
    "any.nvidia.com": _device_class("any.nvidia.com", f"device.driver == '{DRIVER}'"),
}


# Every MIG-capable model, one test case each, named after the model.
MODELS = [pytest.param(model, id=model.name) for model in MIG_MODELS]


def _with_name_attribute(slice_: ResourceSlice) -> ResourceSlice:
    devices = [
        msgspec.structs.replace(
            device,
            attributes={
                **device.attributes,
                f"{NAME_DOMAIN}/name": DeviceAttribute(string=device.name),
            },
        )
        for device in slice_.spec.devices
    ]
    return msgspec.structs.replace(
        slice_, spec=msgspec.structs.replace(slice_.spec, devices=devices)
    )


def _claim(name: str, device_class: str, expression: str) -> ResourceClaim:
    return ResourceClaim(
        metadata=ObjectMeta(name=name, namespace="default"),
        spec=ResourceClaimSpec(
            devices=DeviceClaim(
                requests=[
                    DeviceRequest(
                        name="gpu",
                        exactly=ExactDeviceRequest(
                            device_class_name=device_class,
                            selectors=[DeviceSelector(cel=CELDeviceSelector(expression))],
                        ),
                    )
                ]
            )
        ),
    )


def _held(device: str) -> ResourceClaim:
    """A claim that holds `device` (committed by an earlier allocation)."""
    claim = _claim(f"held-{device}", "any.nvidia.com", "true")
    claim.status.allocation = AllocationResult(
        devices=DeviceAllocationResult(
            results=[
                DeviceRequestAllocationResult(
                    request="gpu", driver=DRIVER, pool=NODE_NAME, device=device
                )
            ]
        )
    )
    return claim


class OneGpu:
    """One GPU (minor 0) of `model` on node dgx-0 in DynamicMIG mode, and an allocator to ask
    about it. Claims are built once per device or profile and reused, so the allocator's
    prepared-claim cache keeps thousands of questions cheap."""

    def __init__(self, model: GpuModel) -> None:
        self.model = model
        self.slices = gpu_node_slices(NODE_NAME, model, 1, mig="dynamic")
        self.inventory = Inventory(self.slices, FEATURES)
        self.named_inventory = Inventory([_with_name_attribute(s) for s in self.slices], FEATURES)
        self.allocator = Allocator(FEATURES, options=AllocatorOptions(timeout=None))
        self.placements = placements(model)
        self.names = {p: mig_device_name(0, p) for p in self.placements}
        self.by_name = {name: p for p, name in self.names.items()}
        self._held = {name: _held(name) for name in (WHOLE_GPU, *self.by_name)}
        self._exact = {
            name: _claim(
                "want", "any.nvidia.com", f"device.attributes['{NAME_DOMAIN}'].name == '{name}'"
            )
            for name in (WHOLE_GPU, *self.by_name)
        }
        self._by_profile = {
            p.name: _claim(
                "want", "mig.nvidia.com", f"device.attributes['{DRIVER}'].profile == '{p.name}'"
            )
            for p in self.profiles
        }

    @property
    def profiles(self) -> tuple[MigProfile, ...]:
        assert self.model.mig is not None
        return tuple(self.model.mig.profiles)

    def state(self, held: Iterable[str]) -> AllocatedState:
        """What claims holding the devices named in `held` leave for others."""
        return allocated_state([self._held[name] for name in held], FEATURES)

    def allocate_profile(self, profile: str, held: Sequence[str]) -> str | None:
        """The device a claim for one `profile` instance gets beside `held`, or None."""
        result = self.allocator.allocate(
            NODE, [self._by_profile[profile]], self.inventory, CLASSES, self.state(held)
        )
        return None if result is None else result[0].devices.results[0].device

    def admits(self, device: str, state: AllocatedState) -> bool:
        """Whether a claim for exactly the device named `device` can be allocated."""
        result = self.allocator.allocate(
            NODE, [self._exact[device]], self.named_inventory, CLASSES, state
        )
        if result is None:
            return False
        assert [r.device for r in result[0].devices.results] == [device]
        return True


@functools.cache
def _gpu(model_name: str) -> OneGpu:
    return OneGpu(CATALOG.gpu(model_name))


def _shape(profile: MigProfile) -> Shape:
    return (profile.compute_slices, profile.memory_slices, profile.is_media_extension)


def _show(packing: Iterable[Placement]) -> str:
    return " + ".join(sorted(map(str, packing))) or "(empty)"


# ------------------------------------------------------------------------- what is published


def test_an_h100_node_publishes_26_devices_per_gpu_on_its_counter_set() -> None:
    counters, gpu = _gpu(H100.name).slices
    assert counters.spec.shared_counters[0].name == "gpu-0-counter-set"
    assert len(gpu.spec.devices) == 26
    assert counters.spec.pool.resource_slice_count == 2


@pytest.mark.parametrize("model", MODELS)
def test_every_mig_model_publishes_the_whole_gpu_and_one_device_per_placement(
    model: GpuModel,
) -> None:
    gpu = _gpu(model.name)
    devices = [d.name for d in gpu.slices[1].spec.devices]
    assert devices == [WHOLE_GPU, *gpu.by_name]
    assert len(gpu.by_name) == len(gpu.placements)


# ----------------------------------------------------------------------- asking by profile


def test_seven_1g10gb_fit_and_an_eighth_does_not() -> None:
    gpu = _gpu(H100.name)
    held: list[str] = []
    for _ in range(7):
        device = gpu.allocate_profile("1g.10gb", held)
        assert device is not None
        held.append(device)
    assert gpu.allocate_profile("1g.10gb", held) is None


def test_4g40gb_and_3g40gb_fit_together_but_two_4g40gb_never() -> None:
    gpu = _gpu(H100.name)
    first = gpu.allocate_profile("4g.40gb", [])
    assert first is not None
    assert gpu.allocate_profile("3g.40gb", [first]) == "gpu-0-mig-3g40gb-9-4"
    assert gpu.allocate_profile("4g.40gb", [first]) is None


def _can_add(model: GpuModel, profile: MigProfile, held: list[Placement]) -> bool:
    return any(
        fits_together(model, [*held, candidate])
        for candidate in placements(model)
        if candidate.profile == profile
    )


SHAPES = sorted({_shape(p) for model in MIG_MODELS if model.mig for p in model.mig.profiles})


@pytest.mark.parametrize("model", MODELS)
@settings(max_examples=60, deadline=None, derandomize=True)
@given(wanted=st.lists(st.sampled_from(SHAPES), min_size=1, max_size=9))
# Two `+me` instances: only the `ofa-engines` counter (one per GPU) keeps the second out.
@example(wanted=[MEDIA_EXTENSION, MEDIA_EXTENSION])
def test_the_allocator_admits_a_mig_profile_exactly_when_the_hardware_does(
    model: GpuModel, wanted: list[Shape]
) -> None:
    gpu = _gpu(model.name)
    profiles = {_shape(p): p for p in gpu.profiles}
    held_names: list[str] = []
    held: list[Placement] = []
    for shape in wanted:
        profile = profiles.get(shape)
        if profile is None:
            continue  # this model has no profile of that shape
        device = gpu.allocate_profile(profile.name, held_names)
        context = f"{profile.name} beside {_show(held)}: allocator gave {device}"
        assert (device is not None) == _can_add(model, profile, held), context
        if device is not None:
            held.append(gpu.by_name[device])
            held_names.append(device)
            assert fits_together(model, held), context


# -------------------------------------------------------------------- asking by exact device


@dataclass(frozen=True)
class Walk:
    """What the allocator admits on one GPU, one exact MIG device at a time from empty.

    `reached`: every packing reached, the empty one included. The walk does not grow a packing
    the hardware refuses: reaching one already fails the comparison.
    `refused`: (packing, placement) steps the allocator refused although the hardware admits
    the grown packing (a refusal can hide behind another order reaching the same packing).
    """

    reached: frozenset[Packing]
    refused: tuple[tuple[Packing, Placement], ...]


@functools.cache
def _walk(model_name: str) -> Walk:
    gpu = _gpu(model_name)
    model = gpu.model
    empty: Packing = frozenset()
    reached = {empty}
    refused: list[tuple[Packing, Placement]] = []
    stack = [empty]
    while stack:
        packing = stack.pop()
        if not fits_together(model, packing):
            continue
        state = gpu.state(gpu.names[p] for p in packing)
        for placement in gpu.placements:
            if placement in packing:
                continue
            grown = packing | {placement}
            if gpu.admits(gpu.names[placement], state):
                if grown not in reached:
                    reached.add(grown)
                    stack.append(grown)
            elif fits_together(model, grown):
                refused.append((packing, placement))
    return Walk(frozenset(reached), tuple(refused))


@functools.cache
def _hardware_packings(model_name: str) -> frozenset[Packing]:
    """Every set of placements that `fits_together` admits, found without the allocator: every
    set whose memory windows are pairwise disjoint (necessary: rule 2), judged one by one."""
    model = CATALOG.gpu(model_name)
    every = placements(model)
    found: set[Packing] = set()

    def extend(index: int, chosen: list[Placement], used: frozenset[int]) -> None:
        if index == len(every):
            if fits_together(model, chosen):
                found.add(frozenset(chosen))
            return
        extend(index + 1, chosen, used)
        window = frozenset(every[index].memory_slices)
        if not window & used:
            extend(index + 1, [*chosen, every[index]], used | window)

    extend(0, [], frozenset())
    return frozenset(found)


def _examples(packings: Iterable[Packing], limit: int = 3) -> str:
    shown = sorted(_show(p) for p in packings)
    more = f" and {len(shown) - limit} more" if len(shown) > limit else ""
    return "; ".join(shown[:limit]) + more


@pytest.mark.parametrize("model", MODELS)
def test_walking_every_device_the_allocator_admits_reaches_exactly_the_hardware_packings(
    model: GpuModel,
) -> None:
    walk = _walk(model.name)
    hardware = _hardware_packings(model.name)
    refused = [f"{_show(packing)} refused {p}" for packing, p in walk.refused]
    assert not refused, f"{len(refused)} steps refused: {refused[:3]}"
    missing = hardware - walk.reached
    assert not missing, f"{len(missing)} hardware packings never reached: {_examples(missing)}"
    extra = walk.reached - hardware
    assert not extra, f"{len(extra)} packings the hardware refuses admitted: {_examples(extra)}"


def _at(profile: str, start: int) -> Placement:
    return Placement(H100.mig_profile(profile), start)


def _admits_in_turn(gpu: OneGpu, packing: Iterable[Placement]) -> bool:
    """Whether the allocator admits every device of `packing`, one at a time, each committed."""
    held: list[str] = []
    for placement in sorted(packing, key=str):
        if not gpu.admits(gpu.names[placement], gpu.state(held)):
            return False
        held.append(gpu.names[placement])
    return True


def test_on_an_h100_seven_1g10gb_fit_4g40gb_fits_with_3g40gb_and_two_4g40gb_never_do() -> None:
    gpu = _gpu(H100.name)
    hardware = _hardware_packings(H100.name)
    seven = frozenset(_at("1g.10gb", start) for start in range(7))
    assert seven in hardware
    assert _admits_in_turn(gpu, seven)
    full = gpu.state(gpu.names[p] for p in seven)
    assert not any(gpu.admits(name, full) for name in (WHOLE_GPU, *gpu.by_name))
    both = frozenset({_at("4g.40gb", 0), _at("3g.40gb", 4)})
    assert both in hardware
    assert _admits_in_turn(gpu, both)
    # H100 publishes a single 4g.40gb placement, so no packing can hold two; asking for a
    # second instance by profile is refused in test_4g40gb_and_3g40gb_fit_together_...
    assert not any(sum(p.profile.name == "4g.40gb" for p in packing) > 1 for packing in hardware)
    # Counted by `_hardware_packings`; a change here means the placement rules changed.
    assert len(hardware) == 2319


# ---------------------------------------------------------------- whole GPU versus MIG devices


@pytest.mark.parametrize("model", MODELS)
def test_the_whole_gpu_and_any_mig_device_exclude_each_other(model: GpuModel) -> None:
    gpu = _gpu(model.name)
    nothing = gpu.state([])
    whole = gpu.state([WHOLE_GPU])
    assert gpu.admits(WHOLE_GPU, nothing)
    for device in gpu.by_name:
        assert gpu.admits(device, nothing), device
        assert not gpu.admits(device, whole), f"{device} beside the whole GPU"
        assert not gpu.admits(WHOLE_GPU, gpu.state([device])), f"whole GPU beside {device}"
