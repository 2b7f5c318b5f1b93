"""Node discovery through NVML (`dralloc.devices.nvml`), against a fake NVML: a discovered node
publishes what the catalog generates for the same hardware, in every MIG layout, and the
slices validate and allocate (spec/devices.md 2.1-2.4, 3.1-3.2)."""

from __future__ import annotations

import ctypes
import functools
import inspect
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pynvml
import pytest
from fake_nvml import (
    H100_MEMORY,
    MIB,
    FakeGpu,
    FakeMigDevice,
    FakeNvml,
    h100_mig,
)

from dralloc.allocator import Allocator, Inventory, allocated_state
from dralloc.api.core import Node
from dralloc.api.meta import ObjectMeta
from dralloc.api.quantity import Quantity
from dralloc.api.resource import (
    CELDeviceSelector,
    DeviceClaim,
    DeviceRequest,
    DeviceSelector,
    ExactDeviceRequest,
    ResourceClaim,
    ResourceClaimSpec,
    ResourceSlice,
)
from dralloc.api.validation import validate
from dralloc.devices import driver_device_classes, gpu_node_slices, load_catalog, placements
from dralloc.devices.mig import Placement
from dralloc.devices.nvml import (
    Discovery,
    DiscoveryError,
    Nvml,
    NvmlReturn,
    discover,
    discover_with_pynvml,
    format_cuda_version,
    normalize_bus_id,
    normalize_driver_version,
    read_pcie_root,
)
from dralloc.devices.slices import MigInstance, PhysicalGpu, Sharing, synthetic_gpus
from dralloc.features import Features

CATALOG = load_catalog()
H100 = CATALOG.gpu("h100-80gb-sxm")
L4 = CATALOG.gpu("l4")
NODE = "dgx-0"
FEATURES = Features()
CLASSES = {c.metadata.name: c for c in driver_device_classes()}
NOMINAL_H100 = 80 * 1024 * MIB  # the catalog's 80Gi


def _nvml_bus_id(bus_id: str) -> str:
    """`0000:18:00.0` as NVML writes it: `00000000:18:00.0`, hex in upper case."""
    return "0000" + bus_id.upper()


def _fake_gpu(gpu: PhysicalGpu, **changes: Any) -> FakeGpu:
    return FakeGpu(minor=gpu.minor, uuid=gpu.uuid, bus_id=_nvml_bus_id(gpu.pci_bus_id), **changes)


def _roots(gpus: Sequence[PhysicalGpu]) -> dict[str, str]:
    return {gpu.pci_bus_id: gpu.pcie_root for gpu in gpus}


def _discover(
    fake: FakeNvml, roots: dict[str, str], *, mig: Any = "static", **kwargs: Any
) -> Discovery:
    return discover(fake, CATALOG, node_name=NODE, mig=mig, pcie_root=roots.__getitem__, **kwargs)


def _devices(discovery: Discovery) -> dict[str, Any]:
    return {d.name: d for s in discovery.slices for d in s.spec.devices}


def _shape(slices: Sequence[ResourceSlice]) -> list[tuple[str, list[tuple[str, Any, Any]]]]:
    """Slices with values that differ between machines (UUIDs, PCI addresses) left out: slice
    names, and per device its name, attribute names and kinds, and capacities."""

    def kind(attribute: Any) -> str:
        return next(f for f in attribute.__struct_fields__ if getattr(attribute, f) is not None)

    return [
        (
            s.metadata.name,
            [
                (
                    d.name,
                    sorted((name, kind(a)) for name, a in d.attributes.items()),
                    {name: str(c.value) for name, c in d.capacity.items()},
                )
                for d in s.spec.devices
            ],
        )
        for s in slices
    ]


