"""A node's life on the virtual clock (`dralloc.autoscaling.lifecycle`, spec §1) and its delay
distributions (`dralloc.autoscaling.delays`): phase times from the delays, cluster events,
deletion in any phase, billing arithmetic, and seeded draws that replay identically."""

from __future__ import annotations

import random
import statistics
from pathlib import Path

import pytest

from dralloc.autoscaling import (
    Billing,
    BillingStart,
    EmpiricalDelay,
    FixedDelay,
    LognormalDelay,
    NodeLifecycle,
    NodePhase,
    Provisioning,
    StartupFailure,
    UniformDelay,
    billed_seconds,
    node_random,
    parse_delay,
)
from dralloc.autoscaling.delays import DelayDistribution
from dralloc.scheduler.framework.events import NODE, RESOURCE_SLICE

DEFAULTS = Provisioning()  # launch 90, register 30, ready 60, devices 240, terminate 30


def test_phases_follow_the_default_delays_from_the_request() -> None:
    node = NodeLifecycle.request("h100-od-0000", "h100", 100.0, DEFAULTS, seed=1)
    assert [(t.time, t.phase) for t in node.transitions()] == [
        (100.0, NodePhase.REQUESTED),
        (190.0, NodePhase.LAUNCHED),
        (220.0, NodePhase.REGISTERED),
        (280.0, NodePhase.READY),
        (520.0, NodePhase.DEVICES_PUBLISHED),
    ]
    assert node.phase_at(99.0) is None
    assert node.phase_at(280.0) is NodePhase.READY and node.phase_at(519.9) is NodePhase.READY
    assert NodePhase.READY.is_schedulable and not NodePhase.REGISTERED.is_schedulable


def test_ready_adds_the_node_and_published_devices_add_slices() -> None:
    node = NodeLifecycle.request("n", "h100", 0.0, DEFAULTS, seed=1)
    node.delete(1000.0, drain_seconds=45.0)
    changes = [(t.phase, [str(c) for c in t.changes]) for t in node.transitions()]
    assert changes == [
        (NodePhase.REQUESTED, []),
        (NodePhase.LAUNCHED, []),
        (NodePhase.REGISTERED, []),
        (NodePhase.READY, ["Node/Add"]),
        (NodePhase.DEVICES_PUBLISHED, ["resource.k8s.io/ResourceSlice/Add"]),
        (NodePhase.DELETING, ["Node/Update"]),
        (NodePhase.GONE, ["resource.k8s.io/ResourceSlice/Delete", "Node/Delete"]),
    ]
    # The strings are the scheduler framework's, so a replay can build ClusterEvents from them.
    ready = node.transitions()[3].changes[0]
    published = node.transitions()[4].changes[0]
    assert (ready.resource, published.resource) == (NODE, RESOURCE_SLICE)
    assert node.gone_at == 1000.0 + 45.0 + 30.0


def test_deletion_before_devices_cancels_the_later_phases() -> None:
    # A spot notice after Ready but before DevicesPublished: the devices never appear.
    node = NodeLifecycle.request("n", "h100", 0.0, DEFAULTS, seed=1)
    gone = node.delete(200.0, drain_seconds=5000.0)
    assert gone == 200.0 + 600.0 + 30.0  # the drain is capped at 600 s
    phases = [t.phase for t in node.transitions()]
    assert NodePhase.DEVICES_PUBLISHED not in phases
    assert phases[-2:] == [NodePhase.DELETING, NodePhase.GONE]
    assert node.delete(300.0) == gone  # deleting twice keeps the first deletion


def test_a_node_cancelled_before_launch_is_gone_at_once_and_costs_nothing() -> None:
    node = NodeLifecycle.request("n", "h100", 0.0, DEFAULTS, seed=1)
    assert node.delete(50.0, drain_seconds=100.0) == 50.0
    assert node.cost(Billing(98.32), until=3600.0) == 0.0
    assert node.cost(Billing(98.32, BillingStart.REQUEST), until=3600.0) == 0.0


