"""Pods with claims through the framework, the DynamicResources plugin and the cache."""

from __future__ import annotations

import random
from pathlib import Path

import msgspec

from dralloc.allocator import Allocator
from dralloc.api.core import Pod, PodResourceClaim
from dralloc.api.meta import ObjectMeta
from dralloc.cli.inputs import read_cluster
from dralloc.cli.schedule import run_schedule
from dralloc.devices import driver_device_classes
from dralloc.features import Features
from dralloc.scheduler.cache import SchedulerCache
from dralloc.scheduler.config import SchedulerConfiguration
from dralloc.scheduler.framework import Code, CycleState, Framework, PodInfo, Profile
from dralloc.scheduler.plugins.dynamicresources import DynamicResources
from dralloc.scheduler.plugins.gpushare import GpuShareView, Random
from dralloc.scheduler.scheduler import Scheduler
from dralloc.sim.openb_objects import cluster_objects, pod_objects
from dralloc.sim.traces import TraceNode, TracePod
from dralloc.sim.traces.openb import openb_models

FEATURES = Features()
MODELS = openb_models()


def _scheduler(*nodes: TraceNode) -> Scheduler:
    objects = cluster_objects(nodes, MODELS)
    cache = SchedulerCache(
        FEATURES,
        nodes=[o.node for o in objects],
        slices=[s for o in objects for s in o.slices],
        classes=driver_device_classes(),
    )
    plugin = DynamicResources(cache, Allocator(FEATURES))
    profile = Profile(pre_filter=[plugin], filter=[plugin], reserve=[plugin], pre_bind=[plugin])
    return Scheduler(cache, Framework(profile))


def _submit(scheduler: Scheduler, name: str, num_gpu: int, gpu_milli: int) -> Pod:
    made = pod_objects(
        TracePod(name=name, cpu_milli=1000, memory_mib=1024, num_gpu=num_gpu, gpu_milli=gpu_milli),
        MODELS,
    )
    if made.claim is not None:
        scheduler.cache.set_claim(made.claim)
    return made.pod


T4_NODE = TraceNode(name="t4-node", cpu_milli=96000, memory_mib=393216, gpus=2, model="T4")
P100_NODE = TraceNode(name="p100-node", cpu_milli=64000, memory_mib=262144, gpus=1, model="P100")


def test_pods_land_where_their_claims_can_be_allocated_and_claims_record_it() -> None:
    scheduler = _scheduler(P100_NODE, T4_NODE)
    outcomes = [
        scheduler.schedule_one(_submit(scheduler, name, gpus, milli))
        for name, gpus, milli in (("a", 2, 1000), ("b", 1, 500), ("c", 1, 500), ("d", 1, 600))
    ]
    assert [o.node for o in outcomes] == ["t4-node", "p100-node", "p100-node", None]
    claim = scheduler.cache.claims["default/b-gpu"]
    assert claim.status.allocation is not None
    assert [r.name for r in claim.status.reserved_for] == ["b"]
    assert outcomes[3].message == "0/2 nodes are available: 2 cannot allocate all claims."
    assert outcomes[3].unschedulable_plugins == {"DynamicResources"}


def test_post_filter_adds_upstreams_reason_for_a_pod_with_or_without_claims() -> None:
    # kube-scheduler 1.36 joins DynamicResources' PostFilter reason into every FitError
    # message before preemption's (seen in tests/k8s/test_scheduler_differential.py).
    scheduler = _scheduler(P100_NODE)
    plugin = scheduler.framework.profile.pre_filter[0]
    assert isinstance(plugin, DynamicResources)
    scheduler.framework.profile.post_filter.append(plugin)
    gpus = scheduler.schedule_one(_submit(scheduler, "three-gpus", 3, 1000))
    assert gpus.message == (
        "0/1 nodes are available: 1 cannot allocate all claims. still not schedulable"
    )
    missing = Pod(metadata=ObjectMeta(name="m", namespace="default"))
    missing.spec.resource_claims.append(PodResourceClaim(name="gpu", resource_claim_name="nope"))
    assert scheduler.schedule_one(missing).message == (
        '0/1 nodes are available: resourceclaim "nope" not found. no new claims to deallocate'
    )
    cpu_only = PodInfo.of(_submit(scheduler, "cpu-only", 0, 0))
    state = CycleState()
    _, skipped = plugin.pre_filter(state, cpu_only, scheduler.cache.snapshot())
    assert skipped.code == Code.SKIP
    _, status = plugin.post_filter(state, cpu_only, {})
    assert (status.code, status.message) == (Code.UNSCHEDULABLE, "no new claims to deallocate")


def test_a_pod_without_claims_skips_the_plugin_and_fits_anywhere() -> None:
    scheduler = _scheduler(P100_NODE, T4_NODE)
    outcome = scheduler.schedule_one(_submit(scheduler, "cpu-only", 0, 0))
    assert outcome.node == "p100-node"  # no score plugins: the first feasible node


