"""`dralloc dashboard --replay TRACE` (and `--fgd TRACE`): the options that pick one simulated
run, checked as `dralloc simulate` checks them (the same option names and messages, exit 2
naming the option, the file and the field), and the run published to the dashboard. Light at
import: the bodies import the simulator.

A replay (`replay_spec`, `replay_dashboard`) is `dralloc simulate --mode replay`'s run for one
policy, queue policy and seed, with `--node-events FILE` and `--autoscaling FILE`
(`--autoscaling-objects FILE`) as simulate takes them; `dashboard.replayed` runs it and
draws the cluster it leaves. An FGD experiment (`fgd_dashboard`) is `dralloc simulate --mode
fgd`'s run: pods arrive and never leave until the cluster is full, and the cluster drawn is
the one its last pod leaves (`sim.experiment.run_fgd`'s final cache).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dralloc.dashboard import PriceBook, Published
    from dralloc.dashboard.server import Explainer
    from dralloc.sim.campaign import RunSpec


def _moment(now: float | None) -> tuple[float, str]:
    """`now` (else the wall clock) and its UTC stamp, as the document's `generatedAt`."""
    import datetime
    import time

    moment = time.time() if now is None else now
    stamp = datetime.datetime.fromtimestamp(moment, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return moment, stamp


def _check_policy(policy: str) -> None:
    from dralloc.errors import InputError, Problem
    from dralloc.sim.experiment import POLICIES

    if policy not in POLICIES:
        message = f"unknown policy {policy!r} (known: {', '.join(POLICIES)})"
        raise InputError([Problem("--policy", "", "", message)])


def replay_spec(
    workload: str,
    policy: str,
    seed: int,
    *,
    queues: str = "",
    trace_dir: str | None = None,
    node_events: str | None = None,
    autoscaling: str | None = None,
    autoscaling_objects: str | None = None,
) -> RunSpec:
    """The run `--replay workload` asks for, its options checked (InputError naming the
    option; `--node-events` problems name the file, line and field, as simulate's do)."""
    from dralloc.errors import InputError, Problem
    from dralloc.sim.campaign import RunSpec
    from dralloc.sim.queue_replay import parse_queue_policies
    from dralloc.sim.traces.node_events import load_node_events

    _check_policy(policy)
    queue = ""
    if queues:
        try:
            names = parse_queue_policies(queues)
        except ValueError as err:
            raise InputError([Problem("--queues", "", "", str(err))]) from None
        if len(names) != 1:
            message = f"{queues}: one queue policy, the run to draw"
            raise InputError([Problem("--queues", "", "", message)])
        queue = "" if names[0] == "none" else names[0]
    if autoscaling is not None and "+tas" in queue:
        # As simulate: TAS's domains are the trace's nodes, which an autoscaled fleet replaces.
        message = "+tas cannot be combined with --autoscaling yet"
        raise InputError([Problem("--queues", "", "", message)])
    if autoscaling_objects is not None and autoscaling is None:
        message = "needs --autoscaling (the fleet they act on)"
        raise InputError([Problem("--autoscaling-objects", "", "", message)])
    events = load_node_events(node_events) if node_events is not None else ()
    return RunSpec(
        workload,
        policy,
        seed,
        trace_dir,
        node_events=events,
        queues=queue,
        autoscaling=autoscaling or "",
        autoscaling_objects=autoscaling_objects or "",
    )


def replay_dashboard(
    spec: RunSpec,
    at: float | None,
    prices: PriceBook,
    published: Published,
    now: float | None = None,
) -> Explainer:
    """Replay `spec` (`dashboard.replayed`) and publish the cluster it leaves and its
    history; the explainer answers for the pods it left pending. InputError naming the
    option for what cannot be replayed."""
    from dralloc.dashboard.replayed import replayed_state

    state = replayed_state(spec, at=at, prices=prices, generated_at=_moment(now)[1])
    for sample in state.history[:-1]:
        published.publish(state.document, sample)
    published.publish(state.document, state.history[-1] if state.history else None)
    return state.explain


def fgd_dashboard(
    workload: str,
    policy: str,
    seed: int,
    trace_dir: str | None,
    prices: PriceBook,
    published: Published,
    now: float | None = None,
) -> Explainer:
    """Run the FGD experiment (`dashboard.experimented`) and publish the cluster it leaves;
    the explainer answers for the pods it dropped. InputError naming the option."""
    from dralloc.dashboard import Sample
    from dralloc.dashboard.experimented import experiment_state

    _check_policy(policy)
    moment, stamp = _moment(now)
    state = experiment_state(
        workload, policy, seed, trace_dir=trace_dir, prices=prices, generated_at=stamp
    )
    published.publish(state.document, Sample.of(moment, state.document))
    return state.explain
