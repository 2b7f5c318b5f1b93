"""cluster-autoscaler's speed-ups decide exactly as the plain path: a loop with nothing to place
builds no planning snapshot (`skip_unused_planning_snapshot`), and scale-down builds its
what-if cluster only once a candidate's pods must move (`lazy_scale_down_snapshot`).

Each example is a short run of loops over a few L4 nodes (4 whole GPUs each) with pods bound,
owned or not, emptied, and pending pods at some loops; the run with both switches off and
the run with one or both on must give equal loop results and the same fleet."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from autoscalingkit import World, autoscaler, config_text, gpu_claim, gpu_pod, load
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dralloc.autoscaling.decisions import LoopResult
from dralloc.devices import load_catalog
from dralloc.devices.catalog import Catalog

GROUPS = "- {name: l4x4-od, shape: l4x4, max: 4}\n"
OPTIONS = "{scaleDownUnneededTime: 120, scaleDownDelayAfterAdd: 0}"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


@dataclass(frozen=True)
class Scenario:
    nodes: int  # requested at 0 s, devices published at 180 s
    bound: tuple[tuple[int, bool], ...]  # GPUs and whether a controller owns the pod
    emptied_at: int | None  # loop index from which no pod runs any more
    pending_at: frozenset[int]  # loop indexes with a pending 4-GPU pod
    loops: int


scenarios = st.builds(
    Scenario,
    nodes=st.integers(1, 3),
    bound=st.lists(st.tuples(st.integers(1, 2), st.booleans()), max_size=3).map(tuple),
    emptied_at=st.none() | st.integers(0, 5),
    pending_at=st.frozensets(st.integers(0, 5), max_size=2),
    loops=st.integers(3, 5),
).filter(lambda s: sum(gpus for gpus, _ in s.bound) <= 4 * s.nodes)


def run(
    catalog: Catalog, scenario: Scenario, *, skip_unused: bool, lazy_scale_down: bool
) -> tuple[list[LoopResult], list[tuple[str, float | None, float | None]]]:
    ca = autoscaler(load(config_text(GROUPS, OPTIONS), catalog), catalog)
    ca.skip_unused_planning_snapshot = skip_unused
    ca.lazy_scale_down_snapshot = lazy_scale_down
    world = World(ca)
    for _ in range(scenario.nodes):
        ca.fleet.request("l4x4-od", 0.0)
    pods = []
    for index, (gpus, owned) in enumerate(scenario.bound):
        world.claims[f"default/c{index}"] = gpu_claim(f"c{index}", count=gpus)
        pods.append(gpu_pod(f"p{index}", f"c{index}", owned=owned))
    if pods:
        world.bind(200.0, pods)
    world.claims["default/big"] = gpu_claim("big", count=4)
    pending = gpu_pod("big", "big")
    results = []
    for loop in range(scenario.loops):
        now = 200.0 + 100.0 * loop
        if loop == scenario.emptied_at:
            world.running = []
        waiting = [(pending, now - 30.0)] if loop in scenario.pending_at else []
        world.run(now, waiting)
        assert ca.last_result is not None
        results.append(ca.last_result)
    fleet = [(n.name, n.lifecycle.deleting_at, n.lifecycle.gone_at) for n in ca.fleet.nodes()]
    return results, fleet


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario=scenarios)
def test_the_speed_ups_decide_exactly_as_the_plain_path(
    catalog: Catalog, scenario: Scenario
) -> None:
    plain = run(catalog, scenario, skip_unused=False, lazy_scale_down=False)
    assert run(catalog, scenario, skip_unused=True, lazy_scale_down=True) == plain
    assert run(catalog, scenario, skip_unused=False, lazy_scale_down=True) == plain


def test_an_empty_node_found_before_a_movable_one_is_removed_from_the_late_what_if(
    catalog: Catalog,
) -> None:
    # Node 0 is empty (found removable with no what-if), node 1's one-GPU pod must move (the
    # what-if is built then, node 0 taken out of it first), node 2's two GPUs keep it.
    scenario = Scenario(3, ((1, True), (2, True)), None, frozenset(), 3)
    plain = run(catalog, scenario, skip_unused=False, lazy_scale_down=False)
    assert run(catalog, scenario, skip_unused=True, lazy_scale_down=True) == plain
    downs = [str(d) for d in plain[0][-1].decisions]
    assert downs == [
        "scale down l4x4-od-0000 (l4x4-od): utilization 0.00, unneeded for 200s, empty",
        "scale down l4x4-od-0001 (l4x4-od): utilization 0.25, unneeded for 200s, 1 pod(s) moved",
    ]
