"""Gang preemption (workload-aware preemption, gate WorkloadAwarePreemption; scheduler/gangs/
preemption.py and plugins/defaultpreemption/groups.py): a gang that does not fit evicts
lower-priority pods so that it fits whole, choosing victims as upstream's PodGroupEvaluator
does, keeping PodDisruptionBudgets, evicting gangs whole, and touching nothing when the gang
would not fit even then. Ends with a property test over random clusters."""

from __future__ import annotations

import textwrap
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dralloc.allocator import Allocator
from dralloc.api.core import Node, Pod
from dralloc.api.io import load_text
from dralloc.api.policy import PodDisruptionBudget
from dralloc.api.resource import DeviceClass, ResourceClaim, ResourceSlice
from dralloc.features import Features, parse_gates
from dralloc.scheduler.cache import SchedulerCache
from dralloc.scheduler.config import PluginRef, PluginSet, ProfileConfig
from dralloc.scheduler.framework import Code, Framework, PodInfo
from dralloc.scheduler.gangs import (
    Gang,
    GangIndex,
    GangKey,
    GangPlacement,
    GangPreemption,
    collect_gangs,
    place_gang_preempting,
    pop_gang,
    preemption_units,
    schedule_gang_entity,
)
from dralloc.scheduler.gangs.preemption import NOT_REGISTERED, TOPOLOGY_UNSUPPORTED
from dralloc.scheduler.plugins import GangScheduling
from dralloc.scheduler.plugins.defaultpreemption import NO_GROUP_VICTIMS, Eviction
from dralloc.scheduler.profiles import (
    build_profile,
    default_plugins,
    evict_from_cache,
    scheduler_registry,
)
from dralloc.scheduler.queue import SchedulingQueue

WAP = parse_gates("GenericWorkload=true,GangScheduling=true,WorkloadAwarePreemption=true")
NO_WAP = parse_gates("GenericWorkload=true,GangScheduling=true")

GPU_CLASS = """\
apiVersion: resource.k8s.io/v1
kind: DeviceClass
metadata: {name: gpu}
spec:
  selectors:
  - cel: {expression: device.driver == "gpu.example.com"}
"""


def node_yaml(name: str, cpu: int = 4, gpus: int = 0) -> str:
    text = (
        f"apiVersion: v1\nkind: Node\nmetadata: {{name: {name}, "
        f"labels: {{kubernetes.io/hostname: {name}}}}}\n"
        f'status: {{allocatable: {{cpu: "{cpu}", memory: 8Gi, pods: "110"}}}}\n'
    )
    if gpus:
        devices = ", ".join(f"{{name: gpu-{i}}}" for i in range(gpus))
        text += (
            "---\napiVersion: resource.k8s.io/v1\nkind: ResourceSlice\n"
            f"metadata: {{name: {name}-gpus}}\nspec:\n  driver: gpu.example.com\n"
            f"  nodeName: {name}\n  pool: {{name: {name}, generation: 1, resourceSliceCount: 1}}\n"
            f"  devices: [{devices}]\n"
        )
    return text


def claim_yaml(name: str, *, node: str = "", device: str = "", pod: str = "") -> str:
    """A one-GPU claim; with `node`, `device` and `pod`, allocated and reserved for that pod."""
    text = textwrap.dedent(
        f"""\
        apiVersion: resource.k8s.io/v1
        kind: ResourceClaim
        metadata: {{name: {name}, namespace: default}}
        spec:
          devices:
            requests:
            - name: gpu
              exactly: {{deviceClassName: gpu, count: 1}}
        """
    )
    if node:
        text += textwrap.dedent(
            f"""\
            status:
              allocation:
                devices:
                  results:
                  - {{request: gpu, driver: gpu.example.com, pool: {node}, device: {device}}}
                nodeSelector:
                  nodeSelectorTerms:
                  - matchFields:
                    - {{key: metadata.name, operator: In, values: [{node}]}}
              reservedFor:
              - {{resource: pods, name: {pod}, uid: {pod}}}
            """
        )
    return text


