"""ProvisioningRequests in cluster-autoscaler mode (spec §7): manifests read and refused as users
write them, check-capacity and best-effort-atomic with their real conditions and reasons,
booking and its expiry, the wrapper orchestrator's turns, and the Kueue admission-check mapping.

Clusters are one or two L4 nodes (4 or 8 GPUs); requests ask for 4-GPU pods through a
ResourceClaimTemplate, as a training job's PodTemplate would."""

from __future__ import annotations

import dataclasses
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
from dralloc.autoscaling.clusterautoscaler import UnschedulablePod
from dralloc.autoscaling.config import CapacityType
from dralloc.autoscaling.decisions import (
    FailedScaleUpReason,
    LoopResult,
    NoScaleUp,
    ProvisioningRequestUpdate,
    ScaleUp,
    ScaleUpFailure,
)
from dralloc.autoscaling.objects import AutoscalingObjects, parse_autoscaling_objects_text
from dralloc.autoscaling.provisioningrequest import (
    CONSUME_ANNOTATION,
    CheckState,
    Condition,
    ConditionType,
    NodeSelectorFromDetail,
    ProvisioningRequest,
    RetryStrategy,
    kueue_check_state,
    requeue_after,
)
from dralloc.devices import load_catalog
from dralloc.devices.catalog import Catalog
from dralloc.errors import InputError

ON = "{enableProvisioningRequests: true}"
ONE_L4X8 = "- {name: l4x8-od, shape: l4x8, min: 1, max: 1}\n"
L4X4_UP_TO_2 = "- {name: l4x4-od, shape: l4x4, max: 2}\n"

TEMPLATES = (
    """\
apiVersion: v1
kind: PodTemplate
metadata: {name: trainer, namespace: default}
template:
  metadata: {labels: {app: trainer}}
  spec:
    containers:
    - {name: main, image: trainer, resources: {requests: {cpu: "4"}}}
    resourceClaims:
    - {name: gpu, resourceClaimTemplateName: four-gpus}
---
"""
    + FOUR_GPUS_TEMPLATE
)


def request_text(name: str, klass: str, count: int, parameters: str = "") -> str:
    return f"""\
---
apiVersion: autoscaling.x-k8s.io/v1
kind: ProvisioningRequest
metadata: {{name: {name}, namespace: default}}
spec:
  provisioningClassName: {klass}.autoscaling.x-k8s.io
  podSets:
  - podTemplateRef: {{name: trainer}}
    count: {count}
{parameters}"""


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def objects(*requests: str) -> AutoscalingObjects:
    return parse_autoscaling_objects_text(TEMPLATES + "".join(requests), "requests.yaml")


def conditions(request: ProvisioningRequest) -> list[tuple[str, bool, str]]:
    return [(c.type, c.status, c.reason) for c in request.conditions]


def test_manifests_read_as_users_write_them() -> None:
    read = objects(request_text("train", "check-capacity", 2, "  parameters: {noRetry: 'true'}\n"))
    (request,) = read.provisioning_requests
    assert (request.key, request.pod_count, dict(request.parameters)) == (
        "default/train",
        2,
        {"noRetry": "true"},
    )
    pods = request.virtual_pods(read.claim_templates)
    assert [v.key for v in pods] == ["default/train-0-0", "default/train-0-1"]
    assert pods[0].pod.metadata.annotations[CONSUME_ANNOTATION] == "train"
    assert pods[0].pod.metadata.labels == {"app": "trainer"}
    assert [c.metadata.name for c in pods[0].claims] == ["train-0-0-gpu"]
    assert pods[0].claims[0].spec.devices.requests[0].exactly.count == 4  # type: ignore[union-attr]


def test_bad_manifests_name_file_object_and_field_all_at_once() -> None:
    bad = """\
apiVersion: autoscaling.x-k8s.io/v1
kind: ProvisioningRequest
metadata: {name: train, namespace: default}
spec:
  provisioningClassName: Check_Capacity
  podSets:
  - podTemplateRef: {name: missing}
    count: 0
  - {podTemplateRef: {name: trainer}, count: 1, extra: 1}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: x}
"""
    with pytest.raises(InputError) as caught:
        parse_autoscaling_objects_text(TEMPLATES + "---\n" + bad, "requests.yaml")
    assert str(caught.value).splitlines() == [
        "requests.yaml: ProvisioningRequest default/train: spec.podSets[0].count: "
        "must be >= 1, got 0",
        "requests.yaml: ProvisioningRequest default/train: spec.podSets[0].podTemplateRef.name: "
        "PodTemplate default/missing not found (a PodTemplate must be in the same namespace)",
        "requests.yaml: ProvisioningRequest default/train: spec.podSets[1].extra: unknown field",
        "requests.yaml: ProvisioningRequest default/train: spec.provisioningClassName: "
        'must be a DNS subdomain of at most 253 characters, got "Check_Capacity"',
        "requests.yaml: document 4: kind: expected ProvisioningRequest, CapacityBuffer, "
        'PodTemplate or ResourceClaimTemplate, got "ConfigMap"',
    ]


