"""benchmarks/upstream_scheduler_perf.py: reading scheduler_perf's output (a recorded sample of
`scheduler_perf_dra.test` stdout and of its DataItems file), and, with the upstream programs
built, the smallest run of both sides."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import upstream_scheduler_perf as runner

DATA = Path(__file__).resolve().parents[1] / "data" / "upstream_perf"
EMPTY_100 = "SteadyStateClusterResourceClaimTemplate/empty_100nodes"


def test_benchmark_lines_give_throughput_and_runtime_per_workload() -> None:
    found = runner.parse_bench_lines((DATA / "scheduler_perf_dra.txt").read_text())
    # BenchmarkPerfSchedulingExperimental's line (the other allocator) is not ours.
    assert sorted(found) == [
        "SchedulingWithResourceClaimTemplate/fast",
        EMPTY_100,
    ]
    # `fast` is too short for a throughput sample: only its runtime.
    assert found["SchedulingWithResourceClaimTemplate/fast"] == {"runtime_seconds": 5.445}
    empty = found[EMPTY_100]
    assert empty["Average"] == 24.40
    assert empty["Perc50"] == 25.99
    assert empty["Perc99"] == 30.01
    assert empty["runtime_seconds"] > 0


def test_a_workload_below_upstreams_threshold_still_gives_its_average() -> None:
    # Such a workload fails, so Go prints no benchmark line for it.
    text = (DATA / "scheduler_perf_dra_below_threshold.txt").read_text()
    assert runner.parse_bench_lines(text) == {}
    assert runner.parse_threshold_failures(text) == {
        "SchedulingWithResourceClaimTemplate/5000pods_500nodes": {
            "Average": 16.069518,
            "threshold": 40.0,
        },
        "SteadyStateClusterResourceClaimTemplate/empty_500nodes": {
            "Average": 21.326129,
            "threshold": 64.0,
        },
    }


def test_data_items_give_the_unrounded_throughput() -> None:
    document = json.loads((DATA / "scheduler_perf_dra_data_items.json").read_text())
    found = runner.parse_data_items(document)
    assert list(found) == [EMPTY_100]
    assert found[EMPTY_100]["Average"] == pytest.approx(24.400557039379677)
    assert set(found[EMPTY_100]) == set(runner.THROUGHPUT_KEYS)


def test_data_items_override_the_rounded_benchmark_line(tmp_path: Path) -> None:
    (tmp_path / "BenchmarkPerfScheduling_benchmark_dra_2026-12-07T00:30:51Z.json").write_text(
        (DATA / "scheduler_perf_dra_data_items.json").read_text()
    )
    stdout = (DATA / "scheduler_perf_dra.txt").read_text()
    stdout += (DATA / "scheduler_perf_dra_below_threshold.txt").read_text()
    found = runner.upstream_figures(tmp_path, stdout)
    assert found[EMPTY_100]["Average"] == pytest.approx(24.400557039379677)
    assert found[EMPTY_100]["runtime_seconds"] > 0
    assert found["SchedulingWithResourceClaimTemplate/5000pods_500nodes"]["Average"] == 16.069518


def test_bench_pattern_is_anchored_at_every_level() -> None:
    pattern = runner.bench_pattern(runner.PERFORMANCE)
    assert pattern == (
        "^BenchmarkPerfScheduling$"
        "/^(SchedulingWithResourceClaimTemplate|SteadyStateClusterResourceClaimTemplate)$"
        "/^(5000pods_500nodes|empty_500nodes|full_500nodes|half_500nodes)$"
    )


def test_each_workload_runs_dralloc_on_the_same_shape_and_node_count() -> None:
    cases = {"5000pods": "5000pods_500nodes", "2000pods": "5000pods_500nodes"}
    for workload in (*runner.PERFORMANCE, *runner.QUEUEING_HINTS, *runner.QUICK):
        shape = workload.name.split("_")[0]
        assert workload.dralloc_case == cases.get(shape, f"{shape}_500nodes")
        assert f"_{workload.nodes}nodes" in workload.name


def test_ratio_is_dralloc_over_upstream_average() -> None:
    (workload,) = [w for w in runner.QUICK if w.name == "empty_100nodes"]
    upstream = runner.parse_bench_lines((DATA / "scheduler_perf_dra.txt").read_text())
    mine = {"empty_100nodes": {"pods_per_second": 244.0, "pods_per_cpu_second": 250.0}}
    (row,) = runner.combine([workload], [upstream], mine)
    assert row["upstream"]["average"] == 24.4
    assert row["ratio"] == 10.0
    assert "10.0x" in runner.table([row])


@pytest.mark.k8s
def test_smoke_run_schedules_on_both_sides(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    binary = runner.k8s_home() / "bin" / runner.BINARY
    if not os.access(binary, os.X_OK):
        if os.environ.get("DRALLOC_REQUIRE_K8S") == "1":
            pytest.fail(f"{binary} is missing and DRALLOC_REQUIRE_K8S=1", pytrace=False)
        pytest.skip(f"run tools/build.sh ({binary} is missing)")
    out = tmp_path / "run.json"
    assert runner.main(["--smoke", "--json", "--keep", str(tmp_path), "--out", str(out)]) == 0
    (row,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row["workload"] == "fast"
    assert row["dralloc"]["pods"] == 10
    # Upstream's `fast` ran (its benchmark line is there) but is too short for throughput.
    stdout = (tmp_path / "round-0" / "upstream.txt").read_text()
    assert "SchedulingWithResourceClaimTemplate/fast" in runner.parse_bench_lines(stdout)
    assert json.loads(out.read_text())["rows"] == [row]
