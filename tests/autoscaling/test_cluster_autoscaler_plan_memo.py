"""cluster-autoscaler's planning speed-ups decide exactly as the plain path: a loop whose inputs
equal the last loop's reuses its snapshot and placements (`remember_planning`, `planmemo`),
scale-down reuses its last removal simulation while its inputs are equal (`remember_removals`,
switched with the plan here), and the what-if clusters remember each pod shape's Filter
verdicts per node generation (`remember_planning_verdicts`) and share one plugin-Protocol memo
(`plugin_traits`, switched with the verdicts here).

Each example is a short run of loops 30 s apart over L4 nodes (4 whole GPUs each) requested at
0 s (devices published at 180 s), with owned one-GPU pods bound at 200 s (so scale-down tries
to move them), and pending pods of 1, 2 or 4 GPUs from some loop on, some leaving the pending
list later; a scale-up's nodes stay upcoming for six loops. The run with every switch off and
the runs with either pair or both on must give equal loop results and the same fleet."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from autoscalingkit import World, autoscaler, config_text, gpu_claim, gpu_pod, load
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dralloc.autoscaling.decisions import LoopResult
from dralloc.devices import load_catalog
from dralloc.devices.catalog import Catalog
from dralloc.scheduler.framework import PluginTraits

GROUPS = "- {name: l4x4-od, shape: l4x4, max: 3}\n"
OPTIONS = "{scaleDownUnneededTime: 60, scaleDownDelayAfterAdd: 0}"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


@dataclass(frozen=True)
class Scenario:
    nodes: int  # requested at 0 s
    bound: int  # one-GPU pods bound at 200 s
    pending: tuple[tuple[int, int, int], ...]  # (GPUs, first loop pending, loops pending)
    loops: int


scenarios = st.builds(
    Scenario,
    nodes=st.integers(0, 2),
    bound=st.integers(0, 2),
    pending=st.lists(
        st.tuples(st.sampled_from((1, 2, 4)), st.integers(0, 3), st.integers(1, 5)), max_size=3
    ).map(tuple),
    loops=st.integers(3, 5),
).filter(lambda s: s.bound <= 4 * s.nodes)

Run = tuple[list[LoopResult], list[tuple[str, float | None, float | None]]]


def run(
    catalog: Catalog, scenario: Scenario, *, memo: bool, verdicts: bool
) -> tuple[Run, tuple[int, int]]:
    ca = autoscaler(load(config_text(GROUPS, OPTIONS), catalog), catalog)
    ca.remember_planning = memo
    ca.remember_removals = memo
    ca.remember_planning_verdicts = verdicts
    ca.plugin_traits = PluginTraits(remember=verdicts)
    world = World(ca)
    for _ in range(scenario.nodes):
        ca.fleet.request("l4x4-od", 0.0)
    running = []
    for index in range(scenario.bound):
        world.claims[f"default/b{index}"] = gpu_claim(f"b{index}")
        running.append(gpu_pod(f"b{index}", f"b{index}"))
    if running:
        world.bind(200.0, running)
    pods = []
    for index, (gpus, _, _) in enumerate(scenario.pending):
        world.claims[f"default/c{index}"] = gpu_claim(f"c{index}", count=gpus)
        pods.append(gpu_pod(f"p{index}", f"c{index}"))
    results = []
    for loop in range(scenario.loops):
        now = 200.0 + 30.0 * loop
        waiting = [
            (pod, 190.0 + first)
            for pod, (_, first, span) in zip(pods, scenario.pending, strict=True)
            if first <= loop < first + span
        ]
        world.run(now, waiting)
        assert ca.last_result is not None
        results.append(ca.last_result)
    fleet = [(n.name, n.lifecycle.deleting_at, n.lifecycle.gone_at) for n in ca.fleet.nodes()]
    return (results, fleet), (ca.plan_memo.hits, ca.removal_memo.hits)


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario=scenarios)
def test_the_planning_speed_ups_decide_exactly_as_the_plain_path(
    catalog: Catalog, scenario: Scenario
) -> None:
    plain, hits = run(catalog, scenario, memo=False, verdicts=False)
    assert hits == (0, 0)
    assert run(catalog, scenario, memo=True, verdicts=True)[0] == plain
    assert run(catalog, scenario, memo=True, verdicts=False)[0] == plain
    assert run(catalog, scenario, memo=False, verdicts=True)[0] == plain


def test_loops_with_the_same_inputs_reuse_the_plan_and_the_removal_simulation(
    catalog: Catalog,
) -> None:
    # A 4-GPU pod pending from the first loop scales up a node, upcoming for six loops: loops
    # with the same inputs reuse the plan; an owned one-GPU pod on a ready node is tried for
    # moving to the other on the same cluster again: the simulation is reused.
    scenario = Scenario(2, 2, ((4, 0, 5),), 5)
    remembered, (plans, removals) = run(catalog, scenario, memo=True, verdicts=True)
    assert plans >= 1 and removals >= 1
    assert run(catalog, scenario, memo=False, verdicts=False)[0] == remembered
