"""cluster-autoscaler mode as a library (`dralloc.autoscaling.clusterautoscaler`, spec §4, §6):
scale-ups planned with the real scheduler and DRA allocator on template copies, expanders,
limits, scale-down after the unneeded time, pods that keep their node, backoff after failed
launches and stock-outs, spot interruptions, the status summary, and seeded determinism.

Clusters are a few nodes: L4 nodes with 4 or 8 whole GPUs and a DGX H100 with static MIG
(all-1g.10gb). A test advances virtual time by hand and materializes the fleet's nodes into
the cluster as a replay would (`cluster_at`)."""

from __future__ import annotations

import msgspec
import pytest
from autoscalingkit import FAST, World, autoscaler, config_text, gpu_claim, gpu_pod, load, obj

from dralloc.api.core import Pod
from dralloc.autoscaling.clusterautoscaler import UnschedulablePod
from dralloc.autoscaling.decisions import (
    BlockingPodReason,
    FailedScaleUpReason,
    NoScaleUp,
    NoScaleUpReason,
    ScaleDown,
    ScaleUp,
    ScaleUpFailure,
    SpotInterruption,
    UnremovableReason,
)
from dralloc.autoscaling.planning import ClusterState
from dralloc.devices import load_catalog
from dralloc.devices.catalog import Catalog

GROUPS = """\
- {name: l4x8-od, shape: l4x8, max: 4}
- {name: l4x4-od, shape: l4x4, max: 3}
- {name: mig-od, shape: h100-mig, max: 2}
"""


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def test_a_pending_four_gpu_pod_scales_the_four_gpu_group_least_waste(catalog: Catalog) -> None:
    world = World(autoscaler(load(config_text(GROUPS), catalog), catalog))
    world.claims["default/c"] = gpu_claim("c", count=4)
    decisions = world.run(100.0, [(gpu_pod("p", "c"), 50.0)])
    ups = [d for d in decisions if isinstance(d, ScaleUp)]
    # l4x8 would waste half its GPUs and CPU; the MIG node publishes no whole GPU.
    assert [(u.group, len(u.nodes), u.pods) for u in ups] == [("l4x4-od", 1, ("default/p",))]
    assert ups[0].nodes == ("l4x4-od-0000",)
    assert str(ups[0]) == "scale up l4x4-od by 1 (on-demand) for 1 pod(s): default/p"
    # The caller's claim is untouched: the allocation lives in the planning snapshot only.
    assert world.claims["default/c"].status.allocation is None


def test_a_mig_pod_scales_the_mig_group(catalog: Catalog) -> None:
    world = World(autoscaler(load(config_text(GROUPS), catalog), catalog))
    world.claims["default/m"] = gpu_claim("m", count=2, device_class="mig.nvidia.com")
    decisions = world.run(100.0, [(gpu_pod("p", "m"), 50.0)])
    assert [(d.group, len(d.nodes)) for d in decisions if isinstance(d, ScaleUp)] == [("mig-od", 1)]


def test_upcoming_nodes_are_counted_so_no_second_scale_up(catalog: Catalog) -> None:
    world = World(autoscaler(load(config_text(GROUPS), catalog), catalog))
    world.claims["default/c"] = gpu_claim("c", count=4)
    pending = [(gpu_pod("p", "c"), 50.0)]
    assert any(isinstance(d, ScaleUp) for d in world.run(100.0, pending))
    # 110 s later the node is launched but not published: it is upcoming, the pod fits it.
    result = world.ca.run_once(210.0, world.cluster_at(210.0), [UnschedulablePod(*pending[0])])
    assert result.decisions == [] and result.pending_pods == ()


