"""Remembered node verdicts with partial scans: a framework given the in-tree pod signature
visits, scores and picks exactly as the plain one does (same node, message, evaluated and
feasible counts, start index, scores and device allocations), while kube-scheduler's
`numFeasibleNodesToFind` stops the Filter phase early from a rotating start node.

Filter ERRORs too: one on a node the plain scan does not reach fails nothing, one that
interrupts the remembered refresh leaves no node unfiltered, and DynamicResources does not
remember an allocator time-out.

CI runs 200 examples of the property; `DRALLOC_EQUIVALENCE_EXAMPLES=5000` soaks it."""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dralloc.allocator import Allocator, AllocatorOptions
from dralloc.api.core import (
    Affinity,
    Container,
    Node,
    NodeAffinity,
    NodeSelector,
    NodeSelectorRequirement,
    NodeSelectorTerm,
    NodeSpec,
    NodeStatus,
    Pod,
    PodResourceClaim,
    PodSpec,
    ResourceClaimRef,
    ResourceRequirements,
    Taint,
    Toleration,
)
from dralloc.api.meta import ObjectMeta
from dralloc.api.quantity import Quantity
from dralloc.api.resource import (
    AllocationResult,
    CELDeviceSelector,
    Device,
    DeviceAllocationResult,
    DeviceAttribute,
    DeviceClaim,
    DeviceClass,
    DeviceClassSpec,
    DeviceConstraint,
    DeviceRequest,
    DeviceRequestAllocationResult,
    DeviceSelector,
    ExactDeviceRequest,
    ResourceClaimSpec,
    ResourceClaimTemplate,
    ResourceClaimTemplateSpec,
    ResourcePool,
    ResourceSlice,
    ResourceSliceSpec,
)
from dralloc.controllers import InMemoryClaimClient, ResourceClaimController
from dralloc.features import Features
from dralloc.scheduler.cache import SchedulerCache, pod_claim_keys
from dralloc.scheduler.config import ProfileConfig
from dralloc.scheduler.framework import (
    Code,
    CycleState,
    Framework,
    NodeInfo,
    PodInfo,
    Profile,
    ScheduleResult,
    Status,
)
from dralloc.scheduler.profiles import build_profile, scheduler_registry
from dralloc.scheduler.scheduler import ScheduleOutcome, Scheduler
from dralloc.scheduler.signature import pod_signature

DRIVER = "gpu.example.com"
DEVICE_CLASS = "example-gpu"
TEMPLATE = "one-gpu"
NAMESPACES = ("team-a", "team-b")
DEDICATED = Taint(key="dedicated", value="infra", effect="NoSchedule")
NOISY = Taint(key="noisy", effect="PreferNoSchedule")
TOLERATE_DEDICATED = Toleration(key="dedicated", operator="Exists", effect="NoSchedule")
# The first node is small and labelled `reserved`, so one pod fills it and a
# higher-priority pod aimed at it must preempt.
RESERVED_NODES = 1


# --------------------------------------------------------------------------- objects


@dataclass(frozen=True)
class NodeShape:
    cpu: str = "4"
    memory: str = "8Gi"
    taint: Taint | None = None
    zone: str = ""
    ssd: bool = False
    devices: int = 0
    model: str = "a100"  # "" publishes the devices without the `model` attribute


@dataclass(frozen=True)
class PodShape:
    namespace: str = "team-a"
    cpu: str = ""
    memory: str = ""
    tolerate: bool = False
    prefer_zone: str = ""
    claim: bool = False
    priority: int | None = None
    node_selector: tuple[tuple[str, str], ...] = ()
    pinned: tuple[str, ...] = ()  # required affinity on metadata.name: PreFilter narrows


def node_name(index: int) -> str:
    return f"node-{index:03d}"


def make_node(index: int, shape: NodeShape) -> Node:
    name = node_name(index)
    capacity = {
        "pods": Quantity.parse("110"),
        "cpu": Quantity.parse(shape.cpu),
        "memory": Quantity.parse(shape.memory),
    }
    labels = {"kubernetes.io/hostname": name}
    if shape.zone:
        labels["zone"] = shape.zone
    if shape.ssd:
        labels["disk"] = "ssd"
    if index < RESERVED_NODES:
        labels["reserved"] = "yes"
    return Node(
        metadata=ObjectMeta(name=name, labels=labels),
        spec=NodeSpec(taints=[shape.taint] if shape.taint is not None else []),
        status=NodeStatus(capacity=capacity, allocatable=dict(capacity)),
    )


