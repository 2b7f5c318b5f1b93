"""Priority preemption (DefaultPreemption, spec/scheduler.md section 5) through the default
profile over a cache: who may be a victim, how few are evicted, which node is chosen, what
PodScheduled says when nothing helps, DRA claims freed by evicted pods (KEP-5690), the args, the
framework's what-if hooks, and a property test over random clusters."""

from __future__ import annotations

import random
import textwrap
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dralloc.allocator import Allocator, allocated_state
from dralloc.api.core import Node, Pod, PodSpec
from dralloc.api.io import load_text
from dralloc.api.meta import ObjectMeta
from dralloc.api.resource import DeviceClass, ResourceClaim, ResourceSlice
from dralloc.errors import InputError, InternalError
from dralloc.features import Features
from dralloc.scheduler.cache import SchedulerCache, pod_claim_keys
from dralloc.scheduler.config import PluginArgs, ProfileConfig
from dralloc.scheduler.framework import (
    SUCCESS,
    Code,
    CycleState,
    FitError,
    Framework,
    NodeInfo,
    PodInfo,
    Profile,
    Status,
)
from dralloc.scheduler.plugins.defaultpreemption import (
    NAME,
    Candidate,
    DefaultPreemption,
    DefaultPreemptionArgs,
    Eviction,
    num_candidates,
    pick_one_node_for_preemption,
)
from dralloc.scheduler.plugins.noderesources import NodeResourcesFit
from dralloc.scheduler.profiles import build_profile, evict_from_cache, scheduler_registry
from dralloc.scheduler.scheduler import ScheduleOutcome, Scheduler

FEATURES = Features()

GPU_CLASS = """\
apiVersion: resource.k8s.io/v1
kind: DeviceClass
metadata: {name: gpu}
spec:
  selectors:
  - cel: {expression: device.driver == "gpu.example.com"}
"""


