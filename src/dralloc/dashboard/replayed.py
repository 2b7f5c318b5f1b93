"""The dashboard over a simulation's final state: one replay run in this process, to its end
or to a moment on the trace's clock, and the cluster it leaves, drawn as the offline
dashboard draws a dump (`dralloc dashboard --replay TRACE`).

The run is `dralloc simulate --mode replay`'s for one policy, queue policy and seed (the same
trace, the same seeded node ranking, hence the same placements): the replay engine's
observer keeps its scheduler cache, and once the run ends the fleet document is built from
it (`build_fleet`): every node, each GPU's claims and pods (MIG instances on their slices,
shares), utilization, the fragmentation tile and cost. With `at`, the replay stops there
(`ReplayOptions.horizon`), which shows the cluster busy; at its natural end a replay has
finished every pod it could place, so the fleet is mostly free and the pods still pending
are those that never fitted.

The pending pods are the replay's (`PodState.PENDING` at the end), without a scheduler
message: the replay keeps no scheduler to ask afterwards, so the explanation says so. The
history is the replay's own samples on the trace's clock (at most `DEFAULT_HISTORY_LIMIT`,
evenly thinned): utilization, pods pending and fragmentation as the replay measures it
(FGD's F(M) against the trace's typical pods, the measure report.html charts), priced at the
fleet's hourly cost. Kueue's queues of a queued run are not drawn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dralloc.dashboard.fleet import PendingPodView, PriceBook, build_fleet
from dralloc.dashboard.state import DEFAULT_HISTORY_LIMIT, Sample
from dralloc.errors import InputError, Problem
from dralloc.scheduler.cache import SchedulerCache
from dralloc.sim.campaign import RunSpec, replay_autoscaling
from dralloc.sim.job_replay import resolve_job_replay
from dralloc.sim.openb_objects import NAMESPACE
from dralloc.sim.prices import price_of
from dralloc.sim.queue_replay import KueueAdmission, queue_policy
from dralloc.sim.replay import ReplayOptions, replay
from dralloc.sim.replay.results import PodState, ReplayResult
from dralloc.sim.replay.results import Sample as ReplaySample
from dralloc.sim.traces.model import GpuModels
from dralloc.sim.traces.node_events import with_node_events

__all__ = ["ReplayedState", "replayed_state"]

JSON = dict[str, Any]


@dataclass(frozen=True)
class ReplayedState:
    """The fleet document of a replay's last moment, its history, and what to explain."""

    document: JSON
    history: tuple[Sample, ...]
    result: ReplayResult
    queued: bool = False

    def explain(self, pod: str) -> JSON | None:
        """The answer `/api/explain` gives for a pod the replay left pending (None for any
        other pod)."""
        waiting = {p.pod: p.message for p in self._pending()}
        if pod not in waiting:
            return None
        return {"pod": pod, "message": waiting[pod]}

    def _pending(self) -> list[PendingPodView]:
        return _pending(self.result, self.queued)


def _pending(result: ReplayResult, queued: bool) -> list[PendingPodView]:
    waits = "its queue's admission or a node" if queued else "a node"
    return [
        PendingPodView(
            f"{NAMESPACE}/{pod.name}",
            f"waiting for {waits} when the replay ended at {result.end_time:,.0f} s (arrived "
            f"at {pod.arrival:,.0f} s); the replay keeps no scheduler to explain it "
            "afterwards: `dralloc simulate`'s report tells how long pods waited",
            "unschedulable",
        )
        for pod in result.pods
        if pod.state is PodState.PENDING
    ]