def test_bin_packing_respects_the_group_max(catalog: Catalog) -> None:
    groups = "- {name: l4x4-od, shape: l4x4, max: 2}\n"
    world = World(autoscaler(load(config_text(groups), catalog), catalog))
    pods = []
    for index in range(3):
        world.claims[f"default/c{index}"] = gpu_claim(f"c{index}", count=4)
        pods.append((gpu_pod(f"p{index}", f"c{index}"), 50.0))
    decisions = world.run(100.0, pods)
    ups = [d for d in decisions if isinstance(d, ScaleUp)]
    assert [(u.group, len(u.nodes)) for u in ups] == [("l4x4-od", 2)]
    left = [d for d in decisions if isinstance(d, NoScaleUp)]
    assert [(d.pod, dict(d.reasons)) for d in left] == [
        ("default/p2", {"l4x4-od": NoScaleUpReason.MAX_SIZE_REACHED})
    ]
    # Next loop the group is at max (two upcoming nodes): nothing more is requested.
    again = world.run(110.0, pods)
    assert not any(isinstance(d, ScaleUp) for d in again)
    assert world.ca.fleet.count("l4x4-od", 110.0) == 2


def test_max_nodes_total_stops_scale_up(catalog: Catalog) -> None:
    groups = "- {name: l4x4-od, shape: l4x4, max: 3}\n"
    world = World(autoscaler(load(config_text(groups, "{maxNodesTotal: 1}"), catalog), catalog))
    for index in range(2):
        world.claims[f"default/c{index}"] = gpu_claim(f"c{index}", count=4)
    pods = [(gpu_pod(f"p{i}", f"c{i}"), 50.0) for i in range(2)]
    ups = [d for d in world.run(100.0, pods) if isinstance(d, ScaleUp)]
    assert sum(len(u.nodes) for u in ups) == 1
    blocked = [d for d in world.run(110.0, pods) if isinstance(d, NoScaleUp)]
    assert {d.pod for d in blocked} == {"default/p1"}
    assert all(d.reasons == {"*": NoScaleUpReason.MAX_NODES_TOTAL} for d in blocked)


def test_very_new_pods_wait_one_loop(catalog: Catalog) -> None:
    world = World(autoscaler(load(config_text(GROUPS), catalog), catalog))
    world.claims["default/c"] = gpu_claim("c", count=4)
    result = world.ca.run_once(
        100.0, world.cluster_at(100.0), [UnschedulablePod(gpu_pod("p", "c"), 99.0)]
    )
    assert result.decisions == [] and result.skipped
    assert any(isinstance(d, ScaleUp) for d in world.run(110.0, [(gpu_pod("p", "c"), 99.0)]))


def test_an_empty_node_is_removed_after_the_unneeded_time_and_not_before(
    catalog: Catalog,
) -> None:
    world = World(autoscaler(load(config_text(GROUPS), catalog), catalog))
    node = world.ca.fleet.request("l4x4-od", 0.0)  # published at 180 s
    assert world.run(200.0) == []
    assert world.ca.scale_down_state.unneeded == {node.name: 200.0}
    assert world.run(799.0) == []
    downs = [d for d in world.run(800.0) if isinstance(d, ScaleDown)]
    assert [(d.node, d.empty, d.unneeded_since) for d in downs] == [(node.name, True, 200.0)]
    assert node.deleting_at == 800.0


def test_one_loop_above_the_threshold_resets_the_timer(catalog: Catalog) -> None:
    world = World(autoscaler(load(config_text(GROUPS), catalog), catalog))
    node = world.ca.fleet.request("l4x4-od", 0.0)
    world.claims["default/c"] = gpu_claim("c", count=3)
    world.run(200.0)
    world.bind(300.0, [gpu_pod("p", "c")])  # 3 of 4 GPUs: above the 0.5 threshold
    world.run(300.0)
    assert node.name not in world.ca.scale_down_state.unneeded
    world.running = []
    world.claims["default/c"] = gpu_claim("c", count=3)
    world.run(400.0)
    assert world.ca.scale_down_state.unneeded == {node.name: 400.0}


