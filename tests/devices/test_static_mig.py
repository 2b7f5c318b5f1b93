"""Static MIG (`mig="static"`): a GPU in MIG mode publishes the instances an operator created
(mig-parted), each a `type: mig` device with its own UUID, its parent's UUID, its profile and
one `memorySlice<i>: 1` capacity per memory slice it occupies, and no whole-GPU device
(spec/devices.md 2.1-2.4).

Names follow the driver: `gpu-<minor>-mig-<profile without dots, '+' as '-'>-<GI profile
id>-<start>`. Layouts are those `dralloc mig plan` understands (`all-1g.10gb`, `all-balanced`,
custom lists) and `mig.pack` places.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dralloc.allocator import Allocator, Inventory, allocated_state
from dralloc.api.core import Node
from dralloc.api.meta import ObjectMeta
from dralloc.api.resource import (
    CELDeviceSelector,
    Device,
    DeviceClaim,
    DeviceRequest,
    DeviceSelector,
    ExactDeviceRequest,
    ResourceClaim,
    ResourceClaimSpec,
    ResourceSlice,
)
from dralloc.api.validation import validate
from dralloc.devices import (
    GpuModel,
    MigInstance,
    PhysicalGpu,
    Placement,
    driver_device_classes,
    fits_together,
    gpu_node_slices,
    load_catalog,
    mig_device_name,
    pack,
)
from dralloc.devices.migplan import parse_profiles
from dralloc.features import Features

CATALOG = load_catalog()
H100 = CATALOG.gpu("h100-80gb-sxm")
MIG_MODELS = [g for g in CATALOG.gpus if g.mig is not None]
FEATURES = Features()
NODE_NAME = "node-0"
CLASSES = {c.metadata.name: c for c in driver_device_classes()}
_MEMORY_SLICE = re.compile(r"^memorySlice(\d+)$")


def _devices(slices: list[ResourceSlice]) -> list[Device]:
    return [d for s in slices for d in s.spec.devices]


def _static(model: GpuModel, layout: str, gpus: int = 1) -> list[ResourceSlice]:
    profiles = parse_profiles(model, layout)
    return gpu_node_slices(NODE_NAME, model, gpus, mig="static", mig_layout=profiles)


def _window(device: Device) -> list[int]:
    """The memory slices a static MIG device says it occupies, in order."""
    found = []
    for name, capacity in device.capacity.items():
        match = _MEMORY_SLICE.match(name)
        if match:
            assert str(capacity.value) == "1", (device.name, name)
            found.append(int(match.group(1)))
    return sorted(found)


def _placement(model: GpuModel, device: Device) -> Placement:
    """The placement a published static MIG device stands for (profile attribute, window)."""
    profile_name = device.attributes["profile"].string
    assert profile_name is not None
    profile = model.mig_profile(profile_name)
    window = _window(device)
    assert window, device.name
    placement = Placement(profile, window[0])
    assert window == list(placement.memory_slices), device.name
    return placement


# ----------------------------------------------------------------------------- layouts


def test_all_1g_10gb_publishes_seven_instances_per_gpu_at_starts_0_to_6() -> None:
    devices = _devices(_static(H100, "all-1g.10gb", gpus=2))
    assert [d.name for d in devices] == [
        f"gpu-{minor}-mig-1g10gb-19-{start}" for minor in (0, 1) for start in range(7)
    ]
    for device in devices:
        assert device.attributes["type"].string == "mig"
        assert device.attributes["profile"].string == "1g.10gb"
        start = int(device.name.rsplit("-", 1)[1])
        assert _window(device) == [start]


def test_all_balanced_on_h100_publishes_two_1g_one_2g_and_one_3g() -> None:
    devices = _devices(_static(H100, "all-balanced"))
    by_profile = sorted(d.attributes["profile"].string or "" for d in devices)
    assert by_profile == ["1g.10gb", "1g.10gb", "2g.20gb", "3g.40gb"]
    # The only packings put the 3g at slices 4-7 (3g at 0 leaves no room for two 1g.10gb
    # besides a 2g), and pack places the larger windows first at their lowest starts.
    assert sorted(d.name for d in devices) == sorted(
        [
            "gpu-0-mig-3g40gb-9-4",
            "gpu-0-mig-2g20gb-14-0",
            "gpu-0-mig-1g10gb-19-2",
            "gpu-0-mig-1g10gb-19-3",
        ]
    )
    assert fits_together(H100, [_placement(H100, d) for d in devices])


def test_a_custom_layout_publishes_its_instances_with_their_windows() -> None:
    devices = {d.name: d for d in _devices(_static(H100, "4g.40gb,3g.40gb"))}
    assert sorted(devices) == ["gpu-0-mig-3g40gb-9-4", "gpu-0-mig-4g40gb-5-0"]
    assert _window(devices["gpu-0-mig-4g40gb-5-0"]) == [0, 1, 2, 3]
    assert _window(devices["gpu-0-mig-3g40gb-9-4"]) == [4, 5, 6, 7]


def test_a_media_extension_profile_is_named_with_a_dash() -> None:
    devices = _devices(_static(H100, "1g.10gb+me,3g.40gb"))
    names = sorted(d.name for d in devices)
    assert names == ["gpu-0-mig-1g10gb-me-20-4", "gpu-0-mig-3g40gb-9-0"]
    placement = Placement(H100.mig_profile("1g.10gb+me"), 4)
    assert mig_device_name(0, placement) == "gpu-0-mig-1g10gb-me-20-4"


def test_static_mig_devices_carry_uuids_parent_uuids_and_the_profile_capacities() -> None:
    slices = _static(H100, "3g.40gb,2x2g.20gb", gpus=2)
    (resource_slice,) = slices
    assert resource_slice.spec.shared_counters == []
    devices = _devices(slices)
    assert not [d.name for d in devices if d.attributes["type"].string != "mig"]
    uuids = [d.attributes["uuid"].string or "" for d in devices]
    assert len(set(uuids)) == len(uuids) == 6
    assert all(u.startswith("MIG-") for u in uuids)
    parents = {d.name.split("-mig-")[0]: d.attributes["parentUUID"].string for d in devices}
    assert len(set(parents.values())) == 2
    assert all((p or "").startswith("GPU-") for p in parents.values())
    # 3g at 0 would leave only start 4 for the two 2g.20gb (starts 0, 2, 4): 3g goes to 4.
    three = next(d for d in devices if d.name == "gpu-0-mig-3g40gb-9-4")
    assert three.consumes_counters == []
    assert {k: str(v.value) for k, v in three.capacity.items()} == {
        "multiprocessors": "60",
        "copyEngines": "3",
        "decoders": "3",
        "encoders": "0",
        "jpegEngines": "3",
        "ofaEngines": "0",
        "memory": "40448Mi",
        "memorySlice4": "1",
        "memorySlice5": "1",
        "memorySlice6": "1",
        "memorySlice7": "1",
    }
    assert all(c.request_policy is None for c in three.capacity.values())
    assert three.allow_multiple_allocations is None


def test_uuids_are_unique_across_the_nodes_of_a_fleet() -> None:
    uuids = [
        d.attributes["uuid"].string
        for node in ("node-0", "node-1")
        for d in _devices(
            gpu_node_slices(
                node, H100, 2, mig="static", mig_layout=parse_profiles(H100, "all-1g.10gb")
            )
        )
    ]
    assert len(set(uuids)) == len(uuids) == 28


def test_found_gpus_publish_mig_instances_or_the_whole_gpu_by_their_mig_mode() -> None:
    three = Placement(H100.mig_profile("3g.40gb"), 4)
    gpus = [
        PhysicalGpu(
            minor=0,
            uuid="GPU-00000000-0000-0000-0000-000000000000",
            pci_bus_id="0000:18:00.0",
            pcie_root="pci0000:10",
            mig_enabled=True,
            mig_instances=(MigInstance(three, "MIG-00000000-0000-0000-0000-000000000001"),),
        ),
        PhysicalGpu(
            minor=1,
            uuid="GPU-00000000-0000-0000-0000-000000000002",
            pci_bus_id="0000:38:00.0",
            pcie_root="pci0000:30",
        ),
    ]
    devices = {d.name: d for d in _devices(gpu_node_slices(NODE_NAME, H100, gpus, mig="static"))}
    assert sorted(devices) == ["gpu-0-mig-3g40gb-9-4", "gpu-1"]
    mig = devices["gpu-0-mig-3g40gb-9-4"]
    assert mig.attributes["uuid"].string == "MIG-00000000-0000-0000-0000-000000000001"
    assert mig.attributes["parentUUID"].string == "GPU-00000000-0000-0000-0000-000000000000"
    assert _window(mig) == [4, 5, 6, 7]
    assert devices["gpu-1"].attributes["type"].string == "gpu"


def test_found_instances_that_cannot_coexist_are_refused() -> None:
    four = Placement(H100.mig_profile("4g.40gb"), 0)
    three = Placement(H100.mig_profile("3g.40gb"), 0)
    gpu = PhysicalGpu(
        minor=0,
        uuid="GPU-00000000-0000-0000-0000-000000000000",
        pci_bus_id="0000:18:00.0",
        pcie_root="pci0000:10",
        mig_enabled=True,
        mig_instances=(MigInstance(four, "MIG-a"), MigInstance(three, "MIG-b")),
    )
    with pytest.raises(ValueError, match="cannot coexist"):
        gpu_node_slices(NODE_NAME, H100, [gpu], mig="static")


def test_static_mig_needs_a_layout_and_the_layout_must_fit() -> None:
    with pytest.raises(ValueError, match="static MIG needs a MIG layout"):
        gpu_node_slices(NODE_NAME, H100, 1, mig="static")
    with pytest.raises(ValueError, match="does not fit one"):
        gpu_node_slices(
            NODE_NAME, H100, 1, mig="static", mig_layout=[H100.mig_profile("4g.40gb")] * 2
        )


@pytest.mark.parametrize("model", MIG_MODELS, ids=lambda m: m.name)
@pytest.mark.parametrize("layout", ["all-balanced", "all-1g", "all-7g"])
def test_static_layouts_of_every_mig_model_pass_api_validation(
    model: GpuModel, layout: str
) -> None:
    assert model.mig is not None
    smallest = model.mig.profiles[0].name
    largest = max(model.mig.profiles, key=lambda p: p.memory_slices).name
    text = {"all-balanced": "all-balanced", "all-1g": f"all-{smallest}", "all-7g": largest}
    slices = _static(model, text[layout], gpus=2)
    for resource_slice in slices:
        assert validate(resource_slice) == []
    for device in _devices(slices):
        _placement(model, device)  # each device's window matches its profile and start


# --------------------------------------------------------------------------- allocation


def _claim(profile: str, count: int = 1) -> ResourceClaim:
    expression = f"device.attributes['gpu.nvidia.com'].profile == '{profile}'"
    request = ExactDeviceRequest(
        device_class_name="mig.nvidia.com",
        count=count,
        selectors=[DeviceSelector(cel=CELDeviceSelector(expression))],
    )
    return ResourceClaim(
        metadata=ObjectMeta(name=f"want-{profile}", namespace="default"),
        spec=ResourceClaimSpec(
            devices=DeviceClaim(requests=[DeviceRequest(name="mig", exactly=request)])
        ),
    )


def _allocate(slices: list[ResourceSlice], claim: ResourceClaim) -> list[str] | None:
    results = Allocator(FEATURES).allocate(
        Node(metadata=ObjectMeta(name=NODE_NAME)),
        [claim],
        Inventory(slices, FEATURES),
        CLASSES,
        allocated_state([], FEATURES),
    )
    return None if results is None else [r.device for r in results[0].devices.results]


def test_a_claim_for_a_profile_in_the_layout_gets_an_existing_instance() -> None:
    slices = _static(H100, "all-balanced")
    assert _allocate(slices, _claim("3g.40gb")) == ["gpu-0-mig-3g40gb-9-4"]
    assert _allocate(slices, _claim("1g.10gb", count=2)) == [
        "gpu-0-mig-1g10gb-19-2",
        "gpu-0-mig-1g10gb-19-3",
    ]


def test_a_claim_for_more_instances_than_the_layout_holds_fails() -> None:
    slices = _static(H100, "all-1g.10gb")
    assert _allocate(slices, _claim("1g.10gb", count=7)) is not None
    assert _allocate(slices, _claim("1g.10gb", count=8)) is None


@pytest.mark.parametrize("profile", ["2g.20gb", "7g.80gb", "1g.20gb"])
def test_a_claim_for_a_profile_not_in_the_layout_fails(profile: str) -> None:
    """Static MIG creates nothing on allocation: only existing instances can be handed out."""
    assert _allocate(_static(H100, "all-1g.10gb"), _claim(profile)) is None


def test_no_whole_gpu_is_offered_for_a_gpu_in_mig_mode() -> None:
    slices = _static(H100, "all-1g.10gb")
    request = ExactDeviceRequest(device_class_name="gpu.nvidia.com")
    claim = ResourceClaim(
        metadata=ObjectMeta(name="whole", namespace="default"),
        spec=ResourceClaimSpec(
            devices=DeviceClaim(requests=[DeviceRequest(name="gpu", exactly=request)])
        ),
    )
    assert _allocate(slices, claim) is None


# ------------------------------------------------------------- property: random layouts


@st.composite
def _layouts(draw: st.DrawFn) -> tuple[GpuModel, list[str]]:
    model = draw(st.sampled_from(MIG_MODELS))
    assert model.mig is not None
    names = [p.name for p in model.mig.profiles]
    return model, draw(st.lists(st.sampled_from(names), min_size=1, max_size=7))


@settings(max_examples=80, deadline=None)
@given(_layouts())
def test_packable_layouts_publish_disjoint_windows_that_fit_together(
    case: tuple[GpuModel, list[str]],
) -> None:
    model, names = case
    profiles = [model.mig_profile(name) for name in names]
    if pack(model, profiles) is None:
        with pytest.raises(ValueError, match="does not fit"):
            gpu_node_slices(NODE_NAME, model, 1, mig="static", mig_layout=profiles)
        return
    devices = _devices(gpu_node_slices(NODE_NAME, model, 2, mig="static", mig_layout=profiles))
    assert len(devices) == 2 * len(profiles)
    for minor in (0, 1):
        mine = [d for d in devices if d.name.startswith(f"gpu-{minor}-mig-")]
        placements = [_placement(model, d) for d in mine]
        assert sorted(p.profile.name for p in placements) == sorted(names)
        assert [d.name for d in mine] == [mig_device_name(minor, p) for p in placements]
        used: set[int] = set()
        for placement in placements:
            window = set(placement.memory_slices)
            assert not used & window, placement
            used |= window
        assert fits_together(model, placements)
    uuids = [d.attributes["uuid"].string for d in devices]
    assert len(set(uuids)) == len(uuids)
