"""A pod as kube-scheduler sees it (spec/scheduler.md section 4.2): requests defaulted from
limits, init containers and sidecars (KEP-753), pod overhead, pod-level resources (KEP-2837),
and the 100m / 200Mi that scoring counts for a container without cpu or memory requests.

Expected values are worked out by hand from upstream's `resourcehelper.PodRequests` and the
scheduler's `calculateResource`; cpu is in millicores, everything else in whole units."""

from __future__ import annotations

import copy
import textwrap
from collections.abc import Mapping, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dralloc.allocator import Allocator
from dralloc.api.core import Container, Node, NodeStatus, Pod, PodSpec, ResourceRequirements
from dralloc.api.defaults import apply_defaults
from dralloc.api.io import load_text
from dralloc.api.meta import ObjectMeta
from dralloc.api.quantity import Quantity
from dralloc.features import Features
from dralloc.scheduler.cache import SchedulerCache
from dralloc.scheduler.config import ProfileConfig
from dralloc.scheduler.framework import (
    SUCCESS,
    CycleState,
    Framework,
    NodeInfo,
    PodInfo,
    Resources,
    Status,
    pod_requests,
)
from dralloc.scheduler.plugins.noderesources import NodeResourcesFit
from dralloc.scheduler.profiles import build_profile, scheduler_registry
from dralloc.scheduler.scheduler import Scheduler
from dralloc.scheduler.signature import pod_signature

Mi = 1024 * 1024
Gi = 1024 * Mi
GPU = "nvidia.com/gpu"
FEATURES = Features()

Amounts = Mapping[str, str]


def _q(amounts: Amounts | None) -> dict[str, Quantity]:
    return {name: Quantity.parse(value) for name, value in (amounts or {}).items()}


def ctr(
    requests: Amounts | None = None,
    limits: Amounts | None = None,
    *,
    sidecar: bool = False,
    name: str = "c",
) -> Container:
    return Container(
        name=name,
        resources=ResourceRequirements(requests=_q(requests), limits=_q(limits)),
        restart_policy="Always" if sidecar else None,
    )


def make_pod(
    containers: Sequence[Container] = (),
    init: Sequence[Container] = (),
    *,
    overhead: Amounts | None = None,
    level_requests: Amounts | None = None,
    level_limits: Amounts | None = None,
    name: str = "p",
) -> Pod:
    resources = None
    if level_requests is not None or level_limits is not None:
        resources = ResourceRequirements(requests=_q(level_requests), limits=_q(level_limits))
    return Pod(
        metadata=ObjectMeta(name=name, namespace="default"),
        spec=PodSpec(
            containers=list(containers),
            init_containers=list(init),
            overhead=_q(overhead),
            resources=resources,
        ),
    )


def cpu_mem(resources: Resources) -> tuple[int, int]:
    return resources.milli_cpu, resources.memory


# --------------------------------------------------------------- the table of pod requests