def test_a_failed_launch_never_launches_and_is_never_billed() -> None:
    node = NodeLifecycle.request("n", "h100", 10.0, DEFAULTS, seed=1, launch_failure=1.0)
    assert [(t.time, t.phase) for t in node.transitions()] == [
        (10.0, NodePhase.REQUESTED),
        (100.0, NodePhase.LAUNCH_FAILED),
    ]
    assert node.cost(Billing(98.32), until=3600.0) == 0.0
    assert node.delete(500.0) == 100.0


def test_billing_runs_from_launch_to_gone_per_second() -> None:
    node = NodeLifecycle.request("n", "h100", 100.0, DEFAULTS, seed=1)
    node.delete(1000.0, drain_seconds=30.0)  # gone at 1060; launched at 190
    assert node.billing_window(Billing(98.32), until=10_000.0) == (190.0, 1060.0)
    assert node.cost(Billing(98.32), until=10_000.0) == pytest.approx(98.32 * 870 / 3600)
    from_request = Billing(98.32, BillingStart.REQUEST)
    assert node.cost(from_request, until=10_000.0) == pytest.approx(98.32 * 960 / 3600)
    # Still running at the end of the run: billed up to it.
    running = NodeLifecycle.request("m", "h100", 0.0, DEFAULTS, seed=1)
    assert running.cost(Billing(36.0), until=3690.0) == pytest.approx(36.0)


def test_short_lives_pay_the_minimum_and_fractions_round_up() -> None:
    assert billed_seconds(0.0, 40.0, 60.0) == 60.0
    assert billed_seconds(0.0, 90.2, 60.0) == 91.0
    assert billed_seconds(0.0, 90.0, 0.0) == 90.0
    node = NodeLifecycle.request("n", "h100", 0.0, DEFAULTS, seed=1)
    node.delete(100.0)  # launched at 90, gone at 100 + 30
    assert node.cost(Billing(36.0, minimum_seconds=60.0), until=1e9) == pytest.approx(0.6)
    assert node.cost(Billing(36.0, minimum_seconds=0.0), until=1e9) == pytest.approx(0.4)


LOGNORMAL = Provisioning(
    launch=LognormalDelay(90.0, 0.3),
    register=UniformDelay(20.0, 40.0),
    ready=LognormalDelay(60.0, 0.2),
    devices=UniformDelay(200.0, 300.0),
    terminate=FixedDelay(30.0),
)


def _times(node: NodeLifecycle) -> list[float]:
    return [t.time for t in node.transitions()]


def test_draws_depend_only_on_seed_and_node_name() -> None:
    first = NodeLifecycle.request("h100-od-0003", "h100", 0.0, LOGNORMAL, seed=42)
    for other in range(5):  # other nodes requested in between change nothing
        NodeLifecycle.request(f"h100-od-{other:04d}", "h100", 0.0, LOGNORMAL, seed=42)
    again = NodeLifecycle.request("h100-od-0003", "h100", 0.0, LOGNORMAL, seed=42)
    assert _times(first) == _times(again)
    assert _times(first) != _times(
        NodeLifecycle.request("h100-od-0004", "h100", 0.0, LOGNORMAL, seed=42)
    )
    assert _times(first) != _times(
        NodeLifecycle.request("h100-od-0003", "h100", 0.0, LOGNORMAL, seed=43)
    )
    assert node_random(7, "a").random() == node_random(7, "a").random()


def test_launch_failures_are_seeded_per_node() -> None:
    def failures(seed: int) -> list[bool]:
        return [
            NodeLifecycle.request(
                f"n-{i}", "h", 0.0, DEFAULTS, seed=seed, launch_failure=0.3
            ).launch_failed
            for i in range(200)
        ]

    assert failures(1) == failures(1)
    assert 30 < sum(failures(1)) < 90  # about 60 of 200


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("fixed:240", FixedDelay(240.0)),
        ("uniform:20-40", UniformDelay(20.0, 40.0)),
        ("lognormal:90,0.3", LognormalDelay(90.0, 0.3)),
    ],
)
def test_delay_spellings_round_trip(text: str, expected: DelayDistribution) -> None:
    assert parse_delay(text) == expected
    assert expected.spelling() == text