def test_a_node_whose_pods_cannot_move_stays(catalog: Catalog) -> None:
    world = World(autoscaler(load(config_text(GROUPS), catalog), catalog))
    world.ca.fleet.request("l4x4-od", 0.0)
    world.claims["default/c"] = gpu_claim("c", count=1)
    world.bind(200.0, [gpu_pod("p", "c")])  # 1 of 4 GPUs: underutilized
    seen = []
    for now in (200.0, 300.0, 900.0, 1500.0):
        result = world.ca.run_once(now, world.cluster_at(now), [])
        assert not result.of_type(ScaleDown)
        seen.append([(u.node, u.reason) for u in result.unremovable])
    # Found unremovable, then left alone for unremovableNodeRecheckTimeout (5 min).
    assert seen == [
        [("l4x4-od-0000", UnremovableReason.NO_PLACE_TO_MOVE_PODS)],
        [("l4x4-od-0000", UnremovableReason.RECENTLY_UNREMOVABLE)],
        [("l4x4-od-0000", UnremovableReason.NO_PLACE_TO_MOVE_PODS)],
        [("l4x4-od-0000", UnremovableReason.NO_PLACE_TO_MOVE_PODS)],
    ]
    assert world.ca.fleet.nodes()[0].lifecycle.deleting_at is None


def test_pods_move_to_another_node_and_unowned_pods_block(catalog: Catalog) -> None:
    world = World(autoscaler(load(config_text(GROUPS), catalog), catalog))
    world.ca.fleet.request("l4x4-od", 0.0)
    world.ca.fleet.request("l4x4-od", 0.0)
    world.claims["default/a"] = gpu_claim("a", count=1)
    world.claims["default/b"] = gpu_claim("b", count=1)
    world.bind(200.0, [gpu_pod("a", "a"), gpu_pod("b", "b", owned=False)])
    result = world.ca.run_once(200.0, world.cluster_at(200.0), [])
    reasons = {u.node: (u.reason, u.blocking_reason) for u in result.unremovable}
    nodes = {p.metadata.name: p.spec.node_name for p in world.running}
    assert reasons[nodes["b"]] == (
        UnremovableReason.BLOCKED_BY_POD,
        BlockingPodReason.NOT_REPLICATED,
    )
    assert set(result.unneeded) == {nodes["a"]}
    downs = world.ca.run_once(800.0, world.cluster_at(800.0), []).of_type(ScaleDown)
    assert [(d.node, d.empty, dict(d.destinations)) for d in downs] == [
        (nodes["a"], False, {"default/a": nodes["b"]})
    ]


def test_a_group_never_goes_below_its_min(catalog: Catalog) -> None:
    groups = "- {name: l4x4-od, shape: l4x4, min: 1, max: 3}\n"
    world = World(autoscaler(load(config_text(groups), catalog), catalog))
    world.ca.fleet.start()
    first = world.ca.run_once(1000.0, world.cluster_at(1000.0), [])
    later = world.ca.run_once(1700.0, world.cluster_at(1700.0), [])
    assert first.unneeded == {"l4x4-od-0000": 1000.0} == later.unneeded
    assert first.unneeded_timers == {} == later.unneeded_timers
    assert [(u.node, u.reason) for u in later.unremovable] == [
        ("l4x4-od-0000", UnremovableReason.NODE_GROUP_MIN_SIZE_REACHED)
    ]
    assert world.ca.fleet.nodes()[0].lifecycle.deleting_at is None


def test_a_node_held_at_its_group_min_is_unneeded_but_runs_no_timer(catalog: Catalog) -> None:
    groups = "- {name: l4x4-od, shape: l4x4, min: 1, max: 3}\n"
    world = World(autoscaler(load(config_text(groups), catalog), catalog))
    world.ca.fleet.start()
    world.ca.fleet.request("l4x4-od", 0.0)
    first = world.ca.run_once(1000.0, world.cluster_at(1000.0), [])
    # Two empty nodes above min 1: either may go when its timer ends.
    assert first.unneeded == {"l4x4-od-0000": 1000.0, "l4x4-od-0001": 1000.0}
    assert first.unneeded_timers == first.unneeded
    later = world.ca.run_once(1700.0, world.cluster_at(1700.0), [])
    assert [d.node for d in later.of_type(ScaleDown)] == ["l4x4-od-0000"]
    # The other is still unneeded (as upstream reports it) but only a bigger group frees it.
    assert later.unneeded == {"l4x4-od-0001": 1000.0}
    assert later.unneeded_timers == {}
    assert [(u.node, u.reason) for u in later.unremovable] == [
        ("l4x4-od-0001", UnremovableReason.NODE_GROUP_MIN_SIZE_REACHED)
    ]


