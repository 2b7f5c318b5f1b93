"""replay.csv's `template_mismatches` column: last, present once some run found a fleet node
whose published devices were not its template's, 0 for the other runs with a fleet."""

from __future__ import annotations

from dralloc.sim.fleet_columns import FleetColumns
from dralloc.sim.replay.autoscaled import AutoscalingSummary


def _summary(mismatches: int) -> AutoscalingSummary:
    return AutoscalingSummary(
        mode="cluster-autoscaler",
        nodes_requested=2,
        nodes_launched=2,
        nodes_removed=0,
        node_hours=1.0,
        billed_usd={"on-demand": 2.0},
        scale_ups=1,
        scale_downs=0,
        failed_scale_ups=0,
        loops=3,
        loops_skipped=0,
        template_mismatches=mismatches,
    )


def test_template_mismatches_come_last_once_a_run_has_one() -> None:
    columns = FleetColumns.of([_summary(2), _summary(0), None])
    assert columns.header()[-1] == "template_mismatches"
    assert [columns.cells(s)[-1] for s in (_summary(2), _summary(0), None)] == ["2", "0", ""]
    assert "template_mismatches" not in FleetColumns.of([_summary(0)]).header()
