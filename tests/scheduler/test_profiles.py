"""Profiles: kube-scheduler's default profile over dralloc's plugins, placements through it and
the FitError messages users see, and how a configured profile's plugins and args are applied
(spec/scheduler.md sections 4.1 and 7)."""

from __future__ import annotations

import random
import textwrap
from dataclasses import dataclass, field

import pytest

from dralloc.allocator import Allocator
from dralloc.api.core import Node, Pod
from dralloc.api.io import load_text
from dralloc.api.resource import DeviceClass, ResourceClaim, ResourceClaimTemplate, ResourceSlice
from dralloc.controllers import InMemoryClaimClient, ResourceClaimController
from dralloc.errors import InputError
from dralloc.features import Features
from dralloc.scheduler.cache import SchedulerCache
from dralloc.scheduler.config import (
    PluginArgs,
    PluginRef,
    PluginSet,
    ProfileConfig,
    SchedulerConfiguration,
)
from dralloc.scheduler.framework import Framework, PodInfo, Profile
from dralloc.scheduler.plugins.dynamicresources import DynamicResources
from dralloc.scheduler.plugins.gpushare import FGD, BestFit
from dralloc.scheduler.profiles import (
    build_profile,
    build_profiles,
    default_profile,
    merge_plugin_set,
    parse_duration,
    plugin_names,
    scheduler_registry,
)
from dralloc.scheduler.scheduler import ScheduleOutcome, Scheduler

FEATURES = Features()

NODES = """\
apiVersion: v1
kind: Node
metadata: {name: node-a, labels: {zone: a}}
status: {allocatable: {cpu: "2", memory: 8Gi, pods: "110"}}
---
apiVersion: v1
kind: Node
metadata: {name: node-b, labels: {zone: b}}
status: {allocatable: {cpu: "8", memory: 8Gi, pods: "110"}}
---
apiVersion: v1
kind: Node
metadata: {name: node-c, labels: {zone: c}}
spec:
  taints: [{key: nvidia.com/gpu, value: present, effect: NoSchedule}]
status: {allocatable: {cpu: "8", memory: 8Gi, pods: "110"}}
---
apiVersion: resource.k8s.io/v1
kind: DeviceClass
metadata: {name: gpu}
spec:
  selectors:
  - cel: {expression: device.driver == "gpu.example.com"}
---
apiVersion: resource.k8s.io/v1
kind: ResourceSlice
metadata: {name: node-c-gpu}
spec:
  driver: gpu.example.com
  nodeName: node-c
  pool: {name: node-c, generation: 1, resourceSliceCount: 1}
  devices: [{name: gpu-0}]
---
apiVersion: resource.k8s.io/v1
kind: ResourceClaimTemplate
metadata: {name: one-gpu, namespace: default}
spec:
  spec:
    devices:
      requests:
      - name: gpu
        exactly: {deviceClassName: gpu}
"""

GPU_TOLERATION = "tolerations: [{key: nvidia.com/gpu, operator: Exists}]"
GPU_CLAIM = "resourceClaims: [{name: gpu, resourceClaimTemplateName: one-gpu}]"


def pod_yaml(name: str, *, cpu: str = "1", extra: str = "") -> str:
    """A pending pod in `default` with one container requesting `cpu`; `extra` is more of its
    spec (YAML, one key per line)."""
    spec = textwrap.indent(textwrap.dedent(extra).strip(), "  ") + "\n" if extra else ""
    return (
        f"apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: default}}\nspec:\n"
        f"{spec}  containers:\n  - name: c\n    resources: {{requests: {{cpu: '{cpu}'}}}}\n"
    )


@dataclass
class World:
    """A cache over the objects of some YAML, and the default profile's scheduler over it."""

    cache: SchedulerCache
    scheduler: Scheduler
    pods: dict[str, Pod]
    controller: ResourceClaimController
    bound: dict[str, str] = field(default_factory=dict)

    def schedule(self, name: str) -> ScheduleOutcome:
        synced = self.controller.sync_pod(self.pods[name])
        for claim in synced.created:
            self.cache.set_claim(claim)
        return self.scheduler.schedule_one(synced.pod)