def world_with(groups: str, catalog: Catalog, *, start: bool = True) -> World:
    world = World(autoscaler(load(config_text(groups, ON), catalog), catalog))
    if start:
        world.ca.fleet.start()
    return world


def loop(
    world: World,
    now: float,
    read: AutoscalingObjects,
    requests: list[ProvisioningRequest],
    pending: Sequence[tuple[Pod, float]] = (),
) -> LoopResult:
    result = world.ca.run_once(
        now,
        world.cluster_at(now),
        [UnschedulablePod(p, s) for p, s in pending],
        provisioning_requests=requests,
        claim_templates=read.claim_templates,
    )
    return result


def test_check_capacity_is_provisioned_when_capacity_exists_and_books_it(catalog: Catalog) -> None:
    world = world_with(ONE_L4X8, catalog)
    read = objects(request_text("train", "check-capacity", 2))
    result = loop(world, 100.0, read, list(read.provisioning_requests))
    (request,) = result.provisioning_requests
    assert conditions(request) == [
        ("Accepted", True, "Accepted"),
        ("Provisioned", True, "CapacityIsFound"),
    ]
    assert [str(d) for d in result.of_type(ProvisioningRequestUpdate)] == [
        "provisioning request default/train: Accepted=True (Accepted)",
        "provisioning request default/train: Provisioned=True (CapacityIsFound)",
    ]
    # The booked room is not free for others: a regular 4-GPU pod finds none (and the group
    # is at max), and the request's room keeps the node.
    world.claims["default/c"] = gpu_claim("c", count=4)
    later = loop(world, 200.0, read, [request], [(gpu_pod("p", "c"), 150.0)])
    assert later.pending_pods == ("default/p",)
    assert [d.pod for d in later.of_type(NoScaleUp)] == ["default/p"]
    # 10 minutes after Provisioned the booking expires.
    expired = loop(world, 701.0, read, list(later.provisioning_requests))
    assert conditions(expired.provisioning_requests[0])[-1] == (
        "BookingExpired",
        True,
        "CapacityReservationTimeExpired",
    )


def test_check_capacity_without_room_is_not_provisioned_then_fails_with_no_retry(
    catalog: Catalog,
) -> None:
    world = world_with(ONE_L4X8, catalog)
    read = objects(
        request_text("big", "check-capacity", 3),
        request_text("once", "check-capacity", 3, "  parameters: {noRetry: 'true'}\n"),
    )
    big, once = read.provisioning_requests
    once = dataclasses.replace(once, created_at=1.0)
    first = loop(world, 100.0, read, [big, once])
    assert conditions(first.provisioning_requests[0]) == [
        ("Accepted", True, "Accepted"),
        ("Provisioned", False, "CapacityIsNotFound"),
    ]
    assert not first.of_type(ScaleUp)  # check-capacity never adds nodes
    # big now waits for its retry (1 min): the next turn serves `once`, which gives up.
    second = loop(world, 110.0, read, list(first.provisioning_requests))
    assert conditions(second.provisioning_requests[1]) == [
        ("Accepted", True, "Accepted"),
        ("Failed", True, "CapacityIsNotFound"),
    ]
    # Retried once its minute is over; unchanged conditions make no new records.
    third = loop(world, 160.0, read, list(second.provisioning_requests))
    assert third.of_type(ProvisioningRequestUpdate) == []
    assert world.ca.provisioning_request_state.retry_at["default/big"] == 160.0 + 120.0