def make_slice(node: str, shape: NodeShape) -> ResourceSlice:
    devices = [
        Device(
            name=f"gpu-{i}",
            attributes={
                "numa": DeviceAttribute(int_value=i),
                **({"model": DeviceAttribute(string=shape.model)} if shape.model else {}),
            },
        )
        for i in range(shape.devices)
    ]
    return ResourceSlice(
        metadata=ObjectMeta(name=f"{node}-gpus"),
        spec=ResourceSliceSpec(
            driver=DRIVER,
            node_name=node,
            pool=ResourcePool(name=node, generation=1, resource_slice_count=1),
            devices=devices,
        ),
    )


def device_class() -> DeviceClass:
    return DeviceClass(
        metadata=ObjectMeta(name=DEVICE_CLASS),
        spec=DeviceClassSpec(
            selectors=[DeviceSelector(cel=CELDeviceSelector(f'device.driver == "{DRIVER}"'))]
        ),
    )


def claim_spec(selector: str = "") -> ResourceClaimSpec:
    """One device of the class (matching `selector`, a CEL expression, when given)."""
    selectors = [DeviceSelector(cel=CELDeviceSelector(selector))] if selector else []
    exactly = ExactDeviceRequest(device_class_name=DEVICE_CLASS, selectors=selectors)
    return ResourceClaimSpec(
        devices=DeviceClaim(requests=[DeviceRequest(name="gpu", exactly=exactly)])
    )


ONE_GPU = claim_spec()
# Fails with a CEL runtime error ("no such key") on a device without the attribute.
ONE_A100 = claim_spec(f'device.attributes["{DRIVER}"].model == "a100"')
# Two devices on one NUMA node: never, as each device has its own, but only a search over
# the pairs finds that out.
TWO_ON_ONE_NUMA = ResourceClaimSpec(
    devices=DeviceClaim(
        requests=[
            DeviceRequest(name=name, exactly=ExactDeviceRequest(device_class_name=DEVICE_CLASS))
            for name in ("first", "second")
        ],
        constraints=[
            DeviceConstraint(requests=["first", "second"], match_attribute=f"{DRIVER}/numa")
        ],
    )
)


def claim_template(namespace: str, spec: ResourceClaimSpec) -> ResourceClaimTemplate:
    return ResourceClaimTemplate(
        metadata=ObjectMeta(name=TEMPLATE, namespace=namespace),
        spec=ResourceClaimTemplateSpec(spec=spec),
    )


def _preferred(zone: str) -> dict[str, Any]:
    expression = {"key": "zone", "operator": "In", "values": [zone]}
    return {"weight": 10, "preference": {"matchExpressions": [expression]}}


def make_pod(shape: PodShape, name: str) -> Pod:
    requests = {}
    if shape.cpu:
        requests["cpu"] = Quantity.parse(shape.cpu)
    if shape.memory:
        requests["memory"] = Quantity.parse(shape.memory)
    claims = [ResourceClaimRef(name="gpu")] if shape.claim else []
    node_affinity = None
    if shape.prefer_zone or shape.pinned:
        required = None
        if shape.pinned:
            pin = NodeSelectorRequirement(
                key="metadata.name", operator="In", values=[*shape.pinned]
            )
            required = NodeSelector(node_selector_terms=[NodeSelectorTerm(match_fields=[pin])])
        node_affinity = NodeAffinity(
            required_during_scheduling_ignored_during_execution=required,
            preferred_during_scheduling_ignored_during_execution=(
                [_preferred(shape.prefer_zone)] if shape.prefer_zone else []
            ),
        )
    return Pod(
        metadata=ObjectMeta(name=name, namespace=shape.namespace, uid=f"uid-{name}"),
        spec=PodSpec(
            priority=shape.priority,
            node_selector=dict(shape.node_selector),
            affinity=Affinity(node_affinity=node_affinity) if node_affinity else None,
            tolerations=[TOLERATE_DEDICATED] if shape.tolerate else [],
            containers=[
                Container(
                    name="main",
                    image="registry.k8s.io/pause:3.10.1",
                    resources=ResourceRequirements(requests=requests, claims=claims),
                )
            ],
            resource_claims=(
                [PodResourceClaim(name="gpu", resource_claim_template_name=TEMPLATE)]
                if shape.claim
                else []
            ),
        ),
    )


# ---------------------------------------------------------------------------- cluster