def test_a_claim_that_does_not_exist_is_unresolvable() -> None:
    scheduler = _scheduler(T4_NODE)
    pod = Pod(metadata=ObjectMeta(name="p", namespace="default"))
    pod.spec.resource_claims.append(PodResourceClaim(name="gpu", resource_claim_name="nope"))
    outcome = scheduler.schedule_one(pod)
    assert outcome.message == '0/1 nodes are available: resourceclaim "nope" not found.'


def test_a_template_claim_not_created_yet_keeps_the_pod_pending() -> None:
    scheduler = _scheduler(T4_NODE)
    pod = Pod(metadata=ObjectMeta(name="p", namespace="default"))
    pod.spec.resource_claims.append(
        PodResourceClaim(name="gpu", resource_claim_template_name="tmpl")
    )
    outcome = scheduler.schedule_one(pod)
    assert outcome.message == (
        '0/1 nodes are available: pod "default/p": ResourceClaim not created yet.'
    )


def test_removing_a_pod_releases_its_claim_and_frees_the_devices() -> None:
    scheduler = _scheduler(P100_NODE)
    first = _submit(scheduler, "first", 1, 1000)
    assert scheduler.schedule_one(first).node == "p100-node"
    second = _submit(scheduler, "second", 1, 1000)
    assert scheduler.schedule_one(second).node is None
    scheduler.remove_pod(first)
    assert scheduler.cache.claims["default/first-gpu"].status.allocation is None
    assert scheduler.schedule_one(second).node == "p100-node"
    assert not scheduler.cache.nodes["p100-node"].pods[0].key.endswith("first")


def test_a_shared_claim_is_allocated_once_and_reserved_for_every_pod() -> None:
    scheduler = _scheduler(T4_NODE)
    first = _submit(scheduler, "one", 1, 1000)
    second = msgspec.structs.replace(first, metadata=ObjectMeta(name="two", namespace="default"))
    assert scheduler.schedule_one(first).node == "t4-node"
    assert scheduler.schedule_one(second).node == "t4-node"
    claim = scheduler.cache.claims["default/one-gpu"]
    assert [r.name for r in claim.status.reserved_for] == ["one", "two"]
    scheduler.remove_pod(first)
    assert scheduler.cache.claims["default/one-gpu"].status.allocation is not None
    scheduler.remove_pod(second)
    assert scheduler.cache.claims["default/one-gpu"].status.allocation is None


def test_the_gpu_capacity_filter_rejects_only_nodes_the_allocator_rejects_too() -> None:
    from dralloc.scheduler.framework import Code, CycleState, PodInfo
    from dralloc.scheduler.plugins.gpushare import GpuCapacityFilter, GpuShareView

    scheduler = _scheduler(P100_NODE)
    assert scheduler.schedule_one(_submit(scheduler, "half", 1, 500)).node == "p100-node"
    check = GpuCapacityFilter(GpuShareView(scheduler.cache))
    node = scheduler.cache.nodes["p100-node"]
    for name, gpus, milli, fits in (
        ("s", 1, 500, True),
        ("t", 1, 510, False),
        ("w", 1, 1000, False),
    ):
        pod = _submit(scheduler, name, gpus, milli)
        status = check.filter(CycleState(), PodInfo.of(pod), node)
        assert status.is_success is fits
        if not fits:
            assert status.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
        assert (scheduler.schedule_one(pod).node is not None) is fits


def test_devices_changing_hands_give_their_node_a_new_generation() -> None:
    # Reserve takes a pod's devices after the pod was assumed: caches keyed on a node's
    # generation must see that second change too, and freeing the devices again.
    scheduler = _scheduler(P100_NODE, T4_NODE)
    cache = scheduler.cache
    before = {name: node.generation for name, node in cache.nodes.items()}
    pod = _submit(scheduler, "a", 1, 500)
    assert scheduler.schedule_one(pod).node == "p100-node"
    assert cache.nodes["p100-node"].generation >= before["p100-node"] + 2  # pod, then devices
    assert cache.nodes["t4-node"].generation == before["t4-node"]
    landed = cache.nodes["p100-node"].generation
    cache.allocate_claim("default/a-gpu", None)
    assert cache.nodes["p100-node"].generation > landed
    assert cache.nodes["t4-node"].generation == before["t4-node"]


def test_reserve_chooses_devices_on_the_node_the_cycle_read() -> None:
    # Reserve runs after the pod was assumed on the cache's node; it allocates on the
    # snapshot's copy, where the pod's CPU is not counted yet, as Filter would have.
    scheduler = _scheduler(P100_NODE)
    cache = scheduler.cache
    view = GpuShareView(cache)
    info = PodInfo.of(_submit(scheduler, "a", 1, 500))
    (read,) = cache.snapshot()
    cache.assume_pod(info, "p100-node")
    live = cache.nodes["p100-node"]
    assert cache.snapshot_node("p100-node") is read
    assert view.node_state(read).cpu_left == view.node_state(live).cpu_left + 1000
    state = CycleState()
    scheduler.framework.profile.pre_filter[0].pre_filter(state, info, [read])
    assert scheduler.framework.reserve(state, info, "p100-node").is_success
    assert view.node_state(live).gpu_left == (500,)
    assert view.node_state(cache.snapshot()[0]).gpu_left == (500,)


