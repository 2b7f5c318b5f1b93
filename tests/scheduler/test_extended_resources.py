"""Extended resources backed by DRA (KEP-5004, `DRAExtendedResource`, on in 1.36), through the
default profile: `nvidia.com/gpu: 2` on a node without a device plugin becomes a claim the
scheduler writes, allocates and records in the pod's `status.extendedResourceClaimStatus`;
nodes whose device plugin publishes the resource keep NodeResourcesFit's check."""

from __future__ import annotations

import random
import textwrap
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dralloc.allocator import Allocator
from dralloc.api.core import (
    Container,
    ContainerExtendedResourceRequest,
    Node,
    NodeStatus,
    Pod,
    PodSpec,
    ResourceRequirements,
)
from dralloc.api.io import load_text
from dralloc.api.meta import ObjectMeta, OwnerReference
from dralloc.api.quantity import Quantity
from dralloc.api.resource import DeviceClass, DeviceClassSpec, ResourceClaim, ResourceSlice
from dralloc.features import Features, parse_gates
from dralloc.scheduler.cache import SchedulerCache
from dralloc.scheduler.framework import (
    SUCCESS,
    Code,
    CycleState,
    Framework,
    NodeInfo,
    PodInfo,
    Status,
)
from dralloc.scheduler.plugins.dynamicresources import (
    EXTENDED_RESOURCE_CLAIM_ANNOTATION,
    ExtendedResourceIndex,
    extended_requests,
)
from dralloc.scheduler.plugins.noderesources import NodeResourcesFit
from dralloc.scheduler.profiles import default_profile
from dralloc.scheduler.scheduler import ScheduleOutcome, Scheduler
from dralloc.scheduler.signature import pod_signature

GPU_CLASS = """\
apiVersion: resource.k8s.io/v1
kind: DeviceClass
metadata: {name: gpu.example.com}
spec:
  extendedResourceName: example.com/gpu
  selectors:
  - cel: {expression: device.driver == "gpu.example.com"}
"""


def dra_node(name: str, gpus: int) -> str:
    """A node without a device plugin, and its DRA driver's slice of `gpus` GPUs."""
    devices = ", ".join(f"{{name: gpu-{i}}}" for i in range(gpus))
    return f"""\
apiVersion: v1
kind: Node
metadata: {{name: {name}}}
status: {{allocatable: {{cpu: "16", memory: 64Gi, pods: "110"}}}}
---
apiVersion: resource.k8s.io/v1
kind: ResourceSlice
metadata: {{name: {name}-gpus}}
spec:
  driver: gpu.example.com
  nodeName: {name}
  pool: {{name: {name}, generation: 1, resourceSliceCount: 1}}
  devices: [{devices}]
"""


def device_plugin_node(name: str, gpus: int) -> str:
    """A node whose device plugin publishes `gpus` example.com/gpu."""
    return f"""\
apiVersion: v1
kind: Node
metadata: {{name: {name}}}
status: {{allocatable: {{cpu: "16", memory: 64Gi, pods: "110", example.com/gpu: "{gpus}"}}}}
"""


def gpu_pod(name: str, spec: str) -> str:
    """A pending pod in `default`; `spec` is its spec (YAML)."""
    body = textwrap.indent(textwrap.dedent(spec).strip(), "  ")
    head = f"apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: default}}\n"
    return f"{head}spec:\n{body}\n"


def one_container(resources: str) -> str:
    return f"containers:\n- name: cuda\n  resources: {resources}"


@dataclass
class World:
    cache: SchedulerCache
    scheduler: Scheduler
    pods: dict[str, Pod]
    bound: dict[str, str] = field(default_factory=dict)

    def schedule(self, name: str) -> ScheduleOutcome:
        return self.scheduler.schedule_one(self.pods[name])

    def claim_of(self, outcome: ScheduleOutcome) -> ResourceClaim:
        recorded = outcome.pod.pod.status.extended_resource_claim_status
        assert recorded is not None
        return self.cache.claims[f"default/{recorded.resource_claim_name}"]