class RecordingFramework(Framework):
    """The framework as built, recording each cycle's result and the nodes it ran Filter on
    (recording only: nothing it answers changes)."""

    def __init__(self, profile: Profile, **kwargs: Any) -> None:
        super().__init__(profile, **kwargs)
        self.last_result: ScheduleResult | None = None
        self.filtered: list[str] = []

    def schedule(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> ScheduleResult:
        self.last_result = None
        self.filtered = []
        result = super().schedule(state, pod, nodes)
        self.last_result = result
        return result

    def run_filters(
        self, state: CycleState, pod: PodInfo, node: NodeInfo, skipped: set[str] | None = None
    ) -> Status:
        if not node.scratch:  # preemption's what-if copies are not the Filter phase
            self.filtered.append(node.name)
        return super().run_filters(state, pod, node, skipped)


class Cluster:
    """Wired as `dralloc schedule` and benchmarks/scheduler_perf.py wire it: one cache, one
    allocator, the default profile over them, one seeded rng for ties and preemption, and the
    ResourceClaim controller over an in-memory client."""

    def __init__(
        self,
        shapes: Sequence[NodeShape],
        percentage: int | None,
        seed: int,
        *,
        remember: bool,
        claim: ResourceClaimSpec = ONE_GPU,
        options: AllocatorOptions | None = None,
    ) -> None:
        features = Features()
        names = [node_name(i) for i in range(len(shapes))]
        self.cache = SchedulerCache(
            features,
            nodes=[make_node(i, shape) for i, shape in enumerate(shapes)],
            slices=[
                make_slice(name, shape)
                for name, shape in zip(names, shapes, strict=True)
                if shape.devices
            ],
            classes=[device_class()],
        )
        allocator = Allocator(features, options=options or AllocatorOptions(timeout=None))
        rng = random.Random(seed)

        def bind(info: PodInfo, node: str) -> None:
            """Nothing to write: the cache already holds the assumed pod."""

        registry = scheduler_registry(self.cache, allocator, features, rng, bind)
        profile = build_profile(ProfileConfig(percentage_of_nodes_to_score=percentage), registry)
        signature = pod_signature(self.cache) if remember else None
        self.framework = RecordingFramework(profile, rng=rng, pod_signature=signature)
        self.scheduler = Scheduler(self.cache, self.framework)
        self.client = InMemoryClaimClient(
            templates=[claim_template(ns, claim) for ns in NAMESPACES],
            rng=random.Random(f"claim-names/{seed}"),
        )
        self.controller = ResourceClaimController(self.client)
        self.pods: dict[str, Pod] = {}  # as synced by the controller

    def submit(self, pod: Pod) -> ScheduleOutcome:
        """Create the pod's claims (the controller, then the cache's informer) and schedule."""
        synced = self.controller.sync_pod(pod)
        assert not synced.problems
        for claim in synced.created:
            self.cache.set_claim(claim)
        self.pods[pod.metadata.name] = synced.pod
        return self.scheduler.schedule_one(synced.pod)

    def delete_pod(self, name: str) -> None:
        """As scheduler_perf's delete_pod: off its node, its claim deallocated and deleted."""
        pod = self.pods.pop(name)
        self.scheduler.remove_pod(pod)
        for _, key in pod_claim_keys(pod):
            if key is not None:
                self.cache.remove_claim(key)

    def allocations(self) -> dict[str, tuple[tuple[str, str, str], ...] | None]:
        return {
            key: (
                tuple((r.driver, r.pool, r.device) for r in claim.status.allocation.devices.results)
                if claim.status.allocation is not None
                else None
            )
            for key, claim in self.cache.claims.items()
        }

    def placements(self) -> dict[str, str]:
        return {key: node for key, (_, node) in self.cache.pods.items()}


def _outcome_fields(cluster: Cluster, outcome: ScheduleOutcome) -> dict[str, Any]:
    result = cluster.framework.last_result
    return {
        "node": outcome.node,
        "code": outcome.status.code,
        "message": outcome.message,
        "evaluated_nodes": outcome.evaluated_nodes,
        "feasible_nodes": outcome.feasible_nodes,
        "unschedulable_plugins": outcome.unschedulable_plugins,
        "nominated_node": outcome.nominated_node,
        "next_start_node_index": cluster.framework.next_start_node_index,
        "scores": dict(result.scores) if result is not None else None,
    }


# ------------------------------------------------------------------ property: equality

POD_SHAPES = (
    PodShape(cpu="500m", memory="1Gi"),
    PodShape(cpu="1", memory="2Gi", tolerate=True),
    PodShape(cpu="250m", memory="512Mi", tolerate=True, prefer_zone="a"),
    PodShape(cpu="100m", memory="128Mi", claim=True),
    PodShape("team-b", cpu="100m", memory="128Mi", claim=True, tolerate=True, prefer_zone="b"),
    PodShape(cpu="3", memory="1Gi", claim=True, tolerate=True),
    PodShape(cpu="6", memory="4Gi"),  # only 8-cpu nodes, Unschedulable once they are used
    PodShape("team-b", cpu="64", memory="1Gi"),  # fits nowhere: UnschedulableAndUnresolvable
    PodShape(),  # no requests: BalancedAllocation SKIPs at PreScore
    PodShape(cpu="2", memory="1Gi", node_selector=(("disk", "ssd"),)),
    PodShape(cpu="1500m", memory="256Mi", node_selector=(("reserved", "yes"),)),
    PodShape(cpu="1500m", memory="256Mi", node_selector=(("reserved", "yes"),), priority=100),
    PodShape(cpu="1", memory="1Gi", pinned=(node_name(5), node_name(99), node_name(150))),
)

NODE_SHAPES = st.builds(
    NodeShape,
    cpu=st.sampled_from(("2", "4", "8")),
    memory=st.sampled_from(("4Gi", "8Gi", "16Gi")),
    taint=st.sampled_from((None, None, DEDICATED, NOISY)),
    zone=st.sampled_from(("", "a", "b")),
    ssd=st.booleans(),
    devices=st.sampled_from((0, 0, 1, 2, 3)),
)

EXAMPLES = int(os.environ.get("DRALLOC_EQUIVALENCE_EXAMPLES", "200"))

# At least 100 nodes: kube-scheduler's partial scan starts there.
NODE_LISTS = st.integers(100, 108).flatmap(
    lambda count: st.lists(NODE_SHAPES, min_size=count, max_size=count)
)

# ("schedule", shape index) or ("delete", which live pod).
OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("schedule"), st.integers(0, len(POD_SHAPES) - 1)),
        st.tuples(st.just("delete"), st.integers(0, 1000)),
    ),
    min_size=8,
    max_size=18,
)


