"""CapacityBuffers (spec §8): chunk counts as the CRD defines them, manifests checked, and in
cluster-autoscaler mode a buffer that keeps N pods' worth of room: its chunks cause a scale-up,
keep their nodes from scale-down, and yield to real pods. Clusters are a few L4 nodes."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
import pytest
from autoscalingkit import (
    FOUR_GPUS_TEMPLATE,
    World,
    autoscaler,
    config_text,
    gpu_claim,
    gpu_pod,
    load,
)

from dralloc.api.core import Pod
from dralloc.api.quantity import parse_quantity
from dralloc.api.resource import ResourceClaimConsumerReference
from dralloc.autoscaling.capacitybuffer import (
    CapacityBuffer,
    ScalableTarget,
    buffer_pods,
    buffer_status,
)
from dralloc.autoscaling.clusterautoscaler import UnschedulablePod
from dralloc.autoscaling.decisions import LoopResult, ScaleDown, ScaleUp
from dralloc.autoscaling.objects import AutoscalingObjects, parse_autoscaling_objects_text
from dralloc.autoscaling.virtualpods import VirtualPod
from dralloc.devices import load_catalog
from dralloc.devices.catalog import Catalog
from dralloc.errors import InputError

TEMPLATES = (
    """\
apiVersion: v1
kind: PodTemplate
metadata: {name: chunk, namespace: default}
template:
  spec:
    containers:
    - {name: main, image: pause, resources: {requests: {cpu: "4", memory: 8Gi}}}
    resourceClaims:
    - {name: gpu, resourceClaimTemplateName: four-gpus}
---
"""
    + FOUR_GPUS_TEMPLATE
)


def buffer_text(spec: str, name: str = "warm") -> str:
    return f"""\
