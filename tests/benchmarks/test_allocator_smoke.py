"""Every allocator benchmark case runs and allocates (a correctness smoke test, not timing)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import allocator as bench


@pytest.mark.parametrize("case", sorted(bench.CASES))
def test_benchmark_case_allocates(case: str) -> None:
    run = bench.CASES[case]()
    first = run()
    assert first and first[0].devices.results


def test_half_full_h100_node_gets_its_1g10gb_on_the_first_half_used_gpu() -> None:
    result = bench.CASES["h100_dynamic_mig_half_full"]()()
    (device,) = result[0].devices.results
    # GPUs 0-3 are whole-allocated; gpu-4 holds a 3g.40gb on memory slices 0-3, so the
    # first free 1g.10gb placement is at memory slice 4 of gpu-4.
    assert device.device == "gpu-4-mig-1g10gb-19-4"


def test_backtracking_case_lands_all_eight_devices_on_the_one_root_of_eight() -> None:
    result = bench.CASES["match_attribute_backtracking"]()()
    assert [r.device for r in result[0].devices.results] == [f"gpu-{i}" for i in range(16, 24)]


def test_json_output_has_the_contract_fields(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        bench.main(["--json", "--repeat", "3", "--runs", "1", "--case", "scheduler_perf_node"]) == 0
    )
    line = json.loads(capsys.readouterr().out.strip())
    assert line["case"] == "scheduler_perf_node"
    assert 0 < line["median_us"] <= line["p99_us"]