def _allocate(slices: Sequence[ResourceSlice], device_class: str, cel: str) -> list[str] | None:
    claim = ResourceClaim(
        metadata=ObjectMeta(name="c", namespace="default"),
        spec=ResourceClaimSpec(
            devices=DeviceClaim(
                requests=[
                    DeviceRequest(
                        name="r",
                        exactly=ExactDeviceRequest(
                            device_class_name=device_class,
                            selectors=[DeviceSelector(cel=CELDeviceSelector(cel))],
                        ),
                    )
                ]
            )
        ),
    )
    result = Allocator(FEATURES).allocate(
        Node(metadata=ObjectMeta(name=NODE)),
        [claim],
        Inventory(slices, FEATURES),
        CLASSES,
        allocated_state([], FEATURES),
    )
    return None if result is None else [r.device for r in result[0].devices.results]


# A GPU in MIG mode with a mixed layout, listed in NVML's order (not placement order):
# 3g.40gb@4 + 2g.20gb@0 + 1g.10gb@2 + 1g.10gb@3.
MIXED_LAYOUT = (
    h100_mig("3g.40gb", 4, uuid="MIG-3g-at-4", gpu_instance_id=2),
    h100_mig("2g.20gb", 0, uuid="MIG-2g-at-0", gpu_instance_id=3),
    h100_mig("1g.10gb", 2, uuid="MIG-1g-at-2", gpu_instance_id=9),
    h100_mig("1g.10gb", 3, uuid="MIG-1g-at-3", gpu_instance_id=10),
)
MIG_ON = (1, 1)


def _mixed_layout_node() -> tuple[FakeNvml, list[PhysicalGpu], dict[str, str]]:
    """8 H100s, GPU 0 in MIG mode holding MIXED_LAYOUT; the PhysicalGpus the catalog path
    would be given for the same hardware."""
    synthetic = synthetic_gpus(NODE, H100, 8)
    fakes = [
        _fake_gpu(synthetic[0], mig_mode=MIG_ON, mig_devices=MIXED_LAYOUT),
        *(_fake_gpu(gpu) for gpu in synthetic[1:]),
    ]
    instances = tuple(
        MigInstance(Placement(H100.mig_profile(name), start), uuid)
        for name, start, uuid in (
            ("2g.20gb", 0, "MIG-2g-at-0"),
            ("1g.10gb", 2, "MIG-1g-at-2"),
            ("1g.10gb", 3, "MIG-1g-at-3"),
            ("3g.40gb", 4, "MIG-3g-at-4"),
        )
    )
    memory = Quantity.from_int(H100_MEMORY)
    physical = [
        PhysicalGpu(
            minor=gpu.minor,
            uuid=gpu.uuid,
            pci_bus_id=gpu.pci_bus_id,
            pcie_root=gpu.pcie_root,
            mig_enabled=gpu.minor == 0,
            mig_instances=instances if gpu.minor == 0 else (),
            memory=memory,
        )
        for gpu in synthetic
    ]
    return FakeNvml(fakes), physical, _roots(synthetic)


# ------------------------------------------------------------------------- whole GPUs


def test_an_8_h100_node_without_mig_publishes_exactly_what_the_catalog_generates() -> None:
    synthetic = synthetic_gpus(NODE, H100, 8)
    fake = FakeNvml([_fake_gpu(gpu, memory_total=NOMINAL_H100) for gpu in synthetic])
    discovery = _discover(fake, _roots(synthetic))
    assert discovery.slices == tuple(gpu_node_slices(NODE, H100, 8))
    assert [found.gpu.pci_bus_id for found in discovery.gpus] == [g.pci_bus_id for g in synthetic]
    assert discovery.warnings == ()
    assert fake.calls[-1] == "nvmlShutdown" and not fake.initialized