def test_a_what_if_copy_of_a_node_is_never_remembered_as_the_node() -> None:
    # Preemption's dry run removes pods from a copy, whose generation numbers may repeat the
    # real node's later ones with other contents.
    scheduler = _scheduler(P100_NODE)
    cache = scheduler.cache
    view = GpuShareView(cache)
    assert scheduler.schedule_one(_submit(scheduler, "a", 1, 500)).node == "p100-node"
    node = cache.nodes["p100-node"]
    copy = node.copy()
    copy.remove_pod("default/a")
    what_if = view.node_state(copy)  # the copy's state at generation + 1
    assert what_if.cpu_left == view.node_state(node).cpu_left + 1000
    node.mark_changed()  # the real node reaches that generation number
    assert node.generation == copy.generation
    assert view.node_state(node).cpu_left == what_if.cpu_left - 1000


def test_a_node_added_again_never_repeats_a_generation_of_its_name() -> None:
    scheduler = _scheduler(P100_NODE)
    cache = scheduler.cache
    assert scheduler.schedule_one(_submit(scheduler, "a", 1, 500)).node == "p100-node"
    old = cache.nodes["p100-node"]
    cache.remove_node("p100-node")
    again = cache.add_node(old.node)
    assert again.generation > old.generation
    replaced = cache.add_node(old.node)
    assert replaced.generation > again.generation


def test_random_scores_every_node_at_once_as_it_scores_each() -> None:
    scheduler = _scheduler(P100_NODE, T4_NODE)
    nodes = scheduler.cache.snapshot()
    plugin = Random(GpuShareView(scheduler.cache), random.Random(3))
    info = PodInfo.of(_submit(scheduler, "a", 1, 500))
    for _ in range(5):
        state = CycleState()
        assert plugin.pre_score(state, info, nodes).is_success
        each = {node.name: plugin.score(state, info, node)[0] for node in nodes}
        assert plugin.score_nodes(state, info, nodes) == each
        assert sorted(each.values()) == [0, 100]


_PRIORITIZED = """\
apiVersion: resource.k8s.io/v1
kind: DeviceClass
metadata: {name: gpu}
spec:
  selectors: [{cel: {expression: 'device.driver == "gpu.example.com"'}}]
---
apiVersion: v1
kind: Node
metadata: {name: roomy}
status: {allocatable: {cpu: "8", memory: 16Gi, pods: "110"}}
---
apiVersion: v1
kind: Node
metadata: {name: small}
status: {allocatable: {cpu: "4", memory: 8Gi, pods: "110"}}
---
apiVersion: resource.k8s.io/v1
kind: ResourceSlice
metadata: {name: roomy}
spec:
  driver: gpu.example.com
  nodeName: roomy
  pool: {name: roomy, generation: 1, resourceSliceCount: 1}
  devices:
  - {name: small-0, attributes: {size: {string: small}}}
  - {name: small-1, attributes: {size: {string: small}}}
---
apiVersion: resource.k8s.io/v1
kind: ResourceSlice
metadata: {name: small}
spec:
  driver: gpu.example.com
  nodeName: small
  pool: {name: small, generation: 1, resourceSliceCount: 1}
  devices:
  - {name: big-0, attributes: {size: {string: big}}}
---
apiVersion: resource.k8s.io/v1
kind: ResourceClaim
metadata: {name: big-or-two-small, namespace: default}
spec:
  devices:
    requests:
    - name: gpu
      firstAvailable:
      - name: big
        deviceClassName: gpu
        selectors: [{cel: {expression: 'device.attributes["gpu.example.com"].size == "big"'}}]
      - name: small
        deviceClassName: gpu
        count: 2
        selectors: [{cel: {expression: 'device.attributes["gpu.example.com"].size == "small"'}}]
---
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: default}
spec:
  resourceClaims: [{name: gpu, resourceClaimName: big-or-two-small}]
  containers: [{name: c, image: pause, resources: {requests: {cpu: "1"}}}]
"""


def test_score_prefers_the_node_serving_an_earlier_first_available_alternative(
    tmp_path: Path,
) -> None:
    # Seen in tests/k8s/test_scheduler_differential.py (dra-prioritized-list): the roomier
    # node wins the resource scores, but DynamicResources' Score (weight 2) gives the node
    # serving alternative 0 (8 points, 100 after normalising) over alternative 1 (7, 87).
    path = tmp_path / "cluster.yaml"
    path.write_text(_PRIORITIZED)
    run = run_schedule(read_cluster([str(path)]), SchedulerConfiguration(), FEATURES)
    assert [o.node for o in run.outcomes] == ["small"]