def world(
    *documents: str, gates: str = "", signature: bool = False, frees_devices: bool = False
) -> World:
    objects, problems = load_text("---\n".join(documents), "<test>")
    assert problems == []
    found = [o.obj for o in objects]
    features = parse_gates(gates) if gates else Features()
    cache = SchedulerCache(
        features,
        nodes=[o for o in found if isinstance(o, Node)],
        slices=[o for o in found if isinstance(o, ResourceSlice)],
        classes=[o for o in found if isinstance(o, DeviceClass)],
        claims=[o for o in found if isinstance(o, ResourceClaim)],
    )
    bound: dict[str, str] = {}

    def bind(info: PodInfo, node: str) -> None:
        bound[info.key] = node

    profile = default_profile(
        cache, Allocator(features), features, None, bind, preemption_frees_devices=frees_devices
    )
    framework = Framework(profile, pod_signature=pod_signature(cache) if signature else None)
    pods = {o.metadata.name: o for o in found if isinstance(o, Pod)}
    return World(cache, Scheduler(cache, framework), pods, bound)


def mapping(
    container: str, request: str, resource: str = "example.com/gpu"
) -> ContainerExtendedResourceRequest:
    return ContainerExtendedResourceRequest(
        container_name=container, resource_name=resource, request_name=request
    )


def requested(claim: ResourceClaim) -> list[tuple[str, str, int | None]]:
    return [
        (r.name, r.exactly.device_class_name, r.exactly.count)
        for r in claim.spec.devices.requests
        if r.exactly is not None
    ]


# ------------------------------------------------------------------------ the DRA path


def test_a_pod_asking_two_gpus_gets_a_claim_with_two_devices_and_the_status_mapping() -> None:
    w = world(
        GPU_CLASS,
        dra_node("gpu-node", 4),
        gpu_pod("train", one_container("{limits: {cpu: '1', example.com/gpu: 2}}")),
    )
    outcome = w.schedule("train")
    assert outcome.node == "gpu-node"
    assert w.bound == {"default/train": "gpu-node"}
    recorded = outcome.pod.pod.status.extended_resource_claim_status
    assert recorded is not None
    assert recorded.request_mappings == [mapping("cuda", "container-0-request-1")]
    claim = w.claim_of(outcome)
    meta = claim.metadata
    assert meta.name.startswith("train-extended-resources-") and len(meta.name) == 30
    assert meta.generate_name == "train-extended-resources-"
    assert meta.annotations == {EXTENDED_RESOURCE_CLAIM_ANNOTATION: "true"}
    assert meta.owner_references == [
        OwnerReference(api_version="v1", kind="Pod", name="train", controller=True)
    ]
    assert meta.finalizers == ["resource.kubernetes.io/delete-protection"]
    # Requests are indexed by the resource's place among the container's sorted requests.
    assert requested(claim) == [("container-0-request-1", "gpu.example.com", 2)]
    assert claim.status.allocation is not None
    results = claim.status.allocation.devices.results
    assert [(r.request, r.device) for r in results] == [
        ("container-0-request-1", "gpu-0"),
        ("container-0-request-1", "gpu-1"),
    ]
    assert [r.name for r in claim.status.reserved_for] == ["train"]
    # The cache holds the pod as bound, status included.
    assert w.cache.pods["default/train"][0].pod.status.extended_resource_claim_status == recorded


def test_a_limit_without_a_request_asks_for_the_devices_too() -> None:
    w = world(
        GPU_CLASS,
        dra_node("gpu-node", 2),
        gpu_pod("p", one_container("{limits: {example.com/gpu: 2}}")),
    )
    outcome = w.schedule("p")
    assert outcome.node == "gpu-node"
    assert requested(w.claim_of(outcome)) == [("container-0-request-0", "gpu.example.com", 2)]