---
apiVersion: autoscaling.x-k8s.io/v1beta1
kind: CapacityBuffer
metadata: {{name: {name}, namespace: default}}
spec: {spec}
"""


def read(*buffers: str) -> AutoscalingObjects:
    return parse_autoscaling_objects_text(TEMPLATES + "".join(buffers), "buffers.yaml")


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


@pytest.mark.parametrize(
    ("spec", "target_replicas", "expected"),
    [
        ("{podTemplateRef: {name: chunk}, replicas: 3}", None, 3),
        ("{podTemplateRef: {name: chunk}, replicas: 3, limits: {cpu: '10'}}", None, 2),
        ("{podTemplateRef: {name: chunk}, limits: {memory: 20Gi}}", None, 2),
        ("{podTemplateRef: {name: chunk}, replicas: 0}", None, 0),
        ("{scalableRef: {kind: Deployment, name: web}, percentage: 20}", 10, 2),
        ("{scalableRef: {kind: Deployment, name: web}, percentage: 5}", 3, 1),
        ("{scalableRef: {kind: Deployment, name: web}, percentage: 20, replicas: 4}", 10, 4),
    ],
)
def test_chunks_are_counted_as_the_crd_says(
    spec: str, target_replicas: int | None, expected: int
) -> None:
    (buffer,) = read(buffer_text(spec)).capacity_buffers
    template = read().pod_templates["default/chunk"]
    status = buffer_status(buffer, template, target_replicas)
    assert (status.replicas, status.ready) == (expected, True)


def test_a_scalable_buffer_is_not_ready_before_its_target_has_a_pod() -> None:
    buffer = CapacityBuffer(
        "default", "web", scalable_ref=ScalableTarget("apps", "Deployment", "web"), replicas=2
    )
    assert buffer_status(buffer) == buffer_status(buffer, None, 5)
    assert not buffer_status(buffer).ready
    other = CapacityBuffer("default", "x", provisioning_strategy="example.com/other", replicas=1)
    assert buffer_status(other).replicas == 0


def test_bad_buffers_are_refused_naming_each_field() -> None:
    with pytest.raises(InputError) as caught:
        read(
            buffer_text("{podTemplateRef: {name: chunk}}", "a"),
            buffer_text("{podTemplateRef: {name: chunk}, scalableRef: {name: web}}", "b"),
            buffer_text("{podTemplateRef: {name: chunk}, replicas: 1, percentage: 10}", "c"),
            buffer_text("{}", "d"),
        )
    assert str(caught.value).splitlines() == [
        "buffers.yaml: CapacityBuffer default/a: spec: "
        "If podTemplateRef is set, replicas or limits must also be set",
        "buffers.yaml: CapacityBuffer default/b: spec: "
        "If podTemplateRef is set, replicas or limits must also be set",
        "buffers.yaml: CapacityBuffer default/b: spec: "
        "You must define either PodTemplateRef or ScalableRef, but not both",
        "buffers.yaml: CapacityBuffer default/b: spec.scalableRef.kind: required",
        "buffers.yaml: CapacityBuffer default/c: spec.percentage: only allowed with scalableRef",
        "buffers.yaml: CapacityBuffer default/d: spec: "
        "exactly one of podTemplateRef and scalableRef must be set",
    ]


GROUP = "- {name: l4x4-od, shape: l4x4, max: 3}\n"


def chunks(count: int) -> tuple[AutoscalingObjects, list[VirtualPod]]:
    objects = read(buffer_text(f"{{podTemplateRef: {{name: chunk}}, replicas: {count}}}"))
    (buffer,) = objects.capacity_buffers
    pods = buffer_pods(buffer, buffer_status(buffer).replicas, objects.claim_templates)
    return objects, pods


def loop(
    world: World,
    now: float,
    pods: Sequence[VirtualPod],
    pending: Sequence[tuple[Pod, float]] = (),
) -> LoopResult:
    return world.ca.run_once(
        now,
        world.cluster_at(now),
        [UnschedulablePod(p, s) for p, s in pending],
        buffer_pods=pods,
    )


def test_a_buffer_keeps_two_pods_worth_of_capacity(catalog: Catalog) -> None:
    world = World(autoscaler(load(config_text(GROUP), catalog), catalog))
    _, pods = chunks(2)
    assert [v.key for v in pods] == [
        "default/capacity-buffer-warm-0",
        "default/capacity-buffer-warm-1",
    ]
    first = loop(world, 100.0, pods)
    assert [(u.group, len(u.nodes)) for u in first.of_type(ScaleUp)] == [("l4x4-od", 2)]
    assert first.unplaced_buffer_pods == tuple(v.key for v in pods)
    # Upcoming nodes hold the chunks: no second scale-up while they start.
    assert loop(world, 110.0, pods).of_type(ScaleUp) == []
    # Ready and holding the chunks, the nodes outlive the unneeded time...
    for now in (300.0, 700.0, 1000.0, 1300.0):
        result = loop(world, now, pods)
        assert result.of_type(ScaleDown) == [] and result.unplaced_buffer_pods == ()
    assert all(n.lifecycle.deleting_at is None for n in world.ca.fleet.nodes())
    # ...and without the buffer they are empty and go after 10 minutes.
    loop(world, 1400.0, [])
    downs = loop(world, 2010.0, []).of_type(ScaleDown)
    assert len(downs) == 2 and all(d.empty for d in downs)


def test_a_real_pod_takes_the_buffers_room_and_the_buffer_asks_for_more(catalog: Catalog) -> None:
    world = World(autoscaler(load(config_text(GROUP), catalog), catalog))
    world.ca.fleet.request("l4x4-od", 0.0)  # ready at 180 s
    _, pods = chunks(1)
    assert loop(world, 200.0, pods).of_type(ScaleUp) == []
    world.claims["default/c"] = gpu_claim("c", count=4)
    result = loop(world, 300.0, pods, [(gpu_pod("p", "c"), 250.0)])
    assert result.pending_pods == ()  # the real pod fits: the buffer's room is its
    assert [u.pods for u in result.of_type(ScaleUp)] == [("default/capacity-buffer-warm-0",)]


def test_limits_cap_chunks_to_what_the_quantities_allow() -> None:
    buffer = CapacityBuffer(
        "default",
        "capped",
        template=read().pod_templates["default/chunk"],
        replicas=10,
        limits={"cpu": parse_quantity("9"), "memory": parse_quantity("64Gi")},
    )
    assert buffer_status(buffer).replicas == 2


def test_a_chunk_past_the_reserved_for_limit_fails(catalog: Catalog) -> None:
    shared = """\
apiVersion: v1
kind: PodTemplate
metadata: {name: sharer, namespace: default}
template:
  spec:
    containers: [{name: main, image: pause}]
    resourceClaims: [{name: gpu, resourceClaimName: shared}]
"""
    objects = parse_autoscaling_objects_text(
        shared + buffer_text("{podTemplateRef: {name: sharer}, replicas: 2}"), "buffers.yaml"
    )
    (buffer,) = objects.capacity_buffers
    pods = buffer_pods(buffer, buffer_status(buffer).replicas, objects.claim_templates)
    world = World(autoscaler(load(config_text(GROUP), catalog), catalog))
    world.ca.fleet.request("l4x4-od", 0.0)
    world.claims["default/shared"] = gpu_claim("shared", count=1)
    world.bind(200.0, [gpu_pod("owner", "shared")])
    claim = world.claims["default/shared"]
    others = [
        ResourceClaimConsumerReference(resource="pods", name=f"reader-{i}", uid=f"u{i}")
        for i in range(254)
    ]
    world.claims["default/shared"] = msgspec.structs.replace(
        claim,
        status=msgspec.structs.replace(
            claim.status, reserved_for=[*claim.status.reserved_for, *others]
        ),
    )
    result = loop(world, 250.0, pods)
    # 255 reservations: the first chunk takes the 256th, the second would be the 257th.
    assert result.unplaced_buffer_pods == ("default/capacity-buffer-warm-1",)