def world(*documents: str, seed: int | None = None) -> World:
    objects, problems = load_text("---\n".join(documents), "<test>")
    assert problems == []
    found = [o.obj for o in objects]
    cache = SchedulerCache(
        FEATURES,
        nodes=[o for o in found if isinstance(o, Node)],
        slices=[o for o in found if isinstance(o, ResourceSlice)],
        classes=[o for o in found if isinstance(o, DeviceClass)],
        claims=[o for o in found if isinstance(o, ResourceClaim)],
    )
    bound: dict[str, str] = {}

    def bind(info: PodInfo, node: str) -> None:
        bound[info.key] = node

    rng = random.Random(seed) if seed is not None else None
    profile = default_profile(cache, Allocator(FEATURES), FEATURES, rng, bind)
    client = InMemoryClaimClient(
        templates=[o for o in found if isinstance(o, ResourceClaimTemplate)],
        rng=random.Random(0),
    )
    return World(
        cache,
        Scheduler(cache, Framework(profile, rng=rng)),
        {o.metadata.name: o for o in found if isinstance(o, Pod)},
        ResourceClaimController(client),
        bound,
    )


def _names(plugins: list[object]) -> list[str]:
    return [getattr(p, "name", "") for p in plugins]


# --------------------------------------------------------------------- the default profile


def test_the_default_profile_runs_upstreams_plugins_in_order_with_their_weights() -> None:
    w = world(NODES)
    profile = w.scheduler.framework.profile
    assert profile.name == "default-scheduler"
    assert _names(list(profile.pre_filter)) == [
        "NodeAffinity",
        "NodePorts",
        "NodeResourcesFit",
        "PodTopologySpread",
        "InterPodAffinity",
        "DynamicResources",
    ]
    assert _names(list(profile.filter)) == [
        "NodeUnschedulable",
        "NodeName",
        "TaintToleration",
        "NodeAffinity",
        "NodePorts",
        "NodeResourcesFit",
        "PodTopologySpread",
        "InterPodAffinity",
        "DynamicResources",
    ]
    assert _names(list(profile.pre_score)) == [
        "TaintToleration",
        "NodeAffinity",
        "NodeResourcesFit",
        "PodTopologySpread",
        "InterPodAffinity",
        "NodeResourcesBalancedAllocation",
    ]
    assert [(p.name, weight) for p, weight in profile.score] == [
        ("TaintToleration", 3),
        ("NodeAffinity", 2),
        ("NodeResourcesFit", 1),
        ("PodTopologySpread", 2),
        ("InterPodAffinity", 2),
        ("DynamicResources", 2),
        ("NodeResourcesBalancedAllocation", 1),
        ("ImageLocality", 1),
    ]
    assert _names(list(profile.reserve)) == ["DynamicResources"]
    assert _names(list(profile.pre_bind)) == ["DynamicResources"]
    assert _names(list(profile.bind)) == ["DefaultBinder"]
    assert _names(list(profile.post_filter)) == ["DynamicResources", "DefaultPreemption"]
    assert profile.permit == []
    assert profile.percentage_of_nodes_to_score is None


def test_a_pod_goes_where_its_requests_fit_and_is_bound_there() -> None:
    w = world(NODES, pod_yaml("big", cpu="3"))
    outcome = w.schedule("big")
    assert outcome.node == "node-b"  # node-a has 2 cpus; node-c is tainted
    assert w.bound == {"default/big": "node-b"}
    assert [p.key for p in w.cache.nodes["node-b"].pods] == ["default/big"]


def test_least_allocated_spreads_pods_over_equal_nodes() -> None:
    nodes = NODES.replace('cpu: "2"', 'cpu: "8"')
    w = world(nodes, pod_yaml("first"), pod_yaml("second"))
    assert [w.schedule(n).node for n in ("first", "second")] == ["node-a", "node-b"]


def test_ties_go_to_the_first_node_by_name_or_to_the_seed() -> None:
    nodes = NODES.replace('cpu: "2"', 'cpu: "8"')
    assert world(nodes, pod_yaml("p")).schedule("p").node == "node-a"
    seeded = {world(nodes, pod_yaml("p"), seed=s).schedule("p").node for s in range(12)}
    assert seeded == {"node-a", "node-b"}
    assert world(nodes, pod_yaml("p"), seed=5).schedule("p").node == (
        world(nodes, pod_yaml("p"), seed=5).schedule("p").node
    )