def pod_yaml(
    name: str,
    *,
    cpu: int = 1,
    priority: int = 0,
    node: str = "",
    group: str = "",
    volcano: str = "",
    labels: str = "",
    claims: Sequence[str] = (),
    extra: str = "",
) -> str:
    """A pod with `spec.priority` set; with `node` it runs there; `group` joins a Kubernetes
    PodGroup, `volcano` a Volcano one."""
    lines = [f"priority: {priority}"]
    if node:
        lines.append(f"nodeName: {node}")
    if group:
        lines.append(f"schedulingGroup: {{podGroupName: {group}}}")
    if claims:
        entries = ", ".join(f"{{name: c{i}, resourceClaimName: {c}}}" for i, c in enumerate(claims))
        lines.append(f"resourceClaims: [{entries}]")
    if extra:
        lines.append(extra)
    spec = textwrap.indent("\n".join(lines), "  ")
    meta = f"{{name: {name}, namespace: default"
    if volcano:
        meta += f", annotations: {{scheduling.k8s.io/group-name: {volcano}}}"
    if labels:
        meta += f", labels: {{{labels}}}"
    meta += "}"
    uses = ", claims: [" + ", ".join(f"{{name: c{i}}}" for i in range(len(claims))) + "]"
    resources = f"{{requests: {{cpu: '{cpu}'}}{uses if claims else ''}}}"
    return (
        f"apiVersion: v1\nkind: Pod\nmetadata: {meta}\nspec:\n{spec}\n"
        f"  containers:\n  - name: c\n    resources: {resources}\n"
    )


def pod_group_yaml(
    name: str, min_count: int, *, priority: int | None = None, mode: str = "", topology: str = ""
) -> str:
    spec = [f"schedulingPolicy: {{gang: {{minCount: {min_count}}}}}"]
    if priority is not None:
        spec.append(f"priority: {priority}")
    if mode:
        spec.append(f"disruptionMode: {mode}")
    if topology:
        spec.append(f"schedulingConstraints: {{topology: [{{key: {topology}}}]}}")
    body = textwrap.indent("\n".join(spec), "  ")
    return (
        "apiVersion: scheduling.k8s.io/v1alpha2\nkind: PodGroup\n"
        f"metadata: {{name: {name}, namespace: default}}\nspec:\n{body}\n"
    )


def volcano_yaml(name: str, min_member: int) -> str:
    return (
        "apiVersion: scheduling.volcano.sh/v1beta1\nkind: PodGroup\n"
        f"metadata: {{name: {name}, namespace: default}}\n"
        f"spec: {{minMember: {min_member}, queue: default}}\n"
    )


def budget_yaml(name: str, selector: str, allowed: int) -> str:
    return (
        "apiVersion: policy/v1\nkind: PodDisruptionBudget\n"
        f"metadata: {{name: {name}, namespace: default}}\n"
        f"spec: {{minAvailable: 1, selector: {{matchLabels: {{{selector}}}}}}}\n"
        f"status: {{disruptionsAllowed: {allowed}, currentHealthy: 1, desiredHealthy: 1, "
        "expectedPods: 1}\n"
    )


@dataclass
class World:
    cache: SchedulerCache
    framework: Framework
    gangs: GangIndex
    pods: dict[str, Pod]
    features: Features
    frees_devices: bool
    evictions: list[Eviction] = field(default_factory=list)

    def pending(self, gang: str) -> tuple[Gang, list[Pod]]:
        found = next(g for k, g in self.gangs.gangs.items() if k.name == gang)
        names = [key.split("/")[1] for key in self.gangs.members(found.key)]
        return found, [self.pods[n] for n in names if not self.pods[n].spec.node_name]

    def place(self, gang: str) -> tuple[GangPlacement, GangPreemption | None]:
        found, pods = self.pending(gang)
        running = len(self.gangs.members(found.key)) - len(pods)
        return place_gang_preempting(
            self.cache,
            self.framework,
            found,
            pods,
            gangs=self.gangs,
            features=self.features,
            already_placed=running,
            frees_devices=self.frees_devices,
        )

    def victims(self) -> list[str]:
        return sorted(v.pod.metadata.name for e in self.evictions for v in e.victims)

    def on(self, node: str) -> list[str]:
        return sorted(info.pod.metadata.name for info in self.cache.nodes[node].pods)

    def state(self) -> tuple[object, ...]:
        """What a failed preemption must leave as it was."""
        pods = sorted((key, node) for key, (_info, node) in self.cache.pods.items())
        claims = sorted(
            (key, msgspec.json.encode(claim.status)) for key, claim in self.cache.claims.items()
        )
        return tuple(pods), tuple(claims)