@pytest.mark.parametrize(
    ("pod", "requests", "non_zero"),
    [
        pytest.param(
            make_pod([ctr(limits={"cpu": "2", "memory": "1Gi"})]),
            (2000, 1 * Gi),
            (2000, 1 * Gi),
            id="limits-only-become-requests",
        ),
        pytest.param(
            make_pod([ctr({"cpu": "500m"}, {"cpu": "2", "memory": "1Gi"})]),
            (500, 1 * Gi),
            (500, 1 * Gi),
            id="a-request-wins-over-its-limit-a-missing-one-comes-from-the-limit",
        ),
        pytest.param(
            make_pod(
                init=[ctr(limits={"cpu": "3"})],
                containers=[ctr({"cpu": "1"})],
            ),
            (3000, 0),
            (3000, 200 * Mi),
            id="init-container-limits-become-requests-too",
        ),
        pytest.param(
            # The example upstream documents: IC1 2/1G, IC2 2/3G, C1 2/1G, C2 1/1G -> 3, 3G.
            make_pod(
                [ctr({"cpu": "2", "memory": "1G"}), ctr({"cpu": "1", "memory": "1G"})],
                init=[ctr({"cpu": "2", "memory": "1G"}), ctr({"cpu": "2", "memory": "3G"})],
            ),
            (3000, 3 * 10**9),
            (3000, 3 * 10**9),
            id="init-bigger-than-app-wins-per-resource",
        ),
        pytest.param(
            make_pod([ctr({"cpu": "1"})], init=[ctr({"cpu": "2"}), ctr({"cpu": "500m"})]),
            (2000, 0),
            (2000, 200 * Mi),
            id="init-containers-take-the-max-not-the-sum",
        ),
        pytest.param(
            make_pod(
                [ctr({"cpu": "1"})],
                init=[
                    ctr({"cpu": "1"}, sidecar=True),
                    ctr({"cpu": "3"}),
                    ctr({"cpu": "1"}, sidecar=True),
                ],
            ),
            # Running: 1 + 1 + 1 = 3; the init container needs 3 + the one sidecar before it.
            (4000, 0),
            (4000, 600 * Mi),
            id="a-sidecar-before-an-init-container-adds-to-its-need",
        ),
        pytest.param(
            make_pod(
                [ctr({"cpu": "1"})],
                init=[
                    ctr({"cpu": "3"}),
                    ctr({"cpu": "1"}, sidecar=True),
                    ctr({"cpu": "1"}, sidecar=True),
                ],
            ),
            # The init container runs alone (3); afterwards 1 + 1 + 1 run together.
            (3000, 0),
            (3000, 600 * Mi),
            id="sidecars-after-an-init-container-do-not-add-to-its-need",
        ),
        pytest.param(
            make_pod(
                [ctr({"cpu": "1", "memory": "1Gi"})], overhead={"cpu": "250m", "memory": "120Mi"}
            ),
            (1250, 1 * Gi + 120 * Mi),
            (1250, 1 * Gi + 120 * Mi),
            id="overhead-is-added",
        ),
        pytest.param(
            make_pod([ctr()], overhead={"cpu": "250m"}),
            (250, 0),
            (350, 200 * Mi),
            id="overhead-on-a-pod-whose-containers-request-nothing",
        ),
        pytest.param(
            make_pod(
                [ctr({"cpu": "1"})],
                init=[ctr({"cpu": "4"})],
                overhead={"cpu": "100m"},
            ),
            (4100, 0),
            (4100, 200 * Mi),
            id="overhead-is-added-after-the-init-maximum",
        ),
        pytest.param(
            make_pod(
                [ctr({"cpu": "500m", "memory": "1Gi"}), ctr({"cpu": "500m"})],
                level_requests={"cpu": "2"},
            ),
            (2000, 1 * Gi),
            # Scoring reads the containers alone (1.36's scorer has no pod-level switch), and
            # the second container counts 200Mi of memory.
            (1000, 1 * Gi + 200 * Mi),
            id="a-pod-level-request-replaces-the-containers-sum",
        ),
        pytest.param(
            make_pod([ctr(), ctr()], level_limits={"cpu": "4", "memory": "2Gi"}),
            (4000, 2 * Gi),
            (200, 400 * Mi),
            id="pod-level-limits-alone-become-pod-level-requests",
        ),
        pytest.param(
            make_pod([ctr({"cpu": "1"}), ctr({"cpu": "500m"})], level_limits={"cpu": "4"}),
            (1500, 0),
            (1500, 400 * Mi),
            id="pod-level-request-defaults-to-the-containers-sum-not-the-limit",
        ),
        pytest.param(
            make_pod([ctr({"cpu": "1"})], level_requests={"cpu": "2"}, overhead={"cpu": "100m"}),
            (2100, 0),
            (1100, 200 * Mi),
            id="overhead-is-added-to-pod-level-requests",
        ),
        pytest.param(
            make_pod(
                [ctr({"cpu": "1", "memory": "1Gi"})],
                init=[ctr({"cpu": "8"})],
                level_requests={"cpu": "2"},
            ),
            (2000, 1 * Gi),
            (8000, 1 * Gi),
            id="a-pod-level-request-replaces-the-init-maximum-too",
        ),
        pytest.param(
            make_pod([ctr({"cpu": "0"}), ctr()]),
            (0, 0),
            (100, 400 * Mi),
            id="an-explicit-zero-is-not-missing",
        ),
        pytest.param(
            make_pod([ctr({"cpu": "50m"})], init=[ctr()]),
            (50, 0),
            (100, 200 * Mi),
            id="non-zero-defaults-apply-to-init-containers",
        ),
        pytest.param(
            make_pod([ctr({"cpu": "500u"}), ctr({"cpu": "500u"})]),
            # The API server stores each as 1m before anything is summed.
            (2, 0),
            (2, 400 * Mi),
            id="quantities-round-up-to-milli-before-summing",
        ),
    ],
)
def test_pod_requests_match_kube_scheduler(
    pod: Pod, requests: tuple[int, int], non_zero: tuple[int, int]
) -> None:
    info = PodInfo.of(pod)
    assert cpu_mem(info.requests) == requests
    assert cpu_mem(pod_requests(pod)) == requests
    assert cpu_mem(info.scoring_requests) == non_zero
    assert cpu_mem(pod_requests(pod, non_zero=True)) == non_zero
    # Without pod-level requests the node side counts the same non-zero values.
    if pod.spec.resources is None:
        assert cpu_mem(info.non_zero_requests) == non_zero