def test_best_effort_atomic_scales_all_or_nothing(catalog: Catalog) -> None:
    world = world_with(L4X4_UP_TO_2, catalog, start=False)
    read = objects(request_text("three", "best-effort-atomic-scale-up", 3))
    result = loop(world, 100.0, read, list(read.provisioning_requests))
    # Three 4-GPU pods need three l4x4 nodes; the group holds two: nothing is requested.
    assert result.of_type(ScaleUp) == [] and world.ca.fleet.nodes() == []
    assert conditions(result.provisioning_requests[0])[-1] == (
        "Provisioned",
        False,
        "CapacityIsNotFound",
    )
    world = world_with(L4X4_UP_TO_2, catalog, start=False)
    read = objects(request_text("two", "best-effort-atomic-scale-up", 2))
    result = loop(world, 100.0, read, list(read.provisioning_requests))
    assert [(u.group, len(u.nodes), len(u.pods)) for u in result.of_type(ScaleUp)] == [
        ("l4x4-od", 2, 2)
    ]
    assert conditions(result.provisioning_requests[0])[-1] == (
        "Provisioned",
        True,
        "CapacityIsProvisioned",
    )
    # The plain path for the same three pods scales up part of them (two nodes) and waits.
    world = World(autoscaler(load(config_text(L4X4_UP_TO_2), catalog), catalog))
    pods = []
    for index in range(3):
        world.claims[f"default/c{index}"] = gpu_claim(f"c{index}", count=4)
        pods.append((gpu_pod(f"p{index}", f"c{index}"), 50.0))
    plain = world.ca.run_once(
        100.0, world.cluster_at(100.0), [UnschedulablePod(p, s) for p, s in pods]
    )
    assert sum(len(u.nodes) for u in plain.of_type(ScaleUp)) == 2


def test_best_effort_atomic_stock_out_grants_nothing(catalog: Catalog) -> None:
    text = config_text(L4X4_UP_TO_2, ON).replace(
        "  gpus: 4\n", "  gpus: 4\n  availability: {capacity: 1}\n", 1
    )
    world = World(autoscaler(load(text, catalog), catalog))
    read = objects(request_text("two", "best-effort-atomic-scale-up", 2))
    result = loop(world, 100.0, read, list(read.provisioning_requests))
    assert world.ca.fleet.nodes() == []
    assert conditions(result.provisioning_requests[0])[-1] == (
        "Provisioned",
        False,
        "CapacityIsNotFound",
    )


def test_a_request_already_fitting_is_found_and_a_week_old_one_expires(catalog: Catalog) -> None:
    world = world_with(ONE_L4X8, catalog)
    read = objects(
        request_text("fits", "best-effort-atomic-scale-up", 1),
        request_text("old", "best-effort-atomic-scale-up", 9),
    )
    fits, old = read.provisioning_requests
    result = loop(world, 100.0, read, [fits])
    assert conditions(result.provisioning_requests[0])[-1] == (
        "Provisioned",
        True,
        "CapacityIsFound",
    )
    aged = loop(world, 7 * 86400.0 + 1.0, read, [old])
    assert conditions(aged.provisioning_requests[0]) == [("Failed", True, "Expired")]
    valid = dataclasses.replace(old, parameters={"ValidUntilSeconds": "50"})
    assert conditions(loop(world, 60.0, read, [valid]).provisioning_requests[0]) == [
        ("Failed", True, "Expired")
    ]


def test_booking_is_consumed_when_its_pods_are_bound(catalog: Catalog) -> None:
    world = world_with(ONE_L4X8, catalog)
    read = objects(request_text("one", "check-capacity", 1))
    booked = loop(world, 100.0, read, list(read.provisioning_requests)).provisioning_requests
    world.claims["default/c"] = gpu_claim("c", count=4)
    pod = gpu_pod("w", "c")
    pod = msgspec.structs.replace(
        pod,
        metadata=msgspec.structs.replace(pod.metadata, annotations={CONSUME_ANNOTATION: "one"}),
    )
    world.bind(150.0, [pod])
    result = loop(world, 200.0, read, list(booked))
    assert conditions(result.provisioning_requests[0])[-1] == (
        "BookingExpired",
        True,
        "CapacityBookingConsumed",
    )


def test_regular_pods_and_requests_take_turns(catalog: Catalog) -> None:
    world = world_with("- {name: l4x4-od, shape: l4x4, max: 3}\n", catalog, start=False)
    read = objects(request_text("two", "best-effort-atomic-scale-up", 1))
    world.claims["default/c"] = gpu_claim("c", count=4)
    pending = [(gpu_pod("p", "c"), 50.0)]
    first = loop(world, 100.0, read, list(read.provisioning_requests), pending)
    assert [u.pods for u in first.of_type(ScaleUp)] == [("default/p",)]
    assert first.provisioning_requests[0].conditions == ()
    second = loop(world, 110.0, read, list(first.provisioning_requests), pending)
    assert [u.pods for u in second.of_type(ScaleUp)] == [("default/two-0-0",)]