def test_a_toleration_opens_the_tainted_node_and_a_node_selector_pins_it() -> None:
    tolerant = pod_yaml("tolerant", extra=f"{GPU_TOLERATION}\nnodeSelector: {{zone: c}}")
    intolerant = pod_yaml("intolerant", extra="nodeSelector: {zone: c}")
    w = world(NODES, tolerant, intolerant)
    assert w.schedule("tolerant").node == "node-c"
    assert w.schedule("intolerant").message == (
        "0/3 nodes are available: 1 node(s) had untolerated taint(s), "
        "2 node(s) didn't match Pod's node affinity/selector. no new claims to deallocate, "
        "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
    )


def test_prefer_no_schedule_taints_weigh_three_times_more_than_least_allocated() -> None:
    nodes = NODES.replace(
        "metadata: {name: node-b, labels: {zone: b}}",
        "metadata: {name: node-b, labels: {zone: b}}\n"
        "spec: {taints: [{key: spot, effect: PreferNoSchedule}]}",
    ).replace('cpu: "2"', 'cpu: "4"')
    w = world(nodes, pod_yaml("p"))
    # node-b is emptier (8 cpus against 4), but its soft taint costs 3 x 100 points.
    assert w.schedule("p").node == "node-a"


def test_a_template_claim_is_created_then_allocated_on_the_node_with_the_gpu() -> None:
    gpu_pod = pod_yaml(
        "train",
        extra=f"""\
        {GPU_TOLERATION}
        resourceClaims: [{{name: gpu, resourceClaimTemplateName: one-gpu}}]""",
    )
    w = world(NODES, gpu_pod)
    outcome = w.schedule("train")
    assert outcome.node == "node-c"
    (key,) = [k for k in w.cache.claims if k.startswith("default/train-gpu-")]
    claim = w.cache.claims[key]
    assert claim.status.allocation is not None
    assert [(r.pool, r.device) for r in claim.status.allocation.devices.results] == [
        ("node-c", "gpu-0")
    ]
    assert [r.name for r in claim.status.reserved_for] == ["train"]


def test_the_fit_error_tallies_each_nodes_first_rejecting_plugin() -> None:
    gpu_pod = pod_yaml(
        "train",
        cpu="3",
        extra=GPU_CLAIM,
    )
    tolerant = pod_yaml(
        "tolerant",
        cpu="3",
        extra=f"{GPU_TOLERATION}\n{GPU_CLAIM}",
    )
    w = world(NODES, gpu_pod, tolerant, pod_yaml("second", extra=GPU_TOLERATION))
    assert w.schedule("train").message == (
        "0/3 nodes are available: 1 Insufficient cpu, 1 cannot allocate all claims, "
        "1 node(s) had untolerated taint(s). still not schedulable, "
        "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
    )
    assert w.schedule("tolerant").node == "node-c"


def test_a_claim_that_is_not_created_yet_fails_at_pre_filter() -> None:
    gpu_pod = pod_yaml(
        "train", extra="resourceClaims: [{name: gpu, resourceClaimTemplateName: one-gpu}]"
    )
    w = world(NODES, gpu_pod)
    outcome = w.scheduler.schedule_one(w.pods["train"])  # no controller ran
    assert outcome.message == (
        '0/3 nodes are available: pod "default/train": ResourceClaim not created yet. '
        "no new claims to deallocate, "
        "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
    )
    assert outcome.unschedulable_plugins == {"DynamicResources"}


def test_without_nodes_the_pod_has_nowhere_to_go() -> None:
    w = world(pod_yaml("p"))
    assert w.schedule("p").message == (
        "0/0 nodes are available: no nodes available to schedule pods."
    )


# -------------------------------------------------------------------- configured profiles


def _registry(rng: random.Random | None = None) -> dict[str, object]:
    cache = SchedulerCache(FEATURES)
    return dict(scheduler_registry(cache, Allocator(FEATURES), FEATURES, rng, lambda p, n: None))


