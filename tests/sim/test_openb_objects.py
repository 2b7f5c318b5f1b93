"""The openb trace in DRA terms: nodes and pods become objects the allocator places."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import msgspec
import pytest

from dralloc.allocator import Allocator, Inventory, allocated_state
from dralloc.api.resource import DeviceClass
from dralloc.api.validation import validate
from dralloc.devices import SliceBuilder, driver_device_classes
from dralloc.errors import InputError
from dralloc.features import Features
from dralloc.sim.openb_objects import (
    GPU_CLASS,
    MODEL_LABEL,
    cluster_objects,
    node_objects,
    pod_objects,
)
from dralloc.sim.traces import TraceNode, TracePod, resolve_arrival_trace
from dralloc.sim.traces.openb import openb_models, resolve_trace

MODELS = openb_models()
FEATURES = Features()
CLASSES: dict[str, DeviceClass] = {c.metadata.name: c for c in driver_device_classes()}


def _pod(name: str, num_gpu: int, gpu_milli: int, spec: frozenset[str] = frozenset()) -> TracePod:
    return TracePod(
        name=name,
        cpu_milli=4000,
        memory_mib=8192,
        num_gpu=num_gpu,
        gpu_milli=gpu_milli,
        gpu_spec=spec,
    )


def test_every_trace_model_code_maps_to_a_gpu_model() -> None:
    trace = resolve_trace("openb:default")
    codes = {node.model for node in trace.nodes if node.model}
    assert codes == {"G2", "T4", "G3", "P100", "V100M32", "V100M16", "A10"}
    assert MODELS.model("T4").product_name == "Tesla T4"
    assert MODELS.model("G2").name == "openb-g2"


def test_the_packaged_cluster_publishes_6212_fractional_gpus_that_validate() -> None:
    objects = cluster_objects(resolve_arrival_trace("openb:default").nodes, MODELS)
    devices = [d for o in objects for s in o.slices for d in s.spec.devices]
    assert len(objects) == 1213 and len(devices) == 6212
    assert all(d.allow_multiple_allocations for d in devices)
    assert {str(d.capacity["cores"].value) for d in devices} == {"100"}
    assert not [p for o in objects[:50] for s in o.slices for p in validate(s)]
    assert not [p for o in objects[:50] for p in validate(o.node)]
    models = Counter(o.node.metadata.labels[MODEL_LABEL] for o in objects)
    assert models["G2"] == 549 and models["A10"] == 2


def _allocate(node: TraceNode, pods: list[TracePod]) -> list[list[tuple[str, str]]]:
    """Allocate each pod's claim in turn on `node`, committing it; [] for a pod that fails."""
    objects = node_objects(node, MODELS, SliceBuilder())
    inventory = Inventory(objects.slices, FEATURES)
    allocator = Allocator(FEATURES)
    committed = []
    placed: list[list[tuple[str, str]]] = []
    for pod in pods:
        claim = pod_objects(pod, MODELS).claim
        assert claim is not None
        state = allocated_state(committed, FEATURES)
        results = allocator.allocate(objects.node, [claim], inventory, CLASSES, state)
        if results is None:
            placed.append([])
            continue
        (result,) = results
        committed.append(
            msgspec.structs.replace(
                claim, status=msgspec.structs.replace(claim.status, allocation=result)
            )
        )
        placed.append(
            [(r.device, str(r.consumed_capacity["cores"])) for r in result.devices.results]
        )
    return placed


def test_sharing_pods_share_a_gpu_until_its_percent_is_used_then_move_on() -> None:
    node = TraceNode(name="n", cpu_milli=96000, memory_mib=393216, gpus=2, model="T4")
    placed = _allocate(node, [_pod("a", 1, 500), _pod("b", 1, 470), _pod("c", 1, 50)])
    assert placed == [[("gpu-0", "50")], [("gpu-0", "47")], [("gpu-1", "5")]]


def test_a_whole_gpu_pod_needs_an_untouched_gpu() -> None:
    node = TraceNode(name="n", cpu_milli=96000, memory_mib=393216, gpus=2, model="T4")
    placed = _allocate(node, [_pod("a", 1, 100), _pod("b", 2, 1000), _pod("c", 1, 1000)])
    assert placed == [[("gpu-0", "10")], [], [("gpu-1", "100")]]


def test_gpu_spec_restricts_the_model() -> None:
    node = TraceNode(name="n", cpu_milli=96000, memory_mib=393216, gpus=1, model="T4")
    placed = _allocate(node, [_pod("a", 1, 1000, frozenset({"P100", "V100M16"}))])
    assert placed == [[]]
    placed = _allocate(node, [_pod("a", 1, 1000, frozenset({"T4", "G2"}))])
    assert placed == [[("gpu-0", "100")]]


def test_a_cpu_only_pod_has_no_claim_and_requests_cpu_and_memory() -> None:
    made = pod_objects(_pod("cpu", 0, 0), MODELS)
    assert made.claim is None
    (container,) = made.pod.spec.containers
    assert {k: str(v) for k, v in container.resources.requests.items()} == {
        "cpu": "4",
        "memory": "8Gi",
    }


def test_a_gpu_pod_references_its_claim_through_the_pod_spec() -> None:
    made = pod_objects(_pod("p", 4, 1000), MODELS)
    assert made.claim is not None
    (request,) = made.claim.spec.devices.requests
    assert request.exactly is not None
    assert (request.exactly.device_class_name, request.exactly.count) == (GPU_CLASS, 4)
    assert request.exactly.capacity is None  # the defaults: whole devices
    (ref,) = made.pod.spec.resource_claims
    assert ref.resource_claim_name == "p-gpu"


def test_a_gpu_milli_that_is_not_a_whole_percentage_is_refused_with_its_line() -> None:
    with pytest.raises(InputError, match=r"pods.csv: line 7: gpu_milli: 333"):
        pod_objects(replace(_pod("p", 1, 333), line=7), MODELS, "pods.csv")