def test_whole_gpus_publish_the_memory_nvml_reports_and_the_driver_versions_as_semver() -> None:
    synthetic = synthetic_gpus(NODE, H100, 8)
    fake = FakeNvml(
        [_fake_gpu(gpu) for gpu in synthetic],
        driver_version="570.172.08",
        cuda_driver_version=12080,
    )
    discovery = _discover(fake, _roots(synthetic))
    expected = _shape(gpu_node_slices(NODE, H100, 8))
    for _, devices in expected:
        for _, _, capacity in devices:
            capacity["memory"] = "81559Mi"
    assert _shape(discovery.slices) == expected
    gpu = _devices(discovery)["gpu-3"]
    assert gpu.attributes["driverVersion"].version == "570.172.8"
    assert gpu.attributes["cudaDriverVersion"].version == "12.8.0"
    assert gpu.attributes["uuid"].string == synthetic[3].uuid
    assert gpu.attributes["resource.kubernetes.io/pciBusID"].string == synthetic[3].pci_bus_id
    assert gpu.attributes["resource.kubernetes.io/pcieRoot"].string == synthetic[3].pcie_root
    assert (discovery.driver_version, discovery.cuda_driver_version) == ("570.172.8", "12.8.0")


# --------------------------------------------------------------------------- static MIG


def test_a_gpu_in_mig_mode_publishes_exactly_its_existing_instances() -> None:
    fake, physical, roots = _mixed_layout_node()
    discovery = _discover(fake, roots)
    devices = _devices(discovery)
    mig = {name: d for name, d in devices.items() if name.startswith("gpu-0-")}
    assert sorted(mig) == [
        "gpu-0-mig-1g10gb-19-2",
        "gpu-0-mig-1g10gb-19-3",
        "gpu-0-mig-2g20gb-14-0",
        "gpu-0-mig-3g40gb-9-4",
    ]
    assert "gpu-0" not in devices and [f"gpu-{m}" in devices for m in range(1, 8)] == [True] * 7
    parent = physical[0].uuid
    for name, uuid, profile, memory, slices in (
        ("gpu-0-mig-3g40gb-9-4", "MIG-3g-at-4", "3g.40gb", "40448Mi", [4, 5, 6, 7]),
        ("gpu-0-mig-2g20gb-14-0", "MIG-2g-at-0", "2g.20gb", "20096Mi", [0, 1]),
        ("gpu-0-mig-1g10gb-19-2", "MIG-1g-at-2", "1g.10gb", "9984Mi", [2]),
        ("gpu-0-mig-1g10gb-19-3", "MIG-1g-at-3", "1g.10gb", "9984Mi", [3]),
    ):
        device = mig[name]
        assert device.attributes["type"].string == "mig"
        assert device.attributes["uuid"].string == uuid
        assert device.attributes["parentUUID"].string == parent
        assert device.attributes["profile"].string == profile
        assert str(device.capacity["memory"].value) == memory
        memory_slices = sorted(
            int(c.removeprefix("memorySlice"))
            for c in device.capacity
            if c.startswith("memorySlice")
        )
        assert memory_slices == slices
    assert discovery.slices == tuple(gpu_node_slices(NODE, H100, physical, mig="static"))


def test_static_mig_slices_pass_api_validation_and_allocate_a_mig_claim() -> None:
    fake, _, roots = _mixed_layout_node()
    discovery = _discover(fake, roots)
    for slice_ in discovery.slices:
        assert validate(slice_) == [], slice_.metadata.name
    profile = "device.attributes['gpu.nvidia.com'].profile == '3g.40gb'"
    assert _allocate(discovery.slices, "mig.nvidia.com", profile) == ["gpu-0-mig-3g40gb-9-4"]
    # No 4g.40gb instance exists, and static MIG creates none.
    assert _allocate(discovery.slices, "mig.nvidia.com", profile.replace("3g", "4g")) is None


def test_mig_mode_on_without_instances_publishes_nothing_for_the_gpu_and_warns() -> None:
    synthetic = synthetic_gpus(NODE, H100, 2)
    fake = FakeNvml([_fake_gpu(synthetic[0], mig_mode=MIG_ON), _fake_gpu(synthetic[1])])
    discovery = _discover(fake, _roots(synthetic))
    assert list(_devices(discovery)) == ["gpu-1"]
    (warning,) = discovery.warnings
    assert warning.startswith(f"GPU 0 (minor 0, {synthetic[0].uuid}): MIG mode is on")