def _reserved(shape: NodeShape) -> NodeShape:
    return replace(shape, cpu="2", memory="4Gi", taint=None)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    node_shapes=NODE_LISTS,
    percentage=st.sampled_from((None, 10, 30, 50, 100)),
    seed=st.integers(0, 2**16),
    operations=OPERATIONS,
)
def test_remembered_verdicts_visit_score_and_pick_exactly_as_the_plain_evaluation(
    node_shapes: list[NodeShape],
    percentage: int | None,
    seed: int,
    operations: list[tuple[str, int]],
) -> None:
    shapes = [_reserved(s) if i < RESERVED_NODES else s for i, s in enumerate(node_shapes)]
    remembering = Cluster(shapes, percentage, seed, remember=True)
    plain = Cluster(shapes, percentage, seed, remember=False)
    live: list[str] = []
    for step, (kind, which) in enumerate(operations):
        if kind == "delete":
            if not live:
                continue
            name = live.pop(which % len(live))
            remembering.delete_pod(name)
            plain.delete_pod(name)
        else:
            pod = make_pod(POD_SHAPES[which], f"pod-{step}")
            # Preemption leaves the pod unschedulable but nominated: the caller retries once.
            for _ in range(2):
                got = remembering.submit(pod)
                want = plain.submit(pod)
                assert _outcome_fields(remembering, got) == _outcome_fields(plain, want), (
                    f"step {step}: {POD_SHAPES[which]}"
                )
                if want.nominated_node is None:
                    break
            if want.node is not None:
                live.append(pod.metadata.name)
        assert remembering.placements() == plain.placements()
    assert remembering.allocations() == plain.allocations()


# ------------------------------------------------------------- example: changed nodes only


def test_after_the_first_pod_a_cycle_filters_only_the_node_that_changed() -> None:
    shapes = [NodeShape(cpu="4", memory="8Gi", devices=2)] * 120
    remembering = Cluster(shapes, None, seed=7, remember=True)
    plain = Cluster(shapes, None, seed=7, remember=False)
    shape = PodShape(cpu="500m", memory="1Gi", claim=True)
    previous: str | None = None
    for i in range(6):
        pod = make_pod(shape, f"worker-{i}")
        got = remembering.submit(pod)
        want = plain.submit(pod)
        assert got.node is not None
        assert _outcome_fields(remembering, got) == _outcome_fields(plain, want)
        # 120 nodes, adaptive percentage: Filter stops after 100 feasible nodes.
        assert (want.evaluated_nodes, want.feasible_nodes) == (100, 100)
        assert len(plain.framework.filtered) == 100
        if previous is not None:
            # Only the node the last pod (and its device) landed on changed since.
            assert remembering.framework.filtered == [previous]
        previous = got.node
    assert remembering.allocations() == plain.allocations()