def test_two_containers_get_one_request_each_in_container_order() -> None:
    spec = """\
    containers:
    - name: a
      resources: {limits: {example.com/gpu: 1}}
    - name: b
      resources: {limits: {cpu: '1', example.com/gpu: 2, memory: 1Gi}}
    """
    w = world(GPU_CLASS, dra_node("gpu-node", 4), gpu_pod("p", spec))
    outcome = w.schedule("p")
    claim = w.claim_of(outcome)
    assert requested(claim) == [
        ("container-0-request-0", "gpu.example.com", 1),
        ("container-1-request-1", "gpu.example.com", 2),
    ]
    assert claim.status.allocation is not None
    assert len(claim.status.allocation.devices.results) == 3
    recorded = outcome.pod.pod.status.extended_resource_claim_status
    assert recorded is not None
    assert recorded.request_mappings == [
        mapping("a", "container-0-request-0"),
        mapping("b", "container-1-request-1"),
    ]


def test_an_init_container_reuses_the_app_containers_devices() -> None:
    # 1.35+ (kubernetes#134882): a plain init container runs before the app container, so it
    # uses the app container's devices and asks only for what they lack.
    spec = """\
    initContainers:
    - name: setup
      resources: {limits: {example.com/gpu: 3}}
    containers:
    - name: main
      resources: {limits: {example.com/gpu: 2}}
    """
    w = world(GPU_CLASS, dra_node("gpu-node", 4), gpu_pod("p", spec))
    outcome = w.schedule("p")
    claim = w.claim_of(outcome)
    assert requested(claim) == [
        ("container-0-request-0", "gpu.example.com", 1),
        ("container-1-request-0", "gpu.example.com", 2),
    ]
    assert claim.status.allocation is not None
    assert len(claim.status.allocation.devices.results) == 3
    recorded = outcome.pod.pod.status.extended_resource_claim_status
    assert recorded is not None
    assert recorded.request_mappings == [
        mapping("main", "container-1-request-0"),
        mapping("setup", "container-1-request-0"),
        mapping("setup", "container-0-request-0"),
    ]


def test_an_init_container_covered_by_the_app_container_asks_for_nothing_more() -> None:
    spec = """\
    initContainers:
    - name: setup
      resources: {limits: {example.com/gpu: 1}}
    containers:
    - name: main
      resources: {limits: {example.com/gpu: 2}}
    """
    w = world(GPU_CLASS, dra_node("gpu-node", 2), gpu_pod("p", spec))
    outcome = w.schedule("p")
    assert requested(w.claim_of(outcome)) == [("container-1-request-0", "gpu.example.com", 2)]


def test_the_implicit_name_of_a_class_asks_for_its_devices() -> None:
    plain_class = GPU_CLASS.replace("  extendedResourceName: example.com/gpu\n", "")
    resources = "{limits: {deviceclass.resource.kubernetes.io/gpu.example.com: 1}}"
    w = world(plain_class, dra_node("gpu-node", 1), gpu_pod("p", one_container(resources)))
    outcome = w.schedule("p")
    assert outcome.node == "gpu-node"
    assert requested(w.claim_of(outcome)) == [("container-0-request-0", "gpu.example.com", 1)]
    recorded = outcome.pod.pod.status.extended_resource_claim_status
    assert recorded is not None
    assert recorded.request_mappings == [
        mapping(
            "cuda", "container-0-request-0", "deviceclass.resource.kubernetes.io/gpu.example.com"
        )
    ]


def test_pods_share_the_nodes_devices_until_none_is_left() -> None:
    pod = one_container("{limits: {example.com/gpu: 1}}")
    w = world(
        GPU_CLASS,
        dra_node("gpu-node", 2),
        *(gpu_pod(f"p{i}", pod) for i in range(3)),
        signature=True,
    )
    outcomes = [w.schedule(f"p{i}") for i in range(3)]
    assert [o.node for o in outcomes] == ["gpu-node", "gpu-node", None]
    first, second = (w.claim_of(o) for o in outcomes[:2])
    assert first.metadata.name != second.metadata.name
    devices = [
        r.device
        for c in (first, second)
        if c.status.allocation is not None
        for r in c.status.allocation.devices.results
    ]
    assert sorted(devices) == ["gpu-0", "gpu-1"]
    assert outcomes[2].pod.pod.status.extended_resource_claim_status is None