def test_an_extended_resource_in_limits_only_is_requested() -> None:
    pod = make_pod([ctr(limits={GPU: "2", "cpu": "1"})], init=[ctr(limits={GPU: "1"})])
    assert PodInfo.of(pod).requests.scalars == {GPU: 2}


def test_extended_resources_of_sidecars_and_init_containers_follow_kep_753() -> None:
    pod = make_pod(
        [ctr({GPU: "1"})],
        init=[ctr(limits={GPU: "1"}, sidecar=True), ctr(limits={GPU: "3"})],
    )
    # Running: 1 + 1 = 2; the init container needs 3 + 1 sidecar = 4.
    assert PodInfo.of(pod).requests.scalars == {GPU: 4}


def test_ephemeral_storage_is_summed_even_when_pod_level_requests_are_set() -> None:
    pod = make_pod(
        [ctr({"cpu": "1", "ephemeral-storage": "1Gi"}), ctr({"ephemeral-storage": "2Gi"})],
        level_requests={"cpu": "500m"},
    )
    requests = PodInfo.of(pod).requests
    assert (requests.milli_cpu, requests.ephemeral_storage) == (500, 3 * Gi)


def test_pod_level_hugepages_replace_the_containers_hugepages() -> None:
    pod = make_pod([ctr({"hugepages-2Mi": "4Mi"})], level_requests={"hugepages-2Mi": "8Mi"})
    assert PodInfo.of(pod).requests.scalars == {"hugepages-2Mi": 8 * Mi}


def test_pod_level_requests_of_unsupported_resources_are_ignored() -> None:
    pod = make_pod([ctr({GPU: "1"})], level_requests={GPU: "4"})
    assert PodInfo.of(pod).requests.scalars == {GPU: 1}


def test_scoring_and_node_accounting_differ_for_partial_requests_under_pod_level_memory() -> None:
    # Upstream's scorer lets the container without cpu count 100m and reads no pod-level
    # request (each container's memory counts 200Mi); its NodeInfo accounting counts only the
    # real 50m, because some container names cpu, and the pod-level 1Gi.
    pod = make_pod([ctr({"cpu": "50m"}), ctr()], level_requests={"memory": "1Gi"})
    info = PodInfo.of(pod)
    assert cpu_mem(info.scoring_requests) == (150, 400 * Mi)
    assert cpu_mem(info.non_zero_requests) == (50, 1 * Gi)
    assert cpu_mem(info.requests) == (50, 1 * Gi)


