"""The gang preemption benchmark runs at tiny sizes and does what it claims (never timing):
every mode evicts the same pods, a gang cycle runs per victim unit, and the scoped and
remembered modes filter fewer nodes than the plain one."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import gang_preemption as bench


def test_every_mode_evicts_alike_and_memory_saves_filter_calls() -> None:
    rows = {row["mode"]: row for row in bench.main(["--smoke", "--json"])}
    assert sorted(rows) == sorted(bench.MODES)
    # 6 nodes of 4 one-cpu pods, a gang of 2 four-cpu pods: two nodes emptied.
    assert {row["victims"] for row in rows.values()} == {8}
    # One cycle with every unit off, one per unit reprieved (24), the final check, the first
    # cycle before preemption and the placement after it.
    assert {row["gang_cycles"] for row in rows.values()} == {28}
    assert rows["scoped"]["filter_calls"] < rows["plain"]["filter_calls"]
    assert rows["remembered"]["filter_calls"] < rows["plain"]["filter_calls"]