def world(
    *documents: str,
    features: Features = WAP,
    frees_devices: bool = False,
    preemption: bool = True,
) -> World:
    objects, problems = load_text("---\n".join(documents), "<test>")
    assert problems == []
    found = [o.obj for o in objects]
    collected = collect_gangs(objects, features)
    assert collected.problems == []
    cache = SchedulerCache(
        features,
        nodes=[o for o in found if isinstance(o, Node)],
        slices=[o for o in found if isinstance(o, ResourceSlice)],
        classes=[o for o in found if isinstance(o, DeviceClass)],
        claims=[o for o in found if isinstance(o, ResourceClaim)],
        disruption_budgets=[o for o in found if isinstance(o, PodDisruptionBudget)],
    )
    evictions: list[Eviction] = []
    evict_now = evict_from_cache(cache)

    def evict(eviction: Eviction) -> None:
        evict_now(eviction)
        evictions.append(eviction)

    registry = scheduler_registry(
        cache,
        Allocator(features),
        features,
        None,
        lambda info, node: None,
        evict,
        preemption_frees_devices=frees_devices,
        gangs=collected.index,
    )
    config = ProfileConfig()
    if not preemption:
        disabled = PluginSet(disabled=(PluginRef("DefaultPreemption"),))
        config = ProfileConfig(plugins={"postFilter": disabled})
    profile = build_profile(config, registry, defaults=default_plugins(features))
    if preemption:
        # The registry's DefaultPreemption reads no budgets: give it the cache's.
        plugin = profile.post_filter[-1]
        plugin.budgets = lambda: list(cache.disruption_budgets.values())  # type: ignore[attr-defined]
    pods = {o.metadata.name: o for o in found if isinstance(o, Pod)}
    for pod in pods.values():
        if pod.spec.node_name:
            cache.assume_pod(PodInfo.of(pod), pod.spec.node_name)
    return World(
        cache, Framework(profile), collected.index, pods, features, frees_devices, evictions
    )


def train(n: int, *, cpu: int = 4, priority: int = 0) -> list[str]:
    """Pending pods train-0..n-1 of PodGroup `train`."""
    return [pod_yaml(f"train-{i}", cpu=cpu, priority=priority, group="train") for i in range(n)]


# ------------------------------------------------------------------------ the basic case


def test_a_gang_evicts_lower_priority_pods_and_is_then_placed_whole() -> None:
    w = world(
        node_yaml("node-a"),
        node_yaml("node-b"),
        pod_yaml("low-a", cpu=4, priority=1, node="node-a"),
        pod_yaml("low-b", cpu=4, priority=1, node="node-b"),
        pod_group_yaml("train", 2, priority=100),
        *train(2),
    )
    placement, preemption = w.place("train")
    assert preemption is not None and preemption.is_preempted
    assert w.victims() == ["low-a", "low-b"]
    assert placement.is_admitted and placement.bound
    assert sorted(placement.placed.values()) == ["node-a", "node-b"]
    assert [e.node_name for e in w.evictions] == ["node-a", "node-b"]
    assert w.evictions[0].message == (
        "default-scheduler: preempting to accommodate a higher priority podgroup"
    )


def test_without_the_gate_a_gang_does_not_preempt_as_in_default_kubernetes_1_36() -> None:
    w = world(
        node_yaml("node-a"),
        pod_yaml("low", cpu=4, priority=1, node="node-a"),
        pod_group_yaml("train", 1),
        *train(1, priority=100),
        features=NO_WAP,
    )
    before = w.state()
    placement, preemption = w.place("train")
    assert preemption is None and not placement.is_admitted
    assert w.evictions == [] and w.state() == before


def test_a_pod_group_preempts_with_its_own_priority_not_its_pods() -> None:
    # Upstream's PodGroupPriority: the group's spec.priority, unset read as 0.
    w = world(
        node_yaml("node-a"),
        pod_yaml("low", cpu=4, priority=1, node="node-a"),
        pod_group_yaml("train", 1),
        *train(1, priority=1000),
    )
    placement, preemption = w.place("train")
    assert preemption is not None
    assert preemption.status.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
    assert preemption.status.message == NO_GROUP_VICTIMS
    assert placement.message.endswith(f"; preemption: {NO_GROUP_VICTIMS}")
    assert w.evictions == []


# --------------------------------------------------------------- which victims, how few