def test_no_scale_down_within_the_delay_after_a_scale_up(catalog: Catalog) -> None:
    config = load(config_text(GROUPS, "{scaleDownDelayAfterAdd: 20m}"), catalog)
    world = World(autoscaler(config, catalog))
    world.claims["default/c"] = gpu_claim("c", count=4)
    ups = [d for d in world.run(100.0, [(gpu_pod("p", "c"), 50.0)]) if isinstance(d, ScaleUp)]
    node = ups[0].nodes[0]  # published at 280; the pod never binds in this test
    world.run(280.0)
    cooled = world.ca.run_once(880.0, world.cluster_at(880.0), [])
    assert cooled.scale_down_in_cooldown and cooled.unneeded == {node: 280.0}
    assert not cooled.decisions
    downs = world.ca.run_once(1300.0, world.cluster_at(1300.0), []).of_type(ScaleDown)
    assert [d.node for d in downs] == [node]


def test_backoff_after_a_launch_failure_tries_another_group(catalog: Catalog) -> None:
    failing = (
        "- name: l4x4-bad\n  shape: l4\n  gpus: 4\n  price: {onDemand: 4.0}\n"
        f"  provisioning: {FAST}\n  availability: {{launchFailure: 1.0}}\n"
    )
    groups = "- {name: bad, shape: l4x4-bad, max: 2}\n- {name: l4x8-od, shape: l4x8, max: 2}\n"
    world = World(autoscaler(load(config_text(groups, extra_shape=failing), catalog), catalog))
    world.claims["default/c"] = gpu_claim("c", count=4)
    pending = [(gpu_pod("p", "c"), 50.0)]
    first = world.run(100.0, pending)
    assert [d.group for d in first if isinstance(d, ScaleUp)] == ["bad"]
    # The launch fails 60 s later: the next loop gives the node up and backs the group off.
    failed = world.run(160.0, pending)
    failures = [d for d in failed if isinstance(d, ScaleUpFailure)]
    assert [(f.group, f.reason, f.nodes, f.backoff_until) for f in failures] == [
        ("bad", FailedScaleUpReason.CLOUD_PROVIDER_ERROR, ("bad-0000",), 460.0)
    ]
    assert [d.group for d in failed if isinstance(d, ScaleUp)] == ["l4x8-od"]
    assert world.ca.status(160.0)["nodeGroups"][0]["scaleUp"]["status"] == "Backoff"  # type: ignore[index]


def test_exponential_backoff_doubles_and_resets() -> None:
    from dralloc.autoscaling.backoff import NodeGroupBackoff

    backoff = NodeGroupBackoff(300.0, 1800.0, 10800.0)
    assert backoff.fail("g", 0.0) == 300.0
    assert backoff.is_backed_off("g", 299.0) and not backoff.is_backed_off("g", 300.0)
    assert backoff.fail("g", 400.0) == 1000.0  # 600 s
    assert backoff.fail("g", 500.0) == 800.0  # during backoff: the initial 300 s again
    assert backoff.fail("g", 900.0) == 1500.0  # 600 s: doubled from 300
    for at in (2000.0, 4000.0, 8000.0):
        backoff.fail("g", at)
    assert backoff.until("g") == 8000.0 + 1800.0  # capped at 30 min
    backoff.remove_stale(8000.0 + 10801.0)
    assert backoff.fail("g", 20000.0) == 20300.0