def node_yaml(name: str, cpu: int = 4, gpus: int = 0) -> str:
    """A node with `cpu` cpus and, when `gpus`, a ResourceSlice publishing that many GPUs."""
    text = (
        f"apiVersion: v1\nkind: Node\nmetadata: {{name: {name}}}\n"
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


def claim_yaml(name: str, gpus: int = 1) -> str:
    return textwrap.dedent(
        f"""\
        apiVersion: resource.k8s.io/v1
        kind: ResourceClaim
        metadata: {{name: {name}, namespace: default}}
        spec:
          devices:
            requests:
            - name: gpu
              exactly: {{deviceClassName: gpu, count: {gpus}}}
        """
    )


def pod_yaml(
    name: str,
    *,
    cpu: int = 1,
    priority: int = 0,
    node: str = "",
    claims: Sequence[str] = (),
    extra: str = "",
) -> str:
    """A pod in `default` with `spec.priority` set (as admission leaves it); with `node` it is
    running there, and `claims` are ResourceClaims it names."""
    lines = [f"priority: {priority}"]
    if node:
        lines.append(f"nodeName: {node}")
    if claims:
        entries = ", ".join(f"{{name: c{i}, resourceClaimName: {c}}}" for i, c in enumerate(claims))
        lines.append(f"resourceClaims: [{entries}]")
    if extra:
        lines.append(textwrap.dedent(extra).strip())
    spec = textwrap.indent("\n".join(lines), "  ")
    return (
        f"apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: default}}\nspec:\n"
        f"{spec}\n  containers:\n  - name: c\n    resources: {{requests: {{cpu: '{cpu}'}}}}\n"
    )


@dataclass
class World:
    """A cache over some YAML, the default profile (DefaultPreemption included) over it, and
    every eviction the profile carried out. Pods with `spec.nodeName` run there."""

    cache: SchedulerCache
    framework: Framework
    pods: dict[str, Pod]
    evictions: list[Eviction] = field(default_factory=list)

    def attempt(self, name: str) -> ScheduleOutcome:
        """One scheduling cycle."""
        return Scheduler(self.cache, self.framework).schedule_one(self.pods[name])

    def place(self, name: str) -> ScheduleOutcome:
        """Cycles until the pod stops preempting, as `dralloc schedule` does."""
        outcome = self.attempt(name)
        while outcome.nominated_node is not None:
            outcome = self.attempt(name)
        return outcome

    def on(self, node: str) -> list[str]:
        return sorted(info.pod.metadata.name for info in self.cache.nodes[node].pods)

    def victims(self) -> list[list[str]]:
        return [[v.pod.metadata.name for v in e.victims] for e in self.evictions]


def world(
    *documents: str,
    args: dict[str, object] | None = None,
    seed: int | None = None,
    frees_devices: bool = False,
) -> World:
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
    evictions: list[Eviction] = []
    evict_now = evict_from_cache(cache)

    def evict(eviction: Eviction) -> None:
        evict_now(eviction)
        evictions.append(eviction)

    rng = random.Random(seed) if seed is not None else None
    registry = scheduler_registry(
        cache,
        Allocator(FEATURES),
        FEATURES,
        rng,
        lambda info, node: None,
        evict,
        preemption_frees_devices=frees_devices,
    )
    config = (
        (PluginArgs(NAME, args, "profiles[0].pluginConfig[0].args"),) if args is not None else ()
    )
    profile = build_profile(ProfileConfig(plugin_config=config), registry)
    pods = {o.metadata.name: o for o in found if isinstance(o, Pod)}
    for pod in pods.values():
        if pod.spec.node_name:
            cache.assume_pod(PodInfo.of(pod), pod.spec.node_name)
            for _, key in pod_claim_keys(pod):
                if key is not None:
                    cache.reserve_claim(key, pod)
    return World(cache, Framework(profile, rng=rng), pods, evictions)


# ---------------------------------------------------------------------- who is a victim


def test_only_lower_priority_pods_are_victims_and_equal_priority_ones_stay() -> None:
    w = world(
        node_yaml("node-a"),
        pod_yaml("peer", cpu=2, priority=5, node="node-a"),
        pod_yaml("low", cpu=2, priority=1, node="node-a"),
        pod_yaml("wants-2", cpu=2, priority=5),
        pod_yaml("wants-4", cpu=4, priority=5),
    )
    outcome = w.place("wants-2")
    assert outcome.node == "node-a"
    assert w.victims() == [["low"]]
    assert w.on("node-a") == ["peer", "wants-2"]
    # Only "peer"'s equal priority stands between "wants-4" and the node now.
    blocked = w.place("wants-4")
    assert blocked.node is None
    assert blocked.message == (
        "0/1 nodes are available: 1 Insufficient cpu. "
        "no new claims to deallocate, "
        "preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
    )
    assert w.victims() == [["low"]]


def test_reprieve_puts_back_the_most_important_pods_first_and_evicts_only_what_is_needed() -> None:
    # 4 cpus: a (prio 1, 1 cpu), b (prio 3, 1 cpu), c (prio 2, 2 cpus); the pod needs 2.
    # Reprieve order b, c, a: b fits back, c does not (victim), a fits back.
    w = world(
        node_yaml("node-a"),
        pod_yaml("a", cpu=1, priority=1, node="node-a"),
        pod_yaml("b", cpu=1, priority=3, node="node-a"),
        pod_yaml("c", cpu=2, priority=2, node="node-a"),
        pod_yaml("p", cpu=2, priority=10),
    )
    first = w.attempt("p")
    assert (first.node, first.nominated_node) == (None, "node-a")
    assert first.message == "0/1 nodes are available: 1 Insufficient cpu."
    assert w.victims() == [["c"]]
    assert w.place("p").node == "node-a"
    assert w.on("node-a") == ["a", "b", "p"]


def test_victims_are_listed_most_important_first() -> None:
    w = world(
        node_yaml("node-a"),
        pod_yaml("v1", cpu=2, priority=1, node="node-a"),
        pod_yaml("v3", cpu=1, priority=3, node="node-a"),
        pod_yaml("v2", cpu=1, priority=2, node="node-a"),
        pod_yaml("p", cpu=4, priority=10),
    )
    assert w.place("p").node == "node-a"
    assert w.victims() == [["v3", "v2", "v1"]]


def test_a_node_where_the_pod_fails_even_without_its_victims_is_no_candidate() -> None:
    w = world(
        node_yaml("node-a"),
        pod_yaml("peer", cpu=3, priority=5, node="node-a"),
        pod_yaml("low", cpu=1, priority=1, node="node-a"),
        pod_yaml("p", cpu=2, priority=5),
    )
    outcome = w.place("p")
    assert outcome.node is None
    assert outcome.message == (
        "0/1 nodes are available: 1 Insufficient cpu. "
        "no new claims to deallocate, preemption: 0/1 nodes are available: 1 Insufficient cpu."
    )
    assert w.evictions == []
    assert w.on("node-a") == ["low", "peer"]


def test_unresolvable_nodes_are_not_helped_and_nothing_is_evicted() -> None:
    w = world(
        node_yaml("node-a", cpu=2),
        node_yaml("node-b", cpu=2),
        pod_yaml("low", cpu=2, priority=0, node="node-a"),
        pod_yaml("huge", cpu=3, priority=9),
    )
    outcome = w.place("huge")
    assert outcome.message == (
        "0/2 nodes are available: 2 Insufficient cpu. no new claims to deallocate, "
        "preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."
    )
    assert outcome.unschedulable_plugins == {"NodeResourcesFit"}
    assert w.evictions == []


def test_a_failed_preemption_leaves_the_cache_as_it_was() -> None:
    w = world(
        node_yaml("node-a"),
        pod_yaml("peer", cpu=3, priority=5, node="node-a"),
        pod_yaml("low", cpu=1, priority=1, node="node-a"),
        pod_yaml("p", cpu=2, priority=5),
    )
    node = w.cache.nodes["node-a"]
    before = (node.generation, [p.key for p in node.pods], node.requested.milli_cpu)
    w.place("p")
    assert (node.generation, [p.key for p in node.pods], node.requested.milli_cpu) == before


# ------------------------------------------------------------------------- node choice


def test_the_node_whose_highest_victim_has_the_lowest_priority_wins() -> None:
    w = world(
        node_yaml("node-a", cpu=2),
        node_yaml("node-b", cpu=2),
        pod_yaml("mid", cpu=2, priority=5, node="node-a"),
        pod_yaml("low", cpu=2, priority=3, node="node-b"),
        pod_yaml("p", cpu=2, priority=9),
    )
    assert w.place("p").node == "node-b"
    assert w.victims() == [["low"]]


def test_equal_top_victims_then_the_smallest_priority_sum_wins() -> None:
    w = world(
        node_yaml("node-a", cpu=2),
        node_yaml("node-b", cpu=2),
        pod_yaml("a-top", cpu=1, priority=5, node="node-a"),
        pod_yaml("a-next", cpu=1, priority=4, node="node-a"),
        pod_yaml("b-top", cpu=1, priority=5, node="node-b"),
        pod_yaml("b-next", cpu=1, priority=1, node="node-b"),
        pod_yaml("p", cpu=2, priority=9),
    )
    assert w.place("p").node == "node-b"
    assert w.victims() == [["b-top", "b-next"]]


def test_a_full_tie_goes_to_the_first_candidate_of_the_dry_run() -> None:
    documents = [
        node_yaml("node-a", cpu=1),
        node_yaml("node-b", cpu=1),
        pod_yaml("on-a", priority=1, node="node-a"),
        pod_yaml("on-b", priority=1, node="node-b"),
        pod_yaml("p", priority=9),
    ]
    assert world(*documents).place("p").node == "node-a"
    # With a seed the dry run starts at a drawn offset, so either node may come first.
    chosen = {world(*documents, seed=s).place("p").node for s in range(12)}
    assert chosen == {"node-a", "node-b"}


def _candidate(node: str, *priorities: int, violations: int = 0) -> Candidate:
    victims = tuple(
        PodInfo.of(Pod(metadata=ObjectMeta(name=f"{node}-{i}"), spec=PodSpec(priority=p)))
        for i, p in enumerate(priorities)
    )
    return Candidate(node, victims, violations)


@pytest.mark.parametrize(
    ("candidates", "chosen"),
    [
        pytest.param([_candidate("a", 1), _candidate("b", 1, violations=1)], "a", id="pdb"),
        pytest.param(
            [_candidate("a", 1, violations=2), _candidate("b", 1, violations=1)],
            "b",
            id="fewer-pdb",
        ),
        pytest.param([_candidate("a", 7), _candidate("b", 3)], "b", id="highest-priority"),
        pytest.param([_candidate("a", 5, 4), _candidate("b", 5, 1)], "b", id="priority-sum"),
        # Equal sums after the 2^31 shift: one victim of 5 against 5 and the lowest priority.
        pytest.param([_candidate("a", 5, -(2**31)), _candidate("b", 5)], "b", id="fewer-pods"),
        pytest.param([_candidate("a", 2), _candidate("b", 2)], "a", id="first"),
    ],
)
def test_pick_one_node_applies_upstreams_tie_breaks_in_order(
    candidates: list[Candidate], chosen: str
) -> None:
    assert pick_one_node_for_preemption(candidates).node_name == chosen
    if chosen == "b":  # decided by a score, not by order
        assert pick_one_node_for_preemption(candidates[::-1]).node_name == chosen


def test_among_equal_victims_the_node_whose_top_victims_started_last_wins() -> None:
    w = world(
        node_yaml("node-a", cpu=1),
        node_yaml("node-b", cpu=1),
        pod_yaml("old", priority=1, node="node-a")
        + "status: {startTime: '2024-01-01T00:00:00Z'}\n",
        pod_yaml("new", priority=1, node="node-b")
        + "status: {startTime: '2024-06-01T00:00:00Z'}\n",
        pod_yaml("p", priority=9),
    )
    assert w.place("p").node == "node-b"


# --------------------------------------------------------------------------- eligibility


def test_a_pod_with_preemption_policy_never_does_not_preempt() -> None:
    w = world(
        node_yaml("node-a", cpu=1),
        pod_yaml("low", priority=1, node="node-a"),
        pod_yaml("polite", priority=9, extra="preemptionPolicy: Never"),
    )
    outcome = w.place("polite")
    assert outcome.message == (
        "0/1 nodes are available: 1 Insufficient cpu. no new claims to deallocate, "
        "preemption: not eligible due to preemptionPolicy=Never."
    )
    assert w.evictions == []


def test_a_pod_waits_while_its_nominated_node_still_holds_a_preempted_pod() -> None:
    terminating = (
        pod_yaml("leaving", priority=1, node="node-a")
        + "status:\n  conditions:\n  - {type: DisruptionTarget, status: 'True', "
        "reason: PreemptionByScheduler}\n"
    ).replace(
        "namespace: default}", "namespace: default, deletionTimestamp: '2024-01-01T00:00:00Z'}"
    )
    w = world(
        node_yaml("node-a", cpu=1),
        terminating,
        pod_yaml("p", priority=9) + "status: {nominatedNodeName: node-a}\n",
    )
    outcome = w.attempt("p")
    assert outcome.message.endswith(
        "preemption: not eligible due to a terminating pod on the nominated node."
    )
    assert w.evictions == []


# -------------------------------------------------------------------------- DRA claims


def test_kubernetes_1_36_never_preempts_for_devices() -> None:
    # DynamicResources' "cannot allocate all claims" is UnschedulableAndUnresolvable in 1.36:
    # no node is a candidate, and nothing is evicted (KEP-5690's freeing is an option).
    w = world(
        GPU_CLASS,
        node_yaml("node-a", cpu=8, gpus=1),
        claim_yaml("low-gpu"),
        claim_yaml("high-gpu"),
        pod_yaml("low", priority=1, claims=["low-gpu"]),
        pod_yaml("high", priority=9, claims=["high-gpu"]),
    )
    assert w.place("low").node == "node-a"
    outcome = w.attempt("high")
    assert (outcome.node, outcome.nominated_node) == (None, None)
    assert outcome.message == (
        "0/1 nodes are available: 1 cannot allocate all claims. still not schedulable, "
        "preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
    )
    assert w.evictions == []


def test_a_high_priority_gpu_pod_preempts_a_low_priority_gpu_pod_and_gets_its_gpu() -> None:
    w = world(
        GPU_CLASS,
        node_yaml("node-a", cpu=8, gpus=1),
        claim_yaml("low-gpu"),
        claim_yaml("high-gpu"),
        pod_yaml("low", priority=1, claims=["low-gpu"]),
        pod_yaml("high", priority=9, claims=["high-gpu"]),
        frees_devices=True,
    )
    assert w.place("low").node == "node-a"
    first = w.attempt("high")
    assert (first.node, first.nominated_node) == (None, "node-a")
    assert first.message == "0/1 nodes are available: 1 cannot allocate all claims."
    assert w.victims() == [["low"]]
    freed = w.cache.claims["default/low-gpu"].status
    assert (freed.allocation, freed.reserved_for) == (None, [])
    assert w.place("high").node == "node-a"
    taken = w.cache.claims["default/high-gpu"].status.allocation
    assert taken is not None
    assert [r.device for r in taken.devices.results] == ["gpu-0"]


def test_only_as_many_gpu_pods_as_needed_are_preempted() -> None:
    w = world(
        GPU_CLASS,
        node_yaml("node-a", cpu=8, gpus=2),
        claim_yaml("a-gpu"),
        claim_yaml("b-gpu"),
        claim_yaml("big-gpu"),
        claim_yaml("one-gpu"),
        pod_yaml("a", priority=2, claims=["a-gpu"]),
        pod_yaml("b", priority=1, claims=["b-gpu"]),
        pod_yaml("one", priority=9, claims=["one-gpu"]),
        frees_devices=True,
    )
    assert [w.place(n).node for n in ("a", "b")] == ["node-a", "node-a"]
    assert w.place("one").node == "node-a"
    assert w.victims() == [["b"]]  # "a" (priority 2) is reprieved
    assert w.on("node-a") == ["a", "one"]


def test_a_claim_shared_with_a_pod_that_stays_frees_nothing() -> None:
    w = world(
        GPU_CLASS,
        node_yaml("node-a", cpu=8, gpus=1),
        claim_yaml("shared"),
        claim_yaml("high-gpu"),
        pod_yaml("low", priority=1, claims=["shared"]),
        pod_yaml("peer", priority=9, claims=["shared"]),
        pod_yaml("high", priority=9, claims=["high-gpu"]),
        frees_devices=True,
    )
    assert [w.place(n).node for n in ("low", "peer")] == ["node-a", "node-a"]
    outcome = w.place("high")
    assert outcome.node is None
    assert outcome.message == (
        "0/1 nodes are available: 1 cannot allocate all claims. "
        "still not schedulable, preemption: 0/1 nodes are available: 1 cannot allocate all claims."
    )
    assert w.evictions == []


def test_claims_of_pods_on_other_nodes_are_never_freed() -> None:
    w = world(
        GPU_CLASS,
        node_yaml("node-a", cpu=8, gpus=1),
        node_yaml("node-b", cpu=8),
        claim_yaml("low-gpu"),
        claim_yaml("high-gpu"),
        pod_yaml("low", priority=1, claims=["low-gpu"]),
        pod_yaml("filler", priority=1),
        pod_yaml("high", priority=9, claims=["high-gpu"]),
        frees_devices=True,
    )
    assert w.place("low").node == "node-a"
    assert w.place("high").node == "node-a"
    assert w.victims() == [["low"]]
    assert w.cache.nodes["node-b"].pods == []


# ------------------------------------------------------------------------- the dry run


def test_the_dry_run_stops_at_the_candidate_budget() -> None:
    documents = [
        node_yaml("node-a", cpu=1),
        node_yaml("node-b", cpu=1),
        pod_yaml("mid", priority=5, node="node-a"),
        pod_yaml("low", priority=1, node="node-b"),
        pod_yaml("p", priority=9),
    ]
    assert world(*documents).place("p").node == "node-b"  # both tried: the better one
    hasty = world(
        *documents, args={"minCandidateNodesPercentage": 0, "minCandidateNodesAbsolute": 1}
    )
    assert hasty.place("p").node == "node-a"  # the first candidate was enough
    assert hasty.victims() == [["mid"]]


@pytest.mark.parametrize(
    ("potential", "percentage", "absolute", "wanted"),
    [(10, 10, 100, 10), (5000, 10, 100, 500), (500, 10, 100, 100), (500, 0, 3, 3), (7, 50, 0, 3)],
)
def test_the_candidate_budget_is_a_share_of_the_potential_nodes_with_a_floor(
    potential: int, percentage: int, absolute: int, wanted: int
) -> None:
    assert num_candidates(DefaultPreemptionArgs(percentage, absolute), potential) == wanted


# -------------------------------------------------------------------------------- args


def test_args_default_to_upstreams_and_are_read_from_plugin_config() -> None:
    assert DefaultPreemptionArgs.from_dict(None) == DefaultPreemptionArgs(10, 100)
    w = world(node_yaml("node-a"), args={"minCandidateNodesAbsolute": 3})
    (plugin,) = [p for p in w.framework.profile.post_filter if p.name == NAME]
    assert isinstance(plugin, DefaultPreemption)
    assert plugin.args == DefaultPreemptionArgs(10, 3)


@pytest.mark.parametrize(
    ("args", "problems"),
    [
        (
            {"minCandidateNodesPercentage": 101, "minCandidateNodesAbsolute": -1},
            [
                "P.minCandidateNodesAbsolute: must be >= 0, got -1",
                "P.minCandidateNodesPercentage: must be in 0..100, got 101",
            ],
        ),
        (
            {"minCandidateNodesPercentage": 0, "minCandidateNodesAbsolute": 0},
            [
                "P.minCandidateNodesAbsolute: must not be 0 while minCandidateNodesPercentage is 0",
                "P.minCandidateNodesPercentage: must not be 0 while minCandidateNodesAbsolute is 0",
            ],
        ),
        (
            {"minCandidateNodesPercentage": "10%", "minCandidates": 1},
            [
                'P.minCandidateNodesPercentage: must be an integer, got "10%"',
                "P.minCandidates: unknown field",
            ],
        ),
    ],
)
def test_bad_args_name_every_problem_with_its_path(
    args: dict[str, object], problems: list[str]
) -> None:
    with pytest.raises(InputError) as caught:
        DefaultPreemptionArgs.from_dict(args, "P")
    assert str(caught.value).splitlines() == problems


def test_bad_args_in_a_profile_carry_the_config_path() -> None:
    with pytest.raises(InputError) as caught:
        world(node_yaml("node-a"), args={"minCandidateNodesPercentage": 150})
    assert str(caught.value) == (
        "profiles[0].pluginConfig[0].args.minCandidateNodesPercentage: must be in 0..100, got 150"
    )


def test_the_default_profile_runs_default_preemption_after_dynamic_resources() -> None:
    w = world(node_yaml("node-a"))
    assert [p.name for p in w.framework.profile.post_filter] == [
        "DynamicResources",
        "DefaultPreemption",
    ]
    registry = scheduler_registry(SchedulerCache(FEATURES), Allocator(FEATURES), FEATURES)
    assert isinstance(registry[NAME](None), DefaultPreemption)


def test_the_in_tree_registry_needs_nodes_and_an_evictor() -> None:
    from dralloc.scheduler.plugins import in_tree_registry

    with pytest.raises(InternalError, match="pass nodes= and evictor= to in_tree_registry"):
        in_tree_registry()[NAME](None)
    with pytest.raises(InputError, match=r"^DefaultPreemptionArgs\.x: unknown field$"):
        in_tree_registry()[NAME]({"x": 1})


def test_without_a_framework_the_plugin_says_it_was_wired_wrong() -> None:
    plugin = DefaultPreemption(DefaultPreemptionArgs(), nodes=list, evictor=lambda e: None)
    with pytest.raises(InternalError, match="no handle"):
        plugin.post_filter(CycleState(), PodInfo.of(Pod()), {})


# ------------------------------------------------------------ the framework's what-if


@dataclass
class _Counted:
    """StateData: cloned, not shared."""

    seen: list[str] = field(default_factory=list)

    def clone(self) -> _Counted:
        return _Counted(list(self.seen))


class _Recorder:
    """A PreFilter plugin with extensions that records what it was told."""

    name = "Recorder"

    def __init__(self, skip: bool = False) -> None:
        self.skip = skip

    def pre_filter(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> tuple[None, Status]:
        state.write("Recorder", _Counted())
        return None, Status.skip() if self.skip else SUCCESS

    def add_pod(self, state: CycleState, pod: PodInfo, added: PodInfo, node: NodeInfo) -> Status:
        state.read("Recorder", _Counted).seen.append(f"+{added.pod.metadata.name}")
        return SUCCESS

    def remove_pod(
        self, state: CycleState, pod: PodInfo, removed: PodInfo, node: NodeInfo
    ) -> Status:
        state.read("Recorder", _Counted).seen.append(f"-{removed.pod.metadata.name}")
        return SUCCESS


def test_cloned_state_copies_state_data_and_shares_the_rest() -> None:
    state = CycleState()
    state.write("counted", _Counted(["x"]))
    state.write("frozen", (1, 2))
    state.skip_filter_plugins = frozenset({"A"})
    clone = state.clone()
    clone.read("counted", _Counted).seen.append("y")
    assert state.read("counted", _Counted).seen == ["x"]
    assert clone.read("frozen", tuple) is state.read("frozen", tuple)
    assert clone.skip_filter_plugins == {"A"}


def test_the_framework_tells_prefilter_extensions_unless_their_prefilter_skipped() -> None:
    node = NodeInfo.of(Node(metadata=ObjectMeta(name="n")))
    victim = PodInfo.of(Pod(metadata=ObjectMeta(name="v")))
    for skip, expected in ((False, ["-v", "+v"]), (True, [])):
        recorder = _Recorder(skip)
        framework = Framework(Profile(pre_filter=[recorder]))
        state = CycleState()
        framework.schedule(state, PodInfo.of(Pod()), [node])
        assert framework.run_pre_filter_extension_remove_pod(state, victim, victim, node) is SUCCESS
        assert framework.run_pre_filter_extension_add_pod(state, victim, victim, node) is SUCCESS
        assert state.read("Recorder", _Counted).seen == expected


def test_filters_with_state_return_errors_instead_of_raising() -> None:
    class Broken:
        name = "Broken"

        def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
            return Status.error("boom")

    framework = Framework(Profile(filter=[Broken(), NodeResourcesFit()]))
    node = NodeInfo.of(Node(metadata=ObjectMeta(name="n")))
    status = framework.run_filters_with_state(CycleState(), PodInfo.of(Pod()), node)
    assert (status.code, status.message) == (Code.ERROR, 'running "Broken" filter plugin: boom')


def test_post_filter_runs_after_a_pre_filter_rejection() -> None:
    class Rejects:
        name = "Rejects"

        def pre_filter(
            self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
        ) -> tuple[None, Status]:
            return None, Status.unschedulable("not today")

    seen: list[dict[str, Status]] = []

    class Records:
        name = "Records"

        def post_filter(
            self, state: CycleState, pod: PodInfo, statuses: Mapping[str, Status]
        ) -> tuple[str | None, Status]:
            seen.append(dict(statuses))
            return None, Status.unschedulable("recorded")

    framework = Framework(Profile(pre_filter=[Rejects()], post_filter=[Records()]))
    node = NodeInfo.of(Node(metadata=ObjectMeta(name="n")))
    with pytest.raises(FitError) as caught:
        framework.schedule(CycleState(), PodInfo.of(Pod()), [node])
    assert len(seen) == 1
    assert caught.value.message == "0/1 nodes are available: not today. recorded"


# -------------------------------------------------------------------- property test

_POD = st.tuples(
    st.integers(0, 3),  # priority
    st.integers(1, 3),  # cpus
    st.integers(0, 2),  # gpus (a claim of its own when > 0)
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    nodes=st.lists(st.tuples(st.integers(1, 4), st.integers(0, 2)), min_size=1, max_size=3),
    pods=st.lists(_POD, min_size=1, max_size=9),
)
def test_after_any_preemption_no_higher_or_equal_pod_is_evicted_and_nothing_is_overcommitted(
    nodes: list[tuple[int, int]], pods: list[tuple[int, int, int]]
) -> None:
    documents = [GPU_CLASS]
    documents += [node_yaml(f"node-{i}", cpu, gpus) for i, (cpu, gpus) in enumerate(nodes)]
    for i, (priority, cpu, gpus) in enumerate(pods):
        claims = [f"p{i}-gpu"] if gpus else []
        if gpus:
            documents.append(claim_yaml(f"p{i}-gpu", gpus))
        documents.append(pod_yaml(f"p{i}", cpu=cpu, priority=priority, claims=claims))
    w = world(*documents)
    evicted: set[str] = set()
    # Arrival order, not priority order: later arrivals preempt earlier ones.
    for i in range(len(pods)):
        before = len(w.evictions)
        outcome = w.place(f"p{i}")
        for eviction in w.evictions[before:]:
            assert eviction.preemptor.key == f"default/p{i}"
            for victim in eviction.victims:
                assert victim.priority < eviction.preemptor.priority
                evicted.add(victim.pod.metadata.name)
            assert outcome.node == eviction.node_name  # the retry lands where room was made
        _check_cluster(w, evicted)


def _check_cluster(w: World, evicted: set[str]) -> None:
    placed = {info.pod.metadata.name for n in w.cache.nodes.values() for info in n.pods}
    assert not placed & evicted
    for node in w.cache.nodes.values():
        used = sum(info.requests.milli_cpu for info in node.pods)
        assert used == node.requested.milli_cpu <= node.allocatable.milli_cpu
    holders: Counter[tuple[str, str, str]] = Counter()
    for key, claim in w.cache.claims.items():
        allocation = claim.status.allocation
        name = key.split("/", 1)[1].removesuffix("-gpu")
        assert (allocation is not None) == (name in placed), key  # evicted pods' claims freed
        if allocation is not None:
            holders.update((r.driver, r.pool, r.device) for r in allocation.devices.results)
            assert [r.name for r in claim.status.reserved_for] == [name]
    assert all(count == 1 for count in holders.values()), holders
    assert w.cache.allocated.devices == allocated_state(w.cache.claims.values(), FEATURES).devices
