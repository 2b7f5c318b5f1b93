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
fleet's hourly cost. A queued run's ClusterQueues are drawn as the admission leaves them
(usage against quota per flavor, `dashboard.queues`); its pending pods whose job the admission
has not admitted are listed in the `admission` queue, those of admitted jobs (in the
scheduling queue, waiting for a node) in `unschedulable`. Which is which is read from the
admission's own records (`KueueAdmission.jobs`: a job that holds quota has its pods released
to the scheduler), so the engine's run is left unwrapped.

The run is set up as `dralloc simulate` sets one up (`campaign.prepare_replay`: the trace
with the spec's node events, gangs, jobs, the autoscaled fleet of `spec.autoscaling`); with
an autoscaled fleet the cluster drawn is the fleet's nodes at that moment.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from dralloc.api.resource import ResourceClaim
from dralloc.dashboard.fleet import PendingPodView, PriceBook, build_fleet
from dralloc.dashboard.queues import cluster_queue_documents
from dralloc.dashboard.state import DEFAULT_HISTORY_LIMIT, Sample
from dralloc.errors import InputError, Problem
from dralloc.scheduler.cache import SchedulerCache
from dralloc.sim.campaign import RunSpec, prepare_replay
from dralloc.sim.openb_objects import NAMESPACE, pod_objects
from dralloc.sim.prices import price_of
from dralloc.sim.queue_replay import KueueAdmission
from dralloc.sim.replay import ReplayOptions, replay
from dralloc.sim.replay.results import PodState, ReplayResult
from dralloc.sim.replay.results import Sample as ReplaySample
from dralloc.sim.traces.model import GpuModels
from dralloc.sim.traces.timeline import ReplayTrace

__all__ = ["ReplayedState", "replayed_state"]

JSON = dict[str, Any]


@dataclass(frozen=True)
class ReplayedState:
    """The fleet document of a replay's last moment, its history, and what to explain.
    `scheduling`: in a queued run, the pods in the scheduling queue at the end (the other
    pending pods wait for their queue's admission); None without queues."""

    document: JSON
    history: tuple[Sample, ...]
    result: ReplayResult
    scheduling: frozenset[str] | None = None

    def explain(self, pod: str) -> JSON | None:
        """The answer `/api/explain` gives for a pod the replay left pending (None for any
        other pod)."""
        waiting = {p.pod: p.message for p in _pending(self.result, self.scheduling)}
        if pod not in waiting:
            return None
        return {"pod": pod, "message": waiting[pod]}


ADMISSION_QUEUE = "admission"


def _pending(result: ReplayResult, scheduling: frozenset[str] | None) -> list[PendingPodView]:
    """The pods `result` left pending: waiting for a node (`unschedulable`, as the scheduling
    queue calls it), or in a queued run, when not in the scheduling queue (`scheduling`), for
    their queue's admission (`admission`)."""
    views = []
    for pod in result.pods:
        if pod.state is not PodState.PENDING:
            continue
        key = f"{NAMESPACE}/{pod.name}"
        admitted = scheduling is None or key in scheduling
        waits = "a node" if scheduling is None else "a node, admitted by its queue"
        if not admitted:
            waits = "its queue's admission"
        message = (
            f"waiting for {waits} when the replay ended at {result.end_time:,.0f} s (arrived "
            f"at {pod.arrival:,.0f} s); the replay keeps no scheduler to explain it "
            "afterwards: `dralloc simulate`'s report tells how long pods waited"
        )
        views.append(PendingPodView(key, message, "unschedulable" if admitted else ADMISSION_QUEUE))
    return views


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
    if at is not None and not 0 <= at < math.inf:  # `not` also refuses nan
        message = f"{at:g} is not a finite number of seconds >= 0"
        raise InputError([Problem("--at", "", "", message)])
    try:
        prepared = prepare_replay(spec)
    except InputError as err:
        raise InputError([as_option(p, "--replay") for p in err.problems]) from err
    trace = prepared.trace
    kept: list[SchedulerCache] = []

    def keep(time: float, cache: SchedulerCache) -> None:
        del time
        if not kept:
            kept.append(cache)  # the engine's one cache: its state when the run ends

    admissions: list[KueueAdmission | None] = []

    def run(horizon: float | None) -> ReplayResult:
        kept.clear()
        admissions[:] = [prepared.admission()]  # the admission is stateful: one per run
        options = ReplayOptions(horizon=horizon, autoscaling=prepared.autoscaling)
        return replay(
            trace,
            spec.policy,
            spec.seed,
            options,
            observer=keep,
            gangs=prepared.gangs,
            admission=admissions[0],
        )

    # The engine samples its measures every interval up to the horizon, so a horizon far past
    # the trace's last event costs time for nothing: past the last arrival or node event, run
    # to the natural end first, and only when pods still ran at `at` replay again up to it.
    past_end = at is not None and at > _last_known_event(trace)
    result = run(None if past_end else at)
    if past_end and at is not None and result.end_time > at:
        result = run(at)
    stopped_early = past_end and at is not None and result.end_time < at
    prices = with_trace_models(prices or PriceBook(None), trace.models)
    if not kept:
        if at is not None:
            raise InputError(
                [Problem("--at", "", "", f"nothing happened in {spec.workload} before {at:g} s")]
            )
        message = f"{spec.workload} has nothing to replay: no pod arrives and no node changes"
        raise InputError([Problem("--replay", "", "", message)])
    admission = admissions[0]
    scheduling = None if admission is None else _scheduling(admission, result)
    label = f"{spec.policy} / {spec.queues}" if spec.queues else spec.policy
    document = build_fleet(
        kept[0],
        pending=_pending(result, scheduling),
        waiting_claims=_held_claims(trace, result, scheduling),
        prices=prices,
        generated_at=generated_at,
        source=f"replay: {spec.workload}, {label}, seed {spec.seed}",
        cluster_queues=(
            ()
            if admission is None
            else cluster_queue_documents(admission.state, admission.manager, admission.workloads)
        ),
    )
    counts = {state: 0 for state in PodState}
    for pod in result.pods:
        counts[pod.state] += 1
    asked = " (--at)" if at is not None and not stopped_early else ""
    document["notes"] = [
        f"the cluster as the replay leaves it at {result.end_time:,.0f} s on the trace's clock"
        f"{asked}: {counts[PodState.COMPLETED]:,} pods "
        f"completed, {counts[PodState.RUNNING]:,} running, {counts[PodState.PENDING]:,} "
        f"pending, {counts[PodState.NOT_ARRIVED]:,} not arrived yet",
        "history: the replay's samples on the trace's clock; its fragmentation is FGD's "
        "measure against the trace's typical pods, as report.html charts it",
    ]
    if stopped_early:
        document["notes"].insert(
            0,
            f"--at {at:g} s is past the replay's last event: it stopped at "
            f"{result.end_time:,.0f} s, drawn here",
        )
    if admission is not None:
        document["notes"].append(
            f"queues ({spec.queues}): the ClusterQueues' usage as the admission leaves it; "
            "pods of jobs it has not admitted wait in the `admission` queue"
        )
    if prepared.autoscaling is not None:
        document["notes"].append(
            f"autoscaled fleet ({spec.autoscaling}): its nodes at that moment, priced per GPU "
            "as --price says, not at the file's node prices"
        )
    cost = float(document["summary"]["costPerHour"])
    return ReplayedState(document, _history(result.samples, cost), result, scheduling)


def _scheduling(admission: KueueAdmission, result: ReplayResult) -> frozenset[str]:
    """The pods `result` left pending whose job `admission` admitted: released to the
    scheduler, so in its scheduling queue (Kueue admits a job's pods together; a job
    preempted or evicted holds no quota again until admitted anew)."""
    return frozenset(
        f"{NAMESPACE}/{pod.name}"
        for index, pod in enumerate(result.pods)
        if pod.state is PodState.PENDING
        and index < len(admission.owner)
        and admission.jobs[admission.owner[index]].admitted
    )


def _held_claims(
    trace: ReplayTrace, result: ReplayResult, scheduling: frozenset[str] | None
) -> list[ResourceClaim]:
    """The claims of the pods a queued run's admission still holds when it ends (not in the
    scheduling queue, so not in the cache), as the pods will ask for them once admitted."""
    if scheduling is None:
        return []
    held = {
        pod.name
        for pod in result.pods
        if pod.state is PodState.PENDING and f"{NAMESPACE}/{pod.name}" not in scheduling
    }
    claims = []
    for timed in trace.pods:
        if timed.pod.name in held:
            claim = pod_objects(timed.pod, trace.models, trace.source).claim
            if claim is not None:
                claims.append(claim)
    return claims


def as_option(problem: Problem, option: str) -> Problem:
    """`problem` of a trace loader, which names the trace as `--trace <workload>` (simulate's
    option), naming it as this command takes it: `<option> <workload>`."""
    trace = "--trace "
    file, obj = (
        f"{option} {text.removeprefix(trace)}" if text.startswith(trace) else text
        for text in (problem.file, problem.obj)
    )
    return dataclasses.replace(problem, file=file, obj=obj)


def _last_known_event(trace: ReplayTrace) -> float:
    """The last arrival or node event of `trace`, in seconds (completions depend on the run)."""
    times = [p.arrival for p in trace.pods] + [e.time for e in trace.node_events]
    return max(times, default=0.0)


def with_trace_models(book: PriceBook, models: GpuModels) -> PriceBook:
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
