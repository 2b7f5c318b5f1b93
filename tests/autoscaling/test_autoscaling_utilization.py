"""Node utilization as cluster-autoscaler computes it (`dralloc.autoscaling.utilization`, spec
§3.3), on hand-computed examples: atomic pools, pools with shared counters (NVIDIA's dynamic
MIG memory slices), mixed pools, the GPU-config and cpu/memory paths, dralloc's `device`
variant, and the scale-down threshold."""

from __future__ import annotations

import pytest

from dralloc.api.core import Node, NodeStatus
from dralloc.api.meta import ObjectMeta
from dralloc.api.quantity import Quantity
from dralloc.api.resource import (
    AllocationResult,
    Counter,
    CounterSet,
    Device,
    DeviceAllocationResult,
    DeviceCounterConsumption,
    DeviceRequestAllocationResult,
    ResourceClaim,
    ResourceClaimStatus,
    ResourcePool,
    ResourceSlice,
    ResourceSliceSpec,
)
from dralloc.autoscaling import (
    NodeGroupOptions,
    NodeShape,
    NodeTemplate,
    Options,
    PodUsage,
    UtilizationError,
    build_template,
    device_utilization,
    dynamic_resource_utilization,
    is_underutilized,
    node_utilization,
    pool_utilization,
    scale_down_threshold,
)
from dralloc.devices import load_catalog

DRIVER = "gpu.nvidia.com"


def _q(text: str) -> Quantity:
    return Quantity.parse(text)


def _claim(
    pool: str,
    *devices: str,
    admin: bool = False,
    consumed: dict[str, Quantity] | None = None,
    name: str = "c",
) -> ResourceClaim:
    results = [
        DeviceRequestAllocationResult(
            request="r",
            driver=DRIVER,
            pool=pool,
            device=device,
            admin_access=True if admin else None,
            consumed_capacity=consumed or {},
        )
        for device in devices
    ]
    return ResourceClaim(
        metadata=ObjectMeta(name=name, namespace="default"),
        status=ResourceClaimStatus(
            allocation=AllocationResult(devices=DeviceAllocationResult(results=results))
        ),
    )


def _template(name: str, shape: str, options: dict[str, str]) -> NodeTemplate:
    return build_template(NodeShape(name, shape, options), load_catalog())


# ------------------------------------------------------------------ hand-built counter pool


def _counters(memory: int, sm: int) -> dict[str, Counter]:
    return {
        "memory": Counter(value=Quantity.from_int(memory)),
        "sm": Counter(value=Quantity.from_int(sm)),
    }


def _mixed_pool() -> list[ResourceSlice]:
    """One counter set {memory 80, sm 100}; p1 takes {20, 50}, p2 {40, 25}; a1, a2 atomic."""

    def partition(name: str, memory: int, sm: int) -> Device:
        return Device(
            name=name,
            consumes_counters=[
                DeviceCounterConsumption(counter_set="cs", counters=_counters(memory, sm))
            ],
        )

    pool = ResourcePool(name="p", generation=1, resource_slice_count=2)
    return [
        ResourceSlice(
            metadata=ObjectMeta(name="counters"),
            spec=ResourceSliceSpec(
                driver=DRIVER,
                node_name="n",
                pool=pool,
                shared_counters=[CounterSet(name="cs", counters=_counters(80, 100))],
            ),
        ),
        ResourceSlice(
            metadata=ObjectMeta(name="devices"),
            spec=ResourceSliceSpec(
                driver=DRIVER,
                node_name="n",
                pool=pool,
                devices=[
                    partition("p1", 20, 50),
                    partition("p2", 40, 25),
                    Device(name="a1"),
                    Device(name="a2"),
                ],
            ),
        ),
    ]


@pytest.mark.parametrize(
    ("allocated", "expected"),
    [
        ((), 0.0),
        (("p1",), 0.5),  # max(20/80, 50/100) over the one counter set
        (("p1", "p2"), 0.75),  # memory 60/80 = sm 75/100
        (("a1",), 0.5),  # only atomic allocations: the atomic figure alone (CA's shortcut)
        (("a1", "p1"), 0.5),  # weighted: 0.5 x 1/3 (one counter set) + 0.5 x 2/3
        (("a1", "a2", "p1"), 0.5 / 3 + 2 / 3),
    ],
)
def test_pool_utilization_with_and_without_shared_counters(
    allocated: tuple[str, ...], expected: float
) -> None:
    assert pool_utilization(_mixed_pool(), allocated) == pytest.approx(expected)


def test_dynamic_mig_counts_a_gpu_full_once_any_memory_slice_is_taken() -> None:
    # Each memory-slice-<i> counter holds 1: one 1g.10gb takes all of its slice, so CA rates
    # that GPU (counter set) fully used: 1 of 8 counter sets = 0.125 for the node.
    template = _template("dyn", "dgx-h100", {"mig": "dynamic"})
    pool = template.slices[0].spec.pool.name
    one_small = _claim(pool, "gpu-0-mig-1g10gb-19-0")
    assert dynamic_resource_utilization(template.slices, [one_small]) == {(DRIVER, pool): 0.125}
    # Two instances on one GPU still count one GPU; a whole GPU elsewhere adds another.
    two = [
        _claim(pool, "gpu-0-mig-1g10gb-19-0", "gpu-0-mig-3g40gb-9-4", name="a"),
        _claim(pool, "gpu-5", name="b"),
    ]
    info = node_utilization(template.node, [], template.slices, two)
    assert (info.utilization, info.resource_name) == (0.25, f"{DRIVER}/{pool}")
    # dralloc's device variant weighs MIG instances by memory slices: (1 + 4)/8 + 1 of 8 GPUs.
    catalog = load_catalog()
    assert device_utilization(template.slices, [one_small], catalog) == pytest.approx(1 / 64)
    assert device_utilization(template.slices, two, catalog) == pytest.approx((5 / 8 + 1) / 8)


