"""Walking only the fleet's live nodes (`ReplayAutoscaling.walk_live_nodes_only`) changes
nothing: pod outcomes and the autoscaling summary equal the walk over every node ever
requested, in cluster-autoscaler and karpenter modes, with scale-downs and
spot interruptions (cluster-autoscaler); a retired node leaves `Fleet.live_nodes` and stays billed.

Tiny traces: one-GPU pods on L4 shapes with random delays."""

from __future__ import annotations

import pytest
from autoscalekit import autoscaling_text, group, pool, shape

from dralloc.autoscaling import Fleet, parse_autoscaling_text
from dralloc.devices import load_catalog
from dralloc.devices.catalog import Catalog
from dralloc.sim.replay import ReplayOptions, ReplayResult, replay
from dralloc.sim.replay.autoscaled import ReplayAutoscaling
from dralloc.sim.traces import ReplayTrace, TimedPod, TracePod
from dralloc.sim.traces.model import GpuModels

RANDOM = (
    '{launch: "uniform:30-90", register: "fixed:30", ready: "lognormal:30,0.5", '
    'devices: "uniform:20-80"}'
)
SPOT = "  interruption: {ratePerHour: 30}\n"
PODS: list[tuple[float, float | None]] = [
    (0.0, 400.0),
    (0.0, 700.0),
    (0.0, 500.0),
    (5.0, 300.0),
    (30.0, 1500.0),
    (200.0, 900.0),
    (900.0, 200.0),
    (905.0, 60.0),
    (2400.0, 300.0),
    (2410.0, 300.0),
]

CLUSTER_AUTOSCALER = autoscaling_text(
    "cluster-autoscaler",
    shapes=[
        shape(price="{onDemand: 2.0, spot: 0.8}", provisioning=RANDOM) + SPOT,
        shape("l4x4", gpus=4, price="{onDemand: 3.0}", provisioning=RANDOM),
    ],
    groups=[
        group("spot", "l4x2", max_size=3, capacity_type="spot"),
        group("big", "l4x4", max_size=2, min_size=0),
    ],
    options="{scaleDownUnneededTime: 120}",
)
KARPENTER = autoscaling_text(
    "karpenter",
    shapes=[
        shape(price="{onDemand: 2.0, spot: 0.8}", provisioning=RANDOM) + SPOT,
        shape("l4x4", gpus=4, price="{onDemand: 3.0}", provisioning=RANDOM),
    ],
    pools=[pool("gpu", ["l4x2", "l4x4"])],
)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def run(catalog: Catalog, text: str, seed: int, live_only: bool) -> ReplayResult:
    config = parse_autoscaling_text(text, "autoscaling.yaml", catalog=catalog)
    timed = tuple(
        TimedPod(TracePod(f"p{index}", 1000, 1024, 1, 1000), arrival, duration)
        for index, (arrival, duration) in enumerate(PODS)
    )
    trace = ReplayTrace("tiny", (), timed, GpuModels({"L4": catalog.gpu("l4")}), source="t.csv")
    scaling = ReplayAutoscaling(config, catalog, walk_live_nodes_only=live_only)
    return replay(trace, "fgd", seed, ReplayOptions(autoscaling=scaling))


@pytest.mark.parametrize(
    ("text", "seed"),
    [(CLUSTER_AUTOSCALER, 1), (CLUSTER_AUTOSCALER, 4), (KARPENTER, 1)],
    ids=["ca-1", "ca-4", "karpenter-1"],
)
def test_walking_live_nodes_only_changes_nothing(catalog: Catalog, text: str, seed: int) -> None:
    live = run(catalog, text, seed, live_only=True)
    every = run(catalog, text, seed, live_only=False)
    assert live.pods == every.pods
    assert live.autoscaling == every.autoscaling
    assert live.end_time == every.end_time
    summary = live.autoscaling
    assert summary is not None
    # The set-up does what the property is about: nodes come and go.
    assert summary.nodes_launched >= 2 and summary.nodes_removed >= 1


def test_a_retired_node_leaves_the_live_nodes_and_stays_billed(catalog: Catalog) -> None:
    config = parse_autoscaling_text(CLUSTER_AUTOSCALER, "autoscaling.yaml", catalog=catalog)
    fleet = Fleet(config, seed=1)
    fleet.start()
    first = fleet.request("spot", at=0.0)
    second = fleet.request("spot", at=10.0)
    assert [n.name for n in fleet.live_nodes()] == [first.name, second.name]
    first.delete(100.0)
    fleet.retire(first.name)
    assert [n.name for n in fleet.live_nodes()] == [second.name]
    assert first.name in [n.name for n in fleet.nodes()]
    assert fleet.cost_by_capacity_type(until=3600.0)[config.node_groups[0].capacity_type] > 0