def _profile(
    plugins: dict[str, PluginSet] | None = None,
    args: tuple[PluginArgs, ...] = (),
    *,
    file: str = "sched.yaml",
) -> Profile:
    config = ProfileConfig(plugins=plugins or {}, plugin_config=args, file=file)
    return build_profile(config, _registry())  # type: ignore[arg-type]


def _errors(plugins: dict[str, PluginSet], args: tuple[PluginArgs, ...] = ()) -> list[str]:
    with pytest.raises(InputError) as caught:
        _profile(plugins, args)
    return str(caught.value).splitlines()


def ref(name: str, weight: int = 0, path: str = "") -> PluginRef:
    return PluginRef(name, weight, path)


def test_merging_replaces_a_reconfigured_default_in_place_and_appends_the_rest() -> None:
    defaults = PluginSet((ref("A"), ref("B", 1), ref("C")))
    merged = merge_plugin_set(defaults, PluginSet((ref("X"), ref("B", 7)), (ref("C"),)))
    assert merged.enabled == (ref("A"), ref("B", 7), ref("X"))
    everything_off = merge_plugin_set(defaults, PluginSet((ref("X"),), (ref("*"),)))
    assert everything_off.enabled == (ref("X"),)


def test_a_weight_changes_in_place_through_multi_point() -> None:
    profile = _profile({"multiPoint": PluginSet((ref("TaintToleration", 1),))})
    assert [(p.name, w) for p, w in profile.score][:2] == [
        ("TaintToleration", 1),
        ("NodeAffinity", 2),
    ]


def test_a_score_entry_moves_its_plugin_first_with_its_weight() -> None:
    profile = _profile({"score": PluginSet((ref("NodeResourcesBalancedAllocation", 4),))})
    assert [(p.name, w) for p, w in profile.score] == [
        ("NodeResourcesBalancedAllocation", 4),
        ("TaintToleration", 3),
        ("NodeAffinity", 2),
        ("NodeResourcesFit", 1),
        ("PodTopologySpread", 2),
        ("InterPodAffinity", 2),
        ("DynamicResources", 2),
        ("ImageLocality", 1),
    ]


def test_a_multi_point_plugin_can_be_disabled_at_one_point() -> None:
    profile = _profile({"filter": PluginSet(disabled=(ref("NodeResourcesFit"),))})
    assert "NodeResourcesFit" not in _names(list(profile.filter))
    assert "NodeResourcesFit" in _names(list(profile.pre_filter))
    only = _profile({"score": PluginSet((ref("NodeResourcesFit"),), (ref("*"),))})
    assert [(p.name, w) for p, w in only.score] == [("NodeResourcesFit", 1)]


def test_a_gpu_sharing_plugin_scores_and_chooses_the_gpu_for_dynamic_resources() -> None:
    profile = _profile({"multiPoint": PluginSet((ref("BestFit", 2),))})
    assert [(p.name, w) for p, w in profile.score][-1] == ("BestFit", 2)
    (dra,) = [p for p in profile.pre_filter if isinstance(p, DynamicResources)]
    assert isinstance(dra.device_order, BestFit)


def test_fgd_is_built_from_its_typical_pods() -> None:
    args = PluginArgs(
        "FGD",
        {
            "typicalPods": [
                {"cpuMilli": 4000, "gpuMilli": 500, "numGpu": 1, "weight": 3},
                {"cpuMilli": 8000, "gpuMilli": 1000, "numGpu": 2, "gpuModels": ["T4"]},
            ]
        },
        "profiles[0].pluginConfig[0].args",
    )
    profile = _profile({"multiPoint": PluginSet((ref("FGD"),))}, (args,))
    (fgd,) = [p for p, _ in profile.score if isinstance(p, FGD)]
    (dra,) = [p for p in profile.pre_filter if isinstance(p, DynamicResources)]
    assert dra.device_order is fgd


