"""Allocator micro-benchmarks: median and p99 microseconds per `Allocator.allocate` call.

Cases (names are a contract; `--json` prints one object per line per case):
  scheduler_perf_node           upstream scheduler_perf's node shape: 10 devices with 4
                                attributes and 1 capacity, class selector on the driver,
                                one 1-device claim
  scheduler_perf_node_selector  the same plus a request selector on attributes and capacity
  h100_dynamic_mig_half_full    an 8x H100 node with dynamic MIG (26 devices per GPU on
                                per-GPU counter sets), half full, allocating one 1g.10gb
  match_attribute_backtracking  a claim with matchAttribute over 8 devices whose first
                                choices must be undone
  h100_dynamic_mig_no_fit       the same empty node, asking 17 3g.40gb where it offers 16:
                                "no fit" (proven before the search)
  h100_dynamic_mig_half_full_no_fit
                                the half-full node asking 13 1g.10gb where 12 are left:
                                "no fit" (proven once the search has taken
                                `prune_after_steps` steps)

The inventory (and its selector cache) is long-lived, as in a scheduler: the figures are for
steady state. Run: `python benchmarks/allocator.py [--json] [--repeat N] [--case NAME ...]`;
`--no-prune` switches off `AllocatorOptions.prune_unsatisfiable` (the plain search takes
seconds per call on the no-fit cases: use a small --repeat and --runs).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from dralloc.allocator import Allocator, AllocatorOptions, Inventory, allocated_state
from dralloc.api.core import Node
from dralloc.api.meta import ObjectMeta
from dralloc.api.quantity import Quantity
from dralloc.api.resource import (
    CELDeviceSelector,
    Device,
    DeviceAttribute,
    DeviceCapacity,
    DeviceClaim,
    DeviceClass,
    DeviceClassSpec,
    DeviceConstraint,
    DeviceRequest,
    DeviceSelector,
    ExactDeviceRequest,
    ResourceClaim,
    ResourceClaimSpec,
    ResourcePool,
    ResourceSlice,
    ResourceSliceSpec,
)
from dralloc.devices import load_catalog
from dralloc.devices.slices import gpu_node_slices
from dralloc.features import Features

# A case builds its runner; `prune` is `AllocatorOptions.prune_unsatisfiable`.
Case = Callable[..., Callable[[], Any]]


def _node(name: str) -> Node:
    return Node(metadata=ObjectMeta(name=name, labels={"kubernetes.io/hostname": name}))


def _class(name: str, expression: str) -> DeviceClass:
    return DeviceClass(
        metadata=ObjectMeta(name=name),
        spec=DeviceClassSpec(selectors=[DeviceSelector(cel=CELDeviceSelector(expression))]),
    )


def _claim(
    name: str, requests: list[DeviceRequest], constraints: list[DeviceConstraint] | None = None
) -> ResourceClaim:
    return ResourceClaim(
        metadata=ObjectMeta(name=name, namespace="default"),
        spec=ResourceClaimSpec(
            devices=DeviceClaim(requests=requests, constraints=constraints or [])
        ),
    )


def _request(
    name: str, device_class: str, count: int = 1, selectors: list[str] | None = None
) -> DeviceRequest:
    return DeviceRequest(
        name=name,
        exactly=ExactDeviceRequest(
            device_class_name=device_class,
            count=count,
            selectors=[DeviceSelector(cel=CELDeviceSelector(s)) for s in selectors or []],
        ),
    )


def _runner(
    node: Node,
    slices: list[ResourceSlice],
    classes: list[DeviceClass],
    claim: ResourceClaim,
    allocated: list[ResourceClaim] | None = None,
    *,
    fits: bool = True,
    prune: bool = True,
) -> Callable[[], Any]:
    features = Features()
    inventory = Inventory(slices, features)
    state = allocated_state(allocated or [], features)
    options = AllocatorOptions(timeout=None, prune_unsatisfiable=prune)
    allocator = Allocator(features, options=options)
    by_name = {c.metadata.name: c for c in classes}

    def run() -> Any:
        result = allocator.allocate(node, [claim], inventory, by_name, state)
        assert (result is not None) == fits
        return result

    return run


def scheduler_perf_node(with_selector: bool, prune: bool = True) -> Callable[[], Any]:
    driver = "test-driver.cdi.k8s.io"
    devices = [
        Device(
            name=f"device-{i}",
            attributes={
                "model": DeviceAttribute(string="A100"),
                "family": DeviceAttribute(string="GPU"),
                "driverVersion": DeviceAttribute(version="1.2.3"),
                "dra.example.com/numa": DeviceAttribute(int_value=i % 2),
            },
            capacity={"memory": DeviceCapacity(value=Quantity.parse("1Gi"))},
        )
        for i in range(10)
    ]
    node = _node("worker-0")
    slices = [
        ResourceSlice(
            metadata=ObjectMeta(name="worker-0-slice"),
            spec=ResourceSliceSpec(
                driver=driver,
                node_name="worker-0",
                pool=ResourcePool(name="worker-0", generation=1, resource_slice_count=1),
                devices=devices,
            ),
        )
    ]
    selectors = (
        [
            f'device.attributes["{driver}"].model == "A100" && '
            f'device.capacity["{driver}"].memory.compareTo(quantity("1Gi")) >= 0'
        ]
        if with_selector
        else []
    )
    claim = _claim("claim-0", [_request("req-0", "test-class", selectors=selectors)])
    classes = [_class("test-class", f'device.driver == "{driver}"')]
    return _runner(node, slices, classes, claim, prune=prune)


def h100_dynamic_mig_node(node_name: str) -> list[ResourceSlice]:
    """An 8x H100 80GB SXM node with dynamic MIG, as the catalog-driven generator builds it."""
    return gpu_node_slices(node_name, load_catalog().gpu("h100-80gb-sxm"), 8, mig="dynamic")


def _allocated(name: str, driver: str, pool: str, device: str) -> ResourceClaim:
    from dralloc.api.resource import (
        AllocationResult,
        DeviceAllocationResult,
        DeviceRequestAllocationResult,
    )

    claim = _claim(name, [_request("gpu", "mig.nvidia.com")])
    claim.status.allocation = AllocationResult(
        devices=DeviceAllocationResult(
            results=[
                DeviceRequestAllocationResult(
                    request="gpu", driver=driver, pool=pool, device=device
                )
            ]
        )
    )
    return claim


MIG_CLASS = "device.driver == 'gpu.nvidia.com' && device.attributes['gpu.nvidia.com'].type == 'mig'"


def _mig_claim(profile: str, count: int) -> ResourceClaim:
    selector = f"device.attributes['gpu.nvidia.com'].profile == '{profile}'"
    return _claim("mig-claim", [_request("mig", "mig.nvidia.com", count, [selector])])


def _half_full_allocations(node_name: str) -> list[ResourceClaim]:
    """GPUs 0-3 wholly allocated, GPUs 4-7 each carrying a 3g.40gb at memory slice 0."""
    allocated = [
        _allocated(f"whole-{g}", "gpu.nvidia.com", node_name, f"gpu-{g}") for g in range(4)
    ]
    allocated += [
        _allocated(f"half-{g}", "gpu.nvidia.com", node_name, f"gpu-{g}-mig-3g40gb-9-0")
        for g in range(4, 8)
    ]
    return allocated


def h100_dynamic_mig_no_fit(prune: bool = True) -> Callable[[], Any]:
    node_name = "dgx-h100-07"
    return _runner(
        _node(node_name),
        h100_dynamic_mig_node(node_name),
        [_class("mig.nvidia.com", MIG_CLASS)],
        _mig_claim("3g.40gb", 17),
        fits=False,
        prune=prune,
    )


def h100_dynamic_mig_half_full_no_fit(prune: bool = True) -> Callable[[], Any]:
    node_name = "dgx-h100-07"
    return _runner(
        _node(node_name),
        h100_dynamic_mig_node(node_name),
        [_class("mig.nvidia.com", MIG_CLASS)],
        _mig_claim("1g.10gb", 13),
        _half_full_allocations(node_name),
        fits=False,
        prune=prune,
    )


def h100_dynamic_mig_half_full(prune: bool = True) -> Callable[[], Any]:
    node_name = "dgx-h100-07"
    return _runner(
        _node(node_name),
        h100_dynamic_mig_node(node_name),
        [_class("mig.nvidia.com", MIG_CLASS)],
        _mig_claim("1g.10gb", 1),
        _half_full_allocations(node_name),
        prune=prune,
    )


def match_attribute_backtracking(prune: bool = True) -> Callable[[], Any]:
    """24 GPUs: 4 PCIe roots of 4 (three with a device in use) and one root of 8. Two
    requests of 4 share one matchAttribute constraint, so every root but the last is tried,
    partly filled and undone before the search finds 8 devices on one root."""
    driver = "gpu.example.com"
    devices = []
    for i in range(16):
        devices.append(
            Device(
                name=f"gpu-{i}",
                attributes={
                    "resource.kubernetes.io/pcieRoot": DeviceAttribute(string=f"pci0000:{i // 4}"),
                    "model": DeviceAttribute(string="H100"),
                },
            )
        )
    node = _node("node-0")
    slices = [
        ResourceSlice(
            metadata=ObjectMeta(name="node-0-slice"),
            spec=ResourceSliceSpec(
                driver=driver,
                node_name="node-0",
                pool=ResourcePool(name="node-0", generation=1, resource_slice_count=1),
                devices=devices,
            ),
        )
    ]
    # Roots 0-2 each have one device in use, so only root 3 can give 4 devices.
    allocated = [_allocated(f"busy-{r}", driver, "node-0", f"gpu-{r * 4 + 3}") for r in range(3)]
    # 8 devices over two requests share one constraint: only the last root has 8.
    claim = _claim(
        "train",
        [_request("a", "gpu", count=4), _request("b", "gpu", count=4)],
        [DeviceConstraint(match_attribute="resource.kubernetes.io/pcieRoot")],
    )
    more = [
        Device(
            name=f"gpu-{i}",
            attributes={
                "resource.kubernetes.io/pcieRoot": DeviceAttribute(string="pci0000:9"),
                "model": DeviceAttribute(string="H100"),
            },
        )
        for i in range(16, 24)
    ]
    slices[0].spec.devices.extend(more)
    classes = [_class("gpu", f'device.driver == "{driver}"')]
    return _runner(node, slices, classes, claim, allocated, prune=prune)


CASES: dict[str, Case] = {
    "scheduler_perf_node": lambda prune=True: scheduler_perf_node(False, prune),
    "scheduler_perf_node_selector": lambda prune=True: scheduler_perf_node(True, prune),
    "h100_dynamic_mig_half_full": h100_dynamic_mig_half_full,
    "match_attribute_backtracking": match_attribute_backtracking,
}
# Cases whose claim does not fit: each call answers "no fit".
NO_FIT_CASES: dict[str, Case] = {
    "h100_dynamic_mig_no_fit": h100_dynamic_mig_no_fit,
    "h100_dynamic_mig_half_full_no_fit": h100_dynamic_mig_half_full_no_fit,
}


def measure(run: Callable[[], Any], repeat: int, runs: int) -> dict[str, Any]:
    """`runs` rounds of `repeat` calls each; the median and p99 of every round, reported as
    the median over rounds with the spread (min-max) of the round medians. `cold_us` is the
    first call, which compiles selectors, evaluates them and gathers the node's pools."""
    start = time.perf_counter_ns()
    run()
    cold = (time.perf_counter_ns() - start) / 1000
    for _ in range(min(50, repeat)):
        run()  # warm caches (selector results, pools per node, prepared claims)
    medians: list[float] = []
    p99s: list[float] = []
    for _ in range(runs):
        samples = []
        for _ in range(repeat):
            start = time.perf_counter_ns()
            run()
            samples.append((time.perf_counter_ns() - start) / 1000)
        samples.sort()
        medians.append(statistics.median(samples))
        p99s.append(samples[min(len(samples) - 1, int(len(samples) * 0.99))])
    return {
        "median_us": round(statistics.median(medians), 1),
        "p99_us": round(statistics.median(p99s), 1),
        "median_min_us": round(min(medians), 1),
        "median_max_us": round(max(medians), 1),
        "cold_us": round(cold, 1),
        "calls_per_run": repeat,
        "runs": runs,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--json", action="store_true", help="one JSON object per case per line")
    parser.add_argument("--repeat", type=int, default=2000, help="calls per run")
    parser.add_argument("--runs", type=int, default=5, help="runs per case")
    parser.add_argument("--case", action="append", choices=sorted({**CASES, **NO_FIT_CASES}))
    parser.add_argument(
        "--no-prune", action="store_true", help="the plain search: no proofs of 'no fit'"
    )
    args = parser.parse_args(argv)
    cases = {**CASES, **NO_FIT_CASES}
    names = args.case or list(cases)
    for name in names:
        run = cases[name](prune=not args.no_prune)
        figures = {"case": name, **measure(run, args.repeat, args.runs)}
        if args.json:
            print(json.dumps(figures))
        else:
            print(
                f"{name:34s} median {figures['median_us']:8.1f} us "
                f"(runs {figures['median_min_us']:.1f}-{figures['median_max_us']:.1f})  "
                f"p99 {figures['p99_us']:8.1f} us  first call {figures['cold_us']:9.1f} us"
            )
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
