"""Loaders for the openb trace: Alibaba's GPU-sharing cluster (cluster-trace-gpu-v2023).

This module owns reading the trace's CSV files into typed, frozen records, naming the
workloads the simulator offers (`openb:default`, `openb:gpushare40`, ...), the trace's GPU
model codes (`openb_models`), and converting its records to the request model (`model`). It is
pure parsing: no DRA objects (`sim.openb_objects` makes those from the request model), no
scheduling, and no state beyond what a call returns.

Design:

- **Two files, two records.** A node list (`sn,cpu_milli,memory_mib,gpu,model`) gives
  `OpenbNode`; a pod list gives `OpenbPod`. Pod lists come in two schemas: the full one of 11
  columns and the 5-column one of the four `multigpu*` files (no `gpu_spec`, `qos`, phase or
  times; those fields are then "any model" and `None`, meaning "not in this file").
- **Units stay as the trace has them**: milli-cores, MiB, milli-GPU (1000 = one GPU) and seconds
  from the start of the trace. `gpu_milli` is the share of *each* GPU, so a pod's total GPU
  request is `num_gpu * gpu_milli`.
- **Nothing is dropped silently.** Every row is checked; every problem is collected, and if there
  is any the loader raises one `InputError` whose `Problem`s name the file, `line N` (1-based,
  the header is line 1), the column and what was expected. A row with a problem gives no record,
  so callers never see a half-parsed pod. The data has quirks that are *valid* and are kept:
  an empty `gpu_spec` means any model; a model named twice in a spec collapses (the spec is a
  set); `scheduled_time` is empty for pending pods; `memory_mib` may be 0.
- **Strict where the trace is regular.** The published files always have `gpu_milli == 1000` on
  multi-GPU rows, 0 on CPU-only rows, and never above 1000 (the FGD converter would cap it,
  silently). A file that breaks one of these is not the openb trace, so it is an error, not
  something to guess at. Counts of GPUs other than 0/1/2/4/8 are accepted: nothing in the
  model depends on them.
- **Conversion happens here, once.** `trace_node` and `trace_pod` turn a row into a
  `TraceNode` or `TracePod`; QoS, phase and times stay on the row. `arrival_trace` gives what
  the FGD experiment places, `replay_trace` the pod list on its own clock for a replay.
- **Checks across files** (a `gpu_spec` naming a model no node has) are separate:
  `check_specs()` returns the problems, and `resolve_trace()` raises them.
- **Packaged data.** The GPU node list and the default pod list ship inside the package
  (`dralloc/sim/data/openb/`, with their source, citation and checksums), so
  `resolve_trace("openb:default")` works in any checkout. The other 23 pod lists need
  `trace_dir`, a folder holding a copy of the trace (the CLI's `--trace-dir`).

Example::

    trace = resolve_trace("openb:default")
    len(trace.nodes), len(trace.pods)  # (1213, 8152)
    sum(p.num_gpu * p.gpu_milli for p in trace.pods)  # 6086800 milli-GPU
    arrival_trace(trace).pods[0]  # TracePod(name='openb-pod-0000', ...)
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Final, TypeVar

import yaml

from dralloc.devices.catalog import Catalog, load_catalog
from dralloc.errors import InputError, Problem
from dralloc.sim.traces.model import GPU_MILLI, ArrivalTrace, GpuModels, TraceNode, TracePod
from dralloc.sim.traces.rows import CsvRows, read_text
from dralloc.sim.traces.timeline import ReplayTrace, TimedPod

__all__ = [
    "ALL_VARIANTS",
    "DEFAULT_WORKLOAD",
    "NODE_COLUMNS",
    "NODE_LIST_FILE",
    "PACKAGED_VARIANTS",
    "PAPER_VARIANTS",
    "PAPER_WORKLOADS",
    "POD_COLUMNS",
    "SHORT_POD_COLUMNS",
    "WORKLOADS",
    "OpenbNode",
    "OpenbPod",
    "OpenbTrace",
    "PodPhase",
    "Qos",
    "arrival_trace",
    "check_specs",
    "expand_workloads",
    "load_nodes",
    "load_pods",
    "openb_models",
    "parse_nodes",
    "parse_pods",
    "pod_list_file",
    "replay_trace",
    "resolve_trace",
    "trace_node",
    "trace_pod",
]

NODE_COLUMNS: Final = ("sn", "cpu_milli", "memory_mib", "gpu", "model")
POD_COLUMNS: Final = (
    "name",
    "cpu_milli",
    "memory_mib",
    "num_gpu",
    "gpu_milli",
    "gpu_spec",
    "qos",
    "pod_phase",
    "creation_time",
    "deletion_time",
    "scheduled_time",
)
SHORT_POD_COLUMNS: Final = POD_COLUMNS[:5]
"""The schema of the four `multigpu*` pod lists (README quirk 1)."""

PREFIX: Final = "openb:"
NODE_LIST_FILE: Final = "openb_node_list_gpu_node.csv"
"""The node list every FGD experiment uses: the 1,213 GPU nodes (CPU-only nodes left out)."""

# Every pod list in cluster-trace-gpu-v2023, in the order of the trace README's table.
ALL_VARIANTS: Final = (
    "cpu0", "cpu037", "cpu050", "cpu072", "cpu100", "cpu200", "cpu235", "cpu250", "cpu300",
    "default",
    "gpushare20", "gpushare40", "gpushare60", "gpushare80", "gpushare100",
    "gpuspec05", "gpuspec10", "gpuspec20", "gpuspec25", "gpuspec33",
    "multigpu20", "multigpu30", "multigpu40", "multigpu50",
)  # fmt: skip
# The 17 pod lists of the FGD paper (ATC '23): default and those of Figs. 11-14.
PAPER_VARIANTS: Final = (
    "default",
    "gpushare40", "gpushare60", "gpushare80", "gpushare100",  # Fig. 11
    "multigpu20", "multigpu30", "multigpu40", "multigpu50",  # Fig. 12
    "gpuspec10", "gpuspec20", "gpuspec25", "gpuspec33",  # Fig. 13
    "cpu050", "cpu100", "cpu200", "cpu250",  # Fig. 14
)  # fmt: skip
WORKLOADS: Final = tuple(PREFIX + v for v in PAPER_VARIANTS)
"""Workload names as users write them (`--workload openb:gpushare40`): the paper's 17."""
DEFAULT_WORKLOAD: Final = PREFIX + "default"
PAPER_WORKLOADS: Final = PREFIX + "paper"
"""Shorthand for all of `WORKLOADS`, the paper's whole experiment."""