def test_a_stock_out_grants_what_the_capacity_allows(catalog: Catalog) -> None:
    scarce = (
        "- name: l4x4-scarce\n  shape: l4\n  gpus: 4\n  price: {onDemand: 4.0}\n"
        f"  provisioning: {FAST}\n  availability: {{capacity: 1}}\n"
    )
    groups = "- {name: scarce, shape: l4x4-scarce, max: 3}\n"
    world = World(autoscaler(load(config_text(groups, extra_shape=scarce), catalog), catalog))
    pods = []
    for index in range(2):
        world.claims[f"default/c{index}"] = gpu_claim(f"c{index}", count=4)
        pods.append((gpu_pod(f"p{index}", f"c{index}"), 50.0))
    decisions = world.run(100.0, pods)
    assert [len(d.nodes) for d in decisions if isinstance(d, ScaleUp)] == [1]
    failures = [d for d in decisions if isinstance(d, ScaleUpFailure)]
    assert [(f.reason, f.backoff_until) for f in failures] == [
        (FailedScaleUpReason.STOCKOUT, 400.0)
    ]


def test_spot_interruption_is_recorded_and_the_node_deleted_at_the_deadline(
    catalog: Catalog,
) -> None:
    spot = (
        "- name: l4x4-spot\n  shape: l4\n  gpus: 4\n  price: {spot: 1.5}\n"
        f"  provisioning: {FAST}\n  interruption: {{ratePerHour: 20, noticeSeconds: 120}}\n"
    )
    groups = "- {name: spot, shape: l4x4-spot, max: 2, capacityType: spot}\n"
    world = World(autoscaler(load(config_text(groups, extra_shape=spot), catalog), catalog))
    node = world.ca.fleet.request("spot", 0.0)
    assert node.interruption_notice_at is not None
    notice = node.interruption_notice_at
    seen = [d for d in world.run(notice + 5.0) if isinstance(d, SpotInterruption)]
    assert [(d.node, d.deadline) for d in seen] == [(node.name, notice + 120.0)]
    assert node.deleting_at == notice + 120.0 or node.gone_at == notice + 120.0
    assert seen[0].before_devices_published == (notice < node.devices_published_at)


@pytest.mark.parametrize("expander", ["random", "least-waste"])
def test_ties_between_equal_groups_are_seeded(catalog: Catalog, expander: str) -> None:
    groups = "- {name: a, shape: l4x4, max: 2}\n- {name: b, shape: l4x4, max: 2}\n"
    config = load(config_text(groups, f"{{expander: {expander}}}"), catalog)

    def chosen(seed: int) -> str:
        world = World(autoscaler(config, catalog, seed=seed))
        world.claims["default/c"] = gpu_claim("c", count=4)
        ups = [d for d in world.run(100.0, [(gpu_pod("p", "c"), 50.0)]) if isinstance(d, ScaleUp)]
        return ups[0].group

    runs = [chosen(seed) for seed in range(8)]
    assert runs == [chosen(seed) for seed in range(8)]
    assert set(runs) == {"a", "b"}


def test_priority_and_price_expanders(catalog: Catalog) -> None:
    world = World(
        autoscaler(
            load(
                config_text(
                    GROUPS,
                    '{expander: priority, expanderPriorities: {"10": ["^l4x8"], "1": [".*"]}}',
                ),
                catalog,
            ),
            catalog,
        )
    )
    world.claims["default/c"] = gpu_claim("c", count=4)
    ups = [d for d in world.run(100.0, [(gpu_pod("p", "c"), 50.0)]) if isinstance(d, ScaleUp)]
    assert [u.group for u in ups] == ["l4x8-od"]
    groups = (
        "- {name: l4x8-od, shape: l4x8, max: 2}\n"
        "- {name: l4x4-spot, shape: l4x4, max: 2, capacityType: spot}\n"
    )
    world = World(autoscaler(load(config_text(groups, "{expander: price}"), catalog), catalog))
    world.claims["default/c"] = gpu_claim("c", count=2)
    ups = [d for d in world.run(100.0, [(gpu_pod("p", "c"), 50.0)]) if isinstance(d, ScaleUp)]
    assert [(u.group, u.capacity_type.value, u.price_per_node_hour) for u in ups] == [
        ("l4x4-spot", "spot", 1.5)
    ]


