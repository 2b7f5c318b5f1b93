"""The `dralloc` command line: a contract that scripts depend on.

Exit codes (every command): 0 success / "yes"; 1 the answer is "no" (no allocation exists);
2 invalid input (each problem on its own stderr line naming file, object and field);
3 the engine failed (a CEL runtime error, an allocator error, or it gave up in time).
Only `DrallocError` and allocator errors are caught; anything else is a bug and says so.

Start-up: this module imports typer and light modules only (`cli.mig` and `cli.simulate` are
light too), so `dralloc --help` and every command's `--help` answer at once. A command imports
the engine modules it uses in its body: the allocator with CEL, the scheduler with numpy, the
simulator with plotly cost up to a second together, and each command pays only for its own.
`tests/cli/test_cli_startup.py` checks which modules `--help` loads.

Help is click's plain formatter (typer's rich help costs an import of rich and keeps the line
breaks of docstrings): paragraphs are rewrapped to the terminal's width, and blocks that must
keep their lines (examples, exit codes) start with click's `\\b` marker.
"""

from __future__ import annotations

import os
import re
import sys
from enum import StrEnum
from typing import IO, TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from dralloc.cli.commands import CONTEXT_SETTINGS, DrallocGroup, epilog
from dralloc.cli.dashboard import DASHBOARD_EPILOG, DASHBOARD_SHORT_HELP, dashboard_command
from dralloc.cli.livecmd import SCHEDULER_EPILOG, SCHEDULER_SHORT_HELP, scheduler_command
from dralloc.cli.mig import mig_app
from dralloc.cli.nodes import nodes_app
from dralloc.cli.options import (
    RecursiveOption,
    Validate,
    ValidateOption,
    VerboseOption,
    field_validation,
    report_reading,
)
from dralloc.cli.options import (
    feature_gates as parse_feature_gates,
)
from dralloc.cli.simulate import Stopped, simulate_app
from dralloc.cli.size import SIZE_EPILOG, SIZE_SHORT_HELP, size_command
from dralloc.errors import DrallocError, InputError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from dralloc.allocator import AllocatedState, Allocator, ClaimExplanation, Inventory
    from dralloc.api.resource import AllocationResult, ResourceClaim
    from dralloc.cli.explaining import ExplainView
    from dralloc.cli.inputs import ClusterInput
    from dralloc.cli.podexplain import PodReport
    from dralloc.devices.isolation import DeviceIsolation
    from dralloc.features import Features

ISOLATION_ANNOTATION = "dralloc.io/isolation"
EXIT_OK = 0
EXIT_NO = 1
EXIT_INPUT = 2
EXIT_FAILED = 3
# Without --node, explain at most this many nodes on stderr when nothing fits.
MAX_EXPLAINED_NODES = 10


app = typer.Typer(
    name="dralloc",
    help="An accelerator-allocation engine faithful to Kubernetes DRA (resource.k8s.io/v1).\n\n"
    "Commands read Kubernetes objects from YAML or JSON files ('-f -' reads stdin), answer on "
    "stdout and report problems on stderr, one line each. Add --debug to any command to see "
    "the traceback of an internal error. Run 'dralloc COMMAND -h' for a command's options.",
    epilog=epilog(
        [
            "dralloc allocate -f examples/quickstart.yaml",
            "dralloc explain -f examples/quickstart.yaml --claim training-0",
            "dralloc cluster generate --nodes 4xdgx-h100 -o json --out fleet.json",
            "dralloc mig plan -m h100 -p 3g.40gb,2x2g.20gb",
        ],
        {
            EXIT_OK: "success, or the answer is yes",
            EXIT_NO: "the answer is no: no allocation, pods left pending, or more GPUs needed",
            EXIT_INPUT: "invalid input: one stderr line per problem (file, object, field)",
            EXIT_FAILED: "the engine failed: a CEL runtime or allocator error, or it gave up",
        },
    ),
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings=CONTEXT_SETTINGS,
    cls=DrallocGroup,
)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            number = version("dralloc")
        except PackageNotFoundError:  # run from a source tree that was never installed
            number = "unknown"
        sys.stdout.write(f"dralloc {number}\n")
        raise typer.Exit(EXIT_OK)