@pytest.mark.parametrize(
    "text", ["240", "fixed:-1", "uniform:40-20", "uniform:20", "lognormal:0,1", "gamma:1", 5]
)
def test_bad_delay_spellings_return_a_message(text: object) -> None:
    assert isinstance(parse_delay(text), str)


def test_samples_stay_within_their_distribution() -> None:
    rng = random.Random(3)
    uniform = [UniformDelay(20.0, 40.0).sample(rng) for _ in range(500)]
    assert min(uniform) >= 20.0 and max(uniform) <= 40.0
    lognormal = [LognormalDelay(90.0, 0.3).sample(rng) for _ in range(2001)]
    assert statistics.median(lognormal) == pytest.approx(90.0, rel=0.08)
    assert min(lognormal) > 0
    empirical = EmpiricalDelay("x", (80.0, 95.5, 120.0))
    assert {empirical.sample(rng) for _ in range(200)} == {80.0, 95.5, 120.0}


def test_every_distribution_draws_once_per_sample() -> None:
    # Switching one step's distribution must not shift the draws of the steps after it.
    for delay in (FixedDelay(1.0), UniformDelay(0.0, 1.0), LognormalDelay(1.0, 1.0)):
        rng = random.Random(9)
        delay.sample(rng)
        assert rng.random() == _second(9)


def _second(seed: int) -> float:
    rng = random.Random(seed)
    rng.random()
    return rng.random()


def test_empirical_files_list_seconds(tmp_path: Path) -> None:
    (tmp_path / "d.txt").write_text("1\n2\n")
    assert parse_delay("empirical:d.txt", tmp_path) == EmpiricalDelay("d.txt", (1.0, 2.0))
    (tmp_path / "empty.txt").write_text("# nothing\n")
    assert "no values" in str(parse_delay("empirical:empty.txt", tmp_path))
    assert "cannot read" in str(parse_delay("empirical:missing.txt", tmp_path))


def test_a_node_whose_devices_never_come_in_time_fails_at_the_startup_limit() -> None:
    on_time = NodeLifecycle.request("n", "h", 0.0, DEFAULTS, seed=1)
    assert on_time.startup_deadline(900.0, 900.0) is None
    late_devices = Provisioning(devices=FixedDelay(1000.0))  # Ready, slices late (§12)
    slow = NodeLifecycle.request("n", "h", 0.0, late_devices, seed=1)
    assert slow.startup_deadline(900.0, 900.0) == (120.0 + 900.0, StartupFailure.NOT_READY)
    never_registers = Provisioning(launch=FixedDelay(1200.0))
    stuck = NodeLifecycle.request("n", "h", 0.0, never_registers, seed=1)
    assert stuck.startup_deadline(900.0, 900.0) == (900.0, StartupFailure.NOT_REGISTERED)
    failed = NodeLifecycle.request("n", "h", 0.0, DEFAULTS, seed=1, launch_failure=1.0)
    assert failed.startup_deadline(900.0, 900.0) is None


def test_spot_interruptions_are_exponential_from_launch_and_change_no_other_draw() -> None:
    plain = NodeLifecycle.request("s-0", "h", 0.0, LOGNORMAL, seed=5)
    spot = NodeLifecycle.request("s-0", "h", 0.0, LOGNORMAL, seed=5, interruption_rate_per_hour=2.0)
    assert plain.interruption_notice_at is None
    assert _times(spot) == _times(plain)
    assert spot.interruption_notice_at is not None
    assert spot.interruption_notice_at > spot.launched_at
    gaps = [
        node.interruption_notice_at - node.launched_at
        for node in (
            NodeLifecycle.request(
                f"s-{i}", "h", 0.0, DEFAULTS, seed=5, interruption_rate_per_hour=2.0
            )
            for i in range(400)
        )
        if node.interruption_notice_at is not None
    ]
    assert statistics.mean(gaps) == pytest.approx(1800.0, rel=0.15)  # 1 / (2 per hour)