def test_not_enough_devices_is_kube_schedulers_message() -> None:
    w = world(
        GPU_CLASS,
        dra_node("gpu-node", 2),
        gpu_pod("big", one_container("{limits: {example.com/gpu: 4}}")),
    )
    outcome = w.schedule("big")
    assert outcome.node is None
    # Upstream 1.36 says the same before its PostFilters; they then add "still not
    # schedulable" (DynamicResources) and "Preemption is not helpful" (its Filter status is
    # UnschedulableAndUnresolvable there; dralloc lets preemption try, KEP-5690).
    assert outcome.message == (
        "0/1 nodes are available: 1 cannot allocate all claims. still not schedulable, "
        "preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
    )
    assert outcome.unschedulable_plugins == {"DynamicResources"}
    assert [k for k in w.cache.claims] == []  # nothing written


# ----------------------------------------------------------------- the device-plugin path


def test_with_the_gate_off_node_resources_fit_rejects_the_node() -> None:
    w = world(
        GPU_CLASS,
        dra_node("gpu-node", 4),
        gpu_pod("p", one_container("{limits: {example.com/gpu: 1}}")),
        gates="DRAExtendedResource=false",
    )
    outcome = w.schedule("p")
    assert outcome.node is None
    assert outcome.message == (
        "0/1 nodes are available: 1 Insufficient example.com/gpu. no new claims to deallocate, "
        "preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
    )
    assert outcome.unschedulable_plugins == {"NodeResourcesFit"}


def test_a_node_whose_device_plugin_publishes_the_resource_takes_the_classic_path() -> None:
    w = world(
        GPU_CLASS,
        device_plugin_node("dp-node", 4),
        gpu_pod("p", one_container("{limits: {example.com/gpu: 2}}")),
    )
    outcome = w.schedule("p")
    assert outcome.node == "dp-node"
    assert outcome.pod.pod.status.extended_resource_claim_status is None
    assert w.cache.claims == {}
    assert w.cache.nodes["dp-node"].requested.scalars["example.com/gpu"] == 2


def test_a_device_plugin_node_that_is_full_says_insufficient() -> None:
    w = world(
        GPU_CLASS,
        device_plugin_node("dp-node", 1),
        gpu_pod("p", one_container("{limits: {example.com/gpu: 2}}")),
    )
    outcome = w.schedule("p")
    assert outcome.message.startswith("0/1 nodes are available: 1 Insufficient example.com/gpu.")


def test_a_mixed_cluster_serves_each_node_its_own_way() -> None:
    pod = one_container("{limits: {example.com/gpu: 2}}")
    w = world(
        GPU_CLASS,
        device_plugin_node("a-dp-node", 2),
        dra_node("b-dra-node", 2),
        *(gpu_pod(f"p{i}", pod) for i in range(3)),
    )
    outcomes = [w.schedule(f"p{i}") for i in range(3)]
    placed = {o.node: o for o in outcomes if o.node is not None}
    assert set(placed) == {"a-dp-node", "b-dra-node"}
    assert placed["a-dp-node"].pod.pod.status.extended_resource_claim_status is None
    claim = w.claim_of(placed["b-dra-node"])
    assert requested(claim) == [("container-0-request-0", "gpu.example.com", 2)]
    last = outcomes[2]
    assert last.node is None
    assert last.message.startswith(
        "0/2 nodes are available: 1 Insufficient example.com/gpu, 1 cannot allocate all claims."
    )