# --------------------------------------------------------------------- the signature


def _allocation(node: str) -> AllocationResult:
    result = DeviceRequestAllocationResult(request="gpu", driver=DRIVER, pool=node, device="gpu-0")
    return AllocationResult(devices=DeviceAllocationResult(results=[result]))


def test_pod_signature_tells_namespaces_and_claim_states_apart_but_not_template_siblings() -> None:
    cluster = Cluster([NodeShape(devices=1)] * 2, None, seed=0, remember=True)
    signature = pod_signature(cluster.cache)
    shape = PodShape(cpu="500m", memory="1Gi", claim=True)

    def synced(name: str, namespace: str = "team-a") -> PodInfo:
        result = cluster.controller.sync_pod(make_pod(replace(shape, namespace=namespace), name))
        for claim in result.created:
            cluster.cache.set_claim(claim)
        return PodInfo.of(result.pod)

    first, sibling = synced("worker-0"), synced("worker-1")
    elsewhere = synced("worker-0", "team-b")
    not_created = PodInfo.of(make_pod(shape, "worker-2"))  # the controller has not run
    allocated = synced("worker-3")
    ((_, key),) = pod_claim_keys(allocated.pod)
    assert key is not None
    cluster.cache.allocate_claim(key, _allocation(node_name(0)))

    # Two pods from one template, same requests, same namespace: different claim names,
    # the same claim spec and status, so one signature.
    assert pod_claim_keys(first.pod) != pod_claim_keys(sibling.pod)
    assert signature(first) == signature(sibling)
    assert signature(first) != signature(elsewhere)
    assert signature(first) != signature(not_created)
    assert signature(first) != signature(allocated)
    assert signature(allocated) != signature(not_created)


# ------------------------------------------------------------- Filter errors (bugs found)


def test_a_filter_error_beyond_the_partial_scan_does_not_fail_the_cycle() -> None:
    # node-119's device has no `model`: the claim's selector fails there with a CEL runtime
    # error. The plain scan stops after 100 feasible nodes and never reaches it.
    shapes = [NodeShape(devices=1)] * 119 + [NodeShape(devices=1, model="")]
    remembering = Cluster(shapes, None, seed=3, remember=True, claim=ONE_A100)
    plain = Cluster(shapes, None, seed=3, remember=False, claim=ONE_A100)
    pod = make_pod(PodShape(cpu="100m", claim=True), "worker-0")
    want = plain.submit(pod)
    assert want.node is not None
    assert (want.evaluated_nodes, want.feasible_nodes) == (100, 100)
    got = remembering.submit(pod)
    assert _outcome_fields(remembering, got) == _outcome_fields(plain, want)


def test_nodes_an_error_left_unfiltered_are_filtered_in_the_next_cycle() -> None:
    # node-050's device has no `model`: both scans reach it and the first cycle errors alike.
    shapes = [NodeShape(devices=1)] * 120
    shapes[50] = NodeShape(devices=1, model="")
    remembering = Cluster(shapes, None, seed=3, remember=True, claim=ONE_A100)
    plain = Cluster(shapes, None, seed=3, remember=False, claim=ONE_A100)
    for i in range(2):
        pod = make_pod(PodShape(cpu="100m", claim=True), f"worker-{i}")
        want = plain.submit(pod)
        got = remembering.submit(pod)
        assert want.status.code == Code.ERROR
        assert _outcome_fields(remembering, got) == _outcome_fields(plain, want), f"pod {i}"


class FakeClock:
    """Advances by `tick` seconds every time it is read."""

    def __init__(self, tick: float) -> None:
        self.now = 0.0
        self.tick = tick

    def __call__(self) -> float:
        self.now += self.tick
        return self.now


def test_an_allocation_that_timed_out_is_searched_again_in_the_next_cycle() -> None:
    clock = FakeClock(tick=1000.0)  # a busy moment: the first search passes its deadline
    options = AllocatorOptions(timeout=10.0, clock=clock)
    plain = Cluster(
        [NodeShape(devices=16)],
        None,
        seed=0,
        remember=False,
        claim=TWO_ON_ONE_NUMA,
        options=options,
    )
    first = plain.submit(make_pod(PodShape(claim=True), "worker-0"))
    assert first.status.code == Code.ERROR
    assert "timed out trying to allocate devices" in first.message
    clock.tick = 0.0  # the retry has all the time it needs
    retry = plain.submit(make_pod(PodShape(claim=True), "worker-1"))
    assert retry.status.code == Code.UNSCHEDULABLE
    assert retry.message.startswith("0/1 nodes are available: 1 cannot allocate all claims.")