def test_balance_similar_node_groups_splits_the_scale_up(catalog: Catalog) -> None:
    groups = "- {name: a, shape: l4x4, max: 4}\n- {name: b, shape: l4x4, max: 4}\n"
    config = load(config_text(groups, "{balanceSimilarNodeGroups: true}"), catalog)
    world = World(autoscaler(config, catalog))
    pods = []
    for index in range(4):
        world.claims[f"default/c{index}"] = gpu_claim(f"c{index}", count=4)
        pods.append((gpu_pod(f"p{index}", f"c{index}"), 50.0))
    ups = [d for d in world.run(100.0, pods) if isinstance(d, ScaleUp)]
    assert sorted((u.group, len(u.nodes)) for u in ups) == [("a", 2), ("b", 2)]


def test_status_summary_reads_like_the_status_configmap(catalog: Catalog) -> None:
    world = World(autoscaler(load(config_text(GROUPS), catalog), catalog))
    world.claims["default/c"] = gpu_claim("c", count=4)
    world.run(100.0, [(gpu_pod("p", "c"), 50.0)])
    status = world.ca.status(100.0)
    cluster = status["clusterWide"]
    assert isinstance(cluster, dict)
    assert cluster["scaleUp"]["status"] == "InProgress"
    groups = {g["name"]: g for g in status["nodeGroups"]}  # type: ignore[attr-defined]
    assert groups["l4x4-od"]["health"]["cloudProviderTarget"] == 1
    assert groups["l4x4-od"]["health"]["nodeCounts"]["unregistered"] == 1
    assert groups["l4x8-od"]["scaleUp"]["status"] == "NoActivity"


def test_a_ready_node_without_its_slices_is_upcoming_then_times_out(catalog: Catalog) -> None:
    late = (
        "- name: l4x4-late\n  shape: l4\n  gpus: 4\n  price: {onDemand: 4.0}\n"
        '  provisioning: {launch: "fixed:60", register: "fixed:30", ready: "fixed:30", '
        'devices: "fixed:1200"}\n'
    )
    groups = "- {name: late, shape: l4x4-late, max: 2}\n"
    world = World(autoscaler(load(config_text(groups, extra_shape=late), catalog), catalog))
    world.claims["default/c"] = gpu_claim("c", count=4)
    pending = [(gpu_pod("p", "c"), 50.0)]
    assert [len(d.nodes) for d in world.run(100.0, pending) if isinstance(d, ScaleUp)] == [1]
    node = world.ca.fleet.nodes()[0]
    # Ready at 220 s: the Node exists, its slices do not. It counts as upcoming (§3.2).
    template = world.ca.templates["l4x4-late"]
    state = world.cluster_at(300.0)
    bare = template.instantiate(node.name, node_name=node.name).node
    state = ClusterState(nodes=[bare], classes=state.classes, claims=state.claims, pods=state.pods)
    result = world.ca.run_once(300.0, state, [UnschedulablePod(*pending[0])])
    assert result.decisions == [] and result.pending_pods == ()
    # Registered at 190 s, devices never by 190 + maxNodeStartupTime (15 min): given up.
    failed = world.run(1090.0, pending)
    failures = [d for d in failed if isinstance(d, ScaleUpFailure)]
    assert [(f.reason, f.nodes) for f in failures] == [(FailedScaleUpReason.TIMEOUT, (node.name,))]
    assert "NotReadyInTime" in failures[0].message
    assert node.lifecycle.deleting_at == 1090.0