def provisioned() -> ProvisioningRequest:
    read = objects(request_text("job-check-1", "check-capacity", 2))
    request = read.provisioning_requests[0]
    return dataclasses.replace(request, class_details={"zone": "us-east-1a"})


@pytest.mark.parametrize(
    ("condition", "kwargs", "expected"),
    [
        (None, {}, (CheckState.PENDING, "")),
        (("Accepted", True, "Accepted"), {}, (CheckState.PENDING, "")),
        (
            ("Failed", True, "CapacityIsNotFound"),
            {"attempt": 1},
            (CheckState.RETRY, "Retrying after failure: m"),
        ),
        (("Failed", True, "CapacityIsNotFound"), {"attempt": 4}, (CheckState.REJECTED, "m")),
        (
            ("BookingExpired", True, "CapacityReservationTimeExpired"),
            {"attempt": 2, "retry_count": 1},
            (CheckState.RETRY, "Retrying after booking expired: m"),
        ),
        (
            ("BookingExpired", True, "CapacityReservationTimeExpired"),
            {"workload_admitted": True},
            (None, ""),
        ),
        (("CapacityRevoked", True, "Revoked"), {}, (CheckState.REJECTED, "m")),
        (("CapacityRevoked", True, "Revoked"), {"workload_active": False}, (None, "")),
    ],
)
def test_kueue_admission_check_follows_the_request(
    condition: tuple[str, bool, str] | None,
    kwargs: dict[str, object],
    expected: tuple[CheckState | None, str],
) -> None:
    request = provisioned()
    if condition is not None:
        request = request.with_condition(
            Condition(ConditionType(condition[0]), condition[1], condition[2], "m")
        )
    arguments: dict[str, object] = {"attempt": 1, **kwargs}
    update = kueue_check_state(request, **arguments)  # type: ignore[arg-type]
    assert (update.state, update.message) == expected


def test_kueue_ready_carries_the_pod_set_updates_and_retries_back_off() -> None:
    request = provisioned().with_condition(
        Condition(ConditionType.PROVISIONED, True, "CapacityIsFound", "found")
    )
    update = kueue_check_state(
        request,
        attempt=1,
        node_selectors=(NodeSelectorFromDetail("topology.kubernetes.io/zone", "zone"),),
    )
    assert update.state is CheckState.READY
    assert [
        (u.pod_template_name, dict(u.annotations), dict(u.node_selector))
        for u in update.pod_set_updates
    ] == [
        (
            "trainer",
            {
                "autoscaling.x-k8s.io/consume-provisioning-request": "job-check-1",
                "autoscaling.x-k8s.io/provisioning-class-name": (
                    "check-capacity.autoscaling.x-k8s.io"
                ),
            },
            {"topology.kubernetes.io/zone": "us-east-1a"},
        )
    ]
    assert [requeue_after(n, RetryStrategy()) for n in (1, 2, 3, 6)] == [60, 120, 240, 1800]


def test_an_atomic_launch_fails_whole_and_unbilled(catalog: Catalog) -> None:
    text = config_text(L4X4_UP_TO_2, ON).replace(
        "  gpus: 4\n", "  gpus: 4\n  availability: {launchFailure: 0.5}\n", 1
    )
    for seed in range(20):  # find a seed where one of the two launches fails, not both
        world = World(autoscaler(load(text, catalog), catalog, seed=seed))
        read = objects(request_text("two", "best-effort-atomic-scale-up", 2))
        result = loop(world, 100.0, read, list(read.provisioning_requests))
        failed = [n.lifecycle.launch_failed for n in world.ca.fleet.nodes()]
        if failed.count(True) == 1:
            break
    else:
        pytest.fail("no seed with exactly one failed launch")
    assert result.of_type(ScaleUp) == []
    (failure,) = result.of_type(ScaleUpFailure)
    assert (failure.group, failure.reason, len(failure.nodes)) == (
        "l4x4-od",
        FailedScaleUpReason.CLOUD_PROVIDER_ERROR,
        2,
    )
    assert all(n.lifecycle.gone_at == 100.0 for n in world.ca.fleet.nodes())
    assert world.ca.fleet.cost_by_capacity_type(until=3600.0).get(CapacityType.ON_DEMAND, 0.0) == 0
    assert conditions(result.provisioning_requests[0])[-1] == (
        "Provisioned",
        False,
        "CapacityIsNotFound",
    )