def test_a_pending_mig_mode_change_is_reported_and_the_current_mode_published() -> None:
    synthetic = synthetic_gpus(NODE, H100, 1)
    fake = FakeNvml([_fake_gpu(synthetic[0], mig_mode=(0, 1))])
    discovery = _discover(fake, _roots(synthetic))
    assert list(_devices(discovery)) == ["gpu-0"]
    assert ["pending until the GPU is reset" in w for w in discovery.warnings] == [True]


def test_sharing_and_generation_reach_the_published_slices() -> None:
    fake, _, roots = _mixed_layout_node()
    discovery = _discover(fake, roots, sharing=Sharing("time-slicing"), generation=7)
    (slice_,) = discovery.slices
    assert slice_.spec.pool.generation == 7
    for device in slice_.spec.devices:
        assert device.attributes["dralloc.io/sharing"].string == "time-slicing"
        assert device.allow_multiple_allocations is True


# -------------------------------------------------------------------------- dynamic MIG


def test_dynamic_mig_publishes_every_placement_of_every_gpu_as_the_catalog_does() -> None:
    fake, physical, roots = _mixed_layout_node()
    discovery = _discover(fake, roots, mig="dynamic")
    assert discovery.slices == tuple(gpu_node_slices(NODE, H100, physical, mig="dynamic"))
    counters, *per_gpu = discovery.slices
    assert [c.name for c in counters.spec.shared_counters] == [
        f"gpu-{m}-counter-set" for m in range(8)
    ]
    assert [len(s.spec.devices) for s in per_gpu] == [1 + len(placements(H100))] * 8
    for slice_ in discovery.slices:
        assert validate(slice_) == [], slice_.metadata.name
        assert slice_.spec.pool.resource_slice_count == 9
    profile = "device.attributes['gpu.nvidia.com'].profile == '4g.40gb'"
    devices = _allocate(discovery.slices, "mig.nvidia.com", profile)
    assert devices is not None and devices[0].endswith("-mig-4g40gb-5-0")


# ---------------------------------------------------------------------------- mixed models


def _l4_and_h100() -> tuple[FakeNvml, dict[str, str]]:
    l4 = synthetic_gpus(NODE, L4, 1)[0]
    h100 = synthetic_gpus(NODE, H100, 2)[1]  # minor 1
    fake = FakeNvml(
        [
            _fake_gpu(l4, name=L4.product_name, memory_total=23034 * MIB, mig_capable=False),
            _fake_gpu(h100, mig_mode=MIG_ON, mig_devices=MIXED_LAYOUT),
        ]
    )
    return fake, _roots([l4, h100])


def test_a_node_with_two_models_publishes_one_pool_in_one_slice_with_static_mig() -> None:
    fake, roots = _l4_and_h100()
    discovery = _discover(fake, roots)
    (slice_,) = discovery.slices
    assert slice_.spec.pool.name == NODE and slice_.spec.pool.resource_slice_count == 1
    assert [d.name for d in slice_.spec.devices] == [
        "gpu-0",
        "gpu-1-mig-2g20gb-14-0",
        "gpu-1-mig-1g10gb-19-2",
        "gpu-1-mig-1g10gb-19-3",
        "gpu-1-mig-3g40gb-9-4",
    ]
    assert str(slice_.spec.devices[0].capacity["memory"].value) == "23034Mi"
    assert validate(slice_) == []
    l4 = "device.attributes['gpu.nvidia.com'].productName == 'NVIDIA L4'"
    assert _allocate(discovery.slices, "gpu.nvidia.com", l4) == ["gpu-0"]


def test_a_node_with_two_models_keeps_one_pool_with_dynamic_mig() -> None:
    fake, roots = _l4_and_h100()
    discovery = _discover(fake, roots, mig="dynamic")
    names = [s.metadata.name for s in discovery.slices]
    assert names == [
        f"{NODE}-gpu.nvidia.com-counters",
        f"{NODE}-gpu.nvidia.com-gpu-1",
        f"{NODE}-gpu.nvidia.com",
    ]
    counters, h100, whole = discovery.slices
    assert [c.name for c in counters.spec.shared_counters] == ["gpu-1-counter-set"]
    assert [d.name for d in whole.spec.devices] == ["gpu-0"]
    assert len(h100.spec.devices) == 1 + len(placements(H100))
    for slice_ in discovery.slices:
        assert slice_.spec.pool.resource_slice_count == 3
        assert validate(slice_) == [], slice_.metadata.name
    assert _allocate(discovery.slices, "mig.nvidia.com", "true") is not None


