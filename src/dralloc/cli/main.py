"""The `dralloc` command line: a contract that scripts depend on.

Exit codes (every command): 0 success / "yes"; 1 the answer is "no" (no allocation exists);
2 invalid input (each problem on its own stderr line naming file, object and field);
3 the engine failed (a CEL runtime error, an allocator error, or it gave up in time).
Only `DrallocError` and allocator errors are caught; anything else is a bug and says so.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import socket
import sys
from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import IO, Annotated, Any, NoReturn

import msgspec
import typer
from rich.console import Console
from rich.table import Table

from dralloc.allocator import (
    AllocatedState,
    AllocationError,
    AllocationGaveUp,
    Allocator,
    AllocatorOptions,
    ClaimExplanation,
    Inventory,
    NodeFailure,
    allocated_state,
    explain,
)
from dralloc.api.io import dump, kube_dict, list_document, to_builtins
from dralloc.api.resource import AllocationResult, ResourceClaim
from dralloc.cli.inputs import ClusterInput, read_cluster
from dralloc.cli.mig import mig_app
from dralloc.cli.schedule import schedule_command
from dralloc.cli.simulate import simulate_command
from dralloc.devices import load_catalog
from dralloc.devices.cluster import (
    ClusterSpecError,
    iter_cluster_json,
    parse_cluster_file,
    parse_group,
)
from dralloc.devices.isolation import (
    DeviceIsolation,
    allocation_isolation,
    claim_isolation,
    with_mode_conflicts,
)
from dralloc.devices.nvidia_config import DRIVER as GPU_DRIVER
from dralloc.devices.nvml import DiscoveryError, discover_with_pynvml
from dralloc.errors import DrallocError, InputError
from dralloc.features import FeatureGateError, Features, parse_gates

ISOLATION_ANNOTATION = "dralloc.io/isolation"
EXIT_OK = 0
EXIT_NO = 1
EXIT_INPUT = 2
EXIT_FAILED = 3
# Without --node, explain at most this many nodes on stderr when nothing fits.
MAX_EXPLAINED_NODES = 10

app = typer.Typer(
    name="dralloc",
    help="An accelerator-allocation engine faithful to Kubernetes DRA (resource.k8s.io/v1).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class AllocateOutput(StrEnum):
    yaml = "yaml"
    json = "json"


class ExplainOutput(StrEnum):
    table = "table"
    json = "json"


FilesOption = Annotated[
    list[str],
    typer.Option(
        "-f",
        "--filename",
        help="YAML or JSON file with Nodes, DeviceClasses, ResourceSlices and ResourceClaims "
        "(repeatable; '-' reads stdin).",
    ),
]
GatesOption = Annotated[
    str,
    typer.Option(
        "--feature-gates",
        help="Comma-separated Gate=true|false pairs, as kube-scheduler takes them "
        "(Kubernetes 1.36 defaults otherwise).",
    ),
]
TimeoutOption = Annotated[
    float,
    typer.Option(help="Seconds before the allocator gives up (0 = no limit), like filterTimeout."),
]


def _err(message: str) -> None:
    sys.stderr.write(message.rstrip("\n") + "\n")


def _fail(code: int, message: str) -> NoReturn:
    _err(message)
    raise typer.Exit(code)


def _features(gates: str) -> Features:
    try:
        features = parse_gates(gates)
    except FeatureGateError as err:
        _fail(EXIT_INPUT, f"--feature-gates: {err}")
    for gate in features.emulated_off():
        _err(
            f"warning: feature gate {gate} is GA and locked on in Kubernetes 1.36; "
            "switching it off emulates an older release"
        )
    return features


def _read(files: list[str]) -> ClusterInput:
    try:
        return read_cluster(files)
    except InputError as err:
        _fail(EXIT_INPUT, str(err))


def _allocator(features: Features, timeout: float) -> Allocator:
    return Allocator(features, options=AllocatorOptions(timeout=timeout or None))


def _claim_output(
    raw: dict[str, Any], allocation: AllocationResult, isolation: list[DeviceIsolation]
) -> dict[str, Any]:
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


@app.command()
def allocate(
    files: FilesOption,
    node: Annotated[
        str | None,
        typer.Option(help="Allocate for this node; without it, nodes are tried in name order."),
    ] = None,
    feature_gates: GatesOption = "",
    output: Annotated[AllocateOutput, typer.Option("-o", "--output")] = AllocateOutput.yaml,
    timeout: TimeoutOption = 10.0,
) -> None:
    """Allocate every claim without an allocation, together, on one node (all or none)."""
    features = _features(feature_gates)
    cluster = _read(files)
    inventory = Inventory(cluster.slices, features, cluster.taint_rules)
    state = allocated_state(cluster.allocated_claims, features)
    pending = cluster.pending_claims()
    allocator = _allocator(features, timeout)
    nodes = [node] if node else cluster.node_names()
    if not nodes:
        _fail(EXIT_INPUT, "no nodes: give --node NAME, or Node objects in the input files")
    if node and node not in cluster.nodes:
        _err(f"warning: node {node} is not in the input; treating it as a node without labels")
    failures: list[str] = []
    for name in nodes:
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


def _explain_failure(
    allocator: Allocator,
    cluster: ClusterInput,
    node: str,
    pending: list[ResourceClaim],
    inventory: Inventory,
    state: AllocatedState,
) -> None:
    """Say why on stderr: each claim alone, then whether they only fail together."""
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


def _explanation_json(result: ClaimExplanation) -> dict[str, Any]:
    return {
        "claim": result.claim,
        "node": result.node,
        "fits": result.fits,
        "message": result.message,
        "error": result.error or None,
        "pools": [vars(p) for p in result.pools],
        "requests": [
            {
                "name": r.name,
                "deviceClassName": r.device_class,
                "needed": r.needed,
                "fitting": r.fitting,
                "devices": [vars(d) for d in r.devices],
            }
            for r in result.requests
        ],
        "allocation": to_builtins(result.allocation) if result.allocation else None,
    }


def _print_table(result: ClaimExplanation, console: Console) -> None:
    style = "green" if result.fits else ("red" if result.error else "yellow")
    console.print(
        f"[bold]claim {result.claim}[/bold] on node [bold]{result.node}[/bold]: "
        f"[{style}]{result.message}[/{style}]"
    )
    for pool in result.pools:
        if pool.state != "complete":
            console.print(f"  pool {pool.pool} is {pool.state} {pool.detail}".rstrip())
    for request in result.requests:
        table = Table(
            title=f"request {request.name} (class {request.device_class}, needs {request.needed}, "
            f"{request.fitting} fit)",
            title_justify="left",
        )
        table.add_column("DEVICE")
        table.add_column("VERDICT")
        table.add_column("DETAIL")
        for device in request.devices:
            verdict = device.verdict
            colour = "green" if verdict == "fits" else "red"
            table.add_row(device.device, f"[{colour}]{verdict}[/{colour}]", device.detail)
        if not request.devices:
            table.add_row("(no devices on this node)", "", "")
        console.print(table)


@app.command("explain")
def explain_command(
    files: FilesOption,
    claim: Annotated[str, typer.Option(help="Claim name, or namespace/name.")],
    node: Annotated[
        str | None, typer.Option(help="Explain for this node (default: every node).")
    ] = None,
    feature_gates: GatesOption = "",
    output: Annotated[ExplainOutput, typer.Option("-o", "--output")] = ExplainOutput.table,
    timeout: TimeoutOption = 10.0,
) -> None:
    """Why a claim does or does not fit: a verdict for every request and candidate device."""
    features = _features(feature_gates)
    cluster = _read(files)
    namespace, _, name = claim.rpartition("/")
    matches = [
        loaded.obj
        for loaded in cluster.objects
        if isinstance(loaded.obj, ResourceClaim)
        and loaded.obj.metadata.name == name
        and (not namespace or loaded.obj.metadata.namespace == namespace)
    ]
    if not matches:
        _fail(EXIT_INPUT, f"claim {claim}: no ResourceClaim of that name in the input")
    target_claim = matches[0]
    others = [c for c in cluster.allocated_claims if c is not target_claim]
    state = allocated_state(others, features)
    inventory = Inventory(cluster.slices, features, cluster.taint_rules)
    allocator = _allocator(features, timeout)
    nodes = [node] if node else cluster.node_names()
    if not nodes:
        _fail(EXIT_INPUT, "no nodes: give --node NAME, or Node objects in the input files")
    results = [
        explain(allocator, cluster.node(n), target_claim, inventory, cluster.classes, state)
        for n in nodes
    ]
    if output is ExplainOutput.json:
        sys.stdout.write(json.dumps([_explanation_json(r) for r in results], indent=2) + "\n")
    else:
        console = Console(highlight=False, soft_wrap=True)
        for result in results:
            _print_table(result, console)
    if any(r.error for r in results):
        raise typer.Exit(EXIT_FAILED)
    raise typer.Exit(EXIT_OK if any(r.fits for r in results) else EXIT_NO)


cluster_app = typer.Typer(
    help="Describe clusters: generate the objects a real fleet publishes.", no_args_is_help=True
)
app.add_typer(cluster_app, name="cluster")


@cluster_app.command("generate")
def cluster_generate(
    nodes: Annotated[
        list[str] | None,
        typer.Option(
            "--nodes",
            help="A node group COUNTxSHAPE[:option=value,...] (repeatable): dgx-h100, "
            "dgx-a100, dgx-h200, dgx-b200, a catalog GPU model with gpus=N (e.g. 4xl4:gpus=2), "
            "or tpu-<gen>-<topology> (e.g. 4xtpu-v6e-4x4). GPU options: mig=none|static|dynamic, "
            "layout=PROFILES (static MIG, e.g. all-1g.10gb or 3g.40gb/2x1g.10gb), "
            "sharing=exclusive|time-slicing|mps|fractional, replicas=N, clients=N.",
        ),
    ] = None,
    cluster_file: Annotated[
        str | None,
        typer.Option("-f", "--file", help="A cluster file (kind: Cluster) listing node groups."),
    ] = None,
    output: Annotated[AllocateOutput, typer.Option("-o", "--output")] = AllocateOutput.yaml,
    out: Annotated[
        str | None, typer.Option("--out", help="Write to this file (default: stdout).")
    ] = None,
) -> None:
    """Nodes, ResourceSlices and DeviceClasses for a fleet, as the real drivers publish them."""
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
app.command("schedule")(schedule_command)
app.command("simulate")(simulate_command)

node_app = typer.Typer(help="Node agent: what this machine's GPUs publish.", no_args_is_help=True)
app.add_typer(node_app, name="node")


class DiscoverMig(StrEnum):
    static = "static"
    dynamic = "dynamic"


@node_app.command("discover")
def node_discover(
    node_name: Annotated[
        str, typer.Option("--node-name", help="The Node's name (the pool name of its slices).")
    ] = "",
    mig: Annotated[
        DiscoverMig,
        typer.Option(help="static: publish existing MIG devices; dynamic: DynamicMIG layout."),
    ] = DiscoverMig.static,
    output: Annotated[AllocateOutput, typer.Option("-o", "--output")] = AllocateOutput.yaml,
) -> None:
    """Read this machine's GPUs through NVML and print the ResourceSlices the driver publishes."""
    name = node_name or socket.gethostname()
    try:
        discovery = discover_with_pynvml(node_name=name, mig=mig.value)
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
