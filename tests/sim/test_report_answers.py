"""The reports' answers and zoom: the sentence names the cheapest policy and the money it
saves (or says the policies tie), headline axes follow the data, and the FGD curves start a
little before the first policy leaves the ideal line."""

from __future__ import annotations

import dataclasses

from dralloc.sim.campaign import RunCurves, RunSpec
from dralloc.sim.costs import CapacityCost, CapacityHours
from dralloc.sim.fgd import ARRIVAL_AXIS
from dralloc.sim.pages import padded_range
from dralloc.sim.replay_report import _sentence, _table
from dralloc.sim.report import zoom_start
from dralloc.sim.summaries import ReplayPolicySummary


def summary(policy: str, cost: CapacityCost, fragmented_hours: float) -> ReplayPolicySummary:
    return ReplayPolicySummary(
        workload="w",
        policy=policy,
        runs=1,
        wait_p50=0.0,
        wait_p95=60.0,
        mean_utilization=0.5,
        gpu_hours=cost.completed_gpu_hours,
        cost=0.0,
        pending=0,
        capacity=cost,
        hours=CapacityHours(100.0, 50.0, fragmented_hours),
        makespan=10 * 3600.0,
    )


def test_the_answer_names_the_cheapest_policy_and_its_saving_for_the_same_work() -> None:
    cheap = summary("fgd", CapacityCost(50, 10, 40, completed_gpu_hours=50), 10)  # $2/GPU-h
    dear = summary("bestfit", CapacityCost(40, 20, 40, completed_gpu_hours=40), 20)  # $2.50
    sentence = _sentence("w", [dear, cheap])
    assert sentence == (
        "<p class='headline'>On w, <b>fgd</b> completes its work at $2.00 per GPU-hour, "
        "<b>$25.00 less</b> for the same work than the next best, bestfit ($2.50 per "
        "GPU-hour), with 1.0 GPUs fewer fragmented on average; of its $100 of GPU capacity, "
        "50% was used, 10% fragmented and 40% idle.</p>"
    )


def test_equal_costs_are_called_a_tie_and_the_fragments_and_waits_told() -> None:
    one = summary("fgd", CapacityCost(50, 10, 40, completed_gpu_hours=50), 10)
    other = summary("bestfit", CapacityCost(50, 15, 35, completed_gpu_hours=50), 15)
    sentence = _sentence("w", [other, one])
    assert "the policies cost the same here" in sentence
    assert "fgd leaves $5.00 less of it fragmented than bestfit (0.5 GPUs on average)" in sentence


def test_a_tie_tells_both_wait_figures_in_one_unit_each() -> None:
    one = summary("fgd", CapacityCost(50, 10, 40, completed_gpu_hours=50), 10)
    other = summary("bestfit", CapacityCost(50, 10, 40, completed_gpu_hours=50), 10)
    one = dataclasses.replace(one, wait_p50=217.6, wait_p95=3.7 * 3600)
    other = dataclasses.replace(other, wait_p50=115.7, wait_p95=3.8 * 3600)
    sentence = _sentence("w", [other, one])
    # The median favours bestfit, the p95 fgd: both are told, each pair in one unit.
    assert "p50 116 s against 218 s, p95 3.8 h against 3.7 h for fgd" in sentence
    table = _table([other, one])
    assert "218 s" in table and "116 s" in table and "4 min" not in table
    assert "same cost" in table and "$0.00" not in table


def test_headline_axes_hug_the_values() -> None:
    assert padded_range([4.6, 7.4], floor=0) == [4.6 - 0.5, 7.4 + 0.5]
    low, high = padded_range([10.0, 60.0])
    assert (low, high) == (10.0 - 4.0, 60.0 + 4.0)


def curves(policy: str, departs_at: int) -> RunCurves:
    # Allocation follows the ideal (everything placed) up to `departs_at`, then stays put.
    allocation = tuple(float(min(x, departs_at)) for x in ARRIVAL_AXIS)
    return RunCurves(RunSpec("w", policy, 1), 100, 10, 9, allocation, (0.0,) * len(allocation))


def test_the_curves_start_ten_points_before_the_first_policy_leaves_the_ideal() -> None:
    assert zoom_start([curves("fgd", 96), curves("bestfit", 92)]) == 80  # 93 - 10, down to 5s
    assert zoom_start([curves("fgd", 200)]) == 0  # never leaves: the whole axis


def test_a_queued_tie_tells_the_job_waits_and_the_work_preemption_threw_away() -> None:
    # The shape of `--queues none,fair+placement` on synthetic-jobs: the same capacity and
    # completed work, so the money is in the GPU time preempted pods spent for nothing.
    none = summary("fgd", CapacityCost(50, 10, 40, completed_gpu_hours=50), 10)
    fair = summary("fgd", CapacityCost(50, 10.2, 39.8, completed_gpu_hours=50), 10.2)
    none = dataclasses.replace(none, queues="none", job_wait_p50=0.0, job_wait_p95=1840.2)
    fair = dataclasses.replace(
        fair,
        queues="fair+placement",
        job_wait_p50=0.0,
        job_wait_p95=64.8,
        preemptions=21,
        unfinished_cost=241.5,
        unfinished_gpu_hours=61.5,
    )
    sentence = _sentence("w", [none, fair])
    assert "the policies cost the same here" in sentence
    assert (
        "The difference is in the job waits (arrival to every pod running): p50 0 s against "
        "0 s, p95 31 min against 1 min for fgd / fair+placement." in sentence
    )
    assert (
        "GPU time spent on work that did not complete (preempted, evicted or still running at "
        "the end): fgd / none $0.00 (0 GPU-h, 0 preemptions), fgd / fair+placement $242 "
        "(62 GPU-h, 21 preemptions)." in sentence
    )
    assert "fragmented than" not in sentence  # no difference worth a clause
    table = _table([none, fair])
    assert "job wait p95" in table and "unfinished work USD" in table and "$242" in table
    # The table says what the headline says: no best marked, both rows the same cost.
    assert "class=best" not in table and ">best<" not in table
    assert table.count(">same cost<") == 2
    cheap = summary("fgd", CapacityCost(50, 10, 40, completed_gpu_hours=50), 10)
    dear = summary("bestfit", CapacityCost(40, 20, 40, completed_gpu_hours=40), 20)
    differs = _table([dear, cheap])
    assert differs.count("class=best") == 1 and ">best<" in differs


def test_a_few_dollars_of_fragmentation_are_not_called_a_difference() -> None:
    one = summary("fgd", CapacityCost(5000, 100, 4900, completed_gpu_hours=5000), 100)
    other = summary("bestfit", CapacityCost(5000, 109, 4891, completed_gpu_hours=5000), 100.1)
    assert "fragmented than" not in _sentence("w", [other, one])