def test_a_pods_own_claim_is_allocated_alone_where_a_device_plugin_serves_the_gpus() -> None:
    nic = """\
    apiVersion: resource.k8s.io/v1
    kind: DeviceClass
    metadata: {name: nic.example.com}
    spec:
      selectors:
      - cel: {expression: device.driver == "nic.example.com"}
    ---
    apiVersion: resource.k8s.io/v1
    kind: ResourceSlice
    metadata: {name: dp-node-nics}
    spec:
      driver: nic.example.com
      nodeName: dp-node
      pool: {name: dp-node, generation: 1, resourceSliceCount: 1}
      devices: [{name: nic-0}]
    ---
    apiVersion: resource.k8s.io/v1
    kind: ResourceClaim
    metadata: {name: nic, namespace: default}
    spec:
      devices:
        requests:
        - name: nic
          exactly: {deviceClassName: nic.example.com}
    """
    spec = """\
    resourceClaims: [{name: nic, resourceClaimName: nic}]
    containers:
    - name: cuda
      resources: {limits: {example.com/gpu: 1}, claims: [{name: nic}]}
    """
    w = world(GPU_CLASS, device_plugin_node("dp-node", 1), textwrap.dedent(nic), gpu_pod("p", spec))
    outcome = w.schedule("p")
    assert outcome.node == "dp-node"
    assert outcome.pod.pod.status.extended_resource_claim_status is None
    assert list(w.cache.claims) == ["default/nic"]
    assert w.cache.claims["default/nic"].status.allocation is not None


def test_a_resource_no_class_maps_and_no_node_publishes_is_insufficient() -> None:
    resources = "{limits: {example.com/gpu: 1, example.com/fpga: 1}}"
    w = world(GPU_CLASS, dra_node("gpu-node", 1), gpu_pod("p", one_container(resources)))
    outcome = w.schedule("p")
    assert outcome.message.startswith("0/1 nodes are available: 1 Insufficient example.com/fpga.")


def test_a_claim_written_by_an_earlier_attempt_rejects_every_node() -> None:
    leftover = """\
    apiVersion: resource.k8s.io/v1
    kind: ResourceClaim
    metadata:
      name: p-extended-resources-abcde
      namespace: default
      annotations: {resource.kubernetes.io/extended-resource-claim: "true"}
      ownerReferences: [{apiVersion: v1, kind: Pod, name: p, uid: "", controller: true}]
    spec:
      devices:
        requests:
        - name: container-0-request-0
          exactly: {deviceClassName: gpu.example.com, count: 1}
    """
    w = world(
        GPU_CLASS,
        dra_node("gpu-node", 1),
        gpu_pod("p", one_container("{limits: {example.com/gpu: 1}}")),
        textwrap.dedent(leftover),
    )
    outcome = w.schedule("p")
    assert outcome.node is None
    assert outcome.message.startswith(
        "0/1 nodes are available: 1 cannot schedule extended resource claim."
    )


def test_a_failed_binding_deletes_the_claim_and_restores_the_pod() -> None:
    w = world(
        GPU_CLASS,
        dra_node("gpu-node", 1),
        gpu_pod("p", one_container("{limits: {example.com/gpu: 1}}")),
    )

    class FailingBinder:
        name = "FailingBinder"

        def bind(self, state: CycleState, pod: PodInfo, node_name: str) -> Status:
            return Status.error("binding refused")

    w.scheduler.framework.profile.bind[:] = [FailingBinder()]
    outcome = w.schedule("p")
    assert outcome.node is None and outcome.status.code == Code.ERROR
    assert w.cache.claims == {}
    assert outcome.pod.pod.status.extended_resource_claim_status is None
    assert not w.cache.allocated.devices


def test_a_claim_left_over_for_a_pod_tells_its_signature_apart() -> None:
    gpu = one_container("{limits: {example.com/gpu: 1}}")
    w = world(
        GPU_CLASS,
        dra_node("gpu-node", 1),
        gpu_pod("a", gpu),
        gpu_pod("b", gpu),
        gpu_pod("cpu", one_container("{requests: {cpu: '1'}}")),
    )
    sign = pod_signature(w.cache)
    a, b, cpu = (PodInfo.of(w.pods[name]) for name in ("a", "b", "cpu"))
    assert sign(a) == sign(b) != sign(cpu)
    leftover = ResourceClaim(
        metadata=ObjectMeta(
            name="a-extended-resources-xyz12",
            namespace="default",
            annotations={EXTENDED_RESOURCE_CLAIM_ANNOTATION: "true"},
            owner_references=[OwnerReference(kind="Pod", name="a", controller=True)],
        )
    )
    w.cache.set_claim(leftover)
    assert sign(a) != sign(b)