def expand_workloads(names: Sequence[str]) -> list[str]:
    """`openb:paper` stands for the paper's 17 workloads; duplicates are dropped, order kept."""
    expanded: list[str] = []
    for name in names:
        expanded.extend(WORKLOADS if name == PAPER_WORKLOADS else (name,))
    return list(dict.fromkeys(expanded))


PACKAGED_VARIANTS: Final = ("default",)
"""Pod lists shipped inside the package; every other variant needs a trace directory."""

_DATA_PACKAGE: Final = "dralloc.sim"
_E = TypeVar("_E", bound=StrEnum)
_ANY_MODEL: Final[frozenset[str]] = frozenset()


class Qos(StrEnum):
    """A pod's QoS class as the trace spells it. LS and BE are Alibaba classes, not Kubernetes'."""

    LS = "LS"  # latency-sensitive
    BE = "BE"  # best effort
    BURSTABLE = "Burstable"
    GUARANTEED = "Guaranteed"


class PodPhase(StrEnum):
    """The pod's phase when the trace ended (Kubernetes `status.phase` values)."""

    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


_QOS: Final = {q.value: q for q in Qos}
_PHASES: Final = {p.value: p for p in PodPhase}


@dataclass(frozen=True, slots=True)
class OpenbNode:
    """One row of a node list.

    `cpu_milli` is allocatable CPU in milli-cores, `memory_mib` host memory in MiB, `gpus` the
    number of physical GPUs and `model` their model (`None` on a CPU-only node, whose `model`
    cell is empty). `line` is where the row is in its file (0 when not read from a file); it is
    provenance, not part of equality.

        OpenbNode("openb-node-0000", 64000, 262144, 2, "P100")
    """

    name: str
    cpu_milli: int
    memory_mib: int
    gpus: int
    model: str | None
    line: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class OpenbPod:
    """One row of a pod list.

    Requests: `cpu_milli` (milli-cores), `memory_mib` (MiB), `num_gpu` GPUs, each at
    `gpu_milli` milli-GPU (1000 = a whole GPU; below 1000 only when `num_gpu == 1`, a sharing
    pod). `gpu_spec` is the set of GPU models the pod may use; empty means any model.
    `qos`, `phase` and the times (seconds from trace start) are `None` when the file has no such
    column (the `multigpu*` files); `scheduled_time` is also `None` for a pod never scheduled.
    `line` is where the row is in its file (0 when not read from a file); it is provenance, not
    part of equality, so the same pod read from two files compares equal.

        OpenbPod("openb-pod-0001", cpu_milli=6000, memory_mib=12288, num_gpu=1, gpu_milli=460)
    """

    name: str
    cpu_milli: int
    memory_mib: int
    num_gpu: int
    gpu_milli: int
    gpu_spec: frozenset[str] = frozenset()
    qos: Qos | None = None
    phase: PodPhase | None = None
    creation_time: int | None = None
    deletion_time: int | None = None
    scheduled_time: int | None = None
    line: int = field(default=0, compare=False)


