"""replay.csv's columns of an autoscaled fleet (`replay.autoscaled.AutoscalingSummary`), for
`campaign.write_replay_csvs`: pure formatting, no I/O.

The fixed columns come first, in the order replay.csv has always had them
(`AUTOSCALING_COLUMNS`, then `billed_usd[<capacity type>]`), and the later ones after them,
so a reader indexing the older columns keeps working:

* `evicted_pods` (distinct pods evicted at least once, `ReplaySummary.evicted_pods`, when
  the caller gives it; else the fleet's count of evictions), `interruptions` (spot
  notices), `upstream_unsupported_pods` (pods Karpenter v1.14 would not have provisioned
  for, §5.3), then `disrupted_by_method[<method>]` and `upstream_unsupported_pods[<reason>]`
  for every method and reason some run of the file has;
* with a predictor in some run: `prediction.forecaster`, `prediction.samples`,
  `prediction.buffer_gpu_hours`, then `prediction.peak_chunks[<class>]` (the largest buffer,
  in chunks) and `prediction.forecast_mae[<class>]` per device class;
* for every reason some run kept nodes forever (`KeptReason`): `kept_forever_nodes[<reason>]`
  and `kept_forever_usd[<reason>]` (what those nodes were billed);
* with ProvisioningRequests in some run: `provisioning_requests`, then
  `provisioning_requests[<final condition>]` (`Provisioned`, `Failed`, `BookingExpired`,
  `Pending`) for every final condition some run has;
* when some run found one: `template_mismatches` (fleet nodes whose published devices were
  not their template's, §12).

A run without a fleet (or without a predictor) leaves its cells empty; a count that a run's
mode never makes (a disruption method of Karpenter in a cluster-autoscaler run) is 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from dralloc.sim.replay.autoscaled import AutoscalingSummary

__all__ = ["AUTOSCALING_COLUMNS", "FleetColumns"]

AUTOSCALING_COLUMNS = (
    *("autoscaling_mode", "nodes_requested", "nodes_launched", "nodes_removed"),
    *("node_hours", "billed_usd", "scale_ups", "scale_downs", "failed_scale_ups"),
    "autoscaler_loops",
)
DISRUPTION_COLUMNS = ("evicted_pods", "interruptions", "upstream_unsupported_pods")
PREDICTION_COLUMNS = (
    "prediction.forecaster",
    "prediction.samples",
    "prediction.buffer_gpu_hours",
)


def _number(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


@dataclass(frozen=True)
class FleetColumns:
    """The fleet columns of one replay.csv: which ones, from every run's summary (None for a
    run without a fleet), and each run's cells in the same order.

    columns = FleetColumns.of([run.autoscaling for run in runs])
    header = [..., *columns.header()]; row = [..., *columns.cells(run.autoscaling)]
    """

    scaled: bool
    capacity_types: tuple[str, ...]
    methods: tuple[str, ...]
    reasons: tuple[str, ...]
    predicted: bool
    classes: tuple[str, ...]
    kept: tuple[str, ...] = ()
    requested: bool = False
    finals: tuple[str, ...] = ()
    mismatched: bool = False

    @classmethod
    def of(cls, summaries: Sequence[AutoscalingSummary | None]) -> FleetColumns:
        fleets = [s for s in summaries if s is not None]
        predictions = [s.prediction for s in fleets if s.prediction is not None]
        return cls(
            scaled=bool(fleets),
            capacity_types=tuple(sorted({t for s in fleets for t in s.billed_usd})),
            methods=tuple(sorted({m for s in fleets for m in s.disrupted_by_method})),
            reasons=tuple(sorted({r for s in fleets for r in s.upstream_unsupported_pods})),
            predicted=bool(predictions),
            classes=tuple(
                sorted({c for p in predictions for c in (*p.peak_chunks, *p.forecast_mae)})
            ),
            kept=tuple(sorted({str(r) for s in fleets for r in s.kept_forever})),
            requested=any(s.provisioning_requests for s in fleets),
            finals=tuple(sorted({o.final for s in fleets for o in s.provisioning_requests})),
            mismatched=any(s.template_mismatches for s in fleets),
        )

    def header(self) -> list[str]:
        if not self.scaled:
            return []
        return [
            *AUTOSCALING_COLUMNS,
            *(f"billed_usd[{t}]" for t in self.capacity_types),
            *DISRUPTION_COLUMNS,
            *(f"disrupted_by_method[{m}]" for m in self.methods),
            *(f"upstream_unsupported_pods[{r}]" for r in self.reasons),
            *(self._prediction_header() if self.predicted else ()),
            *(f"kept_forever_nodes[{r}]" for r in self.kept),
            *(f"kept_forever_usd[{r}]" for r in self.kept),
            *(("provisioning_requests",) if self.requested else ()),
            *(f"provisioning_requests[{f}]" for f in self.finals),
            *(("template_mismatches",) if self.mismatched else ()),
        ]

    def _prediction_header(self) -> list[str]:
        return [
            *PREDICTION_COLUMNS,
            *(f"prediction.peak_chunks[{c}]" for c in self.classes),
            *(f"prediction.forecast_mae[{c}]" for c in self.classes),
        ]

    def cells(
        self, summary: AutoscalingSummary | None, evicted_pods: int | None = None
    ) -> list[str]:
        if not self.scaled:
            return []
        if summary is None:
            return [""] * len(self.header())
        return [
            summary.mode,
            *(str(n) for n in (summary.nodes_requested, summary.nodes_launched)),
            str(summary.nodes_removed),
            _number(summary.node_hours, 3),
            _number(summary.billed_total, 2),
            *(str(n) for n in (summary.scale_ups, summary.scale_downs, summary.failed_scale_ups)),
            str(summary.loops),
            *(_number(summary.billed_usd.get(t), 2) for t in self.capacity_types),
            str(summary.evicted_pods if evicted_pods is None else evicted_pods),
            str(summary.interruptions),
            str(sum(summary.upstream_unsupported_pods.values())),
            *(str(summary.disrupted_by_method.get(m, 0)) for m in self.methods),
            *(str(summary.upstream_unsupported_pods.get(r, 0)) for r in self.reasons),
            *(self._prediction_cells(summary) if self.predicted else ()),
            *self._kept_cells(summary),
            *self._request_cells(summary),
            *((str(summary.template_mismatches),) if self.mismatched else ()),
        ]

    def _kept_cells(self, summary: AutoscalingSummary) -> list[str]:
        kept = {str(reason): nodes for reason, nodes in summary.kept_forever.items()}
        return [
            *(str(len(kept[r].nodes)) if r in kept else "0" for r in self.kept),
            *(_number(kept[r].billed_usd if r in kept else 0.0, 2) for r in self.kept),
        ]

    def _request_cells(self, summary: AutoscalingSummary) -> list[str]:
        finals = [outcome.final for outcome in summary.provisioning_requests]
        return [
            *((str(len(finals)),) if self.requested else ()),
            *(str(finals.count(f)) for f in self.finals),
        ]

    def _prediction_cells(self, summary: AutoscalingSummary) -> list[str]:
        prediction = summary.prediction
        if prediction is None:
            return [""] * len(self._prediction_header())
        peaks: Mapping[str, int] = prediction.peak_chunks
        errors: Mapping[str, float | None] = prediction.forecast_mae
        return [
            prediction.forecaster,
            str(prediction.samples),
            _number(prediction.buffer_gpu_hours, 3),
            *(str(peaks[c]) if c in peaks else "" for c in self.classes),
            *(_number(errors.get(c), 4) for c in self.classes),
        ]