@app.callback()
def dralloc_group(
    version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_print_version, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    # A callback so that the group takes --version; the help is the Typer's.
    pass


class AllocateOutput(StrEnum):
    yaml = "yaml"
    json = "json"


class ExplainOutput(StrEnum):
    table = "table"
    wide = "wide"
    json = "json"


FilesOption = Annotated[
    list[str],
    typer.Option(
        "-f",
        "--filename",
        metavar="FILE",
        help="YAML or JSON file with Nodes, DeviceClasses, ResourceSlices and ResourceClaims "
        "(repeatable; '-' reads stdin).",
    ),
]
GatesOption = Annotated[
    str,
    typer.Option(
        "--feature-gates",
        metavar="GATES",
        help="Comma-separated Gate=true|false pairs, as kube-scheduler takes them "
        "(Kubernetes 1.36 defaults otherwise).",
        show_default=False,
    ),
]
TimeoutOption = Annotated[
    float,
    typer.Option(
        metavar="SECONDS",
        help="Seconds before the allocator gives up (0 = no limit), like filterTimeout.",
    ),
]

# Engine functions that tests replace on this module (`monkeypatch.setattr(main, name, fake)`).
# They are not imported with the module; `_engine` finds a replacement, or imports the real one.
_REPLACEABLE = {
    "iter_cluster_json": "dralloc.devices.cluster",
    "discover_with_pynvml": "dralloc.devices.nvml",
}


def __getattr__(name: str) -> Any:
    module = _REPLACEABLE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


def _engine(name: str) -> Any:
    """The engine function `name` as this module holds it: a test's replacement, else the real
    one (imported now)."""
    return globals()[name] if name in globals() else __getattr__(name)


def _err(message: str) -> None:
    sys.stderr.write(message.rstrip("\n") + "\n")


def _fail(code: int, message: str) -> NoReturn:
    _err(message)
    raise typer.Exit(code)


def _read(
    files: list[str],
    *,
    recursive: bool = False,
    validate: Validate = Validate.strict,
    verbose: bool = False,
) -> ClusterInput:
    from dralloc.cli.inputs import read_cluster

    try:
        cluster = read_cluster(files, recursive=recursive, validation=field_validation(validate))
    except InputError as err:
        _fail(EXIT_INPUT, str(err))
    report_reading(cluster, verbose=verbose)
    return cluster


def _check_node(cluster: ClusterInput, node: str | None) -> None:
    from dralloc.cli.inputs import node_problems

    if node is not None:
        problems = node_problems(cluster, node)
        if problems:
            _fail(EXIT_INPUT, str(InputError(problems)))


def _allocator(features: Features, timeout: float) -> Allocator:
    from dralloc.allocator import Allocator, AllocatorOptions

    return Allocator(features, options=AllocatorOptions(timeout=timeout or None))


def _claim_output(
    raw: dict[str, Any], allocation: AllocationResult, isolation: list[DeviceIsolation]
) -> dict[str, Any]:
    import json

    from dralloc.api.io import to_builtins

    out = dict(raw)
    status = dict(out.get("status") or {})
    status["allocation"] = to_builtins(allocation)
    out["status"] = status
    if isolation:
        metadata = dict(out.get("metadata") or {})
        annotations = dict(metadata.get("annotations") or {})
        annotations[ISOLATION_ANNOTATION] = json.dumps(
            [entry.to_dict() for entry in isolation], separators=(",", ":")
        )
        metadata["annotations"] = annotations
        out["metadata"] = metadata
    return out


def _report_isolation(claim: str, isolation: list[DeviceIsolation]) -> None:
    """One stderr line per device: what protects it, and configs the driver would refuse."""
    for entry in isolation:
        if entry.mechanism in ("exclusive", "mig") and not entry.problems:
            continue  # only shares deserve a line: what they book is not what they get
        enforced = ", ".join(f"{k}={v}" for k, v in entry.enforced.items()) or "nothing"
        _err(f"  {claim} {entry.request}: {entry.device} [{entry.mechanism}] enforced: {enforced}")
        for problem in entry.problems:
            _err(f"  warning: {claim} {entry.request}: {problem}")


@app.command(
    short_help="Allocate the pending claims together on one node.",
    epilog=epilog(
        [
            "dralloc allocate -f examples/quickstart.yaml",
            "dralloc allocate -f cluster.yaml -f claims.yaml --node gpu-node-1 -o json",
            "kubectl get resourceclaims -o yaml | dralloc allocate -f fleet.json -f -",
        ],
        {
            EXIT_OK: "allocated: the claims are printed on stdout",
            EXIT_NO: "no node can allocate them (stderr says why, request by request)",
            EXIT_INPUT: "invalid input",
            EXIT_FAILED: "the allocator failed (a CEL runtime error, an unknown class) or gave up",
        },
    ),
)
def allocate(
    files: FilesOption,
    node: Annotated[
        str | None,
        typer.Option(
            metavar="NODE",
            help="Allocate for this node; without it, nodes are tried in name order.",
        ),
    ] = None,
    feature_gates: GatesOption = "",
    output: Annotated[
        AllocateOutput, typer.Option("-o", "--output", help="Output format.")
    ] = AllocateOutput.yaml,
    timeout: TimeoutOption = 10.0,
    recursive: RecursiveOption = False,
    validate: ValidateOption = Validate.strict,
    verbose: VerboseOption = False,
) -> None:
    """Allocate every claim without an allocation, together, on one node (all or none).

    The files hold Nodes, DeviceClasses, ResourceSlices and ResourceClaims; claims that have
    status.allocation are in use. The others are allocated together, in input order, as the
    scheduler does for one pod's claims. Without --node, nodes are tried in name order and the
    first that fits is used (stderr says which). Prints a kind: List of those claims with
    status.allocation filled in; a shared GPU also gets a line on stderr saying what enforces
    its share.
    """
    from dralloc.allocator import (
        AllocationError,
        AllocationGaveUp,
        Inventory,
        NodeFailure,
        allocated_state,
    )
    from dralloc.api.io import dump, list_document
    from dralloc.devices.isolation import (
        allocation_isolation,
        claim_isolation,
        with_mode_conflicts,
    )
    from dralloc.devices.nvidia_config import DRIVER as GPU_DRIVER

    features = parse_feature_gates(feature_gates)
    cluster = _read(files, recursive=recursive, validate=validate, verbose=verbose)
    _check_node(cluster, node)
    inventory = Inventory(cluster.slices, features, cluster.taint_rules)
    state = allocated_state(cluster.allocated_claims, features)
    pending = cluster.pending_claims()
    if not pending:
        _nothing_to_allocate(cluster)
    allocator = _allocator(features, timeout)
    nodes = [node] if node else cluster.node_names()
    if not nodes:
        _fail(EXIT_INPUT, "no nodes: give --node NAME, or Node objects in the input files")
    from dralloc.cli.explaining import with_progress

    failures: list[str] = []
    for name in with_progress(nodes, "trying nodes"):
        target = cluster.node(name)
        try:
            results = allocator.allocate(target, pending, inventory, cluster.classes, state)
        except NodeFailure as err:
            failures.append(name)
            _err(f"node {name}: {err}")
            continue
        except AllocationGaveUp as err:
            _fail(EXIT_FAILED, f"node {name}: gave up: {err}")
        except AllocationError as err:
            _fail(EXIT_FAILED, f"error: {err}")
        if results is None:
            failures.append(name)
            if len(failures) <= MAX_EXPLAINED_NODES:
                _explain_failure(allocator, cluster, name, pending, inventory, state)
            continue
        if not node:
            _err(f"allocated on node {name}")
        devices = {
            (s.spec.driver, s.spec.pool.name, d.name): d
            for s in cluster.slices
            for d in s.spec.devices
        }
        holders: dict[str, list[tuple[str, DeviceIsolation]]] = {}
        for claim in cluster.allocated_claims:
            owner = f"{claim.metadata.namespace}/{claim.metadata.name}"
            for entry in claim_isolation(claim, devices):
                holders.setdefault(entry.device, []).append((owner, entry))
        items = []
        for loaded, result in zip(cluster.pending, results, strict=True):
            isolation = [
                entry
                for entry in allocation_isolation(result, devices)
                if entry.device.startswith(GPU_DRIVER + "/") or entry.mechanism != "exclusive"
            ]
            isolation = with_mode_conflicts(isolation, holders)
            owner = loaded.ref.split(" ", 1)[-1]
            for entry in isolation:
                holders.setdefault(entry.device, []).append((owner, entry))
            _report_isolation(loaded.ref, isolation)
            items.append(_claim_output(loaded.raw, result, isolation))
        sys.stdout.write(dump(list_document(items), output.value))
        raise typer.Exit(EXIT_OK)
    if len(failures) > MAX_EXPLAINED_NODES:
        _err(
            f"... and {len(failures) - MAX_EXPLAINED_NODES} more nodes where the claims do not fit"
        )
    claims = "the claim" if len(pending) == 1 else f"all {len(pending)} claims"
    _err(f"0/{len(nodes)} nodes can allocate {claims}")
    raise typer.Exit(EXIT_NO)


def _nothing_to_allocate(cluster: ClusterInput) -> NoReturn:
    """No claim without an allocation: say what the input holds instead of an empty list."""
    from dralloc.api.resource import ResourceClaimTemplate

    templates = [
        loaded.ref for loaded in cluster.objects if isinstance(loaded.obj, ResourceClaimTemplate)
    ]
    if templates:
        listed = ", ".join(templates[:5]) + (", ..." if len(templates) > 5 else "")
        _fail(
            EXIT_INPUT,
            f"nothing to allocate: the input has ResourceClaimTemplates ({listed}) but no "
            "pending ResourceClaims. Kubernetes makes claims from templates for the pods that "
            "name them: give the pods to 'dralloc schedule', or write the claims out.",
        )
    in_use = len(cluster.allocated_claims)
    held = f" ({in_use} claim(s) are allocated already)" if in_use else ""
    _fail(EXIT_INPUT, f"nothing to allocate: the input has no pending ResourceClaims{held}")


def _explain_failure(
    allocator: Allocator,
    cluster: ClusterInput,
    node: str,
    pending: list[ResourceClaim],
    inventory: Inventory,
    state: AllocatedState,
) -> None:
    """Say why on stderr: each claim alone, then whether they only fail together."""
    from dralloc.allocator import explain

    target = cluster.node(node)
    all_fit = True
    for claim in pending:
        result = explain(allocator, target, claim, inventory, cluster.classes, state)
        if not result.fits:
            all_fit = False
            for line in result.summary_lines():
                _err(line)
    if all_fit:
        _err(f"node {node}: each claim fits alone, but not all {len(pending)} claims together")


@app.command(
    "explain",
    short_help="Why a claim or a pod does or does not fit, node by node.",
    epilog=epilog(
        [
            "dralloc explain -f examples/quickstart.yaml --claim training-0",
            "dralloc explain -f cluster.yaml --claim team-a/train-0 --node gpu-node-1",
            "dralloc explain -f cluster.yaml --claim train-0 --all",
            "dralloc explain -f cluster.yaml -f job.yaml --pod team-a/train-0-x7k2p",
            "dralloc explain --kubeconfig ~/.kube/config --pod team-a/train-0-x7k2p",
            "dralloc explain -f cluster.yaml --claim train-0 -o json | jq '.[].message'",
        ],
        {
            EXIT_OK: "the claim or pod fits on at least one of the nodes",
            EXIT_NO: "it fits on none of them",
            EXIT_INPUT: "invalid input, or no such claim or pod",
            EXIT_FAILED: "the allocator failed (a CEL runtime error, an unknown class)",
        },
    ),
)
def explain_command(
    files: Annotated[
        list[str] | None,
        typer.Option(
            "-f",
            "--filename",
            metavar="FILE",
            help="YAML or JSON file with Nodes, DeviceClasses, ResourceSlices and ResourceClaims "
            "(repeatable; '-' reads stdin); with --kubeconfig, objects over the cluster's.",
        ),
    ] = None,
    claim: Annotated[
        str | None,
        typer.Option(
            metavar="[NAMESPACE/]NAME",
            help="A ResourceClaim (name, or namespace/name). A claim Kubernetes makes from a "
            "template is found by its pod and pod claim name (POD-PODCLAIM), or, with --pod, "
            "by the pod claim name alone.",
        ),
    ] = None,
    pod: Annotated[
        str | None,
        typer.Option(
            metavar="[NAMESPACE/]NAME",
            help="Explain a pod: every Filter plugin on every node, and each of its claims.",
        ),
    ] = None,
    node: Annotated[
        str | None,
        typer.Option(metavar="NODE", help="Explain for this node (default: every node)."),
    ] = None,
    all_devices: Annotated[
        bool,
        typer.Option("--all", help="A row per device instead of devices grouped by verdict."),
    ] = False,
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            metavar="FILE",
            help="With --pod: a KubeSchedulerConfiguration, as dralloc schedule takes it.",
        ),
    ] = None,
    feature_gates: GatesOption = "",
    output: Annotated[
        ExplainOutput,
        typer.Option("-o", "--output", metavar="table|wide|json", help="Output format."),
    ] = ExplainOutput.table,
    timeout: TimeoutOption = 10.0,
    recursive: RecursiveOption = False,
    validate: ValidateOption = Validate.strict,
    verbose: VerboseOption = False,
    kubeconfig: Annotated[
        str | None,
        typer.Option(
            "--kubeconfig",
            metavar="FILE",
            help="Explain against a live cluster: its objects, read from the API server this "
            "kubeconfig names (read only), with the -f files' objects over them.",
        ),
    ] = None,
    context: Annotated[
        str | None,
        typer.Option(
            "--context",
            metavar="NAME",
            help="With --kubeconfig: the kubeconfig context to use (default: its current one).",
        ),
    ] = None,
) -> None:
    """Why a claim or a pod does or does not fit, node by node and device by device.

    For a claim: every request (and firstAvailable alternative) against every device the node
    can see: fits, class selector false, request selector false or erroring, in use (and by
    which claim), counters exhausted, capacity too small, untolerated taint, not reachable
    from the node, constraint conflict, pool incomplete or invalid; then whether the claim as
    a whole fits. Devices are grouped by verdict, detail and model; --all lists each one and
    -o wide adds its model.

    For a pod (--pod), met where dralloc schedule would meet it: kube-scheduler's summary,
    every Filter plugin that rejects each node, and each claim of the pod (by name, from a
    template, or for extended resources) on every node. -o json gives everything as data.

    With --kubeconfig the objects are a live cluster's, as its API server holds them now:
    "why is my pod pending", answered from the cluster (bound pods run on their nodes,
    holding their devices). Nothing is written to the cluster.
    """
    import json

    from dralloc.cli.explaining import (
        ExplainView,
        device_models,
        explanation_json,
        print_explanation,
    )

    if claim is None and pod is None:
        _fail(EXIT_INPUT, "give --claim NAME or --pod NAME (or both: a pod's claim)")
    if kubeconfig is None and context is not None:
        _fail(EXIT_INPUT, "--context needs --kubeconfig (a live cluster to read)")
    if kubeconfig is None and not files:
        _fail(EXIT_INPUT, "give the objects with -f FILE (or a live cluster with --kubeconfig)")
    features = parse_feature_gates(feature_gates)
    if kubeconfig is None:
        cluster = _read(files or [], recursive=recursive, validate=validate, verbose=verbose)
    else:
        from dralloc.cli.inputs import read_live_cluster
        from dralloc.kube.readcluster import ClusterUnreadable

        try:
            cluster = read_live_cluster(
                kubeconfig,
                context,
                files or [],
                recursive=recursive,
                validation=field_validation(validate),
            )
        except InputError as err:
            _fail(EXIT_INPUT, str(err))
        except ClusterUnreadable as err:
            _fail(EXIT_FAILED, f"error: {err}")
        report_reading(cluster, verbose=verbose)
    _check_node(cluster, node)
    view = ExplainView.summary
    if output is ExplainOutput.wide:
        view = ExplainView.wide
    elif all_devices:
        view = ExplainView.devices
    models = device_models(cluster)
    if pod is not None:
        _explain_pod(cluster, features, pod, claim, node, config, output, view, models)
    assert claim is not None
    results = _explain_claim(cluster, features, claim, node, timeout, config)
    if output is ExplainOutput.json:
        sys.stdout.write(json.dumps([explanation_json(r) for r in results], indent=2) + "\n")
    else:
        for result in results:
            print_explanation(result, models, view)
    if any(r.error for r in results):
        raise typer.Exit(EXIT_FAILED)
    raise typer.Exit(EXIT_OK if any(r.fits for r in results) else EXIT_NO)


