"""Consolidation reopens whole GPUs and hosts of a fragmented cluster by moving preemptible
pods through the scheduler, cheapest unit first, and leaves alone what may not move."""

from __future__ import annotations

from pathlib import Path

from consolidation_kit import Running, check_invariants, load_plan, write_input

from dralloc.controllers.consolidation import (
    ConsolidationOptions,
    Goal,
    Reason,
    consolidate,
    gpu_units,
)

MIG_NODES = "2xa100-80gb:gpus=2,mig=static,layout=all-1g.10gb"


def mig(name: str, node: str, gpu: int, slot: int, **kw: object) -> Running:
    return Running(name, node, (f"gpu-{gpu}-mig-1g10gb-19-{slot}",), mig=True, **kw)  # type: ignore[arg-type]


def test_units_group_mig_instances_by_their_parent_gpu(tmp_path: Path) -> None:
    paths = write_input(tmp_path, [MIG_NODES], [])
    _, _, cluster = load_plan(paths)
    units = gpu_units(cluster.slices)
    assert [str(u) for u in units] == [
        "a100-80gb-00/gpu-0",
        "a100-80gb-00/gpu-1",
        "a100-80gb-01/gpu-0",
        "a100-80gb-01/gpu-1",
    ]
    assert len(units[0].devices) == 7


def test_a_fragmented_mig_cluster_gets_whole_gpus_back(tmp_path: Path) -> None:
    # One 1g.10gb instance in use on each of the four GPUs: no GPU is whole.
    pods = [
        mig("p0", "a100-80gb-00", 0, 0),
        mig("p1", "a100-80gb-00", 1, 0),
        mig("p2", "a100-80gb-01", 0, 0),
        mig("p3", "a100-80gb-01", 1, 0),
    ]
    plan, frameworks, cluster = load_plan(write_input(tmp_path, [MIG_NODES], pods))
    before = set(plan.cache.pods)
    result = consolidate(plan.cache, frameworks, cluster.slices)
    assert result.free_gpus_before == 0
    assert result.free_gpus_after == 3  # all four pods end on one GPU
    assert len(result.reopened) == 3
    assert len(result.moves) == 3
    check_invariants(plan, before, cluster.slices)
    (used,) = {(m.to_node, m.to_devices[0].device.split("-mig-")[0]) for m in result.moves}
    assert all(m.to_node == used[0] for m in result.moves)


def test_a_pod_that_may_not_move_pins_its_gpu(tmp_path: Path) -> None:
    pods = [
        mig("serving", "a100-80gb-00", 0, 0, priority_class="serving"),
        mig("bare", "a100-80gb-00", 1, 0, owned=False),
        mig("keep", "a100-80gb-01", 0, 0, annotations=(("karpenter.sh/do-not-disrupt", "true"),)),
        mig("p3", "a100-80gb-01", 1, 0),
    ]
    plan, frameworks, cluster = load_plan(write_input(tmp_path, [MIG_NODES], pods))
    before = set(plan.cache.pods)
    result = consolidate(plan.cache, frameworks, cluster.slices)
    assert [m.pod for m in result.moves] == ["default/p3"]
    assert result.reopened == ["a100-80gb-01/gpu-1"]
    skipped = {unit: reason for unit, (reason, _) in result.skipped.items()}
    assert skipped == {
        "a100-80gb-00/gpu-0": Reason.NOT_PREEMPTIBLE,
        "a100-80gb-00/gpu-1": Reason.NOT_PREEMPTIBLE,
        "a100-80gb-01/gpu-0": Reason.NOT_PREEMPTIBLE,
    }
    assert "priority 1000" in result.skipped["a100-80gb-00/gpu-0"][1]
    assert "no controller" in result.skipped["a100-80gb-00/gpu-1"][1]
    check_invariants(plan, before, cluster.slices)


def test_the_host_goal_empties_the_cheapest_host_onto_free_gpus_of_used_hosts(
    tmp_path: Path,
) -> None:
    pods = [
        Running("a0", "l4-00", ("gpu-0",)),
        Running("a1", "l4-00", ("gpu-1",)),
        Running("b0", "l4-01", ("gpu-0",)),
        Running("c0", "l4-02", ("gpu-0",)),
        Running("c1", "l4-02", ("gpu-1",)),
        Running("c2", "l4-02", ("gpu-2",)),
    ]
    plan, frameworks, cluster = load_plan(write_input(tmp_path, ["3xl4:gpus=4"], pods))
    before = set(plan.cache.pods)
    options = ConsolidationOptions(goal=Goal.hosts, count=1)
    result = consolidate(plan.cache, frameworks, cluster.slices, options)
    assert result.reopened == ["l4-01"]  # one pod to move: the cheapest host
    (move,) = result.moves
    assert (move.pod, move.from_node) == ("default/b0", "l4-01")
    assert move.to_node in ("l4-00", "l4-02")
    assert (result.free_hosts_before, result.free_hosts_after) == (0, 1)
    check_invariants(plan, before, cluster.slices)


