"""CapacityBuffers from manifests in the replay (`ReplayAutoscaling.objects`): a buffer of two
one-GPU chunks makes cluster-autoscaler bring a node up before any pod arrives, so the pods
start on arrival; once they take the room, the buffer asks for more. Without it they wait for
a node. Tiny trace: two one-GPU pods at 600 s; L4 nodes with 2 fractional GPUs, fixed delays
(requested at t, devices published at t + 180 s)."""

from __future__ import annotations

import pytest
from autoscalekit import autoscaling_text, group

from dralloc.autoscaling import parse_autoscaling_text
from dralloc.autoscaling.objects import AutoscalingObjects, parse_autoscaling_objects_text
from dralloc.devices import load_catalog
from dralloc.devices.catalog import Catalog
from dralloc.sim.replay import ReplayOptions, ReplayResult, replay
from dralloc.sim.replay.autoscaled import ReplayAutoscaling
from dralloc.sim.traces import ReplayTrace, TimedPod, TracePod
from dralloc.sim.traces.model import GpuModels

CONFIG = autoscaling_text(
    "cluster-autoscaler",
    groups=[group("l4", "l4x2", max_size=3)],
    options="{scaleDownUnneededTime: 300}",
)

MANIFESTS = """\
apiVersion: resource.k8s.io/v1
kind: ResourceClaimTemplate
metadata: {name: one-gpu, namespace: default}
spec:
  spec:
    devices:
      requests:
      - name: gpu
        exactly: {deviceClassName: gpu-fractional.dralloc.io, count: 1}
---
apiVersion: v1
kind: PodTemplate
metadata: {name: gpu-slot, namespace: default}
template:
  spec:
    containers:
    - name: main
      image: pause
      resources:
        requests: {cpu: 1, memory: 1Gi}
        claims: [{name: gpu}]
    resourceClaims:
    - {name: gpu, resourceClaimTemplateName: one-gpu}
---
apiVersion: autoscaling.x-k8s.io/v1beta1
kind: CapacityBuffer
metadata: {name: warm, namespace: default}
spec:
  podTemplateRef: {name: gpu-slot}
  replicas: 2
"""


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def run(catalog: Catalog, objects: AutoscalingObjects | None) -> ReplayResult:
    config = parse_autoscaling_text(CONFIG, "autoscaling.yaml", catalog=catalog)
    scaling = ReplayAutoscaling(config, catalog, objects=objects)
    pods = tuple(
        TimedPod(TracePod(f"p{i}", 1000, 1024, 1, 1000), arrival, 300.0)
        for i, arrival in enumerate((600.0, 605.0))
    )
    trace = ReplayTrace("tiny", (), pods, GpuModels({"L4": catalog.gpu("l4")}), source="t.csv")
    return replay(trace, "fgd", 1, ReplayOptions(autoscaling=scaling))


def test_a_capacity_buffer_keeps_a_node_ready_before_the_pods_come(catalog: Catalog) -> None:
    objects = parse_autoscaling_objects_text(MANIFESTS, "buffers.yaml")
    buffered = run(catalog, objects)
    bare = run(catalog, None)
    assert [(p.start, p.node) for p in bare.pods] == [(790.0, "l4-0000")] * 2
    # The chunks are pending at the first loop (0 s; they are not new pods CA waits 2 s
    # for): a node requested then publishes its devices at 180 s.
    assert [(p.start, p.node) for p in buffered.pods] == [
        (600.0, "l4-0000"),
        (605.0, "l4-0000"),
    ]
    a, b = buffered.autoscaling, bare.autoscaling
    assert a is not None and b is not None
    # The pods took the buffer's room: it asks for a second node (the room comes back).
    assert a.fleet_size == ((180.0, 1), (780.0, 2))
    assert a.billed_total > b.billed_total