def test_node_accounting_under_pod_level_requests_defaults_what_nothing_names() -> None:
    pod = make_pod([ctr(), ctr()], level_requests={"cpu": "1"})
    info = PodInfo.of(pod)
    assert cpu_mem(info.non_zero_requests) == (1000, 400 * Mi)
    assert cpu_mem(info.scoring_requests) == (200, 400 * Mi)


def test_least_allocated_scores_a_pod_level_pod_by_its_containers_as_kube_scheduler_does() -> None:
    # Seen in tests/k8s/test_scheduler_differential.py (resource-fit-containers): 1.36's
    # NodeResourcesFit scorer is built without PodLevelResources, so a pod asking 1.9 CPUs and
    # 3Gi at pod level over two containers that ask nothing scores as 200m and 400Mi, while
    # it is filtered, balanced and accounted on its node with 1.9 CPUs and 3Gi.
    pod = make_pod([ctr(), ctr()], level_requests={"cpu": "1900m", "memory": "3Gi"})
    info = PodInfo.of(pod)
    assert cpu_mem(info.scoring_requests) == (200, 400 * Mi)
    assert cpu_mem(pod_requests(pod, non_zero=True)) == (200, 400 * Mi)
    assert cpu_mem(info.requests) == (1900, 3 * Gi)
    assert cpu_mem(info.non_zero_requests) == (1900, 3 * Gi)


def test_a_pod_on_a_node_adds_its_node_accounting_values() -> None:
    node = NodeInfo.of(Node(metadata=ObjectMeta(name="n")))
    node.add_pod(
        PodInfo.of(make_pod([ctr({"cpu": "50m"}), ctr()], level_requests={"memory": "1Gi"}))
    )
    assert cpu_mem(node.non_zero_requested) == (50, 1 * Gi)
    assert cpu_mem(node.requested) == (50, 1 * Gi)


# ------------------------------------------------------------------ defaulting is the same


def test_the_scheduler_sees_a_pod_built_in_code_as_it_sees_the_defaulted_pod() -> None:
    pod = make_pod(
        [ctr(limits={"cpu": "1", GPU: "1"}), ctr({"memory": "1Gi"})],
        init=[ctr(limits={"cpu": "2"}, sidecar=True), ctr(limits={"cpu": "4"})],
        overhead={"cpu": "100m"},
        level_limits={"memory": "4Gi"},
    )
    defaulted = copy.deepcopy(pod)
    apply_defaults(defaulted)
    built, stored = PodInfo.of(pod), PodInfo.of(defaulted)
    assert (built.requests, built.non_zero_requests, built.scoring_requests) == (
        stored.requests,
        stored.non_zero_requests,
        stored.scoring_requests,
    )


# ------------------------------------------------------------------------ property tests

_cpu = st.integers(0, 8000).map(lambda m: f"{m}m")
_mem = st.integers(0, 16 * 1024).map(lambda m: f"{m}Mi")
_gpu = st.integers(0, 8).map(str)
_amounts = st.fixed_dictionaries({}, optional={"cpu": _cpu, "memory": _mem, GPU: _gpu})
_containers = st.builds(
    lambda requests, limits, sidecar: ctr(requests, limits, sidecar=sidecar),
    _amounts,
    _amounts,
    st.booleans(),
)
_pods = st.builds(
    lambda app, init, over: make_pod([ctr(**c) for c in app], init, overhead=over),
    st.lists(
        st.fixed_dictionaries({"requests": _amounts, "limits": _amounts}), min_size=1, max_size=4
    ),
    st.lists(_containers, max_size=4),
    _amounts,
)


