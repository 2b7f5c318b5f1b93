"""`dralloc nodes ...`: simulated GPU nodes in a live cluster. Light at import (typer only):
a command imports `dralloc.kube` in its body."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from dralloc.cli.commands import epilog
from dralloc.cli.options import feature_gates as parse_feature_gates

if TYPE_CHECKING:
    import asyncio

    from dralloc.devices.cluster import NodeGroup
    from dralloc.kube.client import KubeClient
    from dralloc.kube.nodesim import SimulatedFleet

EXIT_OK = 0
EXIT_INPUT = 2
EXIT_FAILED = 3

SIMULATE_EPILOG = epilog(
    [
        "dralloc nodes simulate --nodes 16xdgx-h100:mig=dynamic",
        "dralloc nodes simulate --kubeconfig kind.yaml --nodes 4xtpu-v6e-2x4",
        "dralloc nodes simulate -f cluster.yaml --label dralloc.dev/owner=dralloc",
        "dralloc nodes simulate --nodes 2xl4:sharing=mps --taint gpu=yes:NoSchedule",
        "dralloc nodes simulate --nodes 2xdgx-a100 --for 600 --keep",
    ],
    {
        EXIT_OK: "stopped by SIGTERM, SIGINT or --for, and cleaned up",
        EXIT_INPUT: "invalid node groups, cluster file, labels, taints, gates or kubeconfig",
        EXIT_FAILED: "the API server could not be reached, or refused a write",
    },
)

nodes_app = typer.Typer(
    help="Simulated GPU nodes in a real cluster: Nodes, their ResourceSlices and a kubelet "
    "that runs nothing.",
    short_help="Simulated GPU nodes in a real cluster.",
    epilog=SIMULATE_EPILOG,
    no_args_is_help=True,
)


def _err(message: str) -> None:
    sys.stderr.write(message.rstrip("\n") + "\n")
    sys.stderr.flush()


def _fail(code: int, message: str) -> NoReturn:
    _err(message)
    raise typer.Exit(code)


@nodes_app.command(
    "simulate",
    short_help="Create simulated GPU nodes and act as their kubelet until stopped.",
    epilog=SIMULATE_EPILOG,
)
def nodes_simulate(
    nodes: Annotated[
        list[str] | None,
        typer.Option(
            "--nodes",
            metavar="GROUP",
            help="A node group COUNTxSHAPE[:option=value,...] (repeatable), as "
            "'dralloc cluster generate' takes it: dgx-h100, dgx-a100, a catalog GPU with "
            "gpus=N, or tpu-<gen>-<topology>; options mig=, layout=, sharing=, replicas=, "
            "clients=, name=.",
        ),
    ] = None,
    cluster_file: Annotated[
        str | None,
        typer.Option(
            "-f", "--file", metavar="FILE", help="A cluster file (kind: Cluster) of node groups."
        ),
    ] = None,
    kubeconfig: Annotated[
        str | None,
        typer.Option(
            "--kubeconfig",
            metavar="FILE",
            help="The cluster to use (default: $KUBECONFIG, in-cluster, ~/.kube/config).",
        ),
    ] = None,
    name_prefix: Annotated[
        str,
        typer.Option(
            "--name-prefix", metavar="PREFIX", help="Put PREFIX before every node's name."
        ),
    ] = "",
    label: Annotated[
        list[str] | None,
        typer.Option(
            "--label",
            metavar="KEY=VALUE",
            help="A label for every Node (repeatable), e.g. dralloc.dev/owner=dralloc.",
        ),
    ] = None,
    taint: Annotated[
        list[str] | None,
        typer.Option(
            "--taint",
            metavar="KEY=VALUE:EFFECT",
            help="A taint for every Node (repeatable), e.g. dralloc.dev/owner=dralloc:NoSchedule.",
        ),
    ] = None,
    keep: Annotated[
        bool,
        typer.Option("--keep", help="Leave the Nodes, ResourceSlices and DeviceClasses on exit."),
    ] = False,
    for_seconds: Annotated[
        float | None,
        typer.Option(
            "--for",
            metavar="SECONDS",
            min=0,
            help="Stop after SECONDS of simulation (default: run until SIGTERM or Ctrl-C).",
        ),
    ] = None,
    feature_gates: Annotated[
        str,
        typer.Option(
            "--feature-gates",
            metavar="GATES",
            help="Comma-separated Gate=true|false pairs (Kubernetes 1.36 defaults otherwise); "
            "device status is written only with DRADeviceBindingConditions and "
            "DRAResourceClaimDeviceStatus on.",
            show_default=False,
        ),
    ] = "",
    qps: Annotated[
        float,
        typer.Option(metavar="QPS", help="Requests a second to the API server (0: no limit)."),
    ] = 50.0,
    burst: Annotated[
        int, typer.Option(metavar="N", min=1, help="Requests allowed at once above --qps.")
    ] = 100,
    verbose: Annotated[
        bool, typer.Option("-v", "--verbose", help="Report every pod started, ended or deleted.")
    ] = False,
) -> None:
    """Create simulated GPU and TPU nodes in a real cluster, then act as their kubelet and
    DRA driver until stopped.

    The Nodes, ResourceSlices and DeviceClasses are those 'dralloc cluster generate' writes
    for the same groups (plus --label and --taint on the Nodes). The nodes are kept Ready;
    pods bound to them become Running; a pod annotated dralloc.io/simulated-duration (seconds,
    or a Go duration such as 90s or 2m) Succeeds after that time, and any other pod (a Job's
    too) runs until deleted; pods being deleted are removed at once; devices with binding
    conditions get them set True in the claim's status. On SIGTERM, Ctrl-C or the end of
    --for, what was created is deleted (DeviceClasses that existed before are left), unless
    --keep. Pods on the nodes are left as they are.

    An identity other than a cluster admin needs to create and delete Nodes, ResourceSlices
    and DeviceClasses, patch nodes/status and pods/status, watch and delete pods, watch
    claims and update resourceclaims/status, with resourceclaims/driver's
    arbitrary-node:update verb for device conditions.
    """
    import asyncio
    from pathlib import Path

    from dralloc.devices import load_catalog
    from dralloc.devices.cluster import ClusterSpecError
    from dralloc.errors import InputError
    from dralloc.kube.client import KubeClient
    from dralloc.kube.nodesim import SimulatedFleet, parse_label, parse_taint, plan_fleet

    groups = _groups(nodes, cluster_file)
    labels: dict[str, str] = {}
    for text in label or []:
        try:
            key, value = parse_label(text)
        except ValueError as err:
            _fail(EXIT_INPUT, f"--label {err}")
        labels[key] = value
    taints = []
    for text in taint or []:
        try:
            taints.append(parse_taint(text))
        except ValueError as err:
            _fail(EXIT_INPUT, f"--taint {err}")
    features = parse_feature_gates(feature_gates)
    try:
        objects = plan_fleet(
            groups, load_catalog(), name_prefix=name_prefix, labels=labels, taints=taints
        )
    except ClusterSpecError as err:
        where = "--nodes" if cluster_file is None else cluster_file if not nodes else "node groups"
        if name_prefix and "must be a DNS label" in str(err):
            where = f"{where} with --name-prefix {name_prefix}"
        _fail(EXIT_INPUT, f"{where}: {err}")
    try:
        client = KubeClient.connect(
            Path(kubeconfig) if kubeconfig is not None else None, qps=qps, burst=burst
        )
    except InputError as err:
        _fail(EXIT_INPUT, str(err))
    fleet = SimulatedFleet(
        client,
        objects,
        keep=keep,
        features=features,
        log=_err if verbose else (lambda message: None),
        warn=lambda message: _err(f"warning: {message}"),
    )
    code = asyncio.run(_simulate(client, fleet, for_seconds))
    raise typer.Exit(code)


def _groups(nodes: list[str] | None, cluster_file: str | None) -> list[NodeGroup]:
    """The node groups of -f and --nodes, parsed as `dralloc cluster generate` parses them."""
    from pathlib import Path

    from dralloc.devices.cluster import ClusterSpecError, parse_cluster_file, parse_group
    from dralloc.errors import InputError

    groups = []
    if cluster_file is not None:
        try:
            text = Path(cluster_file).read_text(encoding="utf-8")
        except OSError as err:
            _fail(EXIT_INPUT, f"{cluster_file}: {err.strerror or err}")
        try:
            groups.extend(parse_cluster_file(text, cluster_file))
        except InputError as err:
            _fail(EXIT_INPUT, str(err))
    if not nodes and cluster_file is None:
        _fail(EXIT_INPUT, "give node groups with --nodes COUNTxSHAPE or a cluster file with -f")
    for text in nodes or []:
        try:
            groups.append(parse_group(text))
        except ClusterSpecError as err:
            _fail(EXIT_INPUT, f"--nodes: {err}")
    return groups


async def _simulate(client: KubeClient, fleet: SimulatedFleet, for_seconds: float | None) -> int:
    """Start, simulate until a signal or the deadline, stop; the exit code."""
    import asyncio
    import signal

    from dralloc.kube.client import ApiStatusError, ApiUnavailable

    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, stopping.set)
    stop_wait = asyncio.create_task(stopping.wait())
    code = EXIT_OK
    objects = fleet.objects
    try:
        _err(f"publishing {objects.count()} to {client.server}")
        starting = asyncio.create_task(fleet.start())
        await asyncio.wait({starting, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():
            starting.cancel()
            await asyncio.gather(starting, return_exceptions=True)
            _err("stopped before the fleet was up")
        elif (error := starting.exception()) is not None:
            raise error
        else:
            await _serve(fleet, stop_wait, for_seconds)
    except ApiUnavailable as err:
        _err(f"error: cannot reach the API server at {client.server}: {err}")
        code = EXIT_FAILED
    except ApiStatusError as err:
        _err(f"error: the API server refused a write: {err}")
        code = EXIT_FAILED
    except TimeoutError as err:
        _err(f"error: {err}")
        code = EXIT_FAILED
    finally:
        stop_wait.cancel()
        counts = fleet.kubelet.counts
        await fleet.stop()
        await client.aclose()
        for number in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(number)
    if counts.started or counts.deleted or counts.device_status_writes or code == EXIT_OK:
        _err(
            f"pods started {counts.started}, completed {counts.completed}, "
            f"deleted {counts.deleted}; device status writes {counts.device_status_writes}"
        )
    published = fleet.published
    if fleet.keep:
        _err(f"kept {published.count()} (--keep)")
    elif published.nodes or published.slices or published.classes:
        _err(f"deleted {fleet.withdrawn.count()}")
    return code


async def _serve(
    fleet: SimulatedFleet, stop_wait: asyncio.Task[bool], for_seconds: float | None
) -> None:
    """Report the fleet up, then run its kubelet until `stop_wait` ends or `for_seconds` pass."""
    import asyncio

    objects = fleet.objects
    published = fleet.published
    _err(f"created {published.count()}")
    if published.existing:
        _err(f"already there, used as they are and left on exit: {published.existing_count()}")
    until = f"for {for_seconds:g} s" if for_seconds is not None else "until SIGTERM or Ctrl-C"
    _err(f"{len(objects.nodes)} nodes Ready; simulating their kubelet {until}")
    running = asyncio.create_task(fleet.run())
    done, _ = await asyncio.wait(
        {running, stop_wait}, timeout=for_seconds, return_when=asyncio.FIRST_COMPLETED
    )
    if running in done:
        error = running.exception()
        if error is not None:
            raise error
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)