def test_dynamic_resources_takes_its_filter_timeout() -> None:
    def timeout(value: str) -> float | None:
        args = PluginArgs("DynamicResources", {"filterTimeout": value}, "P")
        (dra,) = [p for p in _profile(args=(args,)).pre_filter if isinstance(p, DynamicResources)]
        return dra.allocator.options.timeout

    assert timeout("2m30s") == 150.0
    assert timeout("0s") is None


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("10s", 10.0), ("1m30s", 90.0), ("500ms", 0.5), ("1.5h", 5400.0), ("0", 0.0)],
)
def test_durations_read_as_go_writes_them(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "10", "s", "1x", "-1s", "10s "])
def test_durations_that_do_not_parse(text: str) -> None:
    assert parse_duration(text) is None


FILTER = "profiles[0].plugins.filter.enabled"


def test_profile_problems_name_the_file_and_config_path() -> None:
    head = "sched.yaml: KubeSchedulerConfiguration: "
    assert _errors(
        {
            "filter": PluginSet(
                (
                    ref(
                        "NodeResourcesBalancedAllocation",
                        0,
                        "profiles[0].plugins.filter.enabled[0]",
                    ),
                    ref("NodeName", 0, "profiles[0].plugins.filter.enabled[1]"),
                    ref("NodeName", 0, "profiles[0].plugins.filter.enabled[2]"),
                )
            ),
            "postBind": PluginSet((ref("NodeName", 0, "profiles[0].plugins.postBind.enabled[0]"),)),
        },
        (
            PluginArgs(
                "NodeResourcesFit",
                {"scoringStrategy": {"type": "Foo"}},
                "profiles[0].pluginConfig[0].args",
            ),
            PluginArgs(
                "DynamicResources",
                {"filterTimeout": "ten", "bindingTimeout": "500ms"},
                "profiles[0].pluginConfig[1].args",
            ),
            PluginArgs(
                "FGD",
                {"typicalPods": [{"gpuMilli": 1500, "numGpu": 1}]},
                "profiles[0].pluginConfig[2].args",
            ),
        ),
    ) == [
        head + "profiles[0].pluginConfig[0].args.scoringStrategy.type: must be one of "
        'LeastAllocated, MostAllocated, RequestedToCapacityRatio, got "Foo"',
        head + "profiles[0].pluginConfig[1].args.bindingTimeout: must be at least 1s",
        head + "profiles[0].pluginConfig[1].args.filterTimeout: must be a duration such as "
        "\"10s\", got 'ten'",
        head + "profiles[0].pluginConfig[2].args.typicalPods[0]: gpu_milli must be in "
        "0..1000, got 1500",
        head + 'profiles[0].plugins.filter.enabled[0]: plugin "NodeResourcesBalancedAllocation" '
        "is enabled at filter but defines no filter()",
        head + 'profiles[0].plugins.filter.enabled[2]: plugin "NodeName" is already enabled '
        "at filter",
        head + 'profiles[0].plugins.postBind.enabled[0]: plugin "NodeName" is enabled at '
        "postBind, which dralloc's framework does not run",
    ]


def test_fgd_without_typical_pods_says_what_it_needs() -> None:
    (line,) = _errors(
        {"multiPoint": PluginSet((ref("FGD", 0, "profiles[0].plugins.multiPoint.enabled[0]"),))}
    )
    assert line.startswith(
        "sched.yaml: KubeSchedulerConfiguration: profiles[0].pluginConfig: FGD needs args "
        "with typicalPods"
    )


def test_a_profile_without_a_binder_is_refused() -> None:
    assert _errors({"multiPoint": PluginSet(disabled=(ref("DefaultBinder"),))}) == [
        "sched.yaml: KubeSchedulerConfiguration: profiles[0].plugins: at least one bind "
        'plugin is needed for profile "default-scheduler"'
    ]


def test_every_profile_is_built_and_the_global_percentage_applies() -> None:
    config = SchedulerConfiguration(
        (
            ProfileConfig("a", None, path="profiles[0]"),
            ProfileConfig("b", 70, path="profiles[1]"),
        ),
        percentage_of_nodes_to_score=30,
    )
    profiles = build_profiles(config, _registry())  # type: ignore[arg-type]
    assert {n: p.percentage_of_nodes_to_score for n, p in profiles.items()} == {"a": 30, "b": 70}
    assert profiles["a"].filter[0] is not profiles["b"].filter[0]


def test_plugin_names_match_the_registry() -> None:
    assert plugin_names() == set(_registry())