# ---------------------------------------------------------------------------------- errors


def test_a_gpu_the_catalog_does_not_know_is_an_error_saying_how_to_add_it() -> None:
    synthetic = synthetic_gpus(NODE, H100, 1)
    fake = FakeNvml([_fake_gpu(synthetic[0], name="NVIDIA Hypothetical 1TB")])
    with pytest.raises(DiscoveryError) as caught:
        _discover(fake, _roots(synthetic))
    message = str(caught.value)
    assert message.startswith(
        f"GPU 0 (minor 0, {synthetic[0].uuid}): product name 'NVIDIA Hypothetical 1TB' is "
        "not in the GPU catalog; add a model with `productName: NVIDIA Hypothetical 1TB`"
    )
    assert "dralloc/devices/data/gpus.yaml" in message and "'NVIDIA H100 80GB HBM3'" in message
    assert fake.calls[-1] == "nvmlShutdown" and not fake.initialized


def _unknown(**changes: Any) -> FakeMigDevice:
    base = h100_mig("1g.20gb", 2, uuid="MIG-odd", gpu_instance_id=4)
    return FakeMigDevice(**{**base.__dict__, **changes})


@pytest.mark.parametrize(
    ("mig_device", "expected"),
    [
        pytest.param(
            _unknown(profile_id=21),
            "GI profile ID 21 (placement start 2, size 2) is not a MIG profile of the "
            "catalog's h100-80gb-sxm",
            id="unknown-profile-id",
        ),
        pytest.param(
            _unknown(start=1),
            "1g.20gb (GI profile ID 15) is placed at start 1 with size 2, but the catalog's "
            "h100-80gb-sxm places it at starts 0, 2, 4, 6 with size 2",
            id="illegal-start",
        ),
        pytest.param(
            _unknown(size=3),
            "is placed at start 2 with size 3",
            id="wrong-size",
        ),
    ],
)
def test_a_mig_instance_the_catalog_does_not_know_is_an_error_naming_the_gpu(
    mig_device: FakeMigDevice, expected: str
) -> None:
    synthetic = synthetic_gpus(NODE, H100, 1)
    fake = FakeNvml([_fake_gpu(synthetic[0], mig_mode=MIG_ON, mig_devices=(mig_device,))])
    with pytest.raises(DiscoveryError) as caught:
        _discover(fake, _roots(synthetic))
    message = str(caught.value)
    assert message.startswith(f"GPU 0 (minor 0, {synthetic[0].uuid}): MIG device MIG-odd: ")
    assert expected in message
    assert not fake.initialized


def test_a_gpu_instance_split_into_compute_instances_is_an_error() -> None:
    synthetic = synthetic_gpus(NODE, H100, 1)
    split = (
        h100_mig("3g.40gb", 4, uuid="MIG-a", gpu_instance_id=2, ci_slices=1),
        h100_mig("3g.40gb", 4, uuid="MIG-b", gpu_instance_id=2, ci_slices=2),
    )
    for devices, expected in (
        (split, "compute instance has 1 of GPU instance 2's 3 compute slices"),
        ((*split[1:], *split[:1]), "compute instance has 2 of GPU instance 2's 3"),
        (
            tuple(h100_mig("3g.40gb", 4, uuid=u, gpu_instance_id=2) for u in ("MIG-a", "MIG-b")),
            "MIG device MIG-b: GPU instance 2 holds more than one compute instance (also MIG-a)",
        ),
    ):
        fake = FakeNvml([_fake_gpu(synthetic[0], mig_mode=MIG_ON, mig_devices=devices)])
        with pytest.raises(DiscoveryError, match=re.escape(expected)):
            _discover(fake, _roots(synthetic))