@dataclass(frozen=True)
class OpenbTrace:
    """A workload ready to simulate: the nodes and the pods, and the files they came from.

    `workload` is the name the user gave (`openb:gpushare40`); `node_file` and `pod_file` are
    the paths read (inside the installed package when `packaged`).
    """

    workload: str
    nodes: tuple[OpenbNode, ...]
    pods: tuple[OpenbPod, ...]
    node_file: str
    pod_file: str
    packaged: bool

    @property
    def variant(self) -> str:
        return self.workload.removeprefix(PREFIX)


def pod_list_file(variant: str) -> str:
    """The file name of a variant's pod list: `openb_pod_list_<variant>.csv`."""
    return f"openb_pod_list_{variant}.csv"


# --------------------------------------------------------------------------------------------
# Parsing


def parse_nodes(text: str, file: str) -> tuple[OpenbNode, ...]:
    """Parse a node list (`sn,cpu_milli,memory_mib,gpu,model`) read from `file`.

    Raises `InputError` listing every malformed row. `model` must be empty exactly when the
    node has no GPU (the `all_node` list has CPU-only nodes).
    """
    rows = CsvRows(text, file)
    nodes: list[OpenbNode] = []
    first_line: dict[str, int] = {}
    for line, (name, cpu, memory, gpu, model) in rows.read([NODE_COLUMNS]):
        before = len(rows.problems)
        _check_name(rows, line, "sn", name, first_line, "node")
        cpu_milli = rows.integer(line, "cpu_milli", cpu)
        memory_mib = rows.integer(line, "memory_mib", memory)
        gpus = rows.integer(line, "gpu", gpu)
        if gpus is not None and (gpus == 0) != (model == ""):
            rows.problem(
                line,
                "model",
                f"is {model!r} on a node with {gpus} GPUs: a node has a model iff it has GPUs",
            )
        if len(rows.problems) > before:
            continue
        assert cpu_milli is not None and memory_mib is not None and gpus is not None
        nodes.append(OpenbNode(name, cpu_milli, memory_mib, gpus, model or None, line))
    rows.raise_problems()
    return tuple(nodes)