def test_a_unit_whose_pods_fit_nowhere_else_is_left_as_it_was(tmp_path: Path) -> None:
    pods = [Running("a0", "l4-00", ("gpu-0", "gpu-1")), Running("b0", "l4-01", ("gpu-0",))]
    plan, frameworks, cluster = load_plan(write_input(tmp_path, ["2xl4:gpus=2"], pods))
    before = {k: plan.cache.claims[k] for k in plan.cache.claims}
    result = consolidate(
        plan.cache, frameworks, cluster.slices, ConsolidationOptions(goal=Goal.hosts)
    )
    # b0 fits on no other used host (l4-00 is full); a0 needs two GPUs on one node.
    assert result.moves == []
    assert {u: r for u, (r, _) in result.skipped.items()} == {
        "l4-00": Reason.NO_PLACE,
        "l4-01": Reason.NO_PLACE,
    }
    assert plan.cache.claims == before  # put back exactly


def test_a_disruption_budget_stops_a_move(tmp_path: Path) -> None:
    pods = [mig("p0", "a100-80gb-00", 0, 0), mig("p1", "a100-80gb-00", 1, 0)]
    paths = write_input(tmp_path, ["1xa100-80gb:gpus=2,mig=static,layout=all-1g.10gb"], pods)
    budget = tmp_path / "pdb.yaml"
    budget.write_text(
        "apiVersion: policy/v1\nkind: PodDisruptionBudget\n"
        "metadata: {name: train, namespace: default}\n"
        "spec: {minAvailable: 2, selector: {matchLabels: {app: train}}}\n",
        encoding="utf-8",
    )
    plan, frameworks, cluster = load_plan([*paths, str(budget)])
    from dralloc.scheduler.plugins.defaultpreemption import ControllerScales, with_status

    budgets = with_status(
        plan.cache.disruption_budgets.values(),
        lambda: [i.pod for i, _ in plan.cache.pods.values()],
        ControllerScales.of([]),
    )
    result = consolidate(plan.cache, frameworks, cluster.slices, budgets=budgets)
    assert result.moves == []
    reasons = {r for r, _ in result.skipped.values()}
    assert reasons == {Reason.DISRUPTION_BUDGET}


def test_count_and_max_moves_bound_the_plan(tmp_path: Path) -> None:
    pods = [
        mig("p0", "a100-80gb-00", 0, 0),
        mig("p1", "a100-80gb-00", 1, 0),
        mig("p2", "a100-80gb-01", 0, 0),
        mig("p3", "a100-80gb-01", 1, 0),
    ]
    paths = write_input(tmp_path, [MIG_NODES], pods)
    plan, frameworks, cluster = load_plan(paths)
    one = consolidate(plan.cache, frameworks, cluster.slices, ConsolidationOptions(count=1))
    assert (len(one.reopened), len(one.moves)) == (1, 1)
    plan, frameworks, cluster = load_plan(paths)
    capped = consolidate(plan.cache, frameworks, cluster.slices, ConsolidationOptions(max_moves=2))
    assert len(capped.moves) == 2
    assert Reason.MAX_MOVES in {r for r, _ in capped.skipped.values()}


def test_pods_the_caller_keeps_do_not_move(tmp_path: Path) -> None:
    pods = [mig("p0", "a100-80gb-00", 0, 0), mig("p1", "a100-80gb-00", 1, 0)]
    paths = write_input(tmp_path, ["1xa100-80gb:gpus=2,mig=static,layout=all-1g.10gb"], pods)
    plan, frameworks, cluster = load_plan(paths)
    keep = {"default/p0": "is in gang default/train", "default/p1": "is in gang default/train"}
    result = consolidate(plan.cache, frameworks, cluster.slices, keep=keep)
    assert result.moves == []
    assert result.skipped["a100-80gb-00/gpu-0"] == (
        Reason.KEPT,
        "pod default/p0 is in gang default/train",
    )
