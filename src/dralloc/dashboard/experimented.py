"""The dashboard over the FGD experiment's final cluster (`dralloc dashboard --fgd TRACE`):
one run of `dralloc simulate --mode fgd` in this process and the cluster it leaves, drawn as
the offline dashboard draws a dump.

The run is the simulator's for one policy and seed (`sim.experiment.run_fgd`: the same
trace, tuning to 130% of capacity and node ranking, hence the same placements): pods arrive
and never leave, and a pod that fits no node is dropped. The cluster drawn is the run's
scheduler cache at its end (`RunResult.cache`): every node, each GPU's claims and pods,
utilization and cost. The dropped pods are the pending ones (`RunResult.unplaced`), and their
claims are what waits for the fragmentation tile, as a scheduler would keep them queued: the
tile is then the share of the free GPU capacity on nodes where the typical dropped pod
cannot be placed, the stranded capacity the experiment measures.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from dralloc.dashboard.fleet import PendingPodView, PriceBook, build_fleet
from dralloc.dashboard.replayed import as_option, with_trace_models
from dralloc.errors import InputError
from dralloc.sim.experiment import run_fgd
from dralloc.sim.traces.resolve import resolve_arrival_trace

__all__ = ["ExperimentState", "experiment_state"]

JSON = dict[str, Any]


@dataclass(frozen=True)
class ExperimentState:
    """The fleet document of an FGD run's end, and the pods it dropped (pod -> message)."""

    document: JSON
    dropped: dict[str, str]

    def explain(self, pod: str) -> JSON | None:
        """The answer `/api/explain` gives for a pod the run dropped (None for any other)."""
        if pod not in self.dropped:
            return None
        return {"pod": pod, "message": self.dropped[pod]}


def experiment_state(
    workload: str,
    policy: str,
    seed: int,
    *,
    trace_dir: str | None = None,
    prices: PriceBook | None = None,
    generated_at: str = "",
) -> ExperimentState:
    """Run the FGD experiment on `workload` with `policy` and `seed` and draw the cluster it
    leaves. InputError naming `--fgd <workload>` for a trace that cannot be read."""
    try:
        trace = resolve_arrival_trace(workload, trace_dir)
    except InputError as err:
        # The openb loader names the trace as `--trace <workload>`, or not at all.
        named = [
            p if p.file else dataclasses.replace(p, file=f"--trace {workload}")
            for p in err.problems
        ]
        raise InputError([as_option(p, "--fgd") for p in named]) from err
    result = run_fgd(trace, policy, seed)
    assert result.cache is not None  # run_fgd always returns the cache it ran on
    message = (
        "fitted no node when it arrived: the FGD experiment drops such a pod (nothing "
        "departs, so the cluster stays as full as the arrivals made it)"
    )
    dropped = {pod: message for pod, _ in result.unplaced}
    document = build_fleet(
        result.cache,
        pending=[PendingPodView(pod, text, "unschedulable") for pod, text in dropped.items()],
        waiting_claims=[claim for _, claim in result.unplaced if claim is not None],
        prices=with_trace_models(prices or PriceBook(None), trace.models),
        generated_at=generated_at,
        source=f"fgd: {workload}, {policy}, seed {seed}",
    )
    document["notes"] = [
        f"the cluster the FGD experiment leaves: {result.pods:,} pods arrived (the trace "
        f"tuned to 130% of its {result.total_gpus:,} GPUs), {result.scheduled:,} placed, "
        f"{len(dropped):,} dropped (listed as pending)",
        "fragmentation: the free GPU capacity on nodes where the typical dropped pod's "
        "claim cannot be placed",
    ]
    return ExperimentState(document, dropped)