def parse_pods(text: str, file: str) -> tuple[OpenbPod, ...]:
    """Parse a pod list, in the full 11-column schema or the 5-column `multigpu*` one.

    Raises `InputError` listing every malformed row, each at its file, line and column.
    """
    rows = CsvRows(text, file)
    pods: list[OpenbPod] = []
    first_line: dict[str, int] = {}
    for line, row in rows.read([POD_COLUMNS, SHORT_POD_COLUMNS]):
        before = len(rows.problems)
        name, cpu, memory, gpus, milli = row[:5]
        _check_name(rows, line, "name", name, first_line, "pod")
        cpu_milli = rows.integer(line, "cpu_milli", cpu)
        memory_mib = rows.integer(line, "memory_mib", memory)
        num_gpu = rows.integer(line, "num_gpu", gpus)
        gpu_milli = rows.integer(line, "gpu_milli", milli)
        if num_gpu is not None and gpu_milli is not None:
            _check_gpu_request(rows, line, num_gpu, gpu_milli)
        spec = _ANY_MODEL
        qos: Qos | None = None
        phase: PodPhase | None = None
        created = deleted = scheduled = None
        if len(row) == len(POD_COLUMNS):
            spec = _gpu_spec(rows, line, row[5], num_gpu)
            qos = _member(rows, line, "qos", row[6], _QOS)
            phase = _member(rows, line, "pod_phase", row[7], _PHASES)
            created = rows.integer(line, "creation_time", row[8])
            deleted = rows.integer(line, "deletion_time", row[9])
            if row[10]:  # empty for a pod never scheduled (README quirk 5)
                scheduled = rows.integer(line, "scheduled_time", row[10])
            if created is not None and deleted is not None and deleted < created:
                rows.problem(
                    line,
                    "deletion_time",
                    f"{deleted} is before creation_time {created}",
                )
        if len(rows.problems) > before:
            continue
        assert cpu_milli is not None and memory_mib is not None
        assert num_gpu is not None and gpu_milli is not None
        pods.append(
            OpenbPod(
                name,
                cpu_milli,
                memory_mib,
                num_gpu,
                gpu_milli,
                spec,
                qos,
                phase,
                created,
                deleted,
                scheduled,
                line,
            )
        )
    rows.raise_problems()
    return tuple(pods)


def _check_name(
    rows: CsvRows, line: int, column: str, name: str, first_line: dict[str, int], kind: str
) -> None:
    if not name:
        rows.problem(line, column, f"empty, expected a {kind} name")
    elif name in first_line:
        rows.problem(
            line, column, f"duplicate {kind} name {name!r}, first on line {first_line[name]}"
        )
    else:
        first_line[name] = line


def _check_gpu_request(rows: CsvRows, line: int, num_gpu: int, gpu_milli: int) -> None:
    if gpu_milli > GPU_MILLI:
        rows.problem(line, "gpu_milli", f"must be ≤ {GPU_MILLI} (one whole GPU), got {gpu_milli}")
    elif num_gpu == 0 and gpu_milli != 0:
        rows.problem(line, "gpu_milli", f"must be 0 when num_gpu is 0, got {gpu_milli}")
    elif num_gpu > 0 and gpu_milli == 0:
        rows.problem(line, "gpu_milli", f"must be > 0 when num_gpu is {num_gpu}, got 0")
    elif num_gpu > 1 and gpu_milli != GPU_MILLI:
        # The trace never shares a GPU among multi-GPU pods (README §2), and a simulator could
        # only guess what a fractional multi-GPU request means.
        rows.problem(
            line,
            "gpu_milli",
            f"must be {GPU_MILLI} when num_gpu is {num_gpu} (a multi-GPU pod takes whole GPUs),"
            f" got {gpu_milli}",
        )