def test_pdbs_expendable_and_provisioning_request_pods(catalog: Catalog) -> None:
    from dralloc.api.policy import PodDisruptionBudget

    world = World(autoscaler(load(config_text(GROUPS), catalog), catalog))
    world.ca.fleet.request("l4x4-od", 0.0)
    world.ca.fleet.request("l4x4-od", 0.0)
    world.claims["default/a"] = gpu_claim("a", count=1)
    world.bind(200.0, [gpu_pod("a", "a")])
    budget = obj(
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "trainer", "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": "trainer"}}, "minAvailable": 1},
        }
    )
    assert isinstance(budget, PodDisruptionBudget)
    labelled = [
        msgspec.structs.replace(
            p, metadata=msgspec.structs.replace(p.metadata, labels={"app": "trainer"})
        )
        for p in world.running
    ]
    base = world.cluster_at(200.0)
    state = ClusterState(
        nodes=base.nodes,
        slices=base.slices,
        classes=base.classes,
        claims=base.claims,
        pods=labelled,
        disruption_budgets=[budget],
    )
    result = world.ca.run_once(200.0, state, [])
    blocked = [u for u in result.unremovable if u.reason is UnremovableReason.BLOCKED_BY_POD]
    assert [(u.blocking_pod, u.blocking_reason) for u in blocked] == [
        ("default/a", BlockingPodReason.NOT_ENOUGH_PDB)
    ]
    # Pods below the expendable cutoff, or consuming a ProvisioningRequest, trigger nothing.
    world.claims["default/c"] = gpu_claim("c", count=4)
    low = gpu_pod("low", "c")
    low = msgspec.structs.replace(low, spec=msgspec.structs.replace(low.spec, priority=-20))
    booked = gpu_pod("booked", "c")
    booked = msgspec.structs.replace(
        booked,
        metadata=msgspec.structs.replace(
            booked.metadata,
            annotations={"autoscaling.x-k8s.io/consume-provisioning-request": "req"},
        ),
    )
    later = world.ca.run_once(
        300.0,
        world.cluster_at(300.0),
        [UnschedulablePod(low, 50.0), UnschedulablePod(booked, 50.0)],
    )
    assert later.pending_pods == () and not later.of_type(ScaleUp)


def test_expanders_keep_their_best_and_random_settles_ties() -> None:
    import random

    from dralloc.autoscaling.config import NodeGroup as Group
    from dralloc.autoscaling.expanders import Option, build_chain, choose

    def option(name: str, nodes: int, pods: int, waste: float, gpus: float | None) -> Option:
        group = Group(name, "s", 0, 10)
        return Option(group, nodes, tuple(Pod() for _ in range(pods)), 1.0, waste, 0.0, gpus)

    small = option("small-gpu", 2, 2, 0.5, 0.0)
    big = option("big-gpu", 1, 2, 0.2, 0.5)
    cpu = option("cpu-only", 1, 1, 0.1, None)
    rng = random.Random(0)

    def pick(chain: str, priorities: dict[int, tuple[str, ...]] | None = None) -> str:
        found = choose([small, big, cpu], build_chain(chain.split(","), priorities or {}), rng)
        assert found is not None
        return found.group.name

    assert pick("least-waste") == "cpu-only"  # 0.1 + 0 accelerators counted as none
    assert pick("device-waste") == "small-gpu"
    assert pick("most-pods,least-nodes") == "big-gpu"
    assert pick("least-nodes,least-waste") == "cpu-only"
    assert pick("priority", {5: ("gpu$",), 1: ("only",)}) in {"small-gpu", "big-gpu"}
    assert pick("priority,least-waste", {5: ("gpu$",)}) == "small-gpu"  # 0.5 + 0 < 0.2 + 0.5
    assert pick("priority,least-nodes", {5: ("^nothing",)}) in {"big-gpu", "cpu-only"}