def test_equal_or_higher_priority_pods_are_never_victims() -> None:
    w = world(
        node_yaml("node-a"),
        node_yaml("node-b"),
        pod_yaml("equal", cpu=4, priority=50, node="node-a"),
        pod_yaml("low", cpu=4, priority=1, node="node-b"),
        pod_group_yaml("train", 2, priority=50),
        *train(2),
    )
    before = w.state()
    placement, preemption = w.place("train")
    assert not placement.is_admitted
    assert preemption is not None and not preemption.is_preempted
    assert w.evictions == [] and w.state() == before


def test_the_lowest_priority_pods_go_first_and_the_more_important_are_reprieved() -> None:
    w = world(
        node_yaml("node-a"),
        node_yaml("node-b"),
        pod_yaml("low-1", cpu=2, priority=1, node="node-a"),
        pod_yaml("low-2", cpu=2, priority=1, node="node-a"),
        pod_yaml("mid", cpu=4, priority=5, node="node-b"),
        pod_group_yaml("train", 1, priority=10),
        *train(1),
    )
    placement, _ = w.place("train")
    assert placement.placed == {"default/train-0": "node-a"}
    assert w.victims() == ["low-1", "low-2"]
    assert w.on("node-b") == ["mid"]


def test_only_as_many_pods_as_the_gang_needs_are_evicted() -> None:
    older = 'status: {startTime: "2026-01-01T00:00:00Z"}\n'
    w = world(
        node_yaml("node-a", cpu=8),
        pod_yaml("old-1", cpu=2, priority=1, node="node-a") + older,
        pod_yaml("old-2", cpu=2, priority=1, node="node-a") + older,
        pod_yaml("young-1", cpu=2, priority=1, node="node-a"),
        pod_yaml("young-2", cpu=2, priority=1, node="node-a"),
        pod_group_yaml("train", 2, priority=10),
        *train(2, cpu=2),
    )
    placement, _ = w.place("train")
    assert placement.is_admitted
    # Most important first: the older pods are put back first, the younger leave.
    assert w.victims() == ["young-1", "young-2"]


def test_pods_a_disruption_budget_protects_are_reprieved_first() -> None:
    w = world(
        node_yaml("node-a"),
        node_yaml("node-b"),
        # "free" comes first: without the budget it would be reprieved first and stay.
        pod_yaml("free", cpu=4, priority=1, node="node-b"),
        pod_yaml("guarded", cpu=4, priority=1, node="node-a", labels="app: db"),
        budget_yaml("db", "app: db", 0),
        pod_group_yaml("train", 1, priority=10),
        *train(1),
    )
    placement, preemption = w.place("train")
    assert placement.placed == {"default/train-0": "node-b"}
    assert w.victims() == ["free"]
    assert preemption is not None and preemption.pdb_violations == 0


def test_a_budget_gives_way_when_nothing_else_makes_room_and_counts_a_violation() -> None:
    w = world(
        node_yaml("node-a"),
        pod_yaml("guarded", cpu=4, priority=1, node="node-a", labels="app: db"),
        budget_yaml("db", "app: db", 0),
        pod_group_yaml("train", 1, priority=10),
        *train(1),
    )
    placement, preemption = w.place("train")
    assert placement.is_admitted
    assert preemption is not None and preemption.pdb_violations == 1


# ------------------------------------------------------------- nothing unless all fits


def test_nothing_is_evicted_when_the_whole_gang_would_not_fit_even_then() -> None:
    w = world(
        node_yaml("node-a"),
        node_yaml("node-b"),
        pod_yaml("low-a", cpu=4, priority=1, node="node-a"),
        pod_yaml("low-b", cpu=4, priority=1, node="node-b"),
        pod_group_yaml("train", 3, priority=100),
        *train(3),
    )
    before = w.state()
    placement, preemption = w.place("train")
    assert not placement.is_admitted
    assert preemption is not None and preemption.status.code == Code.UNSCHEDULABLE
    assert preemption.status.message.startswith("pod group is unschedulable: 2 of minCount 3")
    assert w.evictions == [] and w.state() == before
    assert w.on("node-a") == ["low-a"] and w.on("node-b") == ["low-b"]


def test_a_gang_with_a_quorum_below_its_size_preempts_only_for_the_quorum() -> None:
    w = world(
        node_yaml("node-a"),
        node_yaml("node-b"),
        node_yaml("node-c"),
        pod_yaml("low-b", cpu=4, priority=1, node="node-b"),
        pod_yaml("high-c", cpu=4, priority=500, node="node-c"),
        pod_group_yaml("train", 2, priority=100),
        *train(3),
    )
    placement, _ = w.place("train")
    assert placement.is_admitted and len(placement.placed) == 2
    assert w.victims() == ["low-b"]