def _gpu_spec(rows: CsvRows, line: int, value: str, num_gpu: int | None) -> frozenset[str]:
    if not value:
        return _ANY_MODEL  # README quirk 4
    models = value.split("|")
    if "" in models:
        rows.problem(line, "gpu_spec", f"empty model name in {value!r}, expected MODEL|MODEL...")
    elif num_gpu == 0:
        rows.problem(line, "gpu_spec", f"is {value!r} on a pod that asks for no GPU")
    return frozenset(models)  # a set: `V100M16|V100M32|V100M32` occurs (README quirk 3)


def _member(
    rows: CsvRows, line: int, column: str, value: str, by_value: Mapping[str, _E]
) -> _E | None:
    member = by_value.get(value)
    if member is None:
        known = ", ".join(by_value)
        rows.problem(line, column, f"unknown value {value!r}, expected one of {known}")
    return member


def check_specs(
    pods: Iterable[OpenbPod], nodes: Iterable[OpenbNode], pod_file: str
) -> list[Problem]:
    """Problems for every pod whose `gpu_spec` names a model no node has.

    Such a pod can never be placed; the published trace has none (README quirk 3).
    """
    models = {n.model for n in nodes if n.model is not None}
    problems: list[Problem] = []
    for pod in pods:
        unknown = sorted(pod.gpu_spec - models)
        if unknown:
            problems.append(
                Problem(
                    pod_file,
                    f"line {pod.line}",
                    "gpu_spec",
                    f"no node has model {', '.join(unknown)} (models: {', '.join(sorted(models))})",
                )
            )
    return problems


# --------------------------------------------------------------------------------------------
# Files and workload names


def load_nodes(path: str | os.PathLike[str]) -> tuple[OpenbNode, ...]:
    """Read and parse a node list file. Raises `InputError` if it cannot be read or is malformed."""
    return parse_nodes(read_text(Path(path)), str(path))


def load_pods(path: str | os.PathLike[str]) -> tuple[OpenbPod, ...]:
    """Read and parse a pod list file. Raises `InputError` if it cannot be read or is malformed."""
    return parse_pods(read_text(Path(path)), str(path))


def resolve_trace(workload: str, trace_dir: str | os.PathLike[str] | None = None) -> OpenbTrace:
    """Load the nodes and pods of `workload` (`openb:<variant>`, any of `ALL_VARIANTS`).

    With `trace_dir`, both files come from that folder (`openb_node_list_gpu_node.csv` and
    `openb_pod_list_<variant>.csv`); without it, from the data shipped in the package, which
    holds only `openb:default`. Raises `InputError` for an unknown name, a variant that is not
    packaged, missing or malformed files, or a `gpu_spec` naming a model no node has.
    """
    variant = workload.removeprefix(PREFIX)
    if not workload.startswith(PREFIX) or variant not in ALL_VARIANTS:
        known = ", ".join(PREFIX + v for v in ALL_VARIANTS)
        raise InputError(
            [Problem("", "", "", f"unknown workload {workload!r}, expected one of {known}")]
        )
    if trace_dir is None:
        if variant not in PACKAGED_VARIANTS:
            message = (
                f"workload {workload!r} is not shipped with dralloc (only {DEFAULT_WORKLOAD} is):"
                " pass --trace-dir pointing at a copy of the openb trace (alibaba/clusterdata,"
                " cluster-trace-gpu-v2023/csv)"
            )
            raise InputError([Problem("", "", "", message)])
        data = resources.files(_DATA_PACKAGE) / "data" / "openb"
        node_res, pod_res = data / NODE_LIST_FILE, data / pod_list_file(variant)
        node_file, pod_file = str(node_res), str(pod_res)
        # Packaged files are read through importlib.resources, so they also load from a zip.
        nodes = parse_nodes(node_res.read_text(encoding="utf-8"), node_file)
        pods = parse_pods(pod_res.read_text(encoding="utf-8"), pod_file)
    else:
        folder = Path(trace_dir)
        node_path, pod_path = folder / NODE_LIST_FILE, folder / pod_list_file(variant)
        missing = [
            Problem(str(p), "", "", "no such file: --trace-dir must name a copy of the openb trace")
            for p in (node_path, pod_path)
            if not p.is_file()
        ]
        if missing:
            raise InputError(missing)
        node_file, pod_file = str(node_path), str(pod_path)
        nodes, pods = load_nodes(node_path), load_pods(pod_path)
    problems = check_specs(pods, nodes, pod_file)
    if problems:
        raise InputError(problems)
    return OpenbTrace(workload, nodes, pods, node_file, pod_file, trace_dir is None)