def _pod_report(
    cluster: ClusterInput, features: Features, pod: str, node: str | None, config: str | None
) -> PodReport:
    from dralloc.cli.podexplain import explain_pod_in_input
    from dralloc.scheduler.config import SchedulerConfiguration, load_config
    from dralloc.scheduler.profiles import plugin_names

    try:
        configuration = load_config(config, plugin_names()) if config else SchedulerConfiguration()
        return explain_pod_in_input(cluster, configuration, features, pod, node=node)
    except InputError as err:
        _fail(EXIT_INPUT, str(err))


def _explain_pod(
    cluster: ClusterInput,
    features: Features,
    pod: str,
    claim: str | None,
    node: str | None,
    config: str | None,
    output: ExplainOutput,
    view: ExplainView,
    models: dict[str, str],
) -> NoReturn:
    import json

    from dralloc.cli.explaining import explanation_json, print_explanation, print_pod_report
    from dralloc.cli.podexplain import pod_report_json

    report = _pod_report(cluster, features, pod, node, config)
    if claim is None:
        if output is ExplainOutput.json:
            sys.stdout.write(json.dumps(pod_report_json(report), indent=2) + "\n")
        else:
            print_pod_report(report, models, view)
        raise typer.Exit(report.exit_code)
    found = [c for c in report.claims if claim in (c.pod_claim, c.claim)]
    if not found:
        names = ", ".join(c.pod_claim for c in report.claims) or "none"
        _fail(EXIT_INPUT, f"--claim {claim}: pod {report.pod} has no such claim (claims: {names})")
    results = list(found[0].explanations)
    if not results:
        state = "allocated" if found[0].allocated else "not created"
        sys.stdout.write(f"claim {found[0].claim or claim} of pod {report.pod}: {state}\n")
        raise typer.Exit(EXIT_OK if found[0].allocated else EXIT_NO)
    if output is ExplainOutput.json:
        sys.stdout.write(json.dumps([explanation_json(r) for r in results], indent=2) + "\n")
    else:
        for result in results:
            print_explanation(result, models, view)
    if any(r.error for r in results):
        raise typer.Exit(EXIT_FAILED)
    raise typer.Exit(EXIT_OK if any(r.fits for r in results) else EXIT_NO)


