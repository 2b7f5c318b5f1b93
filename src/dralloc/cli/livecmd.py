"""`dralloc scheduler`: run as a live secondary scheduler in a Kubernetes cluster. Light at
import (typer only): the command imports `dralloc.kube` and the scheduler in its body."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from dralloc.cli.commands import epilog

SCHEDULER_SHORT_HELP = "Schedule the pods that name it in a live cluster."
SCHEDULER_EPILOG = epilog(
    [
        "dralloc scheduler --owned-nodes dralloc.dev/owner=dralloc",
        "dralloc scheduler --config sched.yaml --kubeconfig admin.conf",
        "dralloc scheduler --controllers scheduler,resourceclaim,gc",
        "dralloc scheduler --controllers job,queue --queue-config kueue.yaml",
        "dralloc scheduler --dashboard 127.0.0.1:8080",
    ],
    {
        0: "stopped by SIGTERM or SIGINT (or --for elapsed) after a clean shutdown",
        1: "leadership lost: a supervisor restarts the process",
        2: "invalid flags, configuration, kubeconfig or --dashboard address",
        3: "the API server could not be used (unreachable, informers never synced)",
    },
)


def scheduler_command(
    kubeconfig: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE",
            help="Kubeconfig to use (default: $KUBECONFIG, else the in-cluster service "
            "account, else ~/.kube/config).",
            show_default=False,
        ),
    ] = None,
    context: Annotated[
        str | None, typer.Option(metavar="NAME", help="Kubeconfig context (default: current).")
    ] = None,
    scheduler_name: Annotated[
        str,
        typer.Option(
            metavar="NAME",
            help="The schedulerName pods ask for, when --config gives no profiles.",
        ),
    ] = "dralloc",
    config: Annotated[
        str | None,
        typer.Option(
            metavar="FILE",
            help="A KubeSchedulerConfiguration: its profiles (schedulerNames), plugins and "
            "GPU policies.",
        ),
    ] = None,
    owned_nodes: Annotated[
        str,
        typer.Option(
            metavar="SELECTOR",
            help="Label selector of the nodes whose devices dralloc may hand out (default: "
            "every node; keep other schedulers off them).",
        ),
    ] = "",
    allow_shared_pools: Annotated[
        bool,
        typer.Option(
            help="Also allocate from pools shared across nodes (nodeSelector, allNodes). "
            "Unsafe when another scheduler can reach those nodes.",
        ),
    ] = False,
    leader_elect: Annotated[
        bool, typer.Option(help="Take part in leader election (Lease kube-system/dralloc).")
    ] = True,
    lease: Annotated[
        str, typer.Option(metavar="NAMESPACE/NAME", help="The Lease for leader election.")
    ] = "kube-system/dralloc",
    feature_gates: Annotated[
        str,
        typer.Option(
            "--feature-gates",
            metavar="GATES",
            help="Comma-separated Gate=true|false pairs; keep them equal to the API "
            "server's (it drops the fields of disabled features).",
            show_default=False,
        ),
    ] = "",
    metrics_bind_address: Annotated[
        str,
        typer.Option(metavar="HOST:PORT", help="Where /metrics, /healthz and /readyz are served."),
    ] = "127.0.0.1:10251",
    controllers: Annotated[
        str,
        typer.Option(
            metavar="NAMES",
            help="Comma-separated: scheduler, resourceclaim, gc, job, replicaset, deployment, "
            "statefulset, jobset, leaderworkerset (needs statefulset), queue (Kueue's admission "
            "for Jobs and JobSets). The controllers are for clusters without "
            "kube-controller-manager (jobset, leaderworkerset and queue: without those "
            "projects' controllers).",
        ),
    ] = "scheduler",
    queue_placement: Annotated[
        bool | None,
        typer.Option(
            "--queue-placement/--no-queue-placement",
            help="With --controllers queue: admit a Workload only if this scheduler's profiles "
            "could place all its pods now (else it waits, reason PlacementInfeasible); "
            "--no-queue-placement admits on quota alone, as Kueue. Default: on when "
            "scheduler runs in this process too (it reads Nodes, ResourceSlices, claims, pods).",
            show_default=False,
        ),
    ] = None,
    queue_config: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE",
            help="With --controllers queue: a Kueue Configuration (config.kueue.x-k8s.io/"
            "v1beta2 or v1beta1) whose waitForPodsReady stanza (timeout, blockAdmission, "
            "requeuingStrategy, recoveryTimeout) the queue controller follows, as Kueue; "
            "other fields are ignored. Default: no waitForPodsReady, as Kueue.",
            show_default=False,
        ),
    ] = None,
    qps: Annotated[float, typer.Option(help="Requests per second to the API server.")] = 50.0,
    burst: Annotated[int, typer.Option(help="Burst of requests to the API server.")] = 100,
    preemption_frees_devices: Annotated[
        bool,
        typer.Option(
            "--preemption-frees-devices",
            help="Let preemption free victims' node-local devices (KEP-5690, beyond 1.36).",
        ),
    ] = False,
    dashboard: Annotated[
        str | None,
        typer.Option(
            "--dashboard",
            metavar="HOST:PORT",
            help="Serve the live dashboard there (read-only; from the scheduler's caches, "
            "never the API server per request). Off loopback --dashboard-token-file (or "
            "$DRALLOC_DASHBOARD_TOKEN) is required. Default: no dashboard.",
            show_default=False,
        ),
    ] = None,
    dashboard_token_file: Annotated[
        Path | None,
        typer.Option(
            "--dashboard-token-file",
            metavar="FILE",
            help="A file holding the bearer token the dashboard's /api/ endpoints want "
            "(default: $DRALLOC_DASHBOARD_TOKEN).",
            show_default=False,
        ),
    ] = None,
    run_for: Annotated[
        float | None,
        typer.Option(
            "--for", metavar="SECONDS", help="Stop after this long (default: until signalled)."
        ),
    ] = None,
    log_level: Annotated[
        str, typer.Option(metavar="LEVEL", help="debug, info, warning or error.")
    ] = "info",
    log_format: Annotated[
        str,
        typer.Option(
            metavar="FORMAT",
            help="text, or json: one object per line with the pod, claim and node as fields.",
        ),
    ] = "text",
) -> None:
    """Schedule, in a real cluster, the pods whose spec.schedulerName names one of this
    scheduler's profiles: the same framework, DRA allocator and GPU policies as `dralloc
    schedule`, with informers, a binding cycle that writes claims as kube-scheduler does,
    events and PodScheduled conditions, leader election, and metrics.
    """
    import asyncio
    import logging

    from dralloc.cli.options import feature_gates as parse_feature_gates
    from dralloc.errors import DrallocError, InputError, Problem
    from dralloc.kube.live import LiveOptions
    from dralloc.kube.ownership import Ownership, parse_label_selector
    from dralloc.kube.server import ServerOptions, parse_controllers, serve
    from dralloc.scheduler.config import ProfileConfig, SchedulerConfiguration, load_config
    from dralloc.scheduler.profiles import plugin_names

    level = getattr(logging, log_level.upper(), None)
    if not isinstance(level, int):
        sys.stderr.write(f"--log-level: unknown level {log_level!r}\n")
        raise typer.Exit(2)
    if log_format not in ("text", "json"):
        sys.stderr.write(f"--log-format: expected text or json, got {log_format!r}\n")
        raise typer.Exit(2)
    from dralloc.kube.logs import configure

    configure(level, log_format)
    features = parse_feature_gates(feature_gates)
    if "/" not in lease:
        raise InputError([Problem("--lease", "", "", f"expected NAMESPACE/NAME, got {lease!r}")])
    lease_namespace, lease_name = lease.split("/", 1)
    configuration = (
        load_config(config, plugin_names())
        if config
        else SchedulerConfiguration(profiles=(ProfileConfig(scheduler_name=scheduler_name),))
    )
    for warning in configuration.warnings:
        sys.stderr.write(f"warning: {config}: {warning}\n")
    # Read before anything starts, so a bad file exits 2 naming its field.
    wait_for_pods_ready = None
    if queue_config is not None:
        from dralloc.kube.controllers.queueready import load_wait_for_pods_ready

        try:
            wait_for_pods_ready = load_wait_for_pods_ready(queue_config)
        except InputError as err:
            sys.stderr.write(f"{err}\n")
            raise typer.Exit(2) from None
    companions = []
    server = None
    if dashboard is not None:
        from dralloc.cli.dashboard import explain_live_pod, price_book, read_token
        from dralloc.dashboard import DashboardServer, DashboardSettings, LiveDashboard

        token = read_token(dashboard_token_file, "--dashboard-token-file")
        # Bound now, so a bad address or a port in use exits 2 before anything starts.
        server = DashboardServer.bind(DashboardSettings(dashboard, token))
        companions.append(LiveDashboard(server, explain_live_pod, prices=price_book(None)))
    elif dashboard_token_file is not None:
        raise InputError(
            [Problem("--dashboard-token-file", "", "", "needs --dashboard (HOST:PORT)")]
        )
    options = ServerOptions(
        live=LiveOptions(
            features,
            config=configuration,
            ownership=Ownership(parse_label_selector(owned_nodes), allow_shared_pools),
            preemption_frees_devices=preemption_frees_devices,
        ),
        kubeconfig=kubeconfig,
        context=context,
        qps=qps,
        burst=burst,
        controllers=parse_controllers(controllers),
        leader_elect=leader_elect,
        lease_namespace=lease_namespace,
        lease_name=lease_name,
        metrics_address=metrics_bind_address,
        run_for_seconds=run_for,
        queue_placement=queue_placement,
        queue_wait_for_pods_ready=wait_for_pods_ready,
        companions=tuple(companions),
    )
    try:
        code = asyncio.run(serve(options))
    except DrallocError:
        raise
    except KeyboardInterrupt:
        code = 0
    finally:
        if server is not None:
            server.stop()
    raise typer.Exit(code)
