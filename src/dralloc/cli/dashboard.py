"""`dralloc dashboard -f FILES`: the dashboard over objects read from files (or, with
`--replay TRACE`, over a simulation's final state), and the wiring of `dralloc scheduler
--dashboard`. Light at import (typer only): the bodies import the rest.

Offline, the input is read as `dralloc schedule -f` reads it and scheduled the same way (the
claim controller's claims, running pods on their nodes, the pending ones in queue order); the
dashboard shows the state that leaves: where every claim's devices are, and the pods still
pending with `dralloc schedule`'s message. ClusterQueues show their `.status` as given,
unless the input holds Jobs or JobSets queued for Kueue: then they show what `dralloc queue
-f` makes of them (`run_queue`: admitted and pending Workloads, usage against quota), and
the fleet is what that run scheduled (`QueueRun.scheduled_input`: the admitted jobs started,
their pods placed or pending, the other jobs suspended); the document's `notes` (shown on
the page) say so. Clicking a pending pod asks `/api/explain`, which answers with `dralloc
explain --pod NS/NAME -o json`'s document for the same input (`explain_pod_in_input`),
computed once per pod and remembered (the input never changes).

Over a simulation, `cli/dashboard_replay.py` runs it in this process and publishes the cluster
it leaves: `--replay TRACE` one run of `dralloc simulate --mode replay` (`dashboard.replayed`,
with the replay's samples as the history; `--node-events`, `--autoscaling` and
`--autoscaling-objects` as simulate takes them; a queued run's ClusterQueues drawn), `--fgd
TRACE` one run of the FGD experiment (`dashboard.experimented`, the pods it dropped pending).

Live, `explain_live_pod` gives the same document from the live scheduler's cache: every
Filter plugin of the pod's profile on every node (`scheduler.explain.explain_pod`), each of
its unallocated claims explained by the allocator on each node, and what a scheduling
cycle would do now as the message, computed in the scheduler's event loop, so it reads the
cache between two cycles and writes nothing.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dralloc.cli.commands import epilog
from dralloc.cli.options import RecursiveOption, Validate, ValidateOption, VerboseOption

if TYPE_CHECKING:
    from dralloc.api.core import Pod
    from dralloc.api.resource import ResourceClaim
    from dralloc.cli.inputs import ClusterInput
    from dralloc.cli.queue import QueueRun
    from dralloc.dashboard import PriceBook, Published
    from dralloc.dashboard.server import Explainer
    from dralloc.features import Features
    from dralloc.kube.live import LiveScheduler
    from dralloc.scheduler.config import SchedulerConfiguration

TOKEN_ENV = "DRALLOC_DASHBOARD_TOKEN"

DASHBOARD_SHORT_HELP = "Serve a web view of a cluster's accelerators (files, replay)."
DASHBOARD_EPILOG = epilog(
    [
        "dralloc dashboard -f cluster.yaml",
        "dralloc dashboard -f fleet.yaml -f pods.yaml --address 127.0.0.1:9090",
        "dralloc dashboard -f dump/ -R --address 0.0.0.0:8080 --token-file token.txt",
        "dralloc dashboard --replay synthetic-jobs --queues fair --at 36000",
        "dralloc dashboard --replay synthetic --autoscaling fleet.yaml --at 7200",
        "dralloc dashboard --fgd openb:default --policy fgd --seed 1",
    ],
    {
        0: "stopped by SIGINT or SIGTERM (or --for elapsed)",
        2: "invalid input, an address that cannot be used, or no token off loopback",
    },
)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def read_token(path: Path | None, flag: str) -> str | None:
    """The bearer token: the file's first line, else $DRALLOC_DASHBOARD_TOKEN, else None."""
    from dralloc.errors import InputError, Problem

    if path is not None:
        try:
            text = path.read_text().strip()
        except OSError as err:
            raise InputError(
                [Problem(flag, "", "", f"cannot read {path}: {err.strerror or err}")]
            ) from None
        if not text:
            raise InputError([Problem(flag, "", "", f"{path} is empty")])
        return text.splitlines()[0].strip()
    return os.environ.get(TOKEN_ENV, "").strip() or None


