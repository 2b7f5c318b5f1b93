"""benchmarks/upstream_allocator.py: reading `go test -bench` output (a recorded sample of the
Go benchmark in tools/draoracle), the inputs both allocators get, and, with the upstream
programs built, one tiny run of the whole comparison."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import upstream_allocator as runner

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "upstream_perf" / "go_bench_allocate.txt"


def test_go_benchmark_lines_give_one_round_each_with_their_metrics() -> None:
    runs, chosen = runner.parse_go_bench(SAMPLE.read_text())
    assert [(r.benchmark, r.case) for r in runs] == [
        ("BenchmarkAllocate", "scheduler_perf_node"),
        ("BenchmarkAllocate", "h100_dynamic_mig_half_full"),
        ("BenchmarkAllocate", "h100_dynamic_mig_half_full"),
        ("BenchmarkNewAllocatorAllocate", "h100_dynamic_mig_half_full"),
        ("BenchmarkNewAllocatorAllocate", "h100_dynamic_mig_half_full"),
    ]
    first = runs[0]
    assert first.iterations == 200
    assert first.procs == 1
    assert first.metrics == {
        "ns/op": 32170.0,
        "median-us": 15.07,
        "p99-us": 303.3,
        "B/op": 12302.0,
        "allocs/op": 103.0,
    }
    assert chosen == {
        "scheduler_perf_node": "*incubating.Allocator",
        "h100_dynamic_mig_half_full": "*incubating.Allocator",
    }


def test_a_gomaxprocs_suffix_is_not_part_of_the_case_name() -> None:
    line = "BenchmarkAllocate/match_attribute_backtracking-2   \t 2000\t 1000 ns/op\t 0.9 median-us"
    (run,), _ = runner.parse_go_bench(line)
    assert (run.case, run.procs, run.metrics["median-us"]) == (
        "match_attribute_backtracking",
        2,
        0.9,
    )


def test_summary_is_the_median_over_rounds_with_their_spread() -> None:
    runs, _ = runner.parse_go_bench(SAMPLE.read_text())
    figures = runner.summarize_go(runs, "BenchmarkAllocate", "h100_dynamic_mig_half_full")
    assert figures is not None
    assert figures["median_us"] == round((2899 + 2848) / 2, 1)
    assert (figures["median_min_us"], figures["median_max_us"]) == (2848.0, 2899.0)
    assert figures["mean_us"] == round((3859885 + 4131191) / 2 / 1000, 1)
    assert (figures["runs"], figures["calls_per_run"]) == (2, 200)
    assert runner.summarize_go(runs, "BenchmarkAllocate", "match_attribute_backtracking") is None


def test_ratios_are_dralloc_over_upstream_allocate() -> None:
    runs, chosen = runner.parse_go_bench(SAMPLE.read_text())
    mine = {"scheduler_perf_node": {"median_us": 7.5, "p99_us": 20.0}}
    new_claims = {"scheduler_perf_node": {"median_us": 30.14, "p99_us": 60.0}}
    (row,) = runner.rows(["scheduler_perf_node"], mine, runs, chosen, new_claims)
    assert row["ratio"] == round(7.5 / 15.07, 2)
    assert row["ratio_new_claim"] == 2.0
    assert row["upstream_allocator"] == "*incubating.Allocator"
    assert row["upstream_new_allocator_allocate"] is None
    (line,) = [s for s in runner.table([row]).splitlines() if s.startswith("scheduler_perf_node")]
    assert line.split() == [
        "scheduler_perf_node",
        "7.5",
        "20.0",
        "30.1",
        "15.1",
        "303.3",
        "0.50",
        "2.00",
        "n/a",
        "n/a",
    ]


@pytest.mark.parametrize("case", runner.CASE_NAMES)
def test_both_sides_get_the_case_defaulted_as_the_api_server_stores_it(case: str) -> None:
    inputs = runner.defaulted(runner.case_inputs(case))
    line = runner.oracle_case(case, inputs)
    assert line["fits"] is True
    (claim,) = line["claims"]
    for request in claim["spec"]["devices"]["requests"]:
        assert request["exactly"]["allocationMode"] == "ExactCount"
        assert request["exactly"]["count"] >= 1
    assert line["node"]["metadata"]["name"] == inputs.node.metadata.name
    assert json.loads(json.dumps(line)) == line


@pytest.mark.k8s
def test_smallest_run_prints_both_latencies_and_their_ratio(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if shutil.which("go") is None:
        if os.environ.get("DRALLOC_REQUIRE_K8S") == "1":
            pytest.fail("go is not on PATH and DRALLOC_REQUIRE_K8S=1", pytrace=False)
        pytest.skip("go is not on PATH")
    out = tmp_path / "run.json"
    argv = ["--case", "scheduler_perf_node", "--repeat", "20", "--runs", "1", "--json"]
    assert runner.main([*argv, "--out", str(out)]) == 0
    (row,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row["case"] == "scheduler_perf_node"
    assert row["upstream_allocate"]["median_us"] > 0
    assert row["dralloc"]["median_us"] > 0
    assert row["ratio"] > 0
    assert row["dralloc_new_claim"]["median_us"] > 0
    assert row["same_devices"] is True  # dra-oracle chose the same device
    assert json.loads(out.read_text())["cases"] == [row]
