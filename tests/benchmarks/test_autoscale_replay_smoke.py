"""The autoscaled-replay benchmark runs its tiny case and reports what it claims (never timing):
the replay's figures are there, the fleet scaled, and turning cluster-autoscaler's speed-ups
off (`--plain`) gives the same figures."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import autoscale_replay as bench

FIGURES = ("billed_usd", "wait_p95_s", "pods_started", "nodes_launched", "peak_nodes", "loops")


def test_the_smoke_case_scales_up_and_the_plain_path_gives_the_same_figures() -> None:
    trace = bench.SMOKE_TRACES["smoke"]
    fast = bench.run_case("smoke-ca", trace, Path("."), 600.0, plain=False, profile=False)
    plain = bench.run_case("smoke-ca", trace, Path("."), 600.0, plain=True, profile=False)
    assert not fast["cut"] and fast["simulated_days"] > 0
    assert fast["nodes_launched"] > 0 and fast["billed_usd"] > 0 and fast["pods_started"] > 0
    assert (fast["speedups"], plain["speedups"]) == ("on", "off")
    assert {k: fast[k] for k in FIGURES} == {k: plain[k] for k in FIGURES}


def test_case_names_are_each_trace_by_each_scaler_with_and_without_a_predictor() -> None:
    assert bench.case_names(bench.TRACES) == [
        "dlrm-week-ca",
        "dlrm-week-ca-ewma",
        "dlrm-week-karpenter",
        "dlrm-week-karpenter-ewma",
        "itp-month-ca",
        "itp-month-ca-ewma",
        "itp-month-karpenter",
        "itp-month-karpenter-ewma",
    ]
    assert bench.split_case("itp-month-karpenter-ewma") == ("itp-month", "karpenter", True)


def test_a_case_past_its_time_stops_cut_with_no_replay_figures() -> None:
    row = bench.run_case(
        "smoke-ca", bench.SMOKE_TRACES["smoke"], Path("."), 1e-9, plain=False, profile=False
    )
    assert row["cut"] and "billed_usd" not in row


def test_an_unknown_case_is_refused_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        bench.main(["--case", "nope"])
    assert "--case: unknown case 'nope'" in capsys.readouterr().err