def price_book(prices: str | None) -> PriceBook:
    from dralloc.dashboard import PriceBook
    from dralloc.devices.catalog import load_catalog
    from dralloc.errors import InputError, Problem
    from dralloc.sim.prices import DEFAULT_PRICES, check_price_models, parse_prices

    catalog = load_catalog()
    table = dict(DEFAULT_PRICES)
    if prices:
        try:
            given = parse_prices(prices)
            # A price is looked up by catalog name or by the product name a device publishes.
            products = {g.product_name for g in catalog.gpus}
            check_price_models(
                {m: p for m, p in given.items() if m not in products},
                {*DEFAULT_PRICES, *(g.name for g in catalog.gpus)},
            )
            table.update(given)
        except ValueError as err:
            raise InputError([Problem("--price", "", "", str(err))]) from None
    return PriceBook(catalog, table)


def queued_jobs(cluster: ClusterInput) -> list[str]:
    """`Kind namespace/name` of the input's Jobs and JobSets that name a Kueue LocalQueue."""
    from dralloc.api.workloads import Job, JobSet
    from dralloc.queueing.jobs import QUEUE_NAME_LABEL

    return [
        f"{o.kind} {o.obj.metadata.namespace or 'default'}/{o.obj.metadata.name}"
        for o in cluster.objects
        if isinstance(o.obj, Job | JobSet) and o.obj.metadata.labels.get(QUEUE_NAME_LABEL)
    ]


def _cluster_queues(cluster: ClusterInput) -> list[dict[str, Any]]:
    found = [o.raw for o in cluster.objects if o.kind == "ClusterQueue"]
    return found + [s.raw for s in cluster.set_aside if s.kind == "ClusterQueue"]


def report_set_aside(cluster: ClusterInput) -> None:
    """-v: what the dashboard does not use. ClusterQueues are shown; with queued Jobs the
    Kueue objects admit them (`dralloc queue`'s run) and the admitted jobs' pods are drawn;
    without a ClusterQueue queued Jobs stay suspended."""
    from collections import Counter

    from dralloc.queueing.objects import GROUP, KINDS

    queued = queued_jobs(cluster)
    evaluated = bool(queued and _cluster_queues(cluster))
    if evaluated:
        queued = []  # admitted and drawn as `dralloc queue` starts them
    counts = Counter(
        f"{item.kind} ({item.api_version})"
        for item in cluster.set_aside
        if item.kind != "ClusterQueue"
        and not (evaluated and item.api_version.rpartition("/")[0] == GROUP and item.kind in KINDS)
    )
    for job in queued:
        kind = job.partition(" ")[0]
        counts[f"{kind} queued for Kueue, suspended: no ClusterQueue (see dralloc queue)"] += 1
    if counts:
        listed = ", ".join(f"{count} {kind}" for kind, count in counts.items())
        sys.stderr.write(f"set aside, the dashboard does not use them: {listed}\n")


def queue_statuses(run: QueueRun) -> dict[str, dict[str, Any]]:
    """ClusterQueue name -> a Kueue-shaped `.status` from a `dralloc queue` run
    (`dashboard.queues.cluster_queue_statuses`)."""
    from dralloc.dashboard.queues import cluster_queue_statuses

    return cluster_queue_statuses(run.state, run.manager, run.inputs.workloads)


def held_claims(run: QueueRun) -> list[ResourceClaim]:
    """The claims the pods of the Workloads `run` left pending would ask for
    (`dashboard.queues.held_claims`): their jobs are suspended, so no pod and no claim of
    theirs is in the cache, yet they are what waits (the fragmentation tile weighs them)."""
    from dralloc.dashboard.queues import held_claims as claims_of

    pending = [run.inputs.workloads[key] for key in run.pending()]
    return claims_of(pending, run.inputs.claim_templates)