def _explain_claim(
    cluster: ClusterInput,
    features: Features,
    claim: str,
    node: str | None,
    timeout: float,
    config: str | None,
) -> list[ClaimExplanation]:
    """A claim of the input explained on each node; a claim Kubernetes would make from a
    template (named POD-PODCLAIM) is made through its pod and explained there."""
    from dralloc.allocator import Inventory, allocated_state, explain
    from dralloc.api.core import Pod
    from dralloc.api.resource import ResourceClaim

    namespace, _, name = claim.rpartition("/")
    matches = [
        loaded.obj
        for loaded in cluster.objects
        if isinstance(loaded.obj, ResourceClaim)
        and loaded.obj.metadata.name == name
        and (not namespace or loaded.obj.metadata.namespace == namespace)
    ]
    if not matches:
        for loaded in cluster.objects:
            owner = loaded.obj
            if not isinstance(owner, Pod) or (namespace and owner.metadata.namespace != namespace):
                continue
            for entry in owner.spec.resource_claims:
                if (
                    entry.resource_claim_template_name
                    and f"{owner.metadata.name}-{entry.name}" == name
                ):
                    ref = f"{owner.metadata.namespace}/{owner.metadata.name}"
                    report = _pod_report(cluster, features, ref, node, config)
                    for found in report.claims:
                        if found.pod_claim == entry.name and found.explanations:
                            return list(found.explanations)
                    _fail(
                        EXIT_INPUT,
                        f"claim {claim}: the claim of pod {ref} is allocated or not created "
                        f"(dralloc explain --pod {ref} says more)",
                    )
        _fail(EXIT_INPUT, f"claim {claim}: no ResourceClaim of that name in the input")
    target_claim = matches[0]
    others = [c for c in cluster.allocated_claims if c is not target_claim]
    state = allocated_state(others, features)
    inventory = Inventory(cluster.slices, features, cluster.taint_rules)
    allocator = _allocator(features, timeout)
    nodes = [node] if node else cluster.node_names()
    if not nodes:
        _fail(EXIT_INPUT, "no nodes: give --node NAME, or Node objects in the input files")
    from dralloc.cli.explaining import with_progress

    return [
        explain(allocator, cluster.node(n), target_claim, inventory, cluster.classes, state)
        for n in with_progress(nodes, f"explaining {claim}")
    ]