def replayed_state(
    spec: RunSpec,
    *,
    at: float | None = None,
    prices: PriceBook | None = None,
    generated_at: str = "",
) -> ReplayedState:
    """Replay `spec` in this process (to `at` seconds on the trace's clock, else to its end)
    and draw the cluster it leaves. InputError for a trace, queue policy or moment that
    cannot be replayed, naming the option."""
    if at is not None and not at >= 0:  # `not >=` also refuses nan
        raise InputError([Problem("--at", "", "", f"{at:g} is not a number of seconds >= 0")])
    trace, gangs, jobs = resolve_job_replay(spec.workload, spec.trace_dir)
    trace = with_node_events(trace, spec.node_events)
    admission = None
    if spec.queues:
        if jobs is None or not jobs.tenants:
            message = (
                f"--replay {spec.workload} has no tenants to make queues of (a job trace "
                "with tenants is needed: synthetic-jobs, itp-elasticflow, dlrm-jobs)"
            )
            raise InputError([Problem("--queues", "", "", message)])
        admission = KueueAdmission(jobs, queue_policy(spec.queues), replayed=trace)
    options = ReplayOptions(horizon=at, autoscaling=replay_autoscaling(spec.autoscaling))
    kept: list[SchedulerCache] = []

    def keep(time: float, cache: SchedulerCache) -> None:
        del time
        if not kept:
            kept.append(cache)  # the engine's one cache: its state when the run ends

    result = replay(
        trace, spec.policy, spec.seed, options, observer=keep, gangs=gangs, admission=admission
    )
    prices = _with_trace_models(prices or PriceBook(None), trace.models)
    if not kept:
        message = f"nothing happened in {spec.workload} before {at:g} s" if at is not None else ""
        raise InputError([Problem("--at" if at is not None else "--replay", "", "", message)])
    label = f"{spec.policy} / {spec.queues}" if spec.queues else spec.policy
    document = build_fleet(
        kept[0],
        pending=_pending(result, bool(spec.queues)),
        prices=prices,
        generated_at=generated_at,
        source=f"replay: {spec.workload}, {label}, seed {spec.seed}",
    )
    counts = {state: 0 for state in PodState}
    for pod in result.pods:
        counts[pod.state] += 1
    document["notes"] = [
        f"the cluster as the replay leaves it at {result.end_time:,.0f} s on the trace's clock"
        f"{' (--at)' if at is not None else ''}: {counts[PodState.COMPLETED]:,} pods "
        f"completed, {counts[PodState.RUNNING]:,} running, {counts[PodState.PENDING]:,} "
        f"pending, {counts[PodState.NOT_ARRIVED]:,} not arrived yet",
        "history: the replay's samples on the trace's clock; its fragmentation is FGD's "
        "measure against the trace's typical pods, as report.html charts it",
    ]
    if spec.queues:
        document["notes"].append(f"queues ({spec.queues}) shaped the run but are not drawn")
    cost = float(document["summary"]["costPerHour"])
    return ReplayedState(document, _history(result.samples, cost), result, bool(spec.queues))


def _with_trace_models(book: PriceBook, models: GpuModels) -> PriceBook:
    """`book` that also prices the trace's GPU models by the product names their devices
    publish (a trace's own models, openb's G2 and G3 among them, are not all in the catalog),
    as `dralloc simulate` prices them: by the trace's code, then by the catalog name."""
    names = {code: model.name for code, model in models.by_code.items()}
    extra = {
        model.product_name: price
        for code, model in models.by_code.items()
        if (price := price_of(code, names, book.prices)) is not None
    }
    return PriceBook(book.catalog, {**extra, **book.prices})


def _history(samples: tuple[ReplaySample, ...], cost_per_hour: float) -> tuple[Sample, ...]:
    step = max(1, -(-len(samples) // DEFAULT_HISTORY_LIMIT))
    return tuple(
        Sample(
            time=s.time,
            utilization=round(s.utilization, 4),
            fragmentation=round(s.fragmentation, 4),
            used_gpus=s.allocated_milli / 1000,
            gpus=s.capacity_milli // 1000,
            pending_pods=s.pending,
            cost_per_hour=cost_per_hour,
            idle_cost_per_hour=round(cost_per_hour * (1 - s.utilization), 4),
        )
        for s in samples[::step]
    )