# --------------------------------------------------------------------------------------------
# Conversion to the request model


def openb_models(catalog: Catalog | None = None) -> GpuModels:
    """The trace's model codes resolved against `catalog` (default: the packaged one) plus the
    trace-only models shipped beside the trace (`data/openb/models.yaml` and `catalog/`)."""
    data = resources.files(_DATA_PACKAGE) / "data" / "openb"
    main = catalog if catalog is not None else load_catalog()
    extra = load_catalog(data / "catalog")
    merged = Catalog(gpus=(*main.gpus, *extra.gpus), tpus=main.tpus)
    mapping = yaml.safe_load((data / "models.yaml").read_text(encoding="utf-8"))
    return GpuModels({str(code): merged.gpu(str(name)) for code, name in mapping.items()})


def trace_node(node: OpenbNode) -> TraceNode:
    """A node-list row as the simulator's node: the same shape, model code kept."""
    return TraceNode(node.name, node.cpu_milli, node.memory_mib, node.gpus, node.model, node.line)


def trace_pod(pod: OpenbPod) -> TracePod:
    """A pod-list row's request; QoS, phase and times stay on the row."""
    return TracePod(
        pod.name, pod.cpu_milli, pod.memory_mib, pod.num_gpu, pod.gpu_milli, pod.gpu_spec, pod.line
    )


def arrival_trace(trace: OpenbTrace, models: GpuModels | None = None) -> ArrivalTrace:
    """The nodes and pods of `trace` for the FGD experiment, in file order; `models` defaults to
    `openb_models()`."""
    return ArrivalTrace(
        trace.workload,
        tuple(trace_node(node) for node in trace.nodes),
        tuple(trace_pod(pod) for pod in trace.pods),
        models if models is not None else openb_models(),
        source=trace.pod_file,
    )


def replay_trace(trace: OpenbTrace, models: GpuModels | None = None) -> ReplayTrace:
    """The openb pod list on its own clock: a pod arrives at `creation_time` and runs for
    `deletion_time - creation_time`.

    The duration is the pod's whole lifetime in the trace, as the trace gives no other: a pod
    the real cluster kept waiting (or never scheduled: phase Pending) runs that long in the
    replay once started. Pods still alive when the trace was cut carry the cut time as their
    deletion (README section 2), so their duration is a lower bound. The `multigpu*` files have
    no time columns and cannot be replayed: InputError naming the file.
    """
    resolved = models if models is not None else openb_models()
    timed: list[TimedPod] = []
    for pod in trace.pods:
        if pod.creation_time is None or pod.deletion_time is None:
            problem = Problem(
                trace.pod_file,
                f"line {pod.line}",
                "creation_time",
                f"{trace.workload} has no creation_time/deletion_time columns: a replay "
                "needs them (the multigpu* files are for --mode fgd only)",
            )
            raise InputError([problem])  # one line says it for the whole file
        duration = float(pod.deletion_time - pod.creation_time)
        timed.append(TimedPod(trace_pod(pod), float(pod.creation_time), duration))
    nodes = tuple(trace_node(node) for node in trace.nodes)
    return ReplayTrace(trace.workload, nodes, tuple(timed), resolved, source=trace.pod_file)
