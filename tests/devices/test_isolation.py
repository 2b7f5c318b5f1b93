"""What protects each allocated GPU device (`dralloc.devices.isolation`): the mechanism, what
the allocation books ("accounted") and what hardware or the driver guarantees ("enforced").

Allocations come from the real allocator on slices shaped as the driver publishes them
(whole GPUs, static MIG, dralloc's sharing modes), with NVIDIA configs from the sharing
classes or from the claim; `dralloc allocate` writes the same entries into the annotation
`dralloc.io/isolation`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from dralloc.allocator import Allocator, AllocatorOptions, Inventory, allocated_state
from dralloc.api.core import Node
from dralloc.api.io import dump, kube_dict, list_document
from dralloc.api.meta import ObjectMeta
from dralloc.api.quantity import Quantity
from dralloc.api.resource import (
    AllocationResult,
    CapacityRequirements,
    CELDeviceSelector,
    Device,
    DeviceAllocationResult,
    DeviceCapacity,
    DeviceClaim,
    DeviceClaimConfiguration,
    DeviceClass,
    DeviceClassSpec,
    DeviceRequest,
    DeviceRequestAllocationResult,
    DeviceSelector,
    ExactDeviceRequest,
    OpaqueDeviceConfiguration,
    ResourceClaim,
    ResourceClaimSpec,
    ResourcePool,
    ResourceSlice,
    ResourceSliceSpec,
)
from dralloc.cli.main import app
from dralloc.devices import (
    DeviceIsolation,
    Sharing,
    allocation_isolation,
    claim_isolation,
    driver_device_classes,
    gpu_node_slices,
    load_catalog,
)
from dralloc.devices.isolation import DeviceKey, with_mode_conflicts
from dralloc.features import Features
from dralloc.testing import sequential_share_ids

CATALOG = load_catalog()
H100 = CATALOG.gpu("h100-80gb-sxm")
L4 = CATALOG.gpu("l4")
FEATURES = Features()
NODE_NAME = "node-0"
NODE = Node(metadata=ObjectMeta(name=NODE_NAME))
OTHER_DRIVER = "fpga.example.com"
NVIDIA_API = "resource.nvidia.com/v1beta1"
TIME_SLICING_NOTE = "the MIG instance bounds all sharers together"
FRACTIONAL_NOTE = "fractional share accounted by the scheduler only; nothing enforces it"


def _other_class() -> DeviceClass:
    return DeviceClass(
        metadata=ObjectMeta(name=OTHER_DRIVER),
        spec=DeviceClassSpec(
            selectors=[DeviceSelector(cel=CELDeviceSelector(f"device.driver == '{OTHER_DRIVER}'"))]
        ),
    )


CLASSES = {c.metadata.name: c for c in [*driver_device_classes(), _other_class()]}
STATIC_LAYOUT = [H100.mig_profile("3g.40gb"), H100.mig_profile("1g.10gb")]
MIG_3G = "gpu-0-mig-3g40gb-9-0"


def _config(parameters: dict[str, Any]) -> DeviceClaimConfiguration:
    return DeviceClaimConfiguration(
        requests=["gpu"],
        opaque=OpaqueDeviceConfiguration(driver="gpu.nvidia.com", parameters=parameters),
    )


def _sharing(kind: str, sharing: dict[str, Any] | None) -> dict[str, Any]:
    parameters: dict[str, Any] = {"apiVersion": NVIDIA_API, "kind": kind}
    if sharing is not None:
        parameters["sharing"] = sharing
    return parameters


def _claim(
    device_class: str,
    requests: dict[str, str] | None = None,
    *,
    config: dict[str, Any] | None = None,
    selector: str = "",
) -> ResourceClaim:
    capacity = None
    if requests:
        capacity = CapacityRequirements(
            requests={k: Quantity.parse(v) for k, v in requests.items()}
        )
    exactly = ExactDeviceRequest(
        device_class_name=device_class,
        selectors=[DeviceSelector(cel=CELDeviceSelector(selector))] if selector else [],
        capacity=capacity,
    )
    return ResourceClaim(
        metadata=ObjectMeta(name="claim", namespace="default"),
        spec=ResourceClaimSpec(
            devices=DeviceClaim(
                requests=[DeviceRequest(name="gpu", exactly=exactly)],
                config=[_config(config)] if config is not None else [],
            )
        ),
    )


def _device_map(slices: list[ResourceSlice]) -> dict[DeviceKey, Device]:
    return {(s.spec.driver, s.spec.pool.name, d.name): d for s in slices for d in s.spec.devices}


def _isolation(slices: list[ResourceSlice], claim: ResourceClaim) -> DeviceIsolation:
    """The single isolation entry of `claim` allocated alone on `slices`."""
    allocator = Allocator(FEATURES, options=AllocatorOptions(share_ids=sequential_share_ids()))
    results = allocator.allocate(
        NODE, [claim], Inventory(slices, FEATURES), CLASSES, allocated_state([], FEATURES)
    )
    assert results is not None, "the claim must be allocated"
    claim.status.allocation = results[0]
    (entry,) = claim_isolation(claim, _device_map(slices))
    assert entry == allocation_isolation(results[0], _device_map(slices))[0]
    return entry


def _capacities(device: Device) -> dict[str, str]:
    return {name: str(capacity.value) for name, capacity in device.capacity.items()}


def _published(slices: list[ResourceSlice], name: str) -> Device:
    return next(d for s in slices for d in s.spec.devices if d.name == name)


# ---------------------------------------------------------------------------- exclusive


def test_a_dedicated_whole_gpu_is_exclusive_and_enforces_the_whole_device() -> None:
    slices = gpu_node_slices(NODE_NAME, L4, 1)
    entry = _isolation(slices, _claim("gpu.nvidia.com"))
    assert entry == DeviceIsolation(
        request="gpu",
        device=f"gpu.nvidia.com/{NODE_NAME}/gpu-0",
        mechanism="exclusive",
        accounted={"memory": "24Gi"},
        enforced={"memory": "24Gi"},
    )
    assert entry.to_dict() == {
        "request": "gpu",
        "device": f"gpu.nvidia.com/{NODE_NAME}/gpu-0",
        "mechanism": "exclusive",
        "accounted": {"memory": "24Gi"},
        "enforced": {"memory": "24Gi"},
    }


def test_a_dedicated_mig_device_is_protected_by_the_hardware() -> None:
    slices = gpu_node_slices(NODE_NAME, H100, 1, mig="static", mig_layout=STATIC_LAYOUT)
    profile = "device.attributes['gpu.nvidia.com'].profile == '3g.40gb'"
    entry = _isolation(slices, _claim("mig.nvidia.com", selector=profile))
    capacities = _capacities(_published(slices, MIG_3G))
    assert (entry.device, entry.mechanism) == (f"gpu.nvidia.com/{NODE_NAME}/{MIG_3G}", "mig")
    assert entry.accounted == entry.enforced == capacities
    assert capacities["memory"] == "40448Mi" and capacities["multiprocessors"] == "60"
    assert (entry.note, entry.problems) == ("", ())


def test_a_dynamic_mig_device_is_protected_by_the_hardware() -> None:
    slices = gpu_node_slices(NODE_NAME, H100, 1, mig="dynamic")
    profile = "device.attributes['gpu.nvidia.com'].profile == '1g.10gb'"
    entry = _isolation(slices, _claim("mig.nvidia.com", selector=profile))
    assert entry.mechanism == "mig"
    assert entry.enforced["memory"] == "9984Mi"


# ------------------------------------------------------------------------- time-slicing


def test_time_slicing_from_a_claim_config_enforces_nothing_per_sharer() -> None:
    slices = gpu_node_slices(NODE_NAME, L4, 1)
    config = _sharing(
        "GpuConfig", {"strategy": "TimeSlicing", "timeSlicingConfig": {"interval": "Long"}}
    )
    entry = _isolation(slices, _claim("gpu.nvidia.com", config=config))
    assert entry.mechanism == "time-slicing"
    assert entry.accounted == {"memory": "24Gi"}  # a dedicated device books all of it
    assert entry.enforced == {}
    assert entry.note == ""


def test_a_gpu_config_without_sharing_is_time_slicing() -> None:
    slices = gpu_node_slices(NODE_NAME, L4, 1)
    entry = _isolation(slices, _claim("gpu.nvidia.com", config=_sharing("GpuConfig", None)))
    assert (entry.mechanism, entry.enforced) == ("time-slicing", {})


def test_a_time_sliced_gpu_books_a_replica_and_enforces_nothing() -> None:
    slices = gpu_node_slices(NODE_NAME, L4, 1, sharing=Sharing("time-slicing", replicas=4))
    entry = _isolation(slices, _claim("gpu-time-slicing.dralloc.io"))
    assert entry.mechanism == "time-slicing"
    assert entry.accounted == {"memory": "0", "replicas": "1"}
    assert entry.enforced == {}


def test_time_slicing_inside_a_mig_instance_notes_that_the_instance_bounds_the_sharers() -> None:
    slices = gpu_node_slices(NODE_NAME, H100, 1, mig="static", mig_layout=STATIC_LAYOUT)
    profile = "device.attributes['gpu.nvidia.com'].profile == '3g.40gb'"
    config = _sharing("MigDeviceConfig", {"strategy": "TimeSlicing"})
    entry = _isolation(slices, _claim("mig.nvidia.com", config=config, selector=profile))
    assert entry.mechanism == "mig+time-slicing"
    assert entry.enforced == {}
    assert entry.note == TIME_SLICING_NOTE
    assert entry.problems == ()


def test_a_time_sliced_mig_device_from_the_sharing_class_is_mig_plus_time_slicing() -> None:
    slices = gpu_node_slices(
        NODE_NAME, H100, 1, mig="static", mig_layout=STATIC_LAYOUT, sharing=Sharing("time-slicing")
    )
    profile = "device.attributes['gpu.nvidia.com'].profile == '1g.10gb'"
    entry = _isolation(slices, _claim("mig-time-slicing.dralloc.io", selector=profile))
    assert entry.mechanism == "mig+time-slicing"
    assert entry.accounted["replicas"] == "1"
    assert (entry.enforced, entry.note) == ({}, TIME_SLICING_NOTE)


# ---------------------------------------------------------------------------------- MPS


def test_mps_on_a_shared_gpu_enforces_the_booked_percentage_and_memory() -> None:
    slices = gpu_node_slices(NODE_NAME, H100, 1, sharing=Sharing("mps"))
    claim = _claim("gpu-mps.dralloc.io", {"activeThreadPercentage": "30", "memory": "10Gi"})
    entry = _isolation(slices, claim)
    assert entry.mechanism == "mps"
    assert entry.accounted == {"memory": "10Gi", "clients": "1", "activeThreadPercentage": "30"}
    assert entry.enforced == {"activeThreadPercentage": "30", "pinnedMemoryLimit": "10Gi"}


def test_an_mps_config_sets_the_enforced_limits_and_a_limit_above_the_booking_is_a_problem() -> (
    None
):
    slices = gpu_node_slices(NODE_NAME, H100, 1, sharing=Sharing("mps"))
    config = _sharing(
        "GpuConfig",
        {
            "strategy": "MPS",
            "mpsConfig": {
                "defaultActiveThreadPercentage": 25,
                "defaultPinnedDeviceMemoryLimit": "16Gi",
            },
        },
    )
    claim = _claim(
        "gpu-mps.dralloc.io", {"activeThreadPercentage": "40", "memory": "8Gi"}, config=config
    )
    entry = _isolation(slices, claim)
    # The driver's MPS daemon applies the config's limits, not what the claim booked.
    assert entry.enforced == {"activeThreadPercentage": "25", "pinnedMemoryLimit": "16Gi"}
    (problem,) = entry.problems
    assert "pinned memory limit of 16Gi, more than the 8Gi" in problem


def test_mps_on_a_dedicated_gpu_enforces_the_config_defaults() -> None:
    slices = gpu_node_slices(NODE_NAME, H100, 1)
    config = _sharing(
        "GpuConfig",
        {
            "strategy": "MPS",
            "mpsConfig": {
                "defaultActiveThreadPercentage": 25,
                "defaultPinnedDeviceMemoryLimit": "16Gi",
            },
        },
    )
    entry = _isolation(slices, _claim("gpu.nvidia.com", config=config))
    assert entry.mechanism == "mps"
    assert entry.accounted == {"memory": "80Gi"}
    assert entry.enforced == {"activeThreadPercentage": "25", "pinnedMemoryLimit": "16Gi"}


def test_mps_without_limits_lets_each_client_use_every_thread() -> None:
    slices = gpu_node_slices(NODE_NAME, H100, 1)
    config = _sharing("GpuConfig", {"strategy": "MPS"})
    entry = _isolation(slices, _claim("gpu.nvidia.com", config=config))
    assert (entry.mechanism, entry.enforced) == ("mps", {"activeThreadPercentage": "100"})


def test_mps_inside_a_shared_mig_instance_is_mig_plus_mps_with_the_booked_limits() -> None:
    slices = gpu_node_slices(
        NODE_NAME, H100, 1, mig="static", mig_layout=STATIC_LAYOUT, sharing=Sharing("mps")
    )
    profile = "device.attributes['gpu.nvidia.com'].profile == '3g.40gb'"
    claim = _claim(
        "mig-mps.dralloc.io",
        {"activeThreadPercentage": "50", "memory": "4Gi"},
        selector=profile,
    )
    entry = _isolation(slices, claim)
    assert entry.mechanism == "mig+mps"
    assert entry.enforced == {"activeThreadPercentage": "50", "pinnedMemoryLimit": "4Gi"}
    assert entry.accounted["clients"] == "1" and entry.accounted["memorySlice0"] == "0"
    assert entry.problems == ()


def test_mps_inside_a_dedicated_mig_instance_takes_the_mig_device_config() -> None:
    slices = gpu_node_slices(NODE_NAME, H100, 1, mig="static", mig_layout=STATIC_LAYOUT)
    profile = "device.attributes['gpu.nvidia.com'].profile == '3g.40gb'"
    config = _sharing(
        "MigDeviceConfig",
        {"strategy": "MPS", "mpsConfig": {"defaultActiveThreadPercentage": 50}},
    )
    entry = _isolation(slices, _claim("mig.nvidia.com", config=config, selector=profile))
    assert entry.mechanism == "mig+mps"
    assert entry.enforced == {"activeThreadPercentage": "50"}


# ------------------------------------------------------------------------ nothing enforced


def test_a_fractional_share_is_accounted_but_nothing_enforces_it() -> None:
    slices = gpu_node_slices(NODE_NAME, H100, 1, sharing=Sharing("fractional"))
    entry = _isolation(
        slices, _claim("gpu-fractional.dralloc.io", {"cores": "30", "memory": "20Gi"})
    )
    assert entry.mechanism == "none"
    assert entry.accounted == {"memory": "20Gi", "cores": "30"}
    assert entry.enforced == {}
    assert entry.note == FRACTIONAL_NOTE
    assert entry.to_dict()["note"] == FRACTIONAL_NOTE


def test_a_config_overrides_the_mode_the_device_publishes() -> None:
    slices = gpu_node_slices(NODE_NAME, H100, 1, sharing=Sharing("fractional"))
    config = _sharing(
        "GpuConfig", {"strategy": "MPS", "mpsConfig": {"defaultActiveThreadPercentage": 30}}
    )
    claim = _claim("gpu-fractional.dralloc.io", {"cores": "30", "memory": "20Gi"}, config=config)
    entry = _isolation(slices, claim)
    assert entry.mechanism == "mps"
    # The driver's MPS daemon gets the config's limits; what a fractional device books is
    # only accounted, so the booked 20Gi is not an enforced pinned-memory limit.
    assert entry.enforced == {"activeThreadPercentage": "30"}


def _other_driver_slices(shared: bool) -> list[ResourceSlice]:
    device = Device(
        name="fpga-0",
        capacity={
            "bandwidth": DeviceCapacity(value=Quantity.parse("100")),
        },
        allow_multiple_allocations=True if shared else None,
    )
    return [
        ResourceSlice(
            metadata=ObjectMeta(name=f"{NODE_NAME}-fpga"),
            spec=ResourceSliceSpec(
                driver=OTHER_DRIVER,
                node_name=NODE_NAME,
                pool=ResourcePool(name=NODE_NAME, generation=1, resource_slice_count=1),
                devices=[device],
            ),
        )
    ]


def test_a_shared_device_of_another_driver_is_protected_by_nothing() -> None:
    slices = _other_driver_slices(shared=True)
    entry = _isolation(slices, _claim(OTHER_DRIVER, {"bandwidth": "40"}))
    assert entry == DeviceIsolation(
        request="gpu",
        device=f"{OTHER_DRIVER}/{NODE_NAME}/fpga-0",
        mechanism="none",
        accounted={"bandwidth": "40"},
        enforced={},
    )


def test_a_dedicated_device_of_another_driver_is_exclusive() -> None:
    slices = _other_driver_slices(shared=False)
    entry = _isolation(slices, _claim(OTHER_DRIVER))
    assert (entry.mechanism, entry.accounted, entry.enforced) == (
        "exclusive",
        {"bandwidth": "100"},
        {"bandwidth": "100"},
    )


# --------------------------------------------------------------------------- problems


def test_a_gpu_config_applied_to_a_mig_device_is_reported_as_a_problem() -> None:
    slices = gpu_node_slices(NODE_NAME, H100, 1, mig="static", mig_layout=STATIC_LAYOUT)
    profile = "device.attributes['gpu.nvidia.com'].profile == '3g.40gb'"
    config = _sharing("GpuConfig", {"strategy": "MPS"})
    entry = _isolation(slices, _claim("mig.nvidia.com", config=config, selector=profile))
    assert entry.mechanism == "mig"  # the GpuConfig does not configure the MIG device
    (problem,) = entry.problems
    assert "GpuConfig" in problem and "mig" in problem
    assert entry.to_dict()["problems"] == [problem]


def test_an_unallocated_claim_has_no_isolation_entries() -> None:
    assert claim_isolation(_claim("gpu.nvidia.com"), {}) == []


def test_every_result_of_an_allocation_gets_an_entry_in_order() -> None:
    slices = gpu_node_slices(NODE_NAME, L4, 2)
    results = [
        DeviceRequestAllocationResult(
            request=request, driver="gpu.nvidia.com", pool=NODE_NAME, device=device
        )
        for request, device in (("a", "gpu-1"), ("b", "gpu-0"))
    ]
    allocation = AllocationResult(devices=DeviceAllocationResult(results=results))
    entries = allocation_isolation(allocation, _device_map(slices))
    assert [(e.request, e.device, e.mechanism) for e in entries] == [
        ("a", f"gpu.nvidia.com/{NODE_NAME}/gpu-1", "exclusive"),
        ("b", f"gpu.nvidia.com/{NODE_NAME}/gpu-0", "exclusive"),
    ]


# ---------------------------------------------------------------------------------- CLI


def _write_slices(tmp_path: Path, slices: list[ResourceSlice], node: str) -> str:
    node_object = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": node}}
    items = [
        node_object,
        *(kube_dict(c) for c in driver_device_classes()),
        *(kube_dict(s) for s in slices),
    ]
    path = tmp_path / "cluster.yaml"
    path.write_text(dump(list_document(items), "yaml"), encoding="utf-8")
    return str(path)


def _write_claim(tmp_path: Path, name: str, claim: ResourceClaim) -> str:
    claim.metadata.name = name
    path = tmp_path / f"{name}.yaml"
    path.write_text(dump(kube_dict(claim), "yaml"), encoding="utf-8")
    return str(path)


def _annotations(stdout: str) -> dict[str, list[dict[str, Any]]]:
    document = json.loads(stdout)
    found = {}
    for item in document["items"]:
        annotations = item["metadata"].get("annotations", {})
        if "dralloc.io/isolation" in annotations:
            found[item["metadata"]["name"]] = json.loads(annotations["dralloc.io/isolation"])
    return found


def test_allocate_writes_the_isolation_of_every_gpu_into_an_annotation(tmp_path: Path) -> None:
    slices = gpu_node_slices(NODE_NAME, H100, 1, sharing=Sharing("mps"))
    cluster = _write_slices(tmp_path, slices, NODE_NAME)
    mps = _write_claim(
        tmp_path,
        "mps",
        _claim("gpu-mps.dralloc.io", {"activeThreadPercentage": "30", "memory": "10Gi"}),
    )
    result = CliRunner().invoke(app, ["allocate", "-f", cluster, "-f", mps, "-o", "json"])
    assert result.exit_code == 0, result.stderr
    device = f"gpu.nvidia.com/{NODE_NAME}/gpu-0"
    assert _annotations(result.stdout) == {
        "mps": [
            {
                "request": "gpu",
                "device": device,
                "mechanism": "mps",
                "accounted": {"memory": "10Gi", "clients": "1", "activeThreadPercentage": "30"},
                "enforced": {"activeThreadPercentage": "30", "pinnedMemoryLimit": "10Gi"},
                "note": "limits as booked, in dralloc's MPS sharing model; NVIDIA's driver "
                "itself applies only the limits a GpuConfig/MigDeviceConfig mpsConfig sets",
            }
        ]
    }
    assert result.stderr.splitlines() == [
        f"allocated on node {NODE_NAME}",
        f"  ResourceClaim default/mps gpu: {device} [mps] enforced: "
        "activeThreadPercentage=30, pinnedMemoryLimit=10Gi",
    ]


def test_allocate_annotates_fractional_shares_and_exclusive_gpus(tmp_path: Path) -> None:
    slices = [
        *gpu_node_slices(NODE_NAME, H100, 1, sharing=Sharing("fractional")),
    ]
    cluster = _write_slices(tmp_path, slices, NODE_NAME)
    share = _write_claim(
        tmp_path, "share", _claim("gpu-fractional.dralloc.io", {"cores": "50", "memory": "40Gi"})
    )
    result = CliRunner().invoke(app, ["allocate", "-f", cluster, "-f", share, "-o", "json"])
    assert result.exit_code == 0, result.stderr
    (entry,) = _annotations(result.stdout)["share"]
    assert entry["mechanism"] == "none"
    assert entry["note"] == FRACTIONAL_NOTE
    assert entry["enforced"] == {}
    assert result.stderr.splitlines()[-1] == (
        f"  ResourceClaim default/share gpu: gpu.nvidia.com/{NODE_NAME}/gpu-0 [none] "
        "enforced: nothing"
    )


def test_allocate_annotates_a_dedicated_gpu_without_a_stderr_line(tmp_path: Path) -> None:
    cluster = _write_slices(tmp_path, gpu_node_slices(NODE_NAME, L4, 1), NODE_NAME)
    claim = _write_claim(tmp_path, "solo", _claim("gpu.nvidia.com"))
    result = CliRunner().invoke(app, ["allocate", "-f", cluster, "-f", claim, "-o", "json"])
    assert result.exit_code == 0, result.stderr
    (entry,) = _annotations(result.stdout)["solo"]
    assert (entry["mechanism"], entry["enforced"]) == ("exclusive", {"memory": "24Gi"})
    assert result.stderr.splitlines() == [f"allocated on node {NODE_NAME}"]


def test_allocate_warns_about_a_gpu_config_on_a_mig_device(tmp_path: Path) -> None:
    slices = gpu_node_slices(NODE_NAME, H100, 1, mig="static", mig_layout=STATIC_LAYOUT)
    cluster = _write_slices(tmp_path, slices, NODE_NAME)
    profile = "device.attributes['gpu.nvidia.com'].profile == '3g.40gb'"
    config = _sharing("GpuConfig", {"strategy": "TimeSlicing"})
    claim = _write_claim(
        tmp_path, "wrong", _claim("mig.nvidia.com", config=config, selector=profile)
    )
    result = CliRunner().invoke(app, ["allocate", "-f", cluster, "-f", claim, "-o", "json"])
    assert result.exit_code == 0, result.stderr
    (entry,) = _annotations(result.stdout)["wrong"]
    assert entry["mechanism"] == "mig"
    (problem,) = entry["problems"]
    device = f"gpu.nvidia.com/{NODE_NAME}/{MIG_3G}"
    lines = result.stderr.splitlines()
    assert lines[0] == f"allocated on node {NODE_NAME}"
    assert lines[1].startswith(f"  ResourceClaim default/wrong gpu: {device} [mig] enforced: ")
    assert lines[2:] == [f"  warning: ResourceClaim default/wrong gpu: {problem}"]


@pytest.mark.parametrize("shared", [True, False])
def test_allocate_writes_no_annotation_for_dedicated_devices_of_other_drivers(
    tmp_path: Path, shared: bool
) -> None:
    cluster = _write_slices(tmp_path, _other_driver_slices(shared), NODE_NAME)
    # The other driver's class is not among the driver classes: add it to the claim's file.
    claim_path = tmp_path / "claim.yaml"
    claim = _claim(OTHER_DRIVER, {"bandwidth": "10"} if shared else None)
    claim_path.write_text(
        dump(kube_dict(_other_class()), "yaml") + "---\n" + dump(kube_dict(claim), "yaml"),
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        app, ["allocate", "-f", cluster, "-f", str(claim_path), "-o", "json"]
    )
    assert result.exit_code == 0, result.stderr
    annotations = _annotations(result.stdout)
    if shared:
        (entry,) = annotations["claim"]
        assert (entry["mechanism"], entry["enforced"]) == ("none", {})
    else:
        assert annotations == {}


def test_a_second_compute_mode_on_a_shared_gpu_is_a_problem_for_the_driver() -> None:
    mps = DeviceIsolation("gpu", "gpu.nvidia.com/n/gpu-0", "mps")
    sliced = DeviceIsolation("gpu", "gpu.nvidia.com/n/gpu-0", "time-slicing")
    other_gpu = DeviceIsolation("gpu", "gpu.nvidia.com/n/gpu-1", "time-slicing")
    holders = {"gpu.nvidia.com/n/gpu-0": [("default/a", mps), ("default/b", mps)]}
    checked = with_mode_conflicts([sliced, other_gpu, mps], holders)
    assert checked[0].problems == (
        "gpu.nvidia.com/n/gpu-0 already runs MPS for default/a, default/b; a GPU or MIG "
        "instance runs one compute mode, so the driver cannot add time-slicing there",
    )
    assert checked[1].problems == () and checked[2].problems == ()