def offline_dashboard(
    cluster: ClusterInput,
    config: SchedulerConfiguration,
    features: Features,
    *,
    seed: int | None = None,
    prices: PriceBook | None = None,
    source: str = "",
    now: float | None = None,
    published: Published | None = None,
) -> tuple[Published, Explainer]:
    """Schedule `cluster` as `dralloc schedule` does and publish the state that leaves (to
    `published`, else a new one); the explainer answers for the pods left pending.
    InputError for invalid input."""
    import datetime
    import threading
    import time

    from dralloc.cli.podexplain import explain_pod_in_input, pod_report_json
    from dralloc.cli.schedule import plan_schedule
    from dralloc.dashboard import PendingPodView, Published, Sample, build_fleet
    from dralloc.scheduler.offline import queue_order, schedule_queue

    queued = queued_jobs(cluster)
    cluster_queues = _cluster_queues(cluster)
    notes = []
    run: QueueRun | None = None
    if queued and cluster_queues:
        # Kueue's admission as `dralloc queue -f` runs it; the fleet is then what its step 4
        # scheduled: the admitted jobs' pods placed, the others' jobs suspended.
        from dralloc.cli.queue import run_queue

        run = run_queue(cluster, config, features, seed)
        if run.scheduled_input is not None:
            cluster = run.scheduled_input
    plan, frameworks = plan_schedule(cluster, config, features, seed)
    queue = queue_order(plan)
    outcomes, _ = schedule_queue(plan, frameworks, queue)
    pending = [
        PendingPodView(
            outcome.pod.key,
            outcome.message,
            "gated" if entry.gated is not None else "unschedulable",
            entry.pod.spec.scheduler_name or "",
        )
        for entry in queue
        if not (outcome := outcomes[entry.index]).is_scheduled
    ]
    if run is not None:
        statuses = queue_statuses(run)
        cluster_queues = [
            {**q, "status": statuses.get(str((q.get("metadata") or {}).get("name")), {})}
            for q in cluster_queues
        ]
        pods = [p for v in run.pods.values() for p in v]
        placed = sum(1 for _, node in pods if node)
        admitted = len(run.inputs.workloads) - len(run.pending())
        notes.append(
            f"queues: Kueue's admission as `dralloc queue -f` runs it ({admitted} of "
            f"{_count(len(run.inputs.workloads), 'workload')} admitted, {placed} of "
            f"{_count(len(pods), 'pod')} placed); the fleet shows the admitted jobs' pods "
            "where they were placed"
        )
    elif queued:
        notes.append(
            f"{_count(len(queued), 'job')} queued for Kueue ({', '.join(queued[:3])}"
            f"{', ...' if len(queued) > 3 else ''}) and no ClusterQueue: the jobs stay "
            "suspended; `dralloc queue -f` admits them and places their pods"
        )
    moment = time.time() if now is None else now
    stamp = datetime.datetime.fromtimestamp(moment, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    document = build_fleet(
        plan.cache,
        pending=pending,
        cluster_queues=cluster_queues,
        prices=prices,
        generated_at=stamp,
        source=source or "offline",
        waiting_claims=held_claims(run) if run is not None else (),
    )
    if notes:
        document["notes"] = notes
    published = published if published is not None else Published()
    published.publish(document, Sample.of(moment, document))
    waiting = {p.pod for p in pending}
    answers: dict[str, dict[str, Any]] = {}
    lock = threading.Lock()

    def explain(pod: str) -> dict[str, Any] | None:
        if pod not in waiting:
            return None
        with lock:  # one explanation at a time; each is computed once
            if pod not in answers:
                report = explain_pod_in_input(cluster, config, features, pod, seed=seed)
                answers[pod] = pod_report_json(report)
            return answers[pod]

    return published, explain


def explain_live_pod(live: LiveScheduler, pod: Pod) -> dict[str, Any]:
    """`dralloc explain --pod -o json`'s document for a pod the live scheduler has queued,
    from its cache (see the module docstring). Runs in the scheduler's event loop."""
    from dralloc.allocator import Allocator, explain
    from dralloc.cli.podexplain import ClaimReport, PodReport, pod_report_json
    from dralloc.scheduler.cache import pod_claim_keys
    from dralloc.scheduler.config import DEFAULT_SCHEDULER_NAME
    from dralloc.scheduler.explain import explain_pod
    from dralloc.scheduler.framework import PodInfo

    key = f"{pod.metadata.namespace or 'default'}/{pod.metadata.name}"
    frameworks = live.built.frameworks
    framework = frameworks.get(pod.spec.scheduler_name or DEFAULT_SCHEDULER_NAME)
    if framework is None:
        return {"pod": key, "message": "no profile of this scheduler schedules the pod"}
    cache = live.cache
    nodes = cache.snapshot()
    explanation = explain_pod(framework, PodInfo.of(pod), nodes)
    allocator = Allocator(live.options.features)
    sources = {
        entry.name: (
            "resourceClaimName"
            if entry.resource_claim_name is not None
            else f"template {entry.resource_claim_template_name}"
        )
        for entry in pod.spec.resource_claims
    }
    claims = []
    for pod_claim, claim_key in pod_claim_keys(pod):
        source = sources.get(pod_claim, "")
        claim = cache.claims.get(claim_key) if claim_key is not None else None
        if claim is None:
            claims.append(ClaimReport(pod_claim, None, source))
        elif claim.status.allocation is not None:
            claims.append(ClaimReport(pod_claim, claim_key, source, allocated=True))
        else:
            explanations = tuple(
                explain(allocator, n.node, claim, cache.inventory, cache.classes, cache.allocated)
                for n in nodes
            )
            claims.append(ClaimReport(pod_claim, claim_key, source, explanations=explanations))
    feasible = explanation.feasible
    message = explanation.message()
    report = PodReport(
        key,
        explanation=explanation,
        claims=tuple(claims),
        message="" if feasible else message,
        scheduled_to=None,
    )
    document = pod_report_json(report)
    if feasible:
        document["message"] = (
            f"{message}: the next scheduling cycle should place it "
            f"({len(feasible)} node{'s' if len(feasible) != 1 else ''} fit)"
        )
    return document


def dashboard_command(
    files: Annotated[
        list[str] | None,
        typer.Option(
            "-f",
            "--filename",
            metavar="FILE",
            help="YAML or JSON file with the cluster's objects, as `dralloc schedule -f` reads "
            "them (Nodes, ResourceSlices, DeviceClasses, ResourceClaims, Pods, Kueue "
            "ClusterQueues...), or a folder of them (repeatable; '-' reads stdin).",
        ),
    ] = None,
    replay: Annotated[
        str | None,
        typer.Option(
            "--replay",
            metavar="TRACE",
            help="Instead of -f: a simulation's final state. Replays one run of TRACE as "
            "`dralloc simulate --mode replay --trace TRACE` does (same traces and keys; "
            "--policy, --seed, --queues pick the run) and serves the cluster it leaves.",
        ),
    ] = None,
    fgd: Annotated[
        str | None,
        typer.Option(
            "--fgd",
            metavar="TRACE",
            help="Instead of -f: the FGD experiment's final cluster. Runs TRACE (openb:...) as "
            "`dralloc simulate --mode fgd` does (--policy, --seed pick the run) and serves "
            "the cluster its last pod leaves, the pods it dropped listed as pending.",
        ),
    ] = None,
    policy: Annotated[
        str, typer.Option(metavar="POLICY", help="--replay, --fgd: the scheduler policy.")
    ] = "fgd",
    queues: Annotated[
        str | None,
        typer.Option(
            metavar="POLICY",
            help="--replay of a job trace with tenants: one queue policy (fair, "
            "besteffortfifo+placement, ...; none: no queues).",
        ),
    ] = None,
    trace_dir: Annotated[
        str | None,
        typer.Option(
            metavar="DIR", help="--replay, --fgd: a folder holding the traces not packaged."
        ),
    ] = None,
    node_events: Annotated[
        str | None,
        typer.Option(
            "--node-events",
            metavar="FILE",
            help="--replay: nodes joining and leaving, as `dralloc simulate --node-events` "
            "takes them (a CSV time,action,node on the trace's clock).",
        ),
    ] = None,
    autoscaling: Annotated[
        str | None,
        typer.Option(
            "--autoscaling",
            metavar="FILE",
            help="--replay: replace the trace's nodes with an autoscaled fleet, a kind: "
            "Autoscaling file, as `dralloc simulate --autoscaling` takes it; the fleet's "
            "nodes at the moment drawn are shown.",
        ),
    ] = None,
    autoscaling_objects: Annotated[
        str | None,
        typer.Option(
            "--autoscaling-objects",
            metavar="FILE",
            help="With --autoscaling: CapacityBuffers, ProvisioningRequests and their "
            "templates, as `dralloc simulate --autoscaling-objects` takes them.",
        ),
    ] = None,
    at: Annotated[
        float | None,
        typer.Option(
            "--at",
            metavar="SECONDS",
            help="--replay: stop at this time on the trace's clock and show the cluster then "
            "(default: the replay's end, when most pods have finished; a time past it stops "
            "there too).",
        ),
    ] = None,
    address: Annotated[
        str,
        typer.Option(
            "--address",
            metavar="HOST:PORT",
            help="Where to serve the dashboard (port 0: any free port). Off loopback a "
            "bearer token is required.",
        ),
    ] = "127.0.0.1:8080",
    token_file: Annotated[
        Path | None,
        typer.Option(
            "--token-file",
            metavar="FILE",
            help=f"A file holding the bearer token the /api/ endpoints want (default: "
            f"${TOKEN_ENV}); required off loopback.",
            show_default=False,
        ),
    ] = None,
    config: Annotated[
        str | None,
        typer.Option(
            "--config", metavar="FILE", help="A KubeSchedulerConfiguration, as for schedule."
        ),
    ] = None,
    feature_gates: Annotated[
        str,
        typer.Option("--feature-gates", metavar="GATES", help="Gate=true|false pairs."),
    ] = "",
    seed: Annotated[
        int | None,
        typer.Option(
            metavar="N",
            help="Tie-break seed, as for schedule; --replay: the run's seed (default 42).",
        ),
    ] = None,
    price: Annotated[
        str | None,
        typer.Option(
            "--price",
            metavar="MODEL=USD,...",
            help="USD per GPU-hour by catalog name (h100-80gb-sxm=9.5), over the simulator's "
            "illustrative defaults.",
        ),
    ] = None,
    recursive: RecursiveOption = False,
    validate: ValidateOption = Validate.strict,
    verbose: VerboseOption = False,
    run_for: Annotated[
        float | None,
        typer.Option(
            "--for", metavar="SECONDS", help="Stop after this long (default: until signalled)."
        ),
    ] = None,
) -> None:
    """Serve a small read-only web app over the objects of FILES: the fleet as nodes x
    accelerators (MIG instances on their memory slices, shares of time-sliced and MPS GPUs,
    taints), each device's claim and pods, the pods left pending with why (click one),
    Kueue ClusterQueues' usage against their quotas, utilization, fragmentation and cost.
    With --replay TRACE instead of -f: the cluster one simulated replay leaves (at its end,
    or --at a moment of the trace's clock), with the run's utilization over time. With --fgd
    TRACE: the cluster the FGD experiment's run leaves, full, the pods it dropped pending.
    """
    import signal
    import threading

    from dralloc.cli.dashboard_replay import fgd_dashboard, replay_dashboard, replay_spec
    from dralloc.cli.inputs import read_cluster
    from dralloc.cli.options import feature_gates as parse_feature_gates
    from dralloc.cli.options import field_validation, report_reading
    from dralloc.dashboard import DashboardServer, DashboardSettings
    from dralloc.errors import InputError, Problem
    from dralloc.scheduler.config import SchedulerConfiguration, load_config
    from dralloc.scheduler.profiles import plugin_names

    features = parse_feature_gates(feature_gates)
    sources = [
        n for n, v in (("-f FILE", files), ("--replay TRACE", replay), ("--fgd TRACE", fgd)) if v
    ]
    if not sources:
        sys.stderr.write(
            "give the objects with -f FILE, or a simulation with --replay TRACE or --fgd TRACE\n"
        )
        raise typer.Exit(2)
    if len(sources) > 1:
        sys.stderr.write(
            f"give one of -f FILE, --replay TRACE, --fgd TRACE, not {' and '.join(sources)}\n"
        )
        raise typer.Exit(2)
    stray = [
        (name, scope)
        for name, value, scope in (
            ("--queues", queues, "--replay"),
            ("--trace-dir", trace_dir, "--replay and --fgd"),
            ("--at", at, "--replay"),
            ("--node-events", node_events, "--replay"),
            ("--autoscaling", autoscaling, "--replay"),
            ("--autoscaling-objects", autoscaling_objects, "--replay"),
            ("--policy", policy != "fgd", "--replay and --fgd"),
        )
        if value is not None
        and value is not False
        and not (replay is not None or (fgd is not None and scope != "--replay"))
    ]
    for scope in dict.fromkeys(s for _, s in stray):  # one line per scope
        names = [name for name, s in stray if s == scope]
        verb = "applies" if len(names) == 1 else "apply"
        sys.stderr.write(f"{', '.join(names)}: {verb} to {scope} only\n")
    if stray:
        raise typer.Exit(2)
    if run_for is not None and not run_for > 0:  # `not >` also refuses nan
        raise InputError([Problem("--for", "", "", f"{run_for:g} is not a number of seconds > 0")])
    prices = price_book(price)
    settings = DashboardSettings(
        address, read_token(token_file, "--token-file"), "--address", "--token-file"
    )
    # Bind first: a bad address or a port in use exits 2 before the input is scheduled.
    server = DashboardServer.bind(settings)
    try:
        if replay is not None:
            spec = replay_spec(
                replay,
                policy,
                42 if seed is None else seed,
                queues=queues or "",
                trace_dir=trace_dir,
                node_events=node_events,
                autoscaling=autoscaling,
                autoscaling_objects=autoscaling_objects,
            )
            explainer = replay_dashboard(spec, at, prices, server.published)
            published = server.published
        elif fgd is not None:
            seed_of_run = 42 if seed is None else seed
            explainer = fgd_dashboard(fgd, policy, seed_of_run, trace_dir, prices, server.published)
            published = server.published
        else:
            assert files
            cluster = read_cluster(
                files, recursive=recursive, validation=field_validation(validate)
            )
            report_reading(cluster, verbose=False)
            if verbose:
                report_set_aside(cluster)
            configuration = (
                load_config(config, plugin_names()) if config else SchedulerConfiguration()
            )
            published, explainer = offline_dashboard(
                cluster,
                configuration,
                features,
                seed=seed,
                prices=prices,
                source="offline: " + ", ".join(files),
                published=server.published,
            )
        _, document = published.latest()
        assert document is not None
        server.set_explainer(explainer)
        server.start()
        summary = document["summary"]
        sys.stderr.write(
            f"dashboard on {server.url}/ ({_count(summary['nodes'], 'node')}, "
            f"{_count(summary['gpus'], 'GPU')}, {_count(summary['pendingPods'], 'pod')} "
            "pending); Ctrl-C stops\n"
        )
        stop = threading.Event()
        previous = {
            sig: signal.signal(sig, lambda *_: stop.set())
            for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            stop.wait(run_for)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    finally:
        server.stop()
    raise typer.Exit(0)
