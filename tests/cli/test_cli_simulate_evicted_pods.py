"""replay.csv's fleet column `evicted_pods` counts distinct pods (`ReplaySummary.evicted_pods`,
which `sim.campaign` gives), not the fleet's evictions: a pod evicted twice is one pod, and
`evictions` (the last columns) counts both."""

from __future__ import annotations

from dralloc.sim.fleet_columns import FleetColumns
from dralloc.sim.replay.autoscaled import AutoscalingSummary


def _fleet(evictions: int) -> AutoscalingSummary:
    return AutoscalingSummary(
        mode="karpenter",
        nodes_requested=2,
        nodes_launched=2,
        nodes_removed=2,
        node_hours=1.0,
        billed_usd={"on-demand": 3.0},
        scale_ups=2,
        scale_downs=2,
        failed_scale_ups=0,
        loops=10,
        loops_skipped=0,
        evicted_pods=evictions,
        disrupted_by_method={},
        interruptions=0,
        upstream_unsupported_pods={},
    )


def test_evicted_pods_is_the_distinct_pods_the_summary_counts() -> None:
    fleet = _fleet(evictions=4)  # one pod evicted four times
    columns = FleetColumns.of([fleet])
    column = columns.header().index("evicted_pods")
    assert columns.cells(fleet, 1)[column] == "1"
    # Without the replay's count (a caller of the fleet alone), the fleet's own figure.
    assert columns.cells(fleet)[column] == "4"