CLUSTER_GENERATE_EPILOG = epilog(
    [
        "dralloc cluster generate --nodes 16xdgx-h100:mig=dynamic --out fleet.yaml",
        "dralloc cluster generate --nodes 2xl4:gpus=2,sharing=mps",
        "dralloc cluster generate --nodes 4xtpu-v6e-2x4 -o json",
        "dralloc cluster generate --nodes 2xtpu-v6e-4x8 --nodes 1xtpu-v5p-2x2x2",
        "dralloc cluster generate -f fleet.yaml -o json --out fleet.json",
    ],
    {
        EXIT_OK: "written",
        EXIT_INPUT: "invalid node groups or cluster file, or --out cannot be written",
    },
)
cluster_app = typer.Typer(
    help="Describe clusters: generate the objects a real fleet publishes.",
    short_help="Generate the objects a fleet publishes.",
    epilog=CLUSTER_GENERATE_EPILOG,
    no_args_is_help=True,
)
app.add_typer(cluster_app, name="cluster")


@cluster_app.command(
    "generate",
    short_help="Nodes, ResourceSlices and DeviceClasses for a fleet.",
    epilog=CLUSTER_GENERATE_EPILOG,
)
def cluster_generate(
    nodes: Annotated[
        list[str] | None,
        typer.Option(
            "--nodes",
            metavar="GROUP",
            help="A node group COUNTxSHAPE[:option=value,...] (repeatable): dgx-h100, "
            "dgx-a100, dgx-h200, dgx-b200, a catalog GPU model with gpus=N (e.g. 4xl4:gpus=2), "
            "or tpu-<gen>-<topology> (v5e and v6e 2D shapes such as 2x4 or 4x8, v4 and v5p 3D "
            "shapes such as 2x2x2). For TPUs COUNT is whole slices: a multi-host slice is one "
            "Node per TPU VM in a node pool of its own, so 2xtpu-v6e-4x8 is 2 slices of 8 "
            "Nodes with 4 chips each (16 Nodes) and 1xtpu-v5p-2x2x2 is 2 Nodes. gb200-nvl72: "
            "COUNT racks of 18 Nodes with 4 GB200 GPUs, one NVLink clique each "
            "(nvidia.com/gpu.clique; option clique=N). GPU options: "
            "mig=none|static|dynamic, layout=PROFILES (static MIG, e.g. all-1g.10gb or "
            "3g.40gb/2x1g.10gb), sharing=exclusive|time-slicing|mps|fractional, replicas=N, "
            "clients=N.",
        ),
    ] = None,
    cluster_file: Annotated[
        str | None,
        typer.Option(
            "-f",
            "--file",
            metavar="FILE",
            help="A cluster file (kind: Cluster) listing node groups.",
        ),
    ] = None,
    output: Annotated[
        AllocateOutput, typer.Option("-o", "--output", help="Output format.")
    ] = AllocateOutput.yaml,
    out: Annotated[
        str | None,
        typer.Option("--out", metavar="FILE", help="Write to this file (default: stdout)."),
    ] = None,
) -> None:
    """Nodes, ResourceSlices and DeviceClasses for a fleet, as the real drivers publish them.

    One kind: List with the Nodes (GPU or TPU labels and allocatable), their ResourceSlices
    from the accelerator catalog, and the DeviceClasses of the drivers and of each sharing
    mode. -o json is streamed, one compact object per line; --out writes a temporary file and
    renames it, so nothing half-written is left.
    """
    from pathlib import Path

    import msgspec

    from dralloc.api.io import dump, list_document
    from dralloc.devices import load_catalog
    from dralloc.devices.cluster import ClusterSpecError, parse_cluster_file, parse_group

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
    catalog = load_catalog()
    iter_cluster_json: Callable[..., Iterator[bytes]] = _engine("iter_cluster_json")
    try:
        groups.extend(parse_group(text) for text in nodes or [])
        documents = iter_cluster_json(groups, catalog)
        first = next(documents)  # every group is checked before anything is written
    except ClusterSpecError as err:
        where = "--nodes" if cluster_file is None else cluster_file if not nodes else "node groups"
        _fail(EXIT_INPUT, f"{where}: {err}")
    counts = {"Node": 0, "ResourceSlice": 0, "DeviceClass": 0}

    def write(sink: IO[bytes]) -> None:
        if output.value == "json":
            _write_json_list(sink, first, documents, counts)
            return
        # YAML goes through dicts: PyYAML needs them, and it is the slow part anyway.
        items = [msgspec.json.decode(first)] + [msgspec.json.decode(d) for d in documents]
        for item in items:
            counts[item["kind"]] += 1
        sink.write(dump(list_document(items), "yaml").encode())

    if out is None:
        write(sys.stdout.buffer)
        sys.stdout.flush()
    else:
        _write_out(Path(out), write)
    _err(
        f"generated {counts['Node']} nodes, {counts['ResourceSlice']} ResourceSlices, "
        f"{counts['DeviceClass']} DeviceClasses"
    )