def test_a_mig_node_whose_instance_fits_elsewhere_is_drained(catalog: Catalog) -> None:
    world = World(autoscaler(load(config_text(GROUPS), catalog), catalog))
    world.ca.fleet.request("mig-od", 0.0)
    world.ca.fleet.request("mig-od", 0.0)
    world.claims["default/a"] = gpu_claim("a", device_class="mig.nvidia.com")
    world.claims["default/b"] = gpu_claim("b", device_class="mig.nvidia.com")
    world.bind(200.0, [gpu_pod("a", "a"), gpu_pod("b", "b")])
    nodes = {p.metadata.name: p.spec.node_name for p in world.running}
    first = world.ca.run_once(200.0, world.cluster_at(200.0), [])
    # Both hold one 1g.10gb instance of 56: each is underutilized, but only one can go
    # (its pod then takes the room the other would need).
    assert len(first.unneeded) == 1
    (leaving,) = first.unneeded
    staying = next(n for n in nodes.values() if n != leaving)
    assert sorted((u.node, u.reason) for u in first.unremovable) == sorted(
        [
            (staying, UnremovableReason.NO_PLACE_TO_MOVE_PODS),
            (leaving, UnremovableReason.NOT_UNNEEDED_LONG_ENOUGH),
        ]
    )
    downs = world.ca.run_once(800.0, world.cluster_at(800.0), []).of_type(ScaleDown)
    moved = next(p for p, n in nodes.items() if n == leaving)
    assert [(d.node, dict(d.destinations)) for d in downs] == [
        (leaving, {f"default/{moved}": staying})
    ]
    assert downs[0].utilization == pytest.approx(1 / 56)


def test_zero_or_max_groups_jump_to_max(catalog: Catalog) -> None:
    groups = "- {name: l4x4-od, shape: l4x4, max: 3, zeroOrMaxNodeScaling: true}\n"
    world = World(autoscaler(load(config_text(groups), catalog), catalog))
    world.claims["default/c"] = gpu_claim("c", count=4)
    ups = [d for d in world.run(100.0, [(gpu_pod("p", "c"), 50.0)]) if isinstance(d, ScaleUp)]
    assert [(u.group, len(u.nodes), u.estimated) for u in ups] == [("l4x4-od", 3, 1)]


def test_a_run_of_loops_replays_identically_with_its_seed(catalog: Catalog) -> None:
    random_delays = (
        "- name: l4x4-rand\n  shape: l4\n  gpus: 4\n  price: {onDemand: 4.0}\n"
        '  provisioning: {launch: "lognormal:90,0.5", devices: "uniform:30-300"}\n'
        "  availability: {launchFailure: 0.3}\n"
    )
    groups = "- {name: a, shape: l4x4-rand, max: 4}\n- {name: b, shape: l4x4-rand, max: 4}\n"
    config = load(config_text(groups, extra_shape=random_delays), catalog)

    def run(seed: int) -> list[str]:
        world = World(autoscaler(config, catalog, seed=seed))
        pods = []
        for index in range(3):
            world.claims[f"default/c{index}"] = gpu_claim(f"c{index}", count=4)
            pods.append((gpu_pod(f"p{index}", f"c{index}"), 0.0))
        out = []
        for now in range(10, 400, 30):
            out.extend(str(d) for d in world.run(float(now), pods))
        return out

    assert run(3) == run(3)
    assert any(run(seed) != run(3) for seed in (4, 5))


def test_cluster_core_limits_cap_the_scale_up(catalog: Catalog) -> None:
    groups = "- {name: l4x4-od, shape: l4x4, max: 5}\n"
    # An l4x4 node has 112 cores: 250 cores allow two of them.
    world = World(autoscaler(load(config_text(groups, '{coresTotal: "0:250"}'), catalog), catalog))
    for index in range(3):
        world.claims[f"default/c{index}"] = gpu_claim(f"c{index}", count=4)
    pods = [(gpu_pod(f"p{i}", f"c{i}"), 50.0) for i in range(3)]
    decisions = world.run(100.0, pods)
    assert [len(d.nodes) for d in decisions if isinstance(d, ScaleUp)] == [2]
    assert [dict(d.reasons) for d in decisions if isinstance(d, NoScaleUp)] == [
        {"l4x4-od": NoScaleUpReason.RESOURCE_LIMIT}
    ]