# --------------------------------------------------------- NodeResourcesFit's delegation


def _fit_node(extra: dict[str, str], used: dict[str, str] | None = None) -> NodeInfo:
    allocatable = {"cpu": "4", "memory": "8Gi", "pods": "110", **extra}
    info = NodeInfo.of(
        Node(
            metadata=ObjectMeta(name="n"),
            status=NodeStatus(allocatable={k: Quantity.parse(v) for k, v in allocatable.items()}),
        )
    )
    if used:
        info.add_pod(_fit_pod(used, "running"))
    return info


def _fit_pod(requests: dict[str, str], name: str = "p") -> PodInfo:
    resources = ResourceRequirements(requests={k: Quantity.parse(v) for k, v in requests.items()})
    return PodInfo.of(
        Pod(
            metadata=ObjectMeta(name=name, namespace="default"),
            spec=PodSpec(containers=[Container(name="c", resources=resources)]),
        )
    )


_IMPLICIT = "deviceclass.resource.kubernetes.io/gpu.example.com"
_GPU = "example.com/gpu"


@pytest.mark.parametrize(
    ("resolver", "requests", "the_node", "expected"),
    [
        pytest.param(True, {_GPU: "2"}, _fit_node({}), SUCCESS, id="mapped-not-published"),
        pytest.param(True, {_GPU: "2"}, _fit_node({_GPU: "0"}), SUCCESS, id="mapped-published-0"),
        pytest.param(
            True,
            {_GPU: "2"},
            _fit_node({_GPU: "4"}, used={_GPU: "3"}),
            Status.unschedulable("Insufficient example.com/gpu"),
            id="a-device-plugin-node-is-checked-as-ever",
        ),
        pytest.param(
            True,
            {_GPU: "2"},
            _fit_node({_GPU: "1"}),
            Status.unresolvable("Insufficient example.com/gpu"),
            id="a-small-device-plugin-node-is-unresolvable",
        ),
        pytest.param(
            True,
            {_GPU: "1", "example.com/fpga": "1"},
            _fit_node({}),
            Status.unresolvable("Insufficient example.com/fpga"),
            id="an-unmapped-resource-is-checked",
        ),
        pytest.param(True, {_IMPLICIT: "1"}, _fit_node({}), SUCCESS, id="implicit-name"),
        pytest.param(
            False,
            {_GPU: "1"},
            _fit_node({}),
            Status.unresolvable("Insufficient example.com/gpu"),
            id="no-resolver-gate-off",
        ),
    ],
)
def test_node_resources_fit_leaves_mapped_resources_to_dra_on_nodes_without_them(
    resolver: bool, requests: dict[str, str], the_node: NodeInfo, expected: Status
) -> None:
    gpu = _class("gpu.example.com", None)
    plugin = NodeResourcesFit(
        device_classes=ExtendedResourceIndex({"gpu.example.com": gpu}) if resolver else None
    )
    state = CycleState()
    the_pod = _fit_pod(requests)
    assert plugin.pre_filter(state, the_pod, [the_node]) == (None, SUCCESS)
    status = plugin.filter(state, the_pod, the_node)
    assert (status.code, status.reasons) == (expected.code, expected.reasons)
    found = plugin.insufficient_resources(the_pod.requests, the_node)
    assert tuple(f.reason for f in found) == expected.reasons


# -------------------------------------------------------------- which class serves a name


def _class(name: str, created: str | None, resource: str = "example.com/gpu") -> DeviceClass:
    return DeviceClass(
        metadata=ObjectMeta(name=name, creation_timestamp=created),
        spec=DeviceClassSpec(extended_resource_name=resource),
    )