def test_preemption_policy_never_on_any_member_stops_the_gang_preempting() -> None:
    never = "preemptionPolicy: Never"
    w = world(
        node_yaml("node-a"),
        pod_yaml("low", cpu=4, priority=1, node="node-a"),
        pod_group_yaml("train", 1, priority=100),
        pod_yaml("train-0", cpu=4, group="train", extra=never),
    )
    _, preemption = w.place("train")
    assert preemption is not None
    assert preemption.status.message == "not eligible due to preemptionPolicy=Never."
    assert w.evictions == []


def test_a_group_with_topology_constraints_does_not_preempt_as_upstream() -> None:
    features = parse_gates(
        "GenericWorkload=true,GangScheduling=true,WorkloadAwarePreemption=true,"
        "TopologyAwareWorkloadScheduling=true"
    )
    w = world(
        node_yaml("node-a"),
        pod_yaml("low", cpu=4, priority=1, node="node-a"),
        pod_group_yaml("train", 1, priority=100, topology="topology.kubernetes.io/zone"),
        *train(1),
        features=features,
    )
    _, preemption = w.place("train")
    assert preemption is not None and preemption.status.message == TOPOLOGY_UNSUPPORTED


def test_a_profile_without_default_preemption_says_so() -> None:
    w = world(
        node_yaml("node-a"),
        pod_yaml("low", cpu=4, priority=1, node="node-a"),
        pod_group_yaml("train", 1, priority=100),
        *train(1),
        preemption=False,
    )
    _, preemption = w.place("train")
    assert preemption is not None and preemption.status.message == NOT_REGISTERED


# ------------------------------------------------------------------- gangs as victims


def _running_group(name: str, mode: str, *, nodes: Sequence[str]) -> list[str]:
    docs = [pod_group_yaml(name, len(nodes), priority=1, mode=mode)]
    docs += [
        pod_yaml(f"{name}-{i}", cpu=4, priority=1, node=node, group=name)
        for i, node in enumerate(nodes)
    ]
    return docs


def test_a_victim_in_a_pod_group_with_disruption_mode_pod_group_takes_its_group_along() -> None:
    w = world(
        node_yaml("node-a"),
        node_yaml("node-b"),
        *_running_group("old", "PodGroup", nodes=["node-a", "node-b"]),
        pod_group_yaml("train", 1, priority=100),
        *train(1),
    )
    placement, _ = w.place("train")
    assert placement.is_admitted
    assert w.victims() == ["old-0", "old-1"]


def test_a_victim_in_a_pod_group_with_disruption_mode_pod_leaves_alone() -> None:
    w = world(
        node_yaml("node-a"),
        node_yaml("node-b"),
        *_running_group("old", "Pod", nodes=["node-a", "node-b"]),
        pod_group_yaml("train", 1, priority=100),
        *train(1),
    )
    placement, _ = w.place("train")
    assert placement.is_admitted
    assert len(w.victims()) == 1


def _running_volcano(nodes: Sequence[str], min_member: int) -> list[str]:
    docs = [volcano_yaml("vc", min_member)]
    docs += [
        pod_yaml(f"vc-{i}", cpu=4, priority=1, node=node, volcano="vc")
        for i, node in enumerate(nodes)
    ]
    return docs


def test_a_volcano_gangs_surplus_member_may_leave_alone() -> None:
    w = world(
        node_yaml("node-a"),
        node_yaml("node-b"),
        node_yaml("node-c"),
        *_running_volcano(["node-a", "node-b", "node-c"], 2),
        pod_group_yaml("train", 1, priority=100),
        *train(1),
    )
    placement, _ = w.place("train")
    assert placement.is_admitted
    assert len(w.victims()) == 1


def test_a_volcano_gang_pushed_below_its_min_member_leaves_whole() -> None:
    w = world(
        node_yaml("node-a"),
        node_yaml("node-b"),
        node_yaml("node-c"),
        *_running_volcano(["node-a", "node-b", "node-c"], 2),
        pod_group_yaml("train", 2, priority=100),
        *train(2),
    )
    placement, _ = w.place("train")
    assert placement.is_admitted
    assert w.victims() == ["vc-0", "vc-1", "vc-2"]