def _units(pod: Pod) -> dict[str, int]:
    r = pod_requests(pod)
    return {"cpu": r.milli_cpu, "memory": r.memory, GPU: r.scalars.get(GPU, 0)}


def _container_units(container: Container) -> dict[str, int]:
    merged = {**container.resources.limits, **container.resources.requests}
    return {
        "cpu": -(-merged["cpu"].nano // 1_000_000) if "cpu" in merged else 0,
        "memory": merged["memory"].ceil_int() if "memory" in merged else 0,
        GPU: merged[GPU].ceil_int() if GPU in merged else 0,
    }


@settings(max_examples=200, deadline=None)
@given(_pods)
def test_requests_are_never_below_any_single_container(pod: Pod) -> None:
    total = _units(pod)
    for container in (*pod.spec.containers, *pod.spec.init_containers):
        need = _container_units(container)
        assert all(total[name] >= need[name] for name in total)


@settings(max_examples=200, deadline=None)
@given(_pods, _amounts)
def test_adding_overhead_adds_exactly_the_overhead(pod: Pod, extra: dict[str, str]) -> None:
    pod.spec.overhead = {}
    before = _units(pod)
    pod.spec.overhead = _q(extra)
    after = _units(pod)
    added = _container_units(ctr(extra))
    assert after == {name: before[name] + added[name] for name in before}


@settings(max_examples=200, deadline=None)
@given(_pods)
def test_non_zero_requests_are_never_below_the_raw_ones(pod: Pod) -> None:
    info = PodInfo.of(pod)
    assert info.scoring_requests.milli_cpu >= info.requests.milli_cpu
    assert info.scoring_requests.memory >= info.requests.memory
    assert info.scoring_requests.scalars == info.requests.scalars


@settings(max_examples=200, deadline=None)
@given(_pods, _cpu)
def test_a_pod_level_cpu_request_decides_the_cpu_request(pod: Pod, cpu: str) -> None:
    pod.spec.resources = ResourceRequirements(requests=_q({"cpu": cpu}))
    over = pod.spec.overhead.get("cpu")
    expected = Quantity.parse(cpu).nano // 1_000_000 + (over.nano // 1_000_000 if over else 0)
    assert pod_requests(pod).milli_cpu == expected


@settings(max_examples=200, deadline=None)
@given(_pods)
def test_defaulting_first_changes_nothing_the_scheduler_sees(pod: Pod) -> None:
    defaulted = copy.deepcopy(pod)
    apply_defaults(defaulted)
    again = copy.deepcopy(defaulted)
    apply_defaults(again)
    assert again == defaulted
    assert PodInfo.of(pod).requests == PodInfo.of(defaulted).requests
    assert PodInfo.of(pod).scoring_requests == PodInfo.of(defaulted).scoring_requests


# ------------------------------------------------------- through NodeResourcesFit and a cycle


def test_a_limits_only_pod_fails_the_fit_filter_on_a_node_it_would_overfill() -> None:
    node = NodeInfo.of(
        Node(
            metadata=ObjectMeta(name="n"),
            status=NodeStatus(
                allocatable=_q({"cpu": "4", "memory": "8Gi", "pods": "110", GPU: "1"})
            ),
        )
    )
    node.add_pod(PodInfo.of(make_pod([ctr(limits={"cpu": "3"})], name="running")))
    plugin = NodeResourcesFit()
    for pod, expected in [
        (make_pod([ctr(limits={"cpu": "2"})]), Status.unschedulable("Insufficient cpu")),
        (make_pod([ctr(limits={GPU: "2"})]), Status.unresolvable(f"Insufficient {GPU}")),
        (make_pod([ctr(limits={"cpu": "1", GPU: "1"})]), SUCCESS),
    ]:
        state = CycleState()
        info = PodInfo.of(pod)
        plugin.pre_filter(state, info, [node])
        status = plugin.filter(state, info, node)
        assert (status.code, status.reasons) == (expected.code, expected.reasons)


CLUSTER = """\
apiVersion: v1
kind: Node
metadata: {name: node-a}
status: {allocatable: {cpu: "4", memory: 8Gi, pods: "110"}}
---
apiVersion: v1
kind: Pod
metadata: {name: running, namespace: default}
spec:
  nodeName: node-a
  containers:
  - name: c
    resources: {limits: {cpu: "3"}}
---
apiVersion: v1
kind: Pod
metadata: {name: limits-only, namespace: default}
spec:
  containers:
  - name: c
    resources: {limits: {cpu: "2", memory: 1Gi}}
---
apiVersion: v1
kind: Pod
metadata: {name: sidecar-heavy, namespace: default}
spec:
  initContainers:
  - name: proxy
    restartPolicy: Always
    resources: {requests: {cpu: 500m}}
  containers:
  - name: c
    resources: {requests: {cpu: 600m}}
---
apiVersion: v1
kind: Pod
metadata: {name: small, namespace: default}
spec:
  containers:
  - name: c
    resources: {limits: {cpu: 500m}}
"""


def _scheduler() -> tuple[Scheduler, dict[str, Pod]]:
    objects, problems = load_text(textwrap.dedent(CLUSTER), "<test>")
    assert problems == []
    found = [o.obj for o in objects]
    cache = SchedulerCache(FEATURES, nodes=[o for o in found if isinstance(o, Node)])
    registry = scheduler_registry(
        cache, Allocator(FEATURES), FEATURES, binder=lambda info, node: None
    )
    framework = Framework(build_profile(ProfileConfig(), registry))
    pods = {o.metadata.name: o for o in found if isinstance(o, Pod)}
    for pod in pods.values():
        if pod.spec.node_name:
            cache.assume_pod(PodInfo.of(pod), pod.spec.node_name)
    return Scheduler(cache, framework), pods


def test_the_default_profile_rejects_a_limits_only_pod_that_would_overfill_the_node() -> None:
    scheduler, pods = _scheduler()
    # The loaded pods were defaulted as the API server stores them.
    assert pods["running"].spec.containers[0].resources.requests == _q({"cpu": "3"})
    rejected = (
        "0/1 nodes are available: 1 Insufficient cpu. no new claims to deallocate, "
        "preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
    )
    outcome = scheduler.schedule_one(pods["limits-only"])
    assert not outcome.is_scheduled
    assert outcome.message == rejected
    # A sidecar's requests add to the app container's: 1100m do not fit in the 1 cpu left.
    assert scheduler.schedule_one(pods["sidecar-heavy"]).message == rejected
    assert scheduler.schedule_one(pods["small"]).node == "node-a"


# --------------------------------------------------------------------------- signatures


@pytest.mark.parametrize(
    "other",
    [
        pytest.param(make_pod([ctr({"cpu": "1"})], overhead={"cpu": "1"}), id="overhead"),
        pytest.param(make_pod([ctr({"cpu": "1"})], level_requests={"cpu": "2"}), id="pod-requests"),
        pytest.param(make_pod([ctr({"cpu": "1"})], level_limits={"cpu": "2"}), id="pod-limits"),
        pytest.param(make_pod([ctr({"cpu": "1"}, {"cpu": "2"})]), id="limits"),
        pytest.param(
            make_pod([ctr({"cpu": "1"})], init=[ctr({"cpu": "1"}, sidecar=True)]),
            id="sidecar",
        ),
    ],
)
def test_pods_differing_in_resource_fields_get_different_signatures(other: Pod) -> None:
    signature = pod_signature(SchedulerCache(FEATURES))
    init_pod = make_pod([ctr({"cpu": "1"})], init=[ctr({"cpu": "1"})])
    base = make_pod([ctr({"cpu": "1"})])
    signatures = {signature(PodInfo.of(p)) for p in (base, init_pod, other)}
    assert len(signatures) == 3
    assert signature(PodInfo.of(copy.deepcopy(other))) == signature(PodInfo.of(other))
