"""Loaders for the openb trace: Alibaba's GPU-sharing cluster (cluster-trace-gpu-v2023).

This module owns reading the trace's CSV files into typed, frozen records, and naming the
workloads the simulator offers (`openb:default`, `openb:gpushare40`, ...). It is pure parsing:
no DRA objects (the simulator maps `OpenbNode` to a Node and its ResourceSlices, and `OpenbPod`
to a Pod and its ResourceClaims), no scheduling, and no state beyond what a call returns.

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
- **Checks across files** (a `gpu_spec` naming a model no node has) are separate:
  `check_specs()` returns the problems, and `resolve_trace()` raises them.
- **Packaged data.** The GPU node list and the default pod list ship inside the package
  (`dralloc/sim/data/openb/`, with their source, citation and checksums), so
  `resolve_trace("openb:default")` works in any checkout. The other 23 pod lists need
  `trace_dir`, a folder holding a copy of the trace (the CLI's `--trace-dir`).

Example::

    trace = resolve_trace("openb:default")
    len(trace.nodes), len(trace.pods)  # (1213, 8152)
    sum(p.gpu_milli_total for p in trace.pods)  # 6086800 milli-GPU
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Final, TypeVar

from dralloc.errors import InputError, Problem

__all__ = [
    "ALL_VARIANTS",
    "DEFAULT_WORKLOAD",
    "GPU_MILLI",
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
    "check_specs",
    "expand_workloads",
    "load_nodes",
    "load_pods",
    "parse_nodes",
    "parse_pods",
    "pod_list_file",
    "resolve_trace",
]

GPU_MILLI: Final = 1000
"""Milli-GPU in one whole GPU: a `gpu_milli` of 1000 asks for all of each GPU."""

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
_INT_RE: Final = re.compile(r"-?[0-9]+")
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

    @property
    def gpu_milli_total(self) -> int:
        """The pod's whole GPU request in milli-GPU: `num_gpu * gpu_milli`."""
        return self.num_gpu * self.gpu_milli

    @property
    def is_cpu_only(self) -> bool:
        return self.num_gpu == 0

    @property
    def is_sharing(self) -> bool:
        """A GPU-sharing pod: a fraction of one GPU."""
        return self.num_gpu == 1 and self.gpu_milli < GPU_MILLI

    @property
    def is_multi_gpu(self) -> bool:
        """Several whole GPUs on one node."""
        return self.num_gpu > 1

    def can_use_model(self, model: str | None) -> bool:
        """Whether `gpu_spec` allows a GPU of `model` (an empty spec allows any)."""
        return not self.gpu_spec or model in self.gpu_spec


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


class CsvRows:
    """Reads one CSV text and collects the problems found, each at its file and line (the
    trace loaders' shared reader; `header_problems` says what is wrong with a header)."""

    def __init__(self, text: str, file: str) -> None:
        self.file = file
        self.text = text
        self.problems: list[Problem] = []

    def problem(self, line: int, column: str, message: str) -> None:
        self.problems.append(Problem(self.file, f"line {line}", column, message))

    def read(self, schemas: Sequence[tuple[str, ...]]) -> Iterator[tuple[int, tuple[str, ...]]]:
        """Yield `(line, row)` for every data row whose header is one of `schemas`.

        `line` is where the row starts (a quoted field may span lines). Blank lines and rows
        with the wrong number of fields are reported here and not yielded.
        """
        reader = csv.reader(io.StringIO(self.text, newline=""), strict=True)
        expected = " or ".join(",".join(s) for s in schemas)
        end = 0  # last line read so far
        header: tuple[str, ...] | None = None
        try:
            for raw in reader:
                line, end = end + 1, reader.line_num
                row = tuple(raw)
                if header is None:
                    if row not in schemas:
                        self.header_problems(row, schemas, expected)
                        return
                    header = row
                elif not row:
                    self.problem(line, "", "blank line: every line after the header is a row")
                elif len(row) < len(header):
                    self.problem(
                        line,
                        header[len(row)],
                        f"missing: the row ends after {len(row)} of {len(header)} fields",
                    )
                elif len(row) > len(header):
                    self.problem(
                        line, "", f"the row has {len(row)} fields, the header {len(header)}"
                    )
                else:
                    yield line, row
        except csv.Error as exc:
            self.problem(end + 1, "", f"not valid CSV: {exc}")
        if header is None and not self.problems:
            self.problem(1, "", f"the file is empty, expected the header {expected}")

    def header_problems(
        self, row: tuple[str, ...], schemas: Sequence[tuple[str, ...]], expected: str
    ) -> None:
        """Report a header that is none of `schemas` (on line 1)."""
        column, message = _header_mismatch(row, schemas)
        self.problem(1, column, f"{message}; the header must be {expected}")

    def integer(self, line: int, column: str, value: str, *, minimum: int = 0) -> int | None:
        """`value` as an integer ≥ `minimum`, or None after reporting why it is not."""
        if value.isascii() and value.isdigit():  # the fast path: every cell of the real trace
            number = int(value)
            if number >= minimum:
                return number
        if not _INT_RE.fullmatch(value):
            what = "empty" if not value else f"not a whole number: {value!r}"
            self.problem(line, column, f"{what}, expected a whole number ≥ {minimum}")
            return None
        number = int(value)
        if number < minimum:
            self.problem(line, column, f"must be ≥ {minimum}, got {number}")
            return None
        return number

    def raise_problems(self) -> None:
        if self.problems:
            raise InputError(self.problems)


def _header_mismatch(row: tuple[str, ...], schemas: Sequence[tuple[str, ...]]) -> tuple[str, str]:
    """The first column where `row` departs from the schema it is closest to, and what is wrong."""
    schema = next((s for s in schemas if len(s) == len(row)), schemas[0])
    if not row:
        return schema[0], "header line is empty"
    for got, want in zip(row, schema, strict=False):
        if got != want:
            return want, f"header has {got!r} where {want!r} belongs"
    if len(row) < len(schema):
        return schema[len(row)], "header ends early"
    return "", f"header has extra columns {','.join(row[len(schema) :])!r}"


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
    return parse_nodes(_read(Path(path)), str(path))


def load_pods(path: str | os.PathLike[str]) -> tuple[OpenbPod, ...]:
    """Read and parse a pod list file. Raises `InputError` if it cannot be read or is malformed."""
    return parse_pods(_read(Path(path)), str(path))


def _read(path: Path) -> str:
    try:
        # utf-8-sig: a byte-order mark (a CSV saved by a spreadsheet) is not part of the header.
        return path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InputError([Problem(str(path), "", "", f"cannot read: {exc.strerror}")]) from exc
    except UnicodeDecodeError as exc:
        message = f"not UTF-8 text (byte {exc.start})"
        raise InputError([Problem(str(path), "", "", message)]) from exc


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