def _write_out(target: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write `--out`: a regular file (or a symlink's target) through a temporary file renamed
    into place, so nothing half-written is left; a device or FIFO is written into directly."""
    try:
        if target.exists() and not target.is_file():
            with target.open("wb") as sink:
                write(sink)
            return
    except OSError as err:
        _fail(EXIT_INPUT, f"--out {target}: {err.strerror or err}")
    real = target.resolve() if target.is_symlink() else target
    partial = real.with_name(f".{real.name}.partial")
    try:
        with partial.open("wb") as sink:
            write(sink)
        partial.replace(real)
    except OSError as err:
        partial.unlink(missing_ok=True)
        _fail(EXIT_INPUT, f"--out {target}: {err.strerror or err}")
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


_KIND = re.compile(rb'"kind":"(Node|ResourceSlice|DeviceClass)"')


def _write_json_list(
    sink: IO[bytes], first: bytes, documents: Iterator[bytes], counts: dict[str, int]
) -> None:
    """A kind: List document streamed item by item, one compact item per line: a fleet of
    thousands of nodes is gigabytes when indented (`jq .` indents it when wanted)."""
    import itertools

    sink.write(b'{"apiVersion":"v1","kind":"List","metadata":{},"items":[\n')
    separator = b""
    for document in itertools.chain([first], documents):
        kind = _KIND.search(document, 0, 200)
        if kind is not None:
            counts[kind.group(1).decode()] += 1
        sink.write(separator)
        sink.write(document)
        separator = b",\n"
    sink.write(b"\n]}\n")


app.add_typer(mig_app, name="mig")


class ScheduleOutput(StrEnum):
    yaml = "yaml"
    json = "json"


@app.command(
    "schedule",
    short_help="Schedule pending pods offline, as kube-scheduler would.",
    epilog=epilog(
        [
            "dralloc schedule -f cluster.yaml -f pods.yaml",
            "dralloc schedule -f cluster.yaml -f pods.yaml --config sched.yaml --seed 7",
            "dralloc schedule --kubeconfig ~/.kube/config -f pods.yaml",
        ],
        {
            EXIT_OK: "every pending pod was placed",
            EXIT_NO: "some pods stay pending (stderr says why, pod by pod)",
            EXIT_INPUT: "invalid input",
            EXIT_FAILED: "a plugin failed (an allocator error or timeout: SchedulerError)",
        },
    ),
)
def schedule_command(
    files: Annotated[
        list[str] | None,
        typer.Option(
            "-f",
            "--filename",
            metavar="FILE",
            help="YAML or JSON file with Nodes, Pods, PriorityClasses, DeviceClasses, "
            "ResourceSlices, ResourceClaims and ResourceClaimTemplates, or a folder of them "
            "(repeatable; '-' reads stdin). Other kinds are read and set aside.",
        ),
    ] = None,
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            metavar="FILE",
            help="A KubeSchedulerConfiguration (kubescheduler.config.k8s.io/v1): profiles, "
            "plugins, pluginConfig, percentageOfNodesToScore.",
        ),
    ] = None,
    feature_gates: GatesOption = "",
    seed: Annotated[
        int | None,
        typer.Option(
            metavar="N",
            help="Break ties between equally scored nodes at random from this seed "
            "(default: the first node in name order).",
        ),
    ] = None,
    output: Annotated[
        ScheduleOutput, typer.Option("-o", "--output", help="Output format.")
    ] = ScheduleOutput.yaml,
    recursive: RecursiveOption = False,
    validate: ValidateOption = Validate.strict,
    verbose: VerboseOption = False,
    preemption_frees_devices: Annotated[
        bool,
        typer.Option(
            "--preemption-frees-devices",
            help="Let preemption free the devices of lower-priority pods' node-local claims "
            "(KEP-5690, beyond Kubernetes 1.36, which never preempts for devices).",
        ),
    ] = False,
    kubeconfig: Annotated[
        str | None,
        typer.Option(
            "--kubeconfig",
            metavar="FILE",
            help="What-if against a live cluster: its objects, read from the API server this "
            "kubeconfig names, with the files' objects over them (replacing the cluster's of "
            "the same name); only the files' pending pods are scheduled. Nothing is written.",
        ),
    ] = None,
    context: Annotated[
        str | None,
        typer.Option(
            "--context",
            metavar="NAME",
            help="With --kubeconfig: the kubeconfig context to use (default: its current one).",
        ),
    ] = None,
    include_pending: Annotated[
        bool,
        typer.Option(
            "--include-pending",
            help="With --kubeconfig: try the cluster's pending pods too, with the files' pods "
            "in queue order (otherwise they stay pending, not tried).",
        ),
    ] = False,
) -> None:
    """Schedule the pending pods offline, one at a time in queue order (priority, then input
    order), and print them with spec.nodeName or a PodScheduled=False condition, followed by
    the pods preemption evicted (phase Failed, reason Preempted) and the claims allocated,
    generated or freed.

    A pod that fits nowhere may preempt lower-priority pods on one node: they are evicted at
    once and the pod is retried. Pods with spec.nodeName are running there; the others are
    pending. Ties go to the first node in name order, or are drawn from --seed, so the same
    input gives the same output.

    With --kubeconfig, "where would these go if applied now": the live cluster as its API
    server holds it, with the files' objects over it; the cluster's pending pods stay pending
    unless --include-pending. Nothing is written to the cluster.
    """
    # `cli.schedule` imports the scheduler (and numpy): imported when the command runs. Its
    # `schedule_command` declares the same options; this one only passes them on.
    from dralloc.cli import schedule

    schedule.schedule_command(
        files=files or [],
        config=config,
        feature_gates=feature_gates,
        seed=seed,
        output=schedule.ScheduleOutputFormat(output.value),
        recursive=recursive,
        validate=validate,
        verbose=verbose,
        preemption_frees_devices=preemption_frees_devices,
        kubeconfig=kubeconfig,
        context=context,
        include_pending=include_pending,
    )


class QueueOutput(StrEnum):
    table = "table"
    yaml = "yaml"
    json = "json"


@app.command(
    "queue",
    short_help="Admit Kueue workloads offline, then schedule their pods.",
    epilog=epilog(
        [
            "dralloc queue -f examples/queueing/",
            "dralloc queue -f cluster.yaml -f kueue/ -f jobs.yaml --no-placement",
            "dralloc queue -f examples/queueing/ -o yaml --explain team-a/pretrain",
        ],
        {
            EXIT_OK: "every Workload admitted and every pod placed",
            EXIT_NO: "some Workload pending (the table says why) or some pod unschedulable",
            EXIT_INPUT: "invalid input (file, object, field)",
            EXIT_FAILED: "a plugin failed (an allocator error or timeout)",
        },
    ),
)
def queue_command(
    files: Annotated[
        list[str] | None,
        typer.Option(
            "-f",
            "--filename",
            metavar="FILE",
            help="YAML or JSON file, or a folder: Nodes, ResourceSlices, DeviceClasses, "
            "Kueue's objects (kueue.x-k8s.io), Jobs and JobSets naming a LocalQueue "
            "(kueue.x-k8s.io/queue-name) and their ResourceClaimTemplates (repeatable).",
        ),
    ] = None,
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            metavar="FILE",
            help="A KubeSchedulerConfiguration for the placement check and the scheduling.",
        ),
    ] = None,
    feature_gates: GatesOption = "",
    seed: Annotated[
        int | None,
        typer.Option(metavar="N", help="Break ties between equally scored nodes from this seed."),
    ] = None,
    placement: Annotated[
        bool,
        typer.Option(
            "--placement/--no-placement",
            help="Admit a Workload only if the scheduler can place all its pods now "
            "(default); --no-placement is Kueue's quota-only admission.",
        ),
    ] = True,
    output: Annotated[
        QueueOutput, typer.Option("-o", "--output", help="Output format.")
    ] = QueueOutput.table,
    explain_workload: Annotated[
        str | None,
        typer.Option(
            "--explain",
            metavar="NS/NAME",
            help="Say on stderr why this Workload (or the Workload of this Job) waits.",
        ),
    ] = None,
    recursive: RecursiveOption = False,
    validate: ValidateOption = Validate.strict,
) -> None:
    """Run Kueue's admission cycles over the input's queues and Jobs until nothing changes,
    then schedule the admitted Jobs' pods as kube-scheduler would, and print one table per
    ClusterQueue: usage against quota, admitted Workloads with their pods, and every pending
    Workload with its reason (quota, placement: which pod and why).

    With --placement (the default) a Workload is admitted only if the same framework and DRA
    allocator can place all its pods now, so nothing is admitted and then stuck
    unschedulable; --no-placement admits on quota alone, as Kueue does.
    """
    from dralloc.cli import queue

    queue.queue_command(
        files or [],
        config=config,
        feature_gates=feature_gates,
        seed=seed,
        placement=placement,
        output=queue.QueueOutputFormat(output.value),
        explain_key=explain_workload,
        recursive=recursive,
        validate=validate,
    )


class ConsolidateOutput(StrEnum):
    table = "table"
    yaml = "yaml"
    json = "json"


class ConsolidateGoal(StrEnum):
    gpus = "gpus"
    hosts = "hosts"


@app.command(
    "consolidate",
    short_help="Plan moves of preemptible pods that reopen whole GPUs or hosts.",
    epilog=epilog(
        [
            "dralloc consolidate -f cluster.yaml -f running.yaml",
            "dralloc consolidate -f cluster/ --goal hosts --count 1",
            "dralloc consolidate -f cluster/ --priority-below 1000 -o yaml",
        ],
        {
            EXIT_OK: "at least one GPU or host reopened",
            EXIT_NO: "none could be reopened (stderr says why, unit by unit)",
            EXIT_INPUT: "invalid input (file, object, field)",
        },
    ),
)
def consolidate_command(
    files: Annotated[
        list[str] | None,
        typer.Option(
            "-f",
            "--filename",
            metavar="FILE",
            help="YAML or JSON file, or a folder: what dralloc schedule reads, with bound "
            "pods (spec.nodeName) and their allocated ResourceClaims (repeatable).",
        ),
    ] = None,
    goal: Annotated[
        ConsolidateGoal,
        typer.Option("--goal", help="Reopen whole GPUs or whole hosts."),
    ] = ConsolidateGoal.gpus,
    priority_below: Annotated[
        int,
        typer.Option(
            "--priority-below",
            metavar="N",
            help="Pods with a priority below N may move (100: KAI Scheduler's line "
            "between preemptible and non-preemptible classes).",
        ),
    ] = 100,
    count: Annotated[
        int | None,
        typer.Option(
            "--count", metavar="N", min=1, help="Reopen at most N units (default: all that can be)."
        ),
    ] = None,
    max_moves: Annotated[
        int | None,
        typer.Option("--max-moves", metavar="N", min=0, help="Move at most N pods."),
    ] = None,
    include_bare_pods: Annotated[
        bool,
        typer.Option(
            "--include-bare-pods",
            help="Move pods no controller owns too (nothing would recreate them).",
        ),
    ] = False,
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            metavar="FILE",
            help="A KubeSchedulerConfiguration whose profiles place the moved pods.",
        ),
    ] = None,
    feature_gates: GatesOption = "",
    seed: Annotated[
        int | None,
        typer.Option(metavar="N", help="Break ties between equally scored nodes from this seed."),
    ] = None,
    output: Annotated[
        ConsolidateOutput, typer.Option("-o", "--output", help="Output format.")
    ] = ConsolidateOutput.table,
    recursive: RecursiveOption = False,
    validate: ValidateOption = Validate.strict,
) -> None:
    """Move preemptible pods so that whole GPUs (or hosts) are free again, moving as few
    as it can: units are reopened cheapest first, and only when every pod on one finds a
    place elsewhere, placed by the same scheduler and DRA allocator as dralloc schedule.

    A pod is preemptible when its priority is below --priority-below, a controller owns
    it, it shares no claim, it is not annotated karpenter.sh/do-not-disrupt=true or
    cluster-autoscaler.kubernetes.io/safe-to-evict=false, and its PodDisruptionBudgets
    allow it. Prints the moves and the whole GPUs and hosts free before and after; -o yaml
    prints the moved pods and their claims as they would be.
    """
    from dralloc.cli import consolidate
    from dralloc.controllers.consolidation import Goal

    consolidate.consolidate_command(
        files or [],
        goal=Goal(goal.value),
        priority_below=priority_below,
        count=count,
        max_moves=max_moves,
        include_bare_pods=include_bare_pods,
        config=config,
        feature_gates=feature_gates,
        seed=seed,
        output=consolidate.ConsolidateOutputFormat(output.value),
        recursive=recursive,
        validate=validate,
    )


app.add_typer(simulate_app, name="simulate")
app.command("size", short_help=SIZE_SHORT_HELP, epilog=SIZE_EPILOG)(size_command)
app.command("scheduler", short_help=SCHEDULER_SHORT_HELP, epilog=SCHEDULER_EPILOG)(
    scheduler_command
)
app.command("dashboard", short_help=DASHBOARD_SHORT_HELP, epilog=DASHBOARD_EPILOG)(
    dashboard_command
)

NODE_DISCOVER_EPILOG = epilog(
    [
        "dralloc node discover",
        "dralloc node discover --node-name gpu-node-1 --mig dynamic -o json",
    ],
    {
        EXIT_OK: "the ResourceSlices are printed on stdout",
        EXIT_FAILED: "NVML cannot be read (no NVIDIA driver on this machine)",
    },
)
node_app = typer.Typer(
    help="Node agent: what this machine's GPUs publish.",
    short_help="Node agent: what this machine's GPUs publish.",
    epilog=NODE_DISCOVER_EPILOG,
    no_args_is_help=True,
)
app.add_typer(node_app, name="node")
app.add_typer(nodes_app, name="nodes")


class DiscoverMig(StrEnum):
    static = "static"
    dynamic = "dynamic"


@node_app.command(
    "discover",
    short_help="Print the ResourceSlices this machine's GPUs publish.",
    epilog=NODE_DISCOVER_EPILOG,
)
def node_discover(
    node_name: Annotated[
        str,
        typer.Option(
            "--node-name",
            metavar="NAME",
            help="The Node's name, the pool name of its slices (default: the host name).",
            show_default=False,
        ),
    ] = "",
    mig: Annotated[
        DiscoverMig,
        typer.Option(help="static: publish existing MIG devices; dynamic: DynamicMIG layout."),
    ] = DiscoverMig.static,
    output: Annotated[
        AllocateOutput, typer.Option("-o", "--output", help="Output format.")
    ] = AllocateOutput.yaml,
) -> None:
    """Read this machine's GPUs through NVML and print the ResourceSlices the driver publishes.

    GPUs are matched to the accelerator catalog by product name; existing MIG instances are
    published as they are (static) or as the DynamicMIG layout (dynamic).
    """
    import socket

    from dralloc.api.io import dump, kube_dict, list_document
    from dralloc.devices.nvml import DiscoveryError

    name = node_name or socket.gethostname()
    try:
        discovery = _engine("discover_with_pynvml")(node_name=name, mig=mig.value)
    except DiscoveryError as err:
        _fail(EXIT_FAILED, f"node discover: {err}")
    for warning in discovery.warnings:
        _err(f"warning: {warning}")
    items = [kube_dict(s) for s in discovery.slices]
    sys.stdout.write(dump(list_document(items), output.value))
    _err(f"node {name}: {len(discovery.gpus)} GPUs, {len(items)} ResourceSlices")


def run() -> None:
    """Console-script entry point."""
    debug = "--debug" in sys.argv
    if debug:
        sys.argv.remove("--debug")
    try:
        app()
    except DrallocError as err:
        _err(str(err))
        sys.exit(EXIT_INPUT)
    except Stopped as stop:
        # SIGTERM in the instant before or after the command's own clean-up took it over.
        _err(f"stopped by {stop}")
        sys.exit(128 + stop.signum)
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, as command-line tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(EXIT_FAILED)
    except OSError as err:
        if debug:
            raise
        _err(f"error: {err.strerror or err}{f': {err.filename}' if err.filename else ''}")
        sys.exit(EXIT_FAILED)
    except Exception:
        if debug:
            raise
        import traceback

        _err("internal error, please report (run with --debug for the traceback):")
        _err(traceback.format_exc().strip().splitlines()[-1])
        sys.exit(EXIT_FAILED)