def test_kueue_makes_requests_only_for_pod_sets_using_managed_resources() -> None:
    from dralloc.autoscaling.provisioningrequest import request_parameters, required_pod_sets

    template = objects().pod_templates["default/trainer"]
    launcher = template.spec  # cpu only (its GPUs come from a claim)
    container = template.spec.containers[0]
    resources = msgspec.structs.replace(
        container.resources, limits={"nvidia.com/gpu": parse_quantity("8")}
    )
    gpu_spec = msgspec.structs.replace(
        template.spec, containers=[msgspec.structs.replace(container, resources=resources)]
    )
    pod_sets = [("launcher", launcher), ("workers", gpu_spec)]
    assert required_pod_sets(pod_sets, []) == ["launcher", "workers"]
    assert required_pod_sets(pod_sets, ["nvidia.com/gpu"]) == ["workers"]
    # A claim-only pod set is unmanaged upstream; dralloc counts its mapped resources.
    claim_only = [("workers", launcher)]
    assert required_pod_sets(claim_only, ["nvidia.com/gpu"]) == []
    assert required_pod_sets(claim_only, ["nvidia.com/gpu"], {"workers": ["nvidia.com/gpu"]}) == [
        "workers"
    ]
    assert request_parameters(
        {"noRetry": "false", "zone": "a"},
        {"provreq.kueue.x-k8s.io/noRetry": "true", "other": "x"},
    ) == {"noRetry": "true", "zone": "a"}


def test_check_capacity_batch_processing_serves_several_requests_a_turn(catalog: Catalog) -> None:
    options = "{enableProvisioningRequests: true, checkCapacityBatchProcessing: true}"
    world = World(autoscaler(load(config_text(ONE_L4X8, options), catalog), catalog))
    world.ca.fleet.start()
    read = objects(*(request_text(f"r{i}", "check-capacity", 1) for i in range(3)))
    result = loop(world, 100.0, read, list(read.provisioning_requests))
    # Two 4-GPU pods fit the 8-GPU node: the third request sees the room the others booked.
    assert [conditions(r)[-1] for r in result.provisioning_requests] == [
        ("Provisioned", True, "CapacityIsFound"),
        ("Provisioned", True, "CapacityIsFound"),
        ("Provisioned", False, "CapacityIsNotFound"),
    ]
    # Without batch processing, one request a turn.
    world = world_with(ONE_L4X8, catalog)
    result = loop(world, 100.0, read, list(read.provisioning_requests))
    assert [r.conditions != () for r in result.provisioning_requests] == [True, False, False]


def test_a_finished_request_is_deleted_seven_days_after_it_ended(catalog: Catalog) -> None:
    world = world_with(ONE_L4X8, catalog)
    read = objects(request_text("done", "check-capacity", 1))
    failed = read.provisioning_requests[0].with_condition(
        Condition(ConditionType.FAILED, True, "CapacityIsNotFound", at=100.0)
    )
    week = 7 * 86400.0
    assert loop(world, 100.0 + week, read, [failed]).provisioning_requests == (failed,)
    assert loop(world, 101.0 + week, read, [failed]).provisioning_requests == ()


def test_the_consumed_by_annotation_names_the_replayed_pods_of_a_request() -> None:
    def annotated(value: str) -> str:
        return request_text("train", "check-capacity", 1).replace(
            "metadata: {name: train, namespace: default}",
            f"metadata: {{name: train, namespace: default, annotations: {value}}}",
        )

    (read,) = objects(
        annotated('{dralloc.io/consumed-by: "job-0-0, job-0-1,job-0-0"}')
    ).provisioning_requests
    assert read.consumed_by == ("job-0-0", "job-0-1")
    assert (
        objects(request_text("plain", "check-capacity", 1)).provisioning_requests[0].consumed_by
        == ()
    )
    with pytest.raises(InputError) as caught:
        objects(annotated('{dralloc.io/consumed-by: "job-0-0,Job_1"}'))
    assert str(caught.value).splitlines() == [
        "requests.yaml: ProvisioningRequest default/train: "
        'metadata.annotations[dralloc.io/consumed-by]: "Job_1" is not a pod name (a DNS subdomain)'
    ]
