"""The nodes of one run (`dralloc.autoscaling.fleet`): stable names, seeded life cycles that
depend only on the seed and the name, minimum sizes running from the start, group sizes over
time, and costs and node-hours by capacity type and shape."""

from __future__ import annotations

import pytest

from dralloc.autoscaling import CapacityType, Fleet, NodePhase, parse_autoscaling_text
from dralloc.autoscaling.config import AutoscalingConfig
from dralloc.devices import load_catalog

CONFIG = """\
apiVersion: dralloc.io/v1alpha1
kind: Autoscaling
mode: cluster-autoscaler
shapes:
- name: h100
  shape: dgx-h100
  price: {onDemand: 98.32, spot: 36.0}
  provisioning: {launch: "lognormal:90,0.3", devices: "uniform:200-300"}
  availability: {launchFailure: 0.1}
  interruption: {ratePerHour: 0.5}
- name: l4
  shape: l4
  gpus: 2
  price: {onDemand: 1.8}
nodeGroups:
- {name: h100-od, shape: h100, min: 1, max: 8}
- {name: h100-spot, shape: h100, max: 8, capacityType: spot}
- {name: l4-od, shape: l4, min: 2, max: 4}
options: {minimumBilledSeconds: 60s}
"""


@pytest.fixture(scope="module")
def config() -> AutoscalingConfig:
    return parse_autoscaling_text(CONFIG, "fleet.yaml", catalog=load_catalog())


def test_minimum_sizes_run_from_the_start(config: AutoscalingConfig) -> None:
    fleet = Fleet(config, seed=1)
    started = fleet.start()
    assert [n.name for n in started] == ["h100-od-0000", "l4-od-0000", "l4-od-0001"]
    assert all(n.phase_at(0.0) is NodePhase.DEVICES_PUBLISHED for n in started)
    assert (fleet.count("h100-od", 0.0), fleet.count("l4-od", 0.0)) == (1, 2)


def test_requests_are_named_per_group_and_replay_identically(config: AutoscalingConfig) -> None:
    def run(seed: int) -> list[tuple[str, list[float], float | None]]:
        fleet = Fleet(config, seed=seed)
        fleet.start()
        for at in (60.0, 60.0, 900.0):
            fleet.request("h100-spot", at)
        fleet.request("h100-od", 120.0)
        return [
            (
                n.name,
                [t.time for t in n.lifecycle.transitions()],
                n.lifecycle.interruption_notice_at,
            )
            for n in fleet.nodes()
        ]

    first = run(7)
    assert [name for name, _, _ in first] == [
        "h100-od-0000",
        "l4-od-0000",
        "l4-od-0001",
        "h100-spot-0000",
        "h100-spot-0001",
        "h100-spot-0002",
        "h100-od-0001",
    ]
    assert first == run(7)
    assert first != run(8)
    # Only spot nodes carry an interruption time.
    assert [notice is not None for name, _, notice in first if "spot" in name] == [True] * 3
    assert all(notice is None for name, _, notice in first if "spot" not in name)


def test_costs_and_node_hours_add_up_by_capacity_type_and_shape(
    config: AutoscalingConfig,
) -> None:
    fleet = Fleet(config, seed=3)
    fleet.start()  # 1 h100 on-demand and 2 l4 on-demand, all day
    spot = fleet.request("h100-spot", 0.0)
    day = 86400.0
    assert not spot.launch_failed  # seeded: this launch succeeds
    spot.delete(spot.launched_at + 1800.0)  # gone 30 min + terminate after launch
    costs = fleet.cost_by_capacity_type(until=day)
    assert costs[CapacityType.ON_DEMAND] == pytest.approx(98.32 * 24 + 2 * 1.8 * 24)
    spot_seconds = 1800.0 + spot.terminate_delay
    assert costs[CapacityType.SPOT] == pytest.approx(36.0 * -(-spot_seconds // 1) / 3600)
    seconds = fleet.node_seconds_by_shape(until=day)
    assert seconds["l4"] == 2 * day
    assert seconds["h100"] == pytest.approx(day + spot_seconds)
    templates = config.templates(load_catalog())
    assert (templates["h100"].accelerator_count(), templates["l4"].accelerator_count()) == (8, 2)


def test_failed_and_gone_nodes_leave_the_group_size(config: AutoscalingConfig) -> None:
    fleet = Fleet(config, seed=11)
    nodes = [fleet.request("h100-spot", 0.0) for _ in range(30)]
    failed = [n for n in nodes if n.launch_failed]
    assert failed, "a 10% failure rate over 30 launches fails some (seeded)"
    end_of_launches = max(n.launched_at for n in nodes)
    assert fleet.count("h100-spot", 0.0) == 30
    assert fleet.count("h100-spot", end_of_launches) == 30 - len(failed)
    survivor = next(n for n in nodes if not n.launch_failed)
    gone = survivor.delete(end_of_launches, drain_seconds=10.0)
    assert fleet.count("h100-spot", gone) == 30 - len(failed) - 1