def test_reading_mig_instances_unprivileged_is_an_error_that_says_root_is_needed() -> None:
    fake, _, roots = _mixed_layout_node()
    fake.privileged = False
    with pytest.raises(DiscoveryError, match=r"Insufficient Permissions \(reading MIG GPU "):
        _discover(fake, roots)
    # Without MIG mode nothing needs privileges.
    synthetic = synthetic_gpus(NODE, H100, 2)
    fake = FakeNvml([_fake_gpu(gpu) for gpu in synthetic], privileged=False)
    assert len(_discover(fake, _roots(synthetic)).gpus) == 2


def test_an_nvml_failure_names_the_gpu_and_the_call_and_still_shuts_nvml_down() -> None:
    class LostGpu(FakeNvml):
        def nvmlDeviceGetName(self, handle: object) -> str:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_GPU_IS_LOST)

    synthetic = synthetic_gpus(NODE, H100, 1)
    fake = LostGpu([_fake_gpu(synthetic[0])])
    with pytest.raises(DiscoveryError) as caught:
        _discover(fake, _roots(synthetic))
    assert str(caught.value) == (
        f"GPU 0 (minor 0, {synthetic[0].uuid}): nvmlDeviceGetName failed: GPU is lost"
    )
    assert fake.calls[-1] == "nvmlShutdown" and not fake.initialized


def test_without_the_nvml_library_discovery_fails_cleanly_and_never_shuts_down() -> None:
    fake = FakeNvml([], library_found=False)
    with pytest.raises(DiscoveryError, match=r"^NVML library not found \(no NVIDIA driver"):
        _discover(fake, {})
    assert fake.calls == ["nvmlInit"]


def _has_libnvidia_ml() -> bool:
    try:
        ctypes.CDLL("libnvidia-ml.so.1")
    except OSError:
        return False
    return True


@pytest.mark.skipif(_has_libnvidia_ml(), reason="this machine has an NVIDIA driver")
def test_real_pynvml_without_a_driver_reports_the_missing_library_as_a_dralloc_error() -> None:
    with pytest.raises(DiscoveryError) as caught:
        discover_with_pynvml(node_name=NODE)
    assert str(caught.value) == (
        "NVML library not found (no NVIDIA driver on this machine): "
        "libnvidia-ml.so.1 could not be loaded"
    )
    assert isinstance(caught.value.__cause__, pynvml.NVMLError_LibraryNotFound)


def test_a_node_without_gpus_publishes_nothing_and_says_so() -> None:
    discovery = _discover(FakeNvml([]), {})
    assert discovery.slices == () and discovery.gpus == ()
    assert discovery.warnings == ("NVML reports no GPUs: the node publishes no ResourceSlice",)


# ---------------------------------------------------------------------------- conversions


@pytest.mark.parametrize(
    ("nvml", "published"),
    [("570.172.08", "570.172.8"), ("535.104.05", "535.104.5"), ("470.82", "470.82.0")],
)
def test_driver_versions_become_semver_as_the_driver_parses_them(nvml: str, published: str) -> None:
    assert normalize_driver_version(nvml) == published


@pytest.mark.parametrize(("nvml", "published"), [(12080, "12.8.0"), (11040, "11.4.0")])
def test_cuda_driver_versions_become_semver_as_the_driver_formats_them(
    nvml: int, published: str
) -> None:
    assert format_cuda_version(nvml) == published


@pytest.mark.parametrize(
    ("nvml", "published"),
    [
        ("00000000:18:00.0", "0000:18:00.0"),
        ("00000000:AB:1F.0", "0000:ab:1f.0"),
        ("00000001:9A:00.0", "0001:9a:00.0"),
        ("0000:18:00.0", "0000:18:00.0"),
    ],
)
def test_pci_bus_ids_become_the_sysfs_form(nvml: str, published: str) -> None:
    assert normalize_bus_id(nvml) == published


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: normalize_driver_version("r570"), "NVML driver version 'r570' is not"),
        (lambda: format_cuda_version(0), "NVML CUDA driver version 0 is not"),
        (lambda: normalize_bus_id("18:00.0"), "NVML PCI bus id '18:00.0' is not"),
    ],
)
def test_values_nvml_should_never_return_are_errors(call: Any, message: str) -> None:
    with pytest.raises(DiscoveryError, match=message):
        call()


