"""The oracle (spec/autoscaling.md §9.5): the fleet of a scaler that knows every arrival, the
upper bound a predictor is measured against. Pure computation over the nodes a shape needs
per step, which the replay computes from the whole trace (the one place reading ahead is
allowed: it is the bound, not a predictor).

Node i of a shape (counting from 0) is needed at step k when n[k] > i. Each node is requested L
steps before the first step that needs it, so it is usable exactly then, and released when the
last step of a need ends, unless the node is needed again within L steps (releasing and
requesting again would cost as much and risk arriving late), in which case it is kept. Stacking
nodes by index keeps the fewest node-hours for a count series: a lower index is needed whenever a
higher one is.

Nodes needed from the first step are taken as already there (requested at 0, the start of the
replay), like a static fleet.

The replay turns the trace into the need per step with `peak_demand` (the most GPUs its pods
would hold at once within each step if none waited) and `nodes_needed`, and holds `held_nodes`
of the oracle's fleet at each step as capacity (spec §9.5: requested L before the first pod that
needs it).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from dralloc.autoscaling.prediction.signal import DemandClass, DemandRecord


@dataclass(frozen=True)
class NodeSpan:
    """One node of the oracle's fleet, in steps: requested at `request`, usable from `usable`,
    released at `release` (exclusive)."""

    index: int
    request: int
    usable: int
    release: int

    @property
    def steps(self) -> int:
        """Steps billed, from request to release."""
        return self.release - self.request


def nodes_needed(demand: Sequence[float], per_node: float) -> list[int]:
    """Nodes of one shape needed per step for a demand in the class's unit.

    >>> nodes_needed([0.0, 3.0, 8.0, 9.0], per_node=8)
    [0, 1, 1, 2]
    """
    if per_node <= 0:
        raise ValueError(f"per_node must be > 0, got {per_node:g}")
    return [max(0, math.ceil(value / per_node - 1e-9)) for value in demand]


def _busy_runs(needed: Sequence[int], index: int) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    start: int | None = None
    for k, count in enumerate(needed):
        if count > index and start is None:
            start = k
        elif count <= index and start is not None:
            runs.append((start, k))
            start = None
    if start is not None:
        runs.append((start, len(needed)))
    return runs


def oracle_fleet(needed: Sequence[int], lead: int) -> list[NodeSpan]:
    """The oracle's nodes for a per-step count of nodes needed, with a lead time of `lead`
    steps. Sorted by node index, then time.

    >>> [(s.request, s.usable, s.release) for s in oracle_fleet([0, 0, 0, 1, 0, 0, 1, 0], lead=2)]
    [(1, 3, 7)]
    """
    if lead < 0:
        raise ValueError(f"lead must be >= 0, got {lead}")
    spans = []
    for index in range(max(needed, default=0)):
        merged: list[tuple[int, int]] = []
        for start, end in _busy_runs(needed, index):
            if merged and start - merged[-1][1] <= lead:
                merged[-1] = (merged[-1][0], end)
            else:
                merged.append((start, end))
        for start, end in merged:
            request = 0 if start == 0 else max(0, start - lead)
            spans.append(NodeSpan(index, request, start, end))
    return spans


def peak_demand(
    records: Iterable[DemandRecord], step: float, steps: int
) -> dict[DemandClass, list[float]]:
    """Per class, the most demand present at any instant of each step [k*step, (k+1)*step),
    for k < `steps`: a pod shorter than a step still counts where a sample at the step's start
    would miss it. A record is present on [arrival, end).

    >>> a = DemandClass("A100")
    >>> peak_demand([DemandRecord(a, 10, 8, end=20), DemandRecord(a, 30, 4, end=700)], 300, 3)
    {DemandClass(device='A100', profile='gpu', gang='1'): [8.0, 4.0, 4.0]}
    """
    if step <= 0:
        raise ValueError(f"step must be > 0, got {step:g}")
    changes: dict[DemandClass, list[tuple[float, float]]] = {}
    for record in records:
        end = math.inf if record.end is None else record.end
        if end <= record.arrival:
            continue
        events = changes.setdefault(record.demand_class, [])
        events.append((record.arrival, record.amount))
        events.append((end, -record.amount))
    peaks: dict[DemandClass, list[float]] = {}
    for demand_class in sorted(changes):
        # Departures before arrivals at one instant: a pod leaving at t is gone at t.
        events = sorted(changes[demand_class], key=lambda e: (e[0], e[1] > 0))
        row = [0.0] * steps
        level = 0.0
        position = 0
        for k in range(steps):
            start, end = k * step, (k + 1) * step
            while position < len(events) and events[position][0] <= start:
                level += events[position][1]
                position += 1
            peak = level
            while position < len(events) and events[position][0] < end:
                level += events[position][1]
                position += 1
                peak = max(peak, level)
            row[k] = max(0.0, peak)
        peaks[demand_class] = row
    return peaks


def held_nodes(spans: Sequence[NodeSpan], steps: int) -> list[int]:
    """The oracle's nodes held (requested, not yet released) at each step k < `steps`.

    >>> held_nodes(oracle_fleet([0, 0, 0, 1, 0, 0, 1, 0], lead=2), 8)
    [0, 1, 1, 1, 1, 1, 1, 0]
    """
    held = [0] * steps
    for span in spans:
        for k in range(max(0, span.request), min(steps, span.release)):
            held[k] += 1
    return held


def node_steps(spans: Sequence[NodeSpan]) -> int:
    """Node-steps the oracle bills (times step / 3600 for node-hours)."""
    return sum(span.steps for span in spans)


def share_of_oracle(saving: float, oracle_saving: float) -> float | None:
    """A predictor's saving as a fraction of the oracle's (§9.5); None when the oracle saves
    nothing (nothing to share).

    >>> share_of_oracle(30.0, 120.0)
    0.25
    """
    return None if oracle_saving == 0 else saving / oracle_saving