def test_the_newest_class_naming_a_resource_wins_and_the_lower_name_breaks_a_tie() -> None:
    old = _class("b-old", "2025-01-01T00:00:00Z")
    new = _class("z-new", "2025-06-01T00:00:00Z")
    twin = _class("a-twin", "2025-06-01T00:00:00Z")
    classes = {c.metadata.name: c for c in (old, new)}
    index = ExtendedResourceIndex(classes)
    assert index.device_class("example.com/gpu") is new
    classes["a-twin"] = twin  # the index follows the mapping it reads
    assert index.device_class("example.com/gpu") is twin
    # Every class keeps its implicit name, whoever wins the explicit one.
    assert index.device_class("deviceclass.resource.kubernetes.io/b-old") is old
    assert index.device_class("example.com/fpga") is None


# ---------------------------------------------------------------------------- property


@settings(max_examples=60, deadline=None)
@given(
    init=st.lists(st.tuples(st.integers(0, 3), st.booleans()), max_size=3),
    app=st.lists(st.integers(0, 3), min_size=1, max_size=3),
)
def test_the_claim_asks_for_as_many_devices_as_the_pod_needs_at_its_peak(
    init: list[tuple[int, bool]], app: list[int]
) -> None:
    """The requests add up to the pod's effective request (KEP-753: app containers and
    sidecars add up, a plain init container needs its own plus the sidecars before it), and
    every container asking for devices is mapped to requests covering its count."""

    def container(name: str, count: int, sidecar: bool = False) -> Container:
        requests = {"example.com/gpu": Quantity.from_int(count)} if count else {}
        return Container(
            name=name,
            resources=ResourceRequirements(requests=requests),
            restart_policy="Always" if sidecar else None,
        )

    pod = Pod(
        metadata=ObjectMeta(name="p", namespace="default"),
        spec=PodSpec(
            init_containers=[container(f"i{n}", c, s) for n, (c, s) in enumerate(init)],
            containers=[container(f"c{n}", c) for n, c in enumerate(app)],
        ),
    )
    requests, mappings = extended_requests(pod, {"example.com/gpu": "gpu.example.com"})
    counts = {r.name: r.exactly.count or 0 for r in requests if r.exactly is not None}
    assert sum(counts.values()) == PodInfo.of(pod).requests.scalars.get("example.com/gpu", 0)
    for c in (*pod.spec.init_containers, *pod.spec.containers):
        want = c.resources.requests.get("example.com/gpu")
        got = sum(counts[m.request_name] for m in mappings if m.container_name == c.name)
        assert got >= (want.as_integer() if want is not None else 0)
        assert (got > 0) == (want is not None)


def test_the_devices_allocated_are_the_sum_of_the_containers_requests() -> None:
    rng = random.Random(7)
    for trial in range(10):
        counts = [rng.randint(1, 2) for _ in range(rng.randint(1, 3))]
        spec = "containers:\n" + "".join(
            f"- name: c{i}\n  resources: {{limits: {{example.com/gpu: {n}}}}}\n"
            for i, n in enumerate(counts)
        )
        w = world(GPU_CLASS, dra_node("gpu-node", 8), gpu_pod(f"p{trial}", spec))
        outcome = w.schedule(f"p{trial}")
        claim = w.claim_of(outcome)
        assert claim.status.allocation is not None
        assert len(claim.status.allocation.devices.results) == sum(counts)


def test_preemption_frees_the_devices_of_a_victims_extended_resource_claim() -> None:
    low = "priority: 0\n" + one_container("{limits: {example.com/gpu: 2}}")
    high = "priority: 100\n" + one_container("{limits: {example.com/gpu: 2}}")
    w = world(
        GPU_CLASS,
        dra_node("gpu-node", 2),
        gpu_pod("low", low),
        gpu_pod("high", high),
        frees_devices=True,
    )
    first = w.schedule("low")
    assert first.node == "gpu-node"
    victim_claim = w.claim_of(first).metadata.name
    outcome = w.schedule("high")
    assert outcome.node is None and outcome.nominated_node == "gpu-node"
    assert "default/low" not in w.cache.pods
    released = w.cache.claims[f"default/{victim_claim}"]
    assert released.status.allocation is None and released.status.reserved_for == []
    assert w.schedule("high").node == "gpu-node"