def test_static_mig_devices_are_atomic() -> None:
    template = _template("mig", "dgx-a100", {"mig": "static", "layout": "3g.40gb/2x1g.10gb"})
    pool = template.slices[0].spec.pool.name
    claims = [_claim(pool, "gpu-0-mig-3g40gb-9-0", "gpu-0-mig-1g10gb-19-4")]
    assert node_utilization(template.node, [], template.slices, claims).utilization == (
        pytest.approx(2 / 24)
    )
    assert device_utilization(template.slices, claims, load_catalog()) == pytest.approx(5 / 64)


def test_admin_access_allocations_do_not_count() -> None:
    template = _template("mig", "dgx-a100", {"mig": "static", "layout": "3g.40gb/2x1g.10gb"})
    pool = template.slices[0].spec.pool.name
    admin = _claim(pool, "gpu-1-mig-3g40gb-9-0", admin=True)
    assert node_utilization(template.node, [], template.slices, [admin]).utilization == 0.0
    assert device_utilization(template.slices, [admin], load_catalog()) == 0.0


def test_shared_devices_count_the_consumed_share_in_the_device_variant() -> None:
    template = _template("ts", "l4", {"gpus": "2", "sharing": "time-slicing", "replicas": "4"})
    pool = template.slices[0].spec.pool.name
    claims = [_claim(pool, "gpu-0", consumed={"replicas": _q("1")})]
    # CA counts device objects: one of two devices taken.
    assert node_utilization(template.node, [], template.slices, claims).utilization == 0.5
    # The device variant: a quarter of one GPU of two.
    assert device_utilization(template.slices, claims, load_catalog()) == pytest.approx(0.125)


def test_an_incomplete_pool_or_an_unallocated_claim_makes_the_node_unremovable() -> None:
    template = _template("dyn", "dgx-h100", {"mig": "dynamic"})
    with pytest.raises(UtilizationError, match="found only 8 slices"):
        node_utilization(template.node, [], template.slices[:8], [])
    pending = ResourceClaim(metadata=ObjectMeta(name="w", namespace="default"))
    with pytest.raises(UtilizationError, match="default/w not allocated"):
        node_utilization(template.node, [], template.slices, [pending])


def _node(**allocatable: str) -> Node:
    values = {name.replace("nvidia_com_", "nvidia.com/"): _q(v) for name, v in allocatable.items()}
    return Node(metadata=ObjectMeta(name="n"), status=NodeStatus(allocatable=values))


def test_without_slices_the_higher_of_cpu_and_memory_decides() -> None:
    node = _node(cpu="4", memory="8Gi")
    pods = [
        PodUsage({"cpu": _q("1"), "memory": _q("2Gi")}),
        PodUsage({"cpu": _q("1"), "memory": _q("1Gi")}, is_daemonset=True),
        PodUsage({"cpu": _q("2"), "memory": _q("4Gi")}, is_long_terminating=True),
    ]
    info = node_utilization(node, pods)
    assert (info.resource_name, info.cpu, info.memory) == ("cpu", 0.5, 0.375)
    skipped = node_utilization(node, pods, skip_daemonset_pods=True)
    assert skipped.cpu == pytest.approx(1 / 3) and skipped.memory == pytest.approx(2 / 7)


def test_a_gpu_config_node_is_judged_by_its_gpu_requests_only() -> None:
    node = _node(cpu="4", memory="8Gi", nvidia_com_gpu="8")
    pods = [PodUsage({"cpu": _q("4"), "nvidia.com/gpu": _q("2")})]
    info = node_utilization(node, pods, gpu_resource="nvidia.com/gpu")
    assert (info.utilization, info.resource_name) == (0.25, "nvidia.com/gpu")
    unready = node_utilization(_node(cpu="4", memory="8Gi"), pods, gpu_resource="nvidia.com/gpu")
    assert unready.utilization == 0.0  # the GPU is not allocatable yet: still removable


def test_the_threshold_is_strict_and_per_group() -> None:
    options = Options()
    assert scale_down_threshold(options) == 0.5
    assert not is_underutilized(0.5, 0.5) and is_underutilized(0.499, 0.5)
    group = NodeGroupOptions(
        scale_down_utilization_threshold=0.7, scale_down_gpu_utilization_threshold=0.2
    )
    assert scale_down_threshold(options, group) == 0.7
    assert scale_down_threshold(options, group, gpu_label=True) == 0.2
    assert (
        scale_down_threshold(Options(scale_down_gpu_utilization_threshold=0.3), gpu_label=True)
        == 0.3
    )


def test_a_gpu_labelled_dra_node_reads_as_unused_as_upstream_does() -> None:
    # The provider's GPU config wins over DRA: the node lists no nvidia.com/gpu, so CA
    # rates it 0 whatever its claims hold, and it is always a scale-down candidate.
    template = _template("dyn", "dgx-h100", {"mig": "dynamic"})
    pool = template.slices[0].spec.pool.name
    busy = [_claim(pool, *(f"gpu-{i}" for i in range(8)))]
    assert node_utilization(template.node, [], template.slices, busy).utilization == 1.0
    labelled = node_utilization(
        template.node, [], template.slices, busy, gpu_resource="nvidia.com/gpu"
    )
    assert labelled.utilization == 0.0
    assert is_underutilized(labelled.utilization, scale_down_threshold(Options(), gpu_label=True))
