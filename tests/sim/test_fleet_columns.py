"""replay.csv's fleet columns: the older ones first and unchanged, then evictions,
interruptions, disruptions by method, pods upstream would not provision for, and the
predictor's figures; empty cells for a run without a fleet or a predictor."""

from __future__ import annotations

from dralloc.sim.fleet_columns import AUTOSCALING_COLUMNS, FleetColumns
from dralloc.sim.replay.autoscale_prediction import PredictionSummary
from dralloc.sim.replay.autoscale_provreq import ProvisioningRequestOutcome
from dralloc.sim.replay.autoscale_summary import KeptNodes
from dralloc.sim.replay.autoscaled import AutoscalingSummary


def _summary(**changes: object) -> AutoscalingSummary:
    fields: dict[str, object] = {
        "mode": "karpenter",
        "nodes_requested": 5,
        "nodes_launched": 4,
        "nodes_removed": 3,
        "node_hours": 12.5,
        "billed_usd": {"on-demand": 100.0, "spot": 20.25},
        "scale_ups": 4,
        "scale_downs": 3,
        "failed_scale_ups": 1,
        "loops": 40,
        "loops_skipped": 7,
        "evicted_pods": 6,
        "disrupted_by_method": {"Underutilized": 2, "Empty": 1},
        "interruptions": 1,
        "upstream_unsupported_pods": {"partitionable devices": 3},
    }
    fields.update(changes)
    return AutoscalingSummary(**fields)  # type: ignore[arg-type]


def test_the_older_columns_come_first_then_the_disruptions() -> None:
    ca = _summary(mode="cluster-autoscaler", disrupted_by_method={}, upstream_unsupported_pods={})
    columns = FleetColumns.of([_summary(), None, ca])
    assert columns.header() == [
        *AUTOSCALING_COLUMNS,
        *("billed_usd[on-demand]", "billed_usd[spot]"),
        *("evicted_pods", "interruptions", "upstream_unsupported_pods"),
        *("disrupted_by_method[Empty]", "disrupted_by_method[Underutilized]"),
        "upstream_unsupported_pods[partitionable devices]",
    ]
    assert columns.cells(_summary()) == [
        *("karpenter", "5", "4", "3", "12.500", "120.25", "4", "3", "1", "40"),
        *("100.00", "20.25", "6", "1", "3", "1", "2", "3"),
    ]
    assert columns.cells(ca)[-5:] == ["1", "0", "0", "0", "0"]
    assert columns.cells(None) == [""] * len(columns.header())


def test_runs_without_a_fleet_add_no_column() -> None:
    columns = FleetColumns.of([None, None])
    assert columns.header() == [] and columns.cells(None) == []


def test_a_predictor_adds_its_figures_per_device_class() -> None:
    prediction = PredictionSummary(
        forecaster="ewma-peak",
        samples=12,
        peak_chunks={"a100": 3},
        buffer_gpu_hours=4.25,
        forecast_mae={"a100": 0.5, "l4": None},
    )
    predicted = _summary(prediction=prediction)
    columns = FleetColumns.of([predicted, _summary()])
    assert columns.header()[-7:] == [
        *("prediction.forecaster", "prediction.samples", "prediction.buffer_gpu_hours"),
        *("prediction.peak_chunks[a100]", "prediction.peak_chunks[l4]"),
        *("prediction.forecast_mae[a100]", "prediction.forecast_mae[l4]"),
    ]
    assert columns.cells(predicted)[-7:] == ["ewma-peak", "12", "4.250", "3", "", "0.5000", ""]
    assert columns.cells(_summary())[-7:] == [""] * 7


def test_nodes_kept_forever_and_provisioning_requests_count_per_reason_and_outcome() -> None:
    kept = {"MinSize": KeptNodes(("n-0", "n-1"), 48.0, 72.5)}
    conditions = (("Provisioned", True, ""),)
    booked = ProvisioningRequestOutcome("default/a", "check-capacity", conditions, 30.0)
    failed = ProvisioningRequestOutcome("default/b", "atomic", (("Failed", True, ""),), None)
    with_both = _summary(kept_forever=kept, provisioning_requests=(booked, failed, booked))
    columns = FleetColumns.of([with_both, _summary(), None])
    assert columns.header()[-5:] == [
        *("kept_forever_nodes[MinSize]", "kept_forever_usd[MinSize]", "provisioning_requests"),
        *("provisioning_requests[Failed]", "provisioning_requests[Provisioned]"),
    ]
    assert columns.cells(with_both)[-5:] == ["2", "72.50", "3", "1", "2"]
    assert columns.cells(_summary())[-5:] == ["0", "0.00", "0", "0", "0"]
