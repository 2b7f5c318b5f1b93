"""The batch benchmark's parts run at tiny sizes and do what they claim (never timing):
Kueue's shape is built, every Workload is admitted and finishes within its cohort's quota,
and each TPU slice gang lands whole on its own node pool."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import msgspec
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import batch as bench


def test_kueue_shape_is_cohorts_of_six_queues_and_the_350_100_50_mix() -> None:
    state, manager, workloads = bench.build_admission(12, 6000)
    assert len(state.cluster_queues) == 12
    assert sorted(state.cohorts) == ["cohort-0", "cohort-1"]
    assert all(len(c.children) == 6 for c in state.cohorts.values())
    classes = [
        wl.metadata.labels["kueue.x-k8s.io/performance-scheduler-class"]
        for wl in workloads.values()
    ]
    assert len(classes) == 6000
    # 500 Workloads per queue, as Kueue's test: 350 small, 100 medium, 50 large.
    assert (classes.count("small"), classes.count("medium"), classes.count("large")) == (
        4200,
        1200,
        600,
    )
    assert len(manager.workloads) == 6000


def test_admission_admits_and_finishes_every_workload_without_overcommitting() -> None:
    state, manager, workloads = bench.build_admission(12, 240)
    peak: dict[str, int] = {}

    def watch(run: bench.AdmissionRun, elapsed: float) -> None:
        for name, cohort in state.cohorts.items():
            used = sum(amount for cq in cohort.children for amount in cq.usage.values())
            peak[name] = max(peak.get(name, 0), used)

    run = bench.run_admission_loop(
        state,
        manager,
        workloads,
        max_cycles=10_000,
        max_seconds=60,
        timer=bench.Timer(),
        on_cycle=watch,
    )
    assert run.stopped_by == "done"
    assert run.admissions == run.finished == 240
    assert sorted(run.admitted_keys) == sorted(workloads)
    assert not state.reservations and not manager.workloads
    # A cohort of 6 queues lends and borrows up to its 6 x 20 cpu (in millicores), never more,
    # and fills it.
    assert max(peak.values()) == 120_000


def test_the_loop_stops_at_its_cycle_bound() -> None:
    state, manager, workloads = bench.build_admission(6, 600)
    run = bench.run_admission_loop(
        state, manager, workloads, max_cycles=3, max_seconds=60, timer=bench.Timer()
    )
    assert (run.cycles, run.stopped_by) == (3, "max-cycles")


def test_each_slice_gang_is_placed_whole_on_its_own_node_pool() -> None:
    plan, framework, gangs = bench.build_tpu_plan(3, 2)
    assert [len(pods) for _, pods in gangs] == [64, 64]
    assert all(gang.min_count == 64 for gang, _ in gangs)
    admitted, placed, _ = bench.place_slices(plan, framework, gangs, bench.Timer(), bind=True)
    assert (admitted, placed) == (2, 128)
    for gang, pods in gangs:
        pool = pods[0].spec.node_selector["cloud.google.com/gke-nodepool"]
        nodes = {plan.cache.pods[f"default/{p.metadata.name}"][1] for p in pods}
        assert len(nodes) == 64, gang.key  # one pod per host
        assert all(n.startswith(pool + "-") for n in nodes), gang.key


def test_a_slice_gang_whose_pool_is_taken_places_nothing() -> None:
    plan, framework, gangs = bench.build_tpu_plan(2, 2)
    first, second = gangs
    assert bench.place_slices(plan, framework, [first], bench.Timer(), bind=True)[:2] == (1, 64)
    taken = first[1][0].spec.node_selector
    moved = [
        msgspec.structs.replace(p, spec=msgspec.structs.replace(p.spec, node_selector=taken))
        for p in second[1]
    ]
    before = dict(plan.cache.pods)
    found = bench.place_slices(plan, framework, [(second[0], moved)], bench.Timer(), bind=True)
    assert found[:2] == (0, 0)
    assert plan.cache.pods == before  # all or nothing


def test_smoke_run_prints_one_json_line_per_figure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "figures.jsonl"
    figures = bench.main(["--smoke", "--json", "--out", str(out)])
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert printed == figures == [json.loads(line) for line in out.read_text().splitlines()]
    parts = [f["part"] for f in figures]
    assert parts == ["admission", "tpu-gang", "tpu-multislice", "tpu-multislice"]
    assert figures[0]["stopped_by"] == "done"
    assert figures[1]["admitted"] and figures[1]["gang_chips"] == 256
    assert [f["chips_placed"] for f in figures[2:]] == [256, 512]
