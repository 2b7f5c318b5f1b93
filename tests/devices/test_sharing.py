"""dralloc's GPU sharing modes (`dralloc.devices.slices.Sharing`): what the slices publish and
what the allocator then admits.

Every sharing mode publishes devices that allow multiple allocations, carry the attribute
`dralloc.io/sharing` and turn the shared quantity into consumable capacity (spec/dra-v1.md
2.3 and 6.9; the module docstring of `dralloc.devices.slices`):

* time-slicing: `replicas` (1 per allocation by default, at most `replicas`), everything else
  unaccounted (default 0);
* MPS: `clients` (48 per GPU, scaled to a MIG instance's compute slices),
  `activeThreadPercentage` and `memory`; a request naming no amount takes the whole device;
* fractional: `cores` and `memory`, likewise.

Allocation runs through the real allocator, claim after claim, each committed before the next
is asked, and the answers are compared with the arithmetic of spec/dra-v1.md 6.9 written out
independently here (`_consumed`, `_violates`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dralloc.allocator import Allocator, AllocatorOptions, Inventory, allocated_state
from dralloc.api.core import Node
from dralloc.api.io import to_builtins
from dralloc.api.meta import ObjectMeta
from dralloc.api.quantity import Format, Quantity
from dralloc.api.resource import (
    AllocationResult,
    CapacityRequirements,
    CELDeviceSelector,
    Device,
    DeviceCapacity,
    DeviceClaim,
    DeviceClass,
    DeviceClassSpec,
    DeviceRequest,
    DeviceSelector,
    ExactDeviceRequest,
    ResourceClaim,
    ResourceClaimSpec,
    ResourceSlice,
)
from dralloc.api.validation import validate
from dralloc.cel import selector_problems
from dralloc.devices import (
    Sharing,
    driver_device_classes,
    gpu_node_slices,
    load_catalog,
    sharing_device_classes,
)
from dralloc.devices.slices import SHARING_ATTRIBUTE
from dralloc.features import Features
from dralloc.testing import sequential_share_ids

CATALOG = load_catalog()
H100 = CATALOG.gpu("h100-80gb-sxm")
A100 = CATALOG.gpu("a100-80gb")
L4 = CATALOG.gpu("l4")
FEATURES = Features()
NODE_NAME = "node-0"
NODE = Node(metadata=ObjectMeta(name=NODE_NAME))
GiB = 1 << 30
MiB = 1 << 20
MODES = ("time-slicing", "mps", "fractional")
ANY_CLASS = "any.nvidia.com"


def _any_class() -> DeviceClass:
    return DeviceClass(
        metadata=ObjectMeta(name=ANY_CLASS),
        spec=DeviceClassSpec(
            selectors=[DeviceSelector(cel=CELDeviceSelector("device.driver == 'gpu.nvidia.com'"))]
        ),
    )


CLASSES = {c.metadata.name: c for c in [*driver_device_classes(), _any_class()]}


# ------------------------------------------------------------------------------- helpers


def _policy(
    default: str, lo: str | None = None, hi: str | None = None, step: str | None = None
) -> dict[str, Any]:
    policy: dict[str, Any] = {"default": default}
    if lo is not None:
        valid_range = {"min": lo}
        if hi is not None:
            valid_range["max"] = hi
        if step is not None:
            valid_range["step"] = step
        policy["validRange"] = valid_range
    return policy


def _cap(value: str, policy: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"value": value} if policy is None else {"value": value, "requestPolicy": policy}


def _unaccounted(value: str) -> dict[str, Any]:
    return _cap(value, _policy("0"))


def _units(value: int, default: int) -> dict[str, Any]:
    """A whole-number capacity in [1, value] taking `default` per allocation (a one-unit
    capacity lists its only value: a range would need min + step <= value)."""
    if value == 1:
        return _cap("1", {"default": "1", "validValues": ["1"]})
    return _cap(str(value), _policy(str(default), "1", str(value), "1"))


def _whole_memory(value: str) -> dict[str, Any]:
    """Memory a request takes whole unless it names an amount (rounded up to 1Mi)."""
    return _cap(value, _policy(value, "1Mi", step="1Mi"))


def _wire(device: Device) -> dict[str, Any]:
    wire = to_builtins(device)
    assert isinstance(wire, dict)
    return wire


def _devices(slices: list[ResourceSlice]) -> dict[str, Device]:
    return {d.name: d for s in slices for d in s.spec.devices}


def _claim(
    name: str,
    device_class: str,
    requests: dict[str, str] | None = None,
    *,
    selector: str = "",
) -> ResourceClaim:
    capacity = None
    if requests:
        capacity = CapacityRequirements(
            requests={key: Quantity.parse(value) for key, value in requests.items()}
        )
    exactly = ExactDeviceRequest(
        device_class_name=device_class,
        selectors=[DeviceSelector(cel=CELDeviceSelector(selector))] if selector else [],
        capacity=capacity,
    )
    return ResourceClaim(
        metadata=ObjectMeta(name=name, namespace="default"),
        spec=ResourceClaimSpec(
            devices=DeviceClaim(requests=[DeviceRequest(name="gpu", exactly=exactly)])
        ),
    )


@dataclass
class OneNode:
    """One node's slices and the claims committed on it so far; `ask` allocates one more
    claim against the committed ones and commits it when it fits."""

    slices: list[ResourceSlice]
    committed: list[ResourceClaim] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.inventory = Inventory(self.slices, FEATURES)
        self.allocator = Allocator(
            FEATURES, options=AllocatorOptions(timeout=None, share_ids=sequential_share_ids())
        )

    def ask(self, claim: ResourceClaim) -> AllocationResult | None:
        results = self.allocator.allocate(
            NODE, [claim], self.inventory, CLASSES, allocated_state(self.committed, FEATURES)
        )
        if results is None:
            return None
        (result,) = results
        claim.status.allocation = result
        self.committed.append(claim)
        return result

    def ask_many(
        self, count: int, device_class: str, requests: dict[str, str] | None = None
    ) -> list[AllocationResult | None]:
        start = len(self.committed)
        return [self.ask(_claim(f"c{start + i}", device_class, requests)) for i in range(count)]


def _consumed_strings(result: AllocationResult) -> list[tuple[str, dict[str, str]]]:
    return [
        (r.device, {k: str(v) for k, v in r.consumed_capacity.items()})
        for r in result.devices.results
    ]


# ----------------------------------------------------------------------- published shape


def test_exclusive_gpus_publish_what_the_driver_does_no_sharing_fields() -> None:
    (device,) = _devices(gpu_node_slices(NODE_NAME, H100, 1)).values()
    assert device.allow_multiple_allocations is None
    assert SHARING_ATTRIBUTE not in device.attributes
    assert _wire(device)["capacity"] == {"memory": _cap("80Gi")}


@pytest.mark.parametrize("replicas", [2, 3, 8])
def test_a_time_sliced_gpu_books_one_replica_per_claim_and_nothing_else(replicas: int) -> None:
    slices = gpu_node_slices(NODE_NAME, H100, 1, sharing=Sharing("time-slicing", replicas))
    (device,) = _devices(slices).values()
    assert device.allow_multiple_allocations is True
    assert device.attributes[SHARING_ATTRIBUTE].string == "time-slicing"
    assert _wire(device)["capacity"] == {
        "memory": _unaccounted("80Gi"),
        "replicas": _units(replicas, 1),
    }


def test_an_mps_gpu_publishes_clients_thread_percentage_and_pinned_memory() -> None:
    (device,) = _devices(gpu_node_slices(NODE_NAME, H100, 1, sharing=Sharing("mps"))).values()
    assert device.allow_multiple_allocations is True
    assert device.attributes[SHARING_ATTRIBUTE].string == "mps"
    assert _wire(device)["capacity"] == {
        "memory": _whole_memory("80Gi"),
        "clients": _units(48, 1),
        "activeThreadPercentage": _units(100, 100),
    }


def test_the_mps_client_limit_is_configurable() -> None:
    slices = gpu_node_slices(NODE_NAME, H100, 1, sharing=Sharing("mps", mps_clients=12))
    (device,) = _devices(slices).values()
    assert _wire(device)["capacity"]["clients"] == _units(12, 1)


def test_a_fractional_gpu_publishes_cores_and_memory_as_hami_names_them() -> None:
    slices = gpu_node_slices(NODE_NAME, H100, 1, sharing=Sharing("fractional"))
    (device,) = _devices(slices).values()
    assert device.allow_multiple_allocations is True
    assert device.attributes[SHARING_ATTRIBUTE].string == "fractional"
    assert _wire(device)["capacity"] == {
        "memory": _whole_memory("80Gi"),
        "cores": _units(100, 100),
    }


# H100 3g.40gb and 1g.10gb, as the catalog lists them (spec/devices.md 3.2).
ENGINES_3G = {
    "multiprocessors": "60",
    "copyEngines": "3",
    "decoders": "3",
    "encoders": "0",
    "jpegEngines": "3",
    "ofaEngines": "0",
}
ENGINES_1G = {
    "multiprocessors": "16",
    "copyEngines": "1",
    "decoders": "1",
    "encoders": "0",
    "jpegEngines": "1",
    "ofaEngines": "0",
}
STATIC_LAYOUT = [H100.mig_profile("3g.40gb"), H100.mig_profile("1g.10gb")]
STATIC_3G = "gpu-0-mig-3g40gb-9-0"  # memory slices 0-3
STATIC_1G = "gpu-0-mig-1g10gb-19-4"  # memory slice 4


def _static(sharing: Sharing) -> dict[str, Device]:
    return _devices(
        gpu_node_slices(NODE_NAME, H100, 1, mig="static", mig_layout=STATIC_LAYOUT, sharing=sharing)
    )


def test_static_mig_devices_under_time_slicing_share_replicas_and_account_nothing_else() -> None:
    devices = _static(Sharing("time-slicing", replicas=5))
    assert sorted(devices) == sorted([STATIC_3G, STATIC_1G])
    three = devices[STATIC_3G]
    assert three.allow_multiple_allocations is True
    assert three.attributes[SHARING_ATTRIBUTE].string == "time-slicing"
    assert three.attributes["type"].string == "mig"
    assert _wire(three)["capacity"] == {
        **{name: _unaccounted(value) for name, value in ENGINES_3G.items()},
        "memory": _unaccounted("40448Mi"),
        **{f"memorySlice{i}": _unaccounted("1") for i in range(4)},
        "replicas": _units(5, 1),
    }


def test_static_mig_devices_under_mps_scale_the_client_limit_by_compute_slices() -> None:
    devices = _static(Sharing("mps"))
    three, one = devices[STATIC_3G], devices[STATIC_1G]
    assert three.attributes[SHARING_ATTRIBUTE].string == "mps"
    assert _wire(three)["capacity"] == {
        **{name: _unaccounted(value) for name, value in ENGINES_3G.items()},
        "memory": _whole_memory("40448Mi"),
        **{f"memorySlice{i}": _unaccounted("1") for i in range(4)},
        "clients": _units(48 * 3 // 7, 1),
        "activeThreadPercentage": _units(100, 100),
    }
    assert _wire(one)["capacity"] == {
        **{name: _unaccounted(value) for name, value in ENGINES_1G.items()},
        "memory": _whole_memory("9984Mi"),
        "memorySlice4": _unaccounted("1"),
        "clients": _units(48 // 7, 1),
        "activeThreadPercentage": _units(100, 100),
    }


def test_static_mig_devices_under_fractional_sharing_publish_cores_and_memory() -> None:
    one = _static(Sharing("fractional"))[STATIC_1G]
    assert one.allow_multiple_allocations is True
    assert _wire(one)["capacity"] == {
        **{name: _unaccounted(value) for name, value in ENGINES_1G.items()},
        "memory": _whole_memory("9984Mi"),
        "memorySlice4": _unaccounted("1"),
        "cores": _units(100, 100),
    }


@pytest.mark.parametrize("mode", MODES)
def test_dynamic_mig_under_sharing_keeps_the_counters_and_shares_every_device(mode: str) -> None:
    exclusive = gpu_node_slices(NODE_NAME, H100, 2, mig="dynamic")
    shared = gpu_node_slices(NODE_NAME, H100, 2, mig="dynamic", sharing=Sharing(mode))
    assert [s.metadata.name for s in shared] == [s.metadata.name for s in exclusive]
    assert [s.spec.shared_counters for s in shared] == [s.spec.shared_counters for s in exclusive]
    plain, sharing = _devices(exclusive), _devices(shared)
    assert list(sharing) == list(plain)
    for name, device in sharing.items():
        assert device.allow_multiple_allocations is True, name
        assert device.attributes[SHARING_ATTRIBUTE].string == mode, name
        assert device.consumes_counters == plain[name].consumes_counters, name
        # The capacities a device has when exclusive are all still there.
        assert set(plain[name].capacity) <= set(device.capacity), name
        for key, capacity in plain[name].capacity.items():
            assert device.capacity[key].value == capacity.value, (name, key)


def test_the_dynamic_whole_gpu_under_mps_shows_the_7g_values_and_48_clients() -> None:
    slices = gpu_node_slices(NODE_NAME, H100, 1, mig="dynamic", sharing=Sharing("mps"))
    whole = _devices(slices)["gpu-0"]
    assert _wire(whole)["capacity"] == {
        "multiprocessors": _unaccounted("132"),
        "copyEngines": _unaccounted("8"),
        "decoders": _unaccounted("7"),
        "encoders": _unaccounted("0"),
        "jpegEngines": _unaccounted("7"),
        "ofaEngines": _unaccounted("1"),
        "memory": _whole_memory("81152Mi"),
        "clients": _units(48, 1),
        "activeThreadPercentage": _units(100, 100),
    }
    seven = _devices(slices)["gpu-0-mig-7g80gb-0-0"]
    assert _wire(seven)["capacity"]["clients"] == _units(48, 1)


# ---------------------------------------------------------------------------- validation


def _layouts() -> list[Any]:
    cases = []
    for model in (H100, A100, L4):
        cases.append(pytest.param(model, "none", None, id=f"{model.name}-whole"))
        if model.mig is not None:
            largest = max(model.mig.profiles, key=lambda p: p.memory_slices)
            cases.append(pytest.param(model, "static", [largest], id=f"{model.name}-static-7g"))
            cases.append(
                pytest.param(model, "static", STATIC_LAYOUT, id=f"{model.name}-static-3g-1g")
                if model is H100
                else pytest.param(
                    model, "static", [model.mig.profiles[0]] * 7, id=f"{model.name}-static-all-1g"
                )
            )
            cases.append(pytest.param(model, "dynamic", None, id=f"{model.name}-dynamic"))
    return cases


@pytest.mark.parametrize("mode", ["exclusive", *MODES])
@pytest.mark.parametrize(("model", "mig", "layout"), _layouts())
def test_every_sharing_mode_publishes_slices_that_pass_api_validation(
    model: Any, mig: Any, layout: Any, mode: Any
) -> None:
    slices = gpu_node_slices(NODE_NAME, model, 2, mig=mig, mig_layout=layout, sharing=Sharing(mode))
    for resource_slice in slices:
        assert validate(resource_slice) == [], resource_slice.metadata.name


def test_the_sharing_classes_pass_api_validation_and_compile() -> None:
    classes = sharing_device_classes()
    assert sorted(c.metadata.name for c in classes) == sorted(
        f"{kind}-{mode}.dralloc.io" for kind in ("gpu", "mig") for mode in MODES
    )
    for device_class in classes:
        assert validate(device_class) == [], device_class.metadata.name
        assert selector_problems(device_class) == [], device_class.metadata.name


@pytest.mark.parametrize(
    "sharing",
    [
        Sharing("time-slicing", replicas=1),
        Sharing("mps", mps_clients=1),
        Sharing("mps", mps_clients=4),
    ],
    ids=["replicas-1", "clients-1", "clients-4-on-1g"],
)
def test_the_smallest_replica_and_client_limits_still_publish_valid_slices(
    sharing: Sharing,
) -> None:
    """A one-unit capacity cannot use validRange{min: 1, step: 1} (min + step must not exceed
    the value, spec/dra-v1.md 2.3); a 1g instance gets one MPS client when mps_clients < 7."""
    for mig, layout in (("static", [H100.mig_profile("1g.10gb")]), ("dynamic", None)):
        slices = gpu_node_slices(NODE_NAME, H100, 1, mig=mig, mig_layout=layout, sharing=sharing)
        assert [p for s in slices for p in validate(s)] == [], mig
    one = _devices(
        gpu_node_slices(
            NODE_NAME,
            H100,
            1,
            mig="static",
            mig_layout=[H100.mig_profile("1g.10gb")],
            sharing=sharing,
        )
    )["gpu-0-mig-1g10gb-19-0"]
    limited = "replicas" if sharing.strategy == "time-slicing" else "clients"
    assert _wire(one)["capacity"][limited] == _units(1, 1)


# --------------------------------------------------------------------------- allocation


def test_an_exclusive_gpu_takes_one_claim() -> None:
    node = OneNode(gpu_node_slices(NODE_NAME, L4, 1))
    first, second = node.ask_many(2, "gpu.nvidia.com")
    assert first is not None and first.devices.results[0].share_id is None
    assert second is None


@pytest.mark.parametrize(("gpus", "replicas"), [(1, 1), (2, 1), (1, 3), (2, 3), (1, 6)])
def test_time_slicing_admits_exactly_replicas_claims_per_gpu(gpus: int, replicas: int) -> None:
    node = OneNode(gpu_node_slices(NODE_NAME, L4, gpus, sharing=Sharing("time-slicing", replicas)))
    results = node.ask_many(gpus * replicas + 1, "gpu-time-slicing.dralloc.io")
    admitted = [r for r in results if r is not None]
    assert len(admitted) == gpus * replicas and results[-1] is None
    per_gpu: dict[str, int] = {}
    share_ids = set()
    for result in admitted:
        (entry,) = result.devices.results
        per_gpu[entry.device] = per_gpu.get(entry.device, 0) + 1
        share_ids.add(entry.share_id)
        assert {k: str(v) for k, v in entry.consumed_capacity.items()} == {
            "memory": "0",
            "replicas": "1",
        }
    assert per_gpu == {f"gpu-{i}": replicas for i in range(gpus)}
    assert None not in share_ids and len(share_ids) == len(admitted)


def test_a_time_slicing_claim_may_book_several_replicas() -> None:
    node = OneNode(gpu_node_slices(NODE_NAME, L4, 1, sharing=Sharing("time-slicing", 4)))
    assert node.ask(_claim("big", "gpu-time-slicing.dralloc.io", {"replicas": "3"})) is not None
    assert node.ask(_claim("two", "gpu-time-slicing.dralloc.io", {"replicas": "2"})) is None
    assert node.ask(_claim("one", "gpu-time-slicing.dralloc.io")) is not None
    assert node.ask(_claim("more", "gpu-time-slicing.dralloc.io")) is None


def test_a_time_slicing_claim_for_more_than_replicas_never_fits() -> None:
    node = OneNode(gpu_node_slices(NODE_NAME, L4, 1, sharing=Sharing("time-slicing", 4)))
    assert node.ask(_claim("huge", "gpu-time-slicing.dralloc.io", {"replicas": "5"})) is None


def test_the_claims_of_one_allocate_call_share_a_time_sliced_gpu() -> None:
    node = OneNode(gpu_node_slices(NODE_NAME, L4, 1, sharing=Sharing("time-slicing", 3)))
    claims = [_claim(f"c{i}", "gpu-time-slicing.dralloc.io") for i in range(3)]
    inventory, state = node.inventory, allocated_state([], FEATURES)
    results = node.allocator.allocate(NODE, claims, inventory, CLASSES, state)
    assert results is not None
    assert [r.devices.results[0].device for r in results] == ["gpu-0"] * 3
    four = [*claims, _claim("c3", "gpu-time-slicing.dralloc.io")]
    assert node.allocator.allocate(NODE, four, inventory, CLASSES, state) is None


MPS = "gpu-mps.dralloc.io"
FRACTIONAL = "gpu-fractional.dralloc.io"


def test_mps_admits_claims_until_the_thread_percentage_runs_out() -> None:
    node = OneNode(gpu_node_slices(NODE_NAME, H100, 1, sharing=Sharing("mps")))
    quarter = {"activeThreadPercentage": "25", "memory": "10Gi"}
    results = node.ask_many(5, MPS, quarter)
    assert [r is not None for r in results] == [True, True, True, True, False]
    first = results[0]
    assert first is not None
    assert _consumed_strings(first) == [
        ("gpu-0", {"memory": "10Gi", "clients": "1", "activeThreadPercentage": "25"})
    ]
    # Memory and clients are left; a claim for 1% still fits nowhere.
    assert node.ask(_claim("sliver", MPS, {"activeThreadPercentage": "1", "memory": "1Gi"})) is None


def test_mps_admits_claims_until_pinned_memory_runs_out() -> None:
    node = OneNode(gpu_node_slices(NODE_NAME, H100, 1, sharing=Sharing("mps")))
    big = {"activeThreadPercentage": "10", "memory": "30Gi"}
    assert [r is not None for r in node.ask_many(3, MPS, big)] == [True, True, False]
    rest = {"activeThreadPercentage": "10", "memory": "20Gi"}
    assert node.ask(_claim("rest", MPS, rest)) is not None  # exactly 80Gi booked
    assert (
        node.ask(_claim("one-more", MPS, {"activeThreadPercentage": "10", "memory": "1Mi"})) is None
    )


def test_mps_admits_claims_until_the_client_limit_is_reached() -> None:
    node = OneNode(gpu_node_slices(NODE_NAME, H100, 1, sharing=Sharing("mps", mps_clients=3)))
    small = {"activeThreadPercentage": "1", "memory": "1Gi"}
    assert [r is not None for r in node.ask_many(4, MPS, small)] == [True, True, True, False]


def test_mps_inside_a_mig_instance_is_bounded_by_the_instance_client_limit() -> None:
    node = OneNode(_static_slices(Sharing("mps")))
    small = {"activeThreadPercentage": "1", "memory": "100Mi"}
    profile = "device.attributes['gpu.nvidia.com'].profile == '1g.10gb'"
    results = [
        node.ask(_claim(f"c{i}", "mig-mps.dralloc.io", small, selector=profile)) for i in range(7)
    ]
    assert [r is not None for r in results] == [True] * 6 + [False]  # 48 * 1/7 clients


def _static_slices(sharing: Sharing) -> list[ResourceSlice]:
    return gpu_node_slices(
        NODE_NAME, H100, 1, mig="static", mig_layout=STATIC_LAYOUT, sharing=sharing
    )


def test_mps_rounds_memory_up_to_whole_mebibytes_and_percentages_up_to_the_minimum() -> None:
    node = OneNode(gpu_node_slices(NODE_NAME, H100, 1, sharing=Sharing("mps")))
    result = node.ask(_claim("odd", MPS, {"activeThreadPercentage": "0", "memory": "1536Ki"}))
    assert result is not None
    assert _consumed_strings(result) == [
        ("gpu-0", {"memory": "2Mi", "clients": "1", "activeThreadPercentage": "1"})
    ]


def test_an_mps_claim_above_the_maximum_percentage_never_fits() -> None:
    node = OneNode(gpu_node_slices(NODE_NAME, H100, 1, sharing=Sharing("mps")))
    assert (
        node.ask(_claim("greedy", MPS, {"activeThreadPercentage": "101", "memory": "1Gi"})) is None
    )


@pytest.mark.parametrize(("mode", "device_class"), [("mps", MPS), ("fractional", FRACTIONAL)])
def test_a_request_naming_no_amount_takes_the_whole_shared_gpu(
    mode: Any, device_class: str
) -> None:
    node = OneNode(gpu_node_slices(NODE_NAME, H100, 1, sharing=Sharing(mode)))
    whole = node.ask(_claim("whole", device_class))
    assert whole is not None
    (entry,) = whole.devices.results
    assert entry.share_id is not None
    booked = {k: str(v) for k, v in entry.consumed_capacity.items()}
    shared = "activeThreadPercentage" if mode == "mps" else "cores"
    assert booked["memory"] == "80Gi" and booked[shared] == "100"
    tiny = {shared: "1", "memory": "1Mi"}
    assert node.ask(_claim("tiny", device_class, tiny)) is None


@pytest.mark.parametrize(("mode", "device_class"), [("mps", MPS), ("fractional", FRACTIONAL)])
def test_a_request_naming_no_amount_does_not_fit_beside_a_share(
    mode: Any, device_class: str
) -> None:
    node = OneNode(gpu_node_slices(NODE_NAME, H100, 1, sharing=Sharing(mode)))
    shared = "activeThreadPercentage" if mode == "mps" else "cores"
    assert node.ask(_claim("tiny", device_class, {shared: "1", "memory": "1Mi"})) is not None
    assert node.ask(_claim("whole", device_class)) is None


def test_fractional_sharing_admits_claims_until_cores_run_out() -> None:
    node = OneNode(gpu_node_slices(NODE_NAME, H100, 1, sharing=Sharing("fractional")))
    third = {"cores": "30", "memory": "10Gi"}
    assert [r is not None for r in node.ask_many(4, FRACTIONAL, third)] == [True] * 3 + [False]
    assert node.ask(_claim("last", FRACTIONAL, {"cores": "10", "memory": "10Gi"})) is not None
    assert node.ask(_claim("none-left", FRACTIONAL, {"cores": "1", "memory": "1Gi"})) is None


def test_fractional_sharing_admits_claims_until_memory_runs_out() -> None:
    node = OneNode(gpu_node_slices(NODE_NAME, H100, 1, sharing=Sharing("fractional")))
    half = {"cores": "10", "memory": "40Gi"}
    results = node.ask_many(3, FRACTIONAL, half)
    assert [r is not None for r in results] == [True, True, False]
    first = results[0]
    assert first is not None
    assert _consumed_strings(first) == [("gpu-0", {"memory": "40Gi", "cores": "10"})]


def test_a_capacity_the_shared_device_does_not_publish_cannot_be_requested() -> None:
    node = OneNode(gpu_node_slices(NODE_NAME, H100, 1, sharing=Sharing("mps")))
    assert node.ask(_claim("cores", MPS, {"cores": "10", "memory": "1Gi"})) is None


def test_shares_of_a_dynamic_mig_device_charge_its_counters_once() -> None:
    slices = gpu_node_slices(
        NODE_NAME, H100, 1, mig="dynamic", sharing=Sharing("time-slicing", replicas=2)
    )
    node = OneNode(slices)
    profile = "device.attributes['gpu.nvidia.com'].profile == '3g.40gb'"
    results = [
        node.ask(_claim(f"c{i}", "mig-time-slicing.dralloc.io", selector=profile)) for i in range(5)
    ]
    devices = [r.devices.results[0].device if r else None for r in results]
    # Two shares each of 3g@0 and 3g@4 (memory-slice counters have value 1, so charging a
    # counter per share would refuse the second share), then the GPU is full.
    assert devices == [
        "gpu-0-mig-3g40gb-9-0",
        "gpu-0-mig-3g40gb-9-0",
        "gpu-0-mig-3g40gb-9-4",
        "gpu-0-mig-3g40gb-9-4",
        None,
    ]
    assert node.ask(_claim("whole", "gpu-time-slicing.dralloc.io")) is None


def test_static_mig_instances_under_time_slicing_each_admit_replicas_claims() -> None:
    node = OneNode(_static_slices(Sharing("time-slicing", replicas=2)))
    results = node.ask_many(5, "mig-time-slicing.dralloc.io")
    devices = [r.devices.results[0].device if r else None for r in results]
    assert sorted(d for d in devices if d) == sorted([STATIC_3G, STATIC_3G, STATIC_1G, STATIC_1G])
    assert devices[-1] is None


# ------------------------------------------------------------ property: the policy model


def _units_of(quantity: Quantity) -> int:
    return quantity.as_integer()


def _consumed(capacity: DeviceCapacity, requested: int | None) -> int:
    """spec/dra-v1.md 6.9 `consumed`, on whole units."""
    policy = capacity.request_policy
    if requested is None:
        if policy is not None and policy.default is not None:
            return _units_of(policy.default)
        return _units_of(capacity.value)
    if policy is None:
        return requested
    valid_range = policy.valid_range
    if valid_range is not None and valid_range.min is not None:
        low = _units_of(valid_range.min)
        if requested < low:
            return low
        if valid_range.step is None:
            return requested
        step = _units_of(valid_range.step)
        return low + -(-(requested - low) // step) * step
    if policy.valid_values:
        return next((v for v in map(_units_of, policy.valid_values) if requested <= v), requested)
    return requested


def _violates(capacity: DeviceCapacity, amount: int) -> bool:
    """spec/dra-v1.md 6.9 `violates`."""
    policy = capacity.request_policy
    if policy is None or (policy.default is not None and amount == _units_of(policy.default)):
        return False
    valid_range = policy.valid_range
    if valid_range is not None:
        if valid_range.max is not None and amount > _units_of(valid_range.max):
            return True
        low = _units_of(valid_range.min) if valid_range.min is not None else 0
        step = _units_of(valid_range.step) if valid_range.step is not None else None
        return step is not None and (amount - low) % step != 0
    if policy.valid_values:
        return amount not in [_units_of(v) for v in policy.valid_values]
    return False


def _model_fit(
    device: Device, requests: dict[str, int], booked: dict[str, int]
) -> dict[str, int] | None:
    """What the claim books on `device` beside `booked`, or None when it does not fit."""
    if any(name not in device.capacity for name in requests):
        return None
    amounts = {}
    for name, capacity in device.capacity.items():
        amount = _consumed(capacity, requests.get(name))
        if _violates(capacity, amount):
            return None
        if booked.get(name, 0) + amount > _units_of(capacity.value):
            return None
        amounts[name] = amount
    return amounts


PROPERTY_GPUS = {
    "mps": gpu_node_slices(NODE_NAME, H100, 1, sharing=Sharing("mps", mps_clients=6)),
    "fractional": gpu_node_slices(NODE_NAME, H100, 1, sharing=Sharing("fractional")),
    "time-slicing": gpu_node_slices(NODE_NAME, L4, 1, sharing=Sharing("time-slicing", 5)),
    "mig-mps": gpu_node_slices(
        NODE_NAME,
        H100,
        1,
        mig="static",
        mig_layout=[H100.mig_profile("3g.40gb")],
        sharing=Sharing("mps"),
    ),
    # 4 clients * 3/7 compute slices: one client, published as validValues [1].
    "mig-mps-one-client": gpu_node_slices(
        NODE_NAME,
        H100,
        1,
        mig="static",
        mig_layout=[H100.mig_profile("3g.40gb")],
        sharing=Sharing("mps", mps_clients=4),
    ),
}


def _amounts(name: str, capacity: DeviceCapacity) -> st.SearchStrategy[int]:
    value = _units_of(capacity.value)
    if name == "memory":
        return st.one_of(
            st.integers(0, 40).map(lambda g: g * GiB),
            st.tuples(st.integers(0, 20 * 1024), st.integers(0, MiB - 1)).map(
                lambda parts: parts[0] * MiB + parts[1]  # often not whole mebibytes
            ),
            st.integers(0, value + MiB),
        )
    return st.one_of(st.integers(0, max(1, value // 3)), st.integers(0, value + 3))


@st.composite
def _requests(draw: st.DrawFn, device: Device) -> dict[str, int]:
    optional = {name: _amounts(name, cap) for name, cap in device.capacity.items()}
    requests = draw(st.fixed_dictionaries({}, optional=optional))
    if draw(st.integers(0, 9)) == 0:
        requests["unpublished"] = 1  # a capacity the device does not have
    return requests


@st.composite
def _scenarios(draw: st.DrawFn) -> tuple[str, list[dict[str, int]]]:
    key = draw(st.sampled_from(sorted(PROPERTY_GPUS)))
    (device,) = _devices(PROPERTY_GPUS[key]).values()
    claims = draw(st.lists(_requests(device), min_size=1, max_size=7))
    return key, claims


@settings(max_examples=60, deadline=None)
@given(_scenarios())
def test_shares_never_overbook_a_gpu_and_are_refused_only_when_they_do_not_fit(
    scenario: tuple[str, list[dict[str, int]]],
) -> None:
    key, claims = scenario
    slices = PROPERTY_GPUS[key]
    (device,) = _devices(slices).values()
    node = OneNode(slices)
    booked: dict[str, int] = {}
    for index, requests in enumerate(claims):
        claim = _claim(f"c{index}", ANY_CLASS)
        exactly = claim.spec.devices.requests[0].exactly
        assert exactly is not None
        if requests:
            exactly.capacity = CapacityRequirements(
                requests={
                    name: Quantity.from_int(amount, Format.BinarySI)
                    for name, amount in requests.items()
                }
            )
        expected = _model_fit(device, requests, booked)
        result = node.ask(claim)
        assert (result is not None) == (expected is not None), (requests, booked)
        if result is None or expected is None:
            continue
        (entry,) = result.devices.results
        assert entry.share_id is not None
        assert {k: _units_of(v) for k, v in entry.consumed_capacity.items()} == expected
        for name, amount in expected.items():
            booked[name] = booked.get(name, 0) + amount
    # The committed shares never book more than any capacity holds.
    totals: dict[str, int] = {}
    for claim in node.committed:
        assert claim.status.allocation is not None
        for entry in claim.status.allocation.devices.results:
            for name, amount in entry.consumed_capacity.items():
                totals[name] = totals.get(name, 0) + _units_of(amount)
    for name, total in totals.items():
        assert total <= _units_of(device.capacity[name].value), name
