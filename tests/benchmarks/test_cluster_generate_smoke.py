"""Every fleet-generation benchmark case runs and counts what it built (not timing)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import cluster_generate as bench


@pytest.mark.parametrize(
    ("case", "documents"),
    [
        ("dgx_h100_dynamic_mig", 9 + 2 * (1 + 9)),  # classes + (Node, counters, 8 GPU slices)
        ("dgx_h100_whole", 9 + 2 * 2),
        ("a100_static_mps", 9 + 2 * 2),
    ],
)
def test_benchmark_case_builds_every_document(case: str, documents: int) -> None:
    figures = bench.run(case, 2, None)
    assert figures["documents"] == documents
    assert figures["nodes"] == 2
