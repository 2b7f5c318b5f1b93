"""The FGD-run benchmark measures a real run and reports its figures (not timing)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import fgd_run as bench
from dralloc.sim.traces import ArrivalTrace, TraceNode, TracePod
from dralloc.sim.traces.openb import openb_models

TRACE = ArrivalTrace(
    "test:bench",
    (TraceNode("n-0", 32000, 131072, 2, "T4"), TraceNode("n-1", 16000, 65536, 1, "P100")),
    tuple(TracePod(f"p-{i}", 2000, 1024, 1, 500) for i in range(6)),
    openb_models(),
)


def test_a_run_reports_its_pods_placements_and_result() -> None:
    figures = bench.measure(TRACE, "fgd", 42)
    assert figures["workload"] == "test:bench"
    # Tuned towards 130% of 3 GPUs in 500m pods: 7 arrivals; 6 fit (two halves per GPU).
    assert figures["pods"] == 7
    assert figures["scheduled"] == 6
    assert figures["unallocated_at_100"] is not None
    assert isinstance(figures["ms_per_pod"], float)