def test_volcano_members_are_units_of_their_own_at_the_gangs_priority() -> None:
    w = world(
        node_yaml("node-a"),
        node_yaml("node-b"),
        node_yaml("node-c"),
        *_running_volcano(["node-a", "node-b", "node-c"], 2),
        pod_yaml("vc-3", cpu=1, priority=4, node="node-a", volcano="vc"),
    )
    units = [u for u in preemption_units(w.cache, w.gangs) if u.gang]
    assert sorted(u.name for u in units) == [f"default/vc-{i}" for i in range(4)]
    assert {(u.priority, u.quorum, u.gang, len(u.pods)) for u in units} == {(4, 2, "default/vc", 1)}


def test_a_volcano_gang_loses_only_the_member_the_gang_needs_when_its_quorum_stays() -> None:
    # minMember 2 of 3: the preemptor needs node-a, where vc-0 runs; vc-1 and vc-2 stay.
    w = world(
        node_yaml("node-a"),
        node_yaml("node-b"),
        node_yaml("node-c"),
        *_running_volcano(["node-a", "node-b", "node-c"], 2),
        pod_group_yaml("train", 1, priority=100),
        pod_yaml(
            "train-0",
            cpu=4,
            group="train",
            extra="nodeSelector: {kubernetes.io/hostname: node-a}",
        ),
    )
    placement, _ = w.place("train")
    assert placement.placed == {"default/train-0": "node-a"}
    assert w.victims() == ["vc-0"]


def test_a_gang_is_reprieved_before_a_plain_pod_of_its_priority() -> None:
    w = world(
        node_yaml("node-a"),
        node_yaml("node-b"),
        node_yaml("node-c"),
        pod_yaml("plain", cpu=4, priority=1, node="node-c"),
        *_running_volcano(["node-a", "node-b"], 2),
        pod_group_yaml("train", 1, priority=100),
        *train(1),
    )
    placement, _ = w.place("train")
    assert placement.placed == {"default/train-0": "node-c"}
    assert w.victims() == ["plain"]


# -------------------------------------------------------------------------- devices


def _gpu_world(frees_devices: bool) -> World:
    return world(
        GPU_CLASS,
        node_yaml("node-a", cpu=8, gpus=1),
        node_yaml("node-b", cpu=8, gpus=1),
        claim_yaml("low-a-gpu", node="node-a", device="gpu-0", pod="low-a"),
        claim_yaml("low-b-gpu", node="node-b", device="gpu-0", pod="low-b"),
        pod_yaml("low-a", priority=1, node="node-a", claims=["low-a-gpu"]),
        pod_yaml("low-b", priority=1, node="node-b", claims=["low-b-gpu"]),
        claim_yaml("train-0-gpu"),
        claim_yaml("train-1-gpu"),
        pod_group_yaml("train", 2, priority=100),
        pod_yaml("train-0", group="train", claims=["train-0-gpu"]),
        pod_yaml("train-1", group="train", claims=["train-1-gpu"]),
        frees_devices=frees_devices,
    )


def test_as_kubernetes_1_36_a_gang_cannot_preempt_for_devices() -> None:
    w = _gpu_world(frees_devices=False)
    before = w.state()
    placement, preemption = w.place("train")
    assert not placement.is_admitted
    assert preemption is not None and not preemption.is_preempted
    assert w.evictions == [] and w.state() == before


def test_with_preemption_freeing_devices_a_gpu_gang_takes_the_victims_gpus() -> None:
    w = _gpu_world(frees_devices=True)
    before = w.state()
    placement, _ = w.place("train")
    assert placement.is_admitted
    assert w.victims() == ["low-a", "low-b"]
    for name in ("low-a-gpu", "low-b-gpu"):
        assert w.cache.claims[f"default/{name}"].status.allocation is None
    taken = [w.cache.claims[f"default/train-{i}-gpu"].status.allocation for i in range(2)]
    assert all(a is not None for a in taken)
    assert w.state() != before