def _sysfs_device(sysfs: Path, bus_id: str, root: str, bridge: str) -> None:
    """A device as Linux lays it out: a directory under /sys/devices/<root>/<bridge>/ and a
    relative link to it from /sys/bus/pci/devices/."""
    (sysfs / "devices" / root / bridge / bus_id).mkdir(parents=True)
    links = sysfs / "bus" / "pci" / "devices"
    links.mkdir(parents=True, exist_ok=True)
    os.symlink(f"../../../devices/{root}/{bridge}/{bus_id}", links / bus_id)


def test_the_pcie_root_is_read_from_sysfs_as_kubernetes_reads_it(tmp_path: Path) -> None:
    _sysfs_device(tmp_path, "0000:18:00.0", "pci0000:17", "0000:17:01.0")
    assert read_pcie_root("0000:18:00.0", sysfs=tmp_path) == "pci0000:17"
    with pytest.raises(OSError):
        read_pcie_root("0000:38:00.0", sysfs=tmp_path)
    os.symlink("../../../elsewhere/0000:48:00.0", tmp_path / "bus/pci/devices/0000:48:00.0")
    with pytest.raises(ValueError, match="not to a device under"):
        read_pcie_root("0000:48:00.0", sysfs=tmp_path)


def test_discovery_reads_pcie_roots_from_sysfs_and_names_a_gpu_it_cannot_place(
    tmp_path: Path,
) -> None:
    synthetic = synthetic_gpus(NODE, H100, 2)
    _sysfs_device(tmp_path, synthetic[0].pci_bus_id, "pci0000:17", "0000:17:01.0")
    fake = FakeNvml([_fake_gpu(gpu) for gpu in synthetic])
    reader = functools.partial(read_pcie_root, sysfs=tmp_path)
    with pytest.raises(DiscoveryError) as caught:
        discover(fake, CATALOG, node_name=NODE, pcie_root=reader)
    assert str(caught.value).startswith(
        f"GPU 1 (minor 1, {synthetic[1].uuid}): cannot read the PCIe root of bus 0000:38:00.0: "
    )
    _sysfs_device(tmp_path, synthetic[1].pci_bus_id, "pci0000:30", "0000:30:01.0")
    discovery = discover(fake, CATALOG, node_name=NODE, pcie_root=reader)
    assert [g.gpu.pcie_root for g in discovery.gpus] == ["pci0000:17", "pci0000:30"]


# ----------------------------------------------------------------------- fake's fidelity


def _protocol_functions() -> list[str]:
    return sorted(name for name in vars(Nvml) if name.startswith("nvml"))


def test_the_nvml_protocol_lists_exactly_the_functions_discovery_calls() -> None:
    fake, _, roots = _mixed_layout_node()
    _discover(fake, roots)
    assert sorted(set(fake.calls)) == _protocol_functions()


@pytest.mark.parametrize("name", _protocol_functions())
def test_the_fake_and_the_protocol_have_pynvml_signatures(name: str) -> None:
    def parameters(function: Any, *, bound: bool) -> list[tuple[str, Any]]:
        found = list(inspect.signature(function).parameters.values())
        return [(p.name, p.default) for p in (found[1:] if bound else found)]

    real = parameters(getattr(pynvml, name), bound=False)
    assert parameters(getattr(FakeNvml, name), bound=True) == real
    assert parameters(getattr(Nvml, name), bound=True) == real


def test_the_return_codes_discovery_reacts_to_are_pynvml_s() -> None:
    for code in NvmlReturn:
        assert getattr(pynvml, f"NVML_ERROR_{code.name}") == code.value