def test_a_failed_device_preemption_restores_every_claim_object() -> None:
    w = world(
        GPU_CLASS,
        node_yaml("node-a", cpu=8, gpus=1),
        claim_yaml("low-a-gpu", node="node-a", device="gpu-0", pod="low-a"),
        pod_yaml("low-a", priority=1, node="node-a", claims=["low-a-gpu"]),
        claim_yaml("train-0-gpu"),
        claim_yaml("train-1-gpu"),
        pod_group_yaml("train", 2, priority=100),
        pod_yaml("train-0", group="train", claims=["train-0-gpu"]),
        pod_yaml("train-1", group="train", claims=["train-1-gpu"]),
        frees_devices=True,
    )
    before = w.state()
    placement, _ = w.place("train")
    assert not placement.is_admitted
    assert w.evictions == [] and w.state() == before


# ----------------------------------------------------------------------- the property


@st.composite
def clusters(draw: st.DrawFn) -> tuple[list[str], int]:
    """Nodes with 4 cpus and 2 GPUs, running pods (some in Volcano or Kubernetes gangs, each
    with a GPU), and a pending gang `train` of GPU pods; returns the documents and the
    gang's priority."""
    nodes = draw(st.integers(1, 4))
    docs = [GPU_CLASS] + [node_yaml(f"n{i}", cpu=4, gpus=2) for i in range(nodes)]
    free = {(f"n{i}", f"gpu-{d}"): 4 for i in range(nodes) for d in range(2)}
    slots = sorted(free)
    count = draw(st.integers(0, len(slots)))
    used = draw(st.permutations(slots))[:count]
    groups = draw(st.lists(st.sampled_from(["", "vc", "kg"]), min_size=count, max_size=count))
    members = Counter(groups)
    if members["vc"]:
        docs.append(volcano_yaml("vc", draw(st.integers(1, members["vc"]))))
    if members["kg"]:
        mode = draw(st.sampled_from(["Pod", "PodGroup"]))
        docs.append(
            pod_group_yaml("kg", members["kg"], priority=draw(st.integers(0, 5)), mode=mode)
        )
    for i, ((node, device), group) in enumerate(zip(used, groups, strict=True)):
        priority = draw(st.integers(0, 5))
        name = f"run-{i}"
        docs.append(claim_yaml(f"{name}-gpu", node=node, device=device, pod=name))
        docs.append(
            pod_yaml(
                name,
                cpu=draw(st.integers(0, 2)),
                priority=priority,
                node=node,
                volcano="vc" if group == "vc" else "",
                group="kg" if group == "kg" else "",
                claims=[f"{name}-gpu"],
            )
        )
    size = draw(st.integers(1, 4))
    priority = draw(st.integers(0, 6))
    docs.append(pod_group_yaml("train", draw(st.integers(1, size)), priority=priority))
    for i in range(size):
        docs.append(claim_yaml(f"train-{i}-gpu"))
        docs.append(
            pod_yaml(
                f"train-{i}",
                cpu=draw(st.integers(1, 2)),
                priority=priority,
                group="train",
                claims=[f"train-{i}-gpu"],
            )
        )
    return docs, priority


def _gang_priority(w: World, pod_key: str) -> int:
    gang = w.gangs.gang_of(pod_key)
    info = next(e for e in w.evictions for v in e.victims if v.key == pod_key)
    victim = next(v for v in info.victims if v.key == pod_key)
    if gang is not None and gang.disruption_mode == "PodGroup":
        return gang.priority or 0
    return victim.priority


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters())
def test_after_gang_preemption_devices_are_single_owned_gangs_whole_and_victims_lower(
    drawn: tuple[list[str], int],
) -> None:
    docs, priority = drawn
    w = world(*docs, frees_devices=True)
    before = w.state()
    placement, preemption = w.place("train")
    # No device twice.
    held = [
        (r.driver, r.pool, r.device)
        for claim in w.cache.claims.values()
        if claim.status.allocation is not None
        for r in claim.status.allocation.devices.results
    ]
    assert len(held) == len(set(held))
    # Every gang either wholly placed (at least its quorum) or wholly absent. A Kubernetes
    # PodGroup with disruptionMode Pod (the default) is left out: upstream evicts its pods
    # one by one, below its minCount if need be.
    for key, gang in w.gangs.gangs.items():
        if gang.min_count is None or (key.name == "kg" and gang.disruption_mode != "PodGroup"):
            continue
        running = sum(1 for pod in w.gangs.members(key) if pod in w.cache.pods)
        assert running == 0 or running >= min(gang.min_count, len(w.gangs.members(key))), key
    # No victim of priority >= the preemptor's (a group victim compared with its group's).
    for victim in w.victims():
        assert _gang_priority(w, f"default/{victim}") < priority
    # Nothing evicted unless the gang then fits; a failed attempt changes nothing.
    if w.evictions:
        assert placement.is_admitted
    if not placement.is_admitted:
        assert w.evictions == [] and w.state() == before
    assert preemption is None or preemption.is_preempted == bool(w.evictions)


def test_gang_keys_used_in_the_tests_are_kubernetes_pod_groups() -> None:
    w = world(pod_group_yaml("train", 1, priority=1), *train(1))
    gang, pods = w.pending("train")
    assert gang.key == GangKey("default", "train") and [p.metadata.name for p in pods] == [
        "train-0"
    ]


class _Clock:
    def now(self) -> float:
        return 100.0


def test_the_queue_entity_preempts_and_binds_when_given_the_gangs() -> None:
    w = world(
        node_yaml("node-a"),
        node_yaml("node-b"),
        pod_yaml("low-a", cpu=4, priority=1, node="node-a"),
        pod_yaml("low-b", cpu=4, priority=1, node="node-b"),
        pod_group_yaml("train", 2, priority=100),
        *train(2),
    )
    queue = SchedulingQueue.for_profile(
        _Clock(), w.framework.profile, pre_enqueue=[GangScheduling(w.gangs)]
    )
    gang, pods = w.pending("train")
    for p in pods:
        queue.add(p)
    first = queue.pop()
    assert first is not None
    entity = pop_gang(queue, first, pods)
    placement = schedule_gang_entity(queue, w.cache, w.framework, gang, entity, gangs=w.gangs)
    assert placement.bound and len(placement.placed) == 2
    assert w.victims() == ["low-a", "low-b"]
    assert all(queue.where(i.uid) is None for i in entity)  # done: they left the queue


def test_the_queue_entity_does_not_preempt_without_the_gangs() -> None:
    w = world(
        node_yaml("node-a"),
        pod_yaml("low-a", cpu=4, priority=1, node="node-a"),
        pod_group_yaml("train", 1, priority=100),
        *train(1),
    )
    queue = SchedulingQueue.for_profile(
        _Clock(), w.framework.profile, pre_enqueue=[GangScheduling(w.gangs)]
    )
    gang, pods = w.pending("train")
    queue.add(pods[0])
    first = queue.pop()
    assert first is not None
    placement = schedule_gang_entity(queue, w.cache, w.framework, gang, [first])
    assert not placement.is_admitted and w.evictions == []


def test_a_volcano_gang_preempts_with_its_pods_lowest_priority() -> None:
    w = world(
        node_yaml("node-a"),
        node_yaml("node-b"),
        pod_yaml("low", cpu=4, priority=1, node="node-a"),
        pod_yaml("mid", cpu=4, priority=5, node="node-b"),
        volcano_yaml("vj", 2),
        pod_yaml("vj-0", cpu=4, priority=9, volcano="vj"),
        pod_yaml("vj-1", cpu=4, priority=5, volcano="vj"),
    )
    placement, preemption = w.place("vj")
    # Counted at 5 (its lowest member), the gang may not evict "mid" (5): nothing is evicted.
    assert not placement.is_admitted
    assert preemption is not None and not preemption.is_preempted
    assert w.evictions == []


def test_a_kai_gang_pushed_below_its_min_member_leaves_whole() -> None:
    kai = (
        "apiVersion: scheduling.run.ai/v2alpha2\nkind: PodGroup\n"
        "metadata: {name: kj, namespace: default}\nspec: {minMember: 2, queue: team-a}\n"
    )
    running = [
        pod_yaml(f"kj-{i}", cpu=4, priority=1, node=f"node-{i}").replace(
            "namespace: default}", "namespace: default, annotations: {pod-group-name: kj}}"
        )
        for i in range(2)
    ]
    w = world(
        node_yaml("node-0"),
        node_yaml("node-1"),
        kai,
        *running,
        pod_group_yaml("train", 1, priority=100),
        *train(1),
    )
    placement, _ = w.place("train")
    assert placement.is_admitted
    assert w.victims() == ["kj-0", "kj-1"]


def test_a_gang_frees_devices_exactly_when_the_profile_does() -> None:
    for frees in (False, True):
        w = _gpu_world(frees_devices=frees)
        gang, pods = w.pending("train")
        placement, _ = place_gang_preempting(w.cache, w.framework, gang, pods, gangs=w.gangs)
        assert placement.is_admitted is frees
