"""The Alibaba GPU-disaggregated DLRM inference trace (cluster-trace-gpu-v2025, NSDI '25), for
time-based replay: `--trace dlrm[:key=value,...]`.

This module owns reading `disaggregated_DLRM_trace.csv` into typed records and turning them
into a `ReplayTrace`: pods with arrival and duration, and a cluster to run them on. Pure
parsing and arithmetic; reading the file is the only I/O. The trace is not shipped with
dralloc: `trace_dir` (the CLI's `--trace-dir`) must hold the file, directly or in an
`alibaba-gpu-v2025-dlrm/` folder.

Design:

- **Rows.** Every row is checked and every problem reported at once, each at its file, `line N`
  (the header is line 1) and column; a row with a problem gives no record. Units as the trace
  has them: vCPU, GiB, whole GPUs, seconds. CPU becomes milli-cores and memory MiB, and a value
  that is not a whole number of those is an error rather than something rounded. A `CN`
  instance (CPU node) asks for no GPU and an `HN` instance (heterogeneous GPU node) for at
  least one; the published trace is that regular, so anything else is refused.
- **Times.** An empty (or `NaN`) `creation_time` means the instance existed before the window
  opened: it arrives at 0, in file order. An empty `deletion_time` means it outlived the
  window: it never ends (duration None). Otherwise it runs `deletion_time - arrival` seconds,
  its whole lifetime in the trace. `scheduled_time` is read and checked but not used: the
  replay schedules for itself.
- **Which instances.** By default only the 7,386 `HN` instances are replayed (`roles=HN`):
  they are the GPU workload. `roles=all` adds the `CN` instances, which then run on CPU
  nodes, or on an HN node's spare CPU, since no taint keeps them off (as openb's CPU-only pods
  run on GPU nodes). `roles=CN` replays only them. The instances left out are counted in the
  trace's notes, never dropped silently.
- **The cluster is derived; the trace ships none.** It names no GPU model either. HN nodes
  have `gpus` GPUs of catalog model `model` (default 8 x `a10`, a common inference GPU;
  an assumption), `hn_cpu` vCPU and `hn_memory` GiB; CN nodes have `cn_cpu` vCPU and
  `cn_memory` GiB and no GPU. Each pool gets enough nodes for its peak concurrent demand in the
  trace's own times (GPUs, CPU and memory, each divided by the node's), times `scale`; or
  exactly `hn_nodes` / `cn_nodes` when given. At `scale=1` nothing waits unless placement
  strands capacity, since the trace never asked for more at once; `scale<1` shows contention.
  An instance no empty node of its pool could hold is an error naming its line.
- **Records and conversion.** `parse_instances` gives `DlrmInstance`s, every column kept;
  `trace_pod` and `timed_pod` turn one into the request model (whole GPUs of any model) on
  the replay's clock, and `replay_trace` adds the derived cluster as `TraceNode`s.
- **Not modelled:** RDMA and disk requests, limits, and `max_instance_per_node` (a per-app
  density limit that no plugin of the replay profile enforces). They stay on the record.

Example::

    trace = resolve_dlrm("dlrm:scale=0.8", "../shared/traces")
    len(trace.pods), trace.notes[0]
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Final

from dralloc.devices.catalog import load_catalog
from dralloc.errors import DrallocError, InputError, Problem
from dralloc.sim.options import parse_options, split_workload
from dralloc.sim.traces.model import GpuModels, TraceNode, TracePod
from dralloc.sim.traces.timeline import ReplayTrace, TimedPod

__all__ = [
    "COLUMNS",
    "FILE_NAME",
    "FOLDER_NAME",
    "NAME",
    "DlrmCluster",
    "DlrmInstance",
    "Role",
    "find_file",
    "parse_instances",
    "replay_trace",
    "resolve_dlrm",
    "timed_pod",
    "trace_pod",
]

NAME: Final = "dlrm"
FILE_NAME: Final = "disaggregated_DLRM_trace.csv"
FOLDER_NAME: Final = "alibaba-gpu-v2025-dlrm"
COLUMNS: Final = (
    "instance_sn",
    "role",
    "app_name",
    "cpu_request",
    "cpu_limit",
    "gpu_request",
    "gpu_limit",
    "rdma_request",
    "rdma_limit",
    "memory_request",
    "memory_limit",
    "disk_request",
    "disk_limit",
    "max_instance_per_node",
    "creation_time",
    "scheduled_time",
    "deletion_time",
)
_MIB_PER_GIB: Final = 1024
_MILLI: Final = 1000
_MISSING: Final = ("", "nan", "NaN")


class Role(StrEnum):
    CN = "CN"  # an instance of a CPU node: no GPU
    HN = "HN"  # an instance of a heterogeneous GPU node


@dataclass(frozen=True, slots=True)
class DlrmInstance:
    """One row of the trace, every column kept.

    The requests the replay uses are converted once: `cpu_milli` (milli-cores), `memory_mib`
    (MiB) and `gpus` (whole GPUs). Times are seconds (None: outside the window). What the
    replay does not model stays in the trace's own units: `cpu_limit` (vCPU), `memory_limit`,
    `disk_request` and `disk_limit` (GiB), `gpu_limit` (GPUs), `rdma_request` and `rdma_limit`
    (percent of one RDMA NIC), and `max_instance_per_node` (None: no limit, the file's -1).
    `line` is provenance, not part of equality.

        DlrmInstance("i1", Role.HN, "app_0", 12000, 122880, 1, 50.0, 50.0, None)
    """

    name: str
    role: Role
    app: str
    cpu_milli: int
    memory_mib: int
    gpus: int
    creation_time: float | None
    scheduled_time: float | None
    deletion_time: float | None
    cpu_limit: float = 0.0
    memory_limit: float = 0.0
    gpu_limit: int = 0
    rdma_request: float = 0.0
    rdma_limit: float = 0.0
    disk_request: float = 0.0
    disk_limit: float = 0.0
    max_instance_per_node: int | None = None
    line: int = field(default=0, compare=False)


@dataclass(frozen=True)
class DlrmCluster:
    """The options of `--trace dlrm:key=value,...` (see the module docstring).

    `roles`: `HN` (default), `CN` or `all`. `model`: catalog name of the HN nodes' GPUs.
    `gpus`: GPUs per HN node. `hn_cpu`/`cn_cpu`: vCPU per node; `hn_memory`/`cn_memory`: GiB
    per node. `scale`: multiplies the derived node counts (> 0). `hn_nodes`/`cn_nodes`: exact
    node counts instead (0: derive).
    """

    roles: str = "HN"
    model: str = "a10"
    gpus: int = 8
    hn_cpu: int = 128
    hn_memory: int = 1024
    cn_cpu: int = 192
    cn_memory: int = 1024
    scale: float = 1.0
    hn_nodes: int = 0
    cn_nodes: int = 0

    def problems(self, where: str) -> list[Problem]:
        out = []
        if self.roles not in ("HN", "CN", "all"):
            out.append(Problem("", where, "roles", f"must be HN, CN or all, got {self.roles!r}"))
        for key in ("gpus", "hn_cpu", "hn_memory", "cn_cpu", "cn_memory"):
            if getattr(self, key) < 1:
                out.append(Problem("", where, key, f"must be ≥ 1, got {getattr(self, key)}"))
        for key in ("hn_nodes", "cn_nodes"):
            if getattr(self, key) < 0:
                out.append(Problem("", where, key, f"must be ≥ 0, got {getattr(self, key)}"))
        if not self.scale > 0:
            out.append(Problem("", where, "scale", f"must be > 0, got {self.scale}"))
        return out

    @property
    def replayed_roles(self) -> frozenset[Role]:
        return frozenset(Role) if self.roles == "all" else frozenset({Role(self.roles)})


# --------------------------------------------------------------------------------------------
# Rows


class _Reader:
    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []

    def problem(self, line: int, column: str, message: str) -> None:
        self.problems.append(Problem(self.file, f"line {line}", column, message))

    def rows(self, text: str) -> Iterator[tuple[int, list[str]]]:
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        end = 0
        header = True
        try:
            for row in reader:
                line, end = end + 1, reader.line_num
                if header:
                    header = False
                    if tuple(row) != COLUMNS:
                        self.problem(line, "", f"the header must be {','.join(COLUMNS)}")
                        return
                elif not row:
                    self.problem(line, "", "blank line: every line after the header is a row")
                elif len(row) != len(COLUMNS):
                    self.problem(
                        line, "", f"the row has {len(row)} fields, expected {len(COLUMNS)}"
                    )
                else:
                    yield line, row
        except csv.Error as exc:
            self.problem(end + 1, "", f"not valid CSV: {exc}")
        if header:
            self.problem(1, "", f"the file is empty, expected the header {','.join(COLUMNS)}")

    def number(self, line: int, column: str, value: str, *, missing: bool = False) -> float | None:
        """A finite number ≥ 0; None for a missing value where `missing` allows one (else a
        problem is reported and None returned)."""
        if value in _MISSING:
            if not missing:
                self.problem(line, column, "empty, expected a number ≥ 0")
            return None
        try:
            number = float(value)
        except ValueError:
            self.problem(line, column, f"not a number: {value!r}")
            return None
        if not math.isfinite(number) or number < 0:
            self.problem(line, column, f"must be a finite number ≥ 0, got {value!r}")
            return None
        return number

    def whole(self, line: int, column: str, value: float | None, unit: int, name: str) -> int:
        """`value * unit` as an integer; a problem if it is not whole (the trace's times carry
        float noise such as 2029855.0000000002, its requests do not)."""
        if value is None:
            return 0
        scaled = value * unit
        rounded = round(scaled)
        if abs(scaled - rounded) > 1e-6:
            self.problem(line, column, f"{value:g} is not a whole number of {name}")
        return rounded


def parse_instances(text: str, file: str) -> tuple[DlrmInstance, ...]:
    """Parse the trace's CSV text read from `file`. InputError listing every malformed row."""
    reader = _Reader(file)
    instances: list[DlrmInstance] = []
    first_line: dict[str, int] = {}
    for line, row in reader.rows(text):
        before = len(reader.problems)
        cells = dict(zip(COLUMNS, row, strict=True))
        name = cells["instance_sn"]
        if not name:
            reader.problem(line, "instance_sn", "empty, expected an instance name")
        elif name in first_line:
            reader.problem(
                line,
                "instance_sn",
                f"duplicate instance {name!r}, first on line {first_line[name]}",
            )
        else:
            first_line[name] = line
        role = Role.__members__.get(cells["role"])
        if role is None:
            reader.problem(line, "role", f"unknown value {cells['role']!r}, expected CN or HN")
        # Kept on the record, not modelled by the replay: limits, RDMA and disk.
        cpu_limit, memory_limit, rdma_request, rdma_limit, disk_request, disk_limit = (
            reader.number(line, column, cells[column]) or 0.0
            for column in (
                "cpu_limit",
                "memory_limit",
                "rdma_request",
                "rdma_limit",
                "disk_request",
                "disk_limit",
            )
        )
        limit = cells["max_instance_per_node"]
        if limit != "-1" and not (limit.isdigit() and int(limit) > 0):
            reader.problem(
                line, "max_instance_per_node", f"expected -1 or a count ≥ 1, got {limit!r}"
            )
        cpu = reader.number(line, "cpu_request", cells["cpu_request"])
        memory = reader.number(line, "memory_request", cells["memory_request"])
        cpu_milli = reader.whole(line, "cpu_request", cpu, _MILLI, "milli-cores")
        memory_mib = reader.whole(line, "memory_request", memory, _MIB_PER_GIB, "MiB")
        gpus = _gpu_count(reader, line, cells["gpu_request"], "gpu_request")
        gpu_limit = _gpu_count(reader, line, cells["gpu_limit"], "gpu_limit")
        if role is Role.CN and gpus:
            reader.problem(line, "gpu_request", f"must be 0 on a CN instance, got {gpus}")
        elif role is Role.HN and gpus == 0 and cells["gpu_request"].isdigit():
            reader.problem(line, "gpu_request", "must be ≥ 1 on an HN instance, got 0")
        created = reader.number(line, "creation_time", cells["creation_time"], missing=True)
        scheduled = reader.number(line, "scheduled_time", cells["scheduled_time"], missing=True)
        deleted = reader.number(line, "deletion_time", cells["deletion_time"], missing=True)
        if created is not None and deleted is not None and deleted < created:
            reader.problem(
                line, "deletion_time", f"{deleted:g} is before creation_time {created:g}"
            )
        if len(reader.problems) > before:
            continue
        assert role is not None
        instances.append(
            DlrmInstance(
                name,
                role,
                cells["app_name"],
                cpu_milli,
                memory_mib,
                gpus,
                created,
                scheduled,
                deleted,
                cpu_limit=cpu_limit,
                memory_limit=memory_limit,
                gpu_limit=gpu_limit,
                rdma_request=rdma_request,
                rdma_limit=rdma_limit,
                disk_request=disk_request,
                disk_limit=disk_limit,
                max_instance_per_node=None if limit == "-1" else int(limit),
                line=line,
            )
        )
    if reader.problems:
        raise InputError(reader.problems)
    return tuple(instances)


def _gpu_count(reader: _Reader, line: int, value: str, column: str) -> int:
    if value.isascii() and value.isdigit():
        return int(value)
    reader.problem(line, column, f"expected a whole number of GPUs ≥ 0, got {value!r}")
    return 0


# --------------------------------------------------------------------------------------------
# Trace and cluster


def find_file(trace_dir: str | os.PathLike[str] | None) -> Path:
    """Where the trace file is under `trace_dir`. InputError saying what to pass when there is
    no `trace_dir` or no file."""
    if trace_dir is None:
        message = (
            f"workload {NAME!r} is not shipped with dralloc: pass --trace-dir pointing at a folder"
            f" holding {FILE_NAME} (alibaba/clusterdata, cluster-trace-gpu-v2025)"
        )
        raise InputError([Problem("", "", "", message)])
    folder = Path(trace_dir)
    for candidate in (folder / FILE_NAME, folder / FOLDER_NAME / FILE_NAME):
        if candidate.is_file():
            return candidate
    message = f"no {FILE_NAME} here or in {FOLDER_NAME}/: --trace-dir must hold the DLRM trace"
    raise InputError([Problem(str(folder), "", "", message)])


def resolve_dlrm(workload: str, trace_dir: str | os.PathLike[str] | None) -> ReplayTrace:
    """The `dlrm[:key=value,...]` workload read from `trace_dir`. InputError for unknown or bad
    options, a missing file, malformed rows, or an instance no node could hold."""
    name, text = split_workload(workload)
    if name != NAME:
        raise InputError([Problem("", "", "", f"not a DLRM workload: {workload!r}")])
    cluster = parse_options(workload, text, DlrmCluster())
    problems = cluster.problems(f"--trace {workload}")
    if problems:
        raise InputError(problems)
    path = find_file(trace_dir)
    try:
        content = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InputError([Problem(str(path), "", "", f"cannot read: {exc.strerror}")]) from exc
    except UnicodeDecodeError as exc:
        raise InputError(
            [Problem(str(path), "", "", f"not UTF-8 text (byte {exc.start})")]
        ) from exc
    return replay_trace(workload, parse_instances(content, str(path)), cluster, str(path))


def replay_trace(
    workload: str, instances: Sequence[DlrmInstance], cluster: DlrmCluster, file: str
) -> ReplayTrace:
    """The instances of `cluster.roles` as timed pods, on the cluster `cluster` derives."""
    where = f"--trace {workload}"
    try:
        gpu_model = load_catalog().gpu(cluster.model)
    except DrallocError as err:
        raise InputError([Problem("", where, "model", str(err))]) from err
    roles = cluster.replayed_roles
    replayed = [i for i in instances if i.role in roles]
    left_out = len(instances) - len(replayed)
    pods = tuple(timed_pod(i) for i in replayed)
    nodes: list[TraceNode] = []
    notes = [f"{len(replayed):,} of {len(instances):,} instances replayed (roles={cluster.roles})"]
    if left_out:
        notes.append(f"{left_out:,} instances of other roles not replayed (roles=all adds them)")
    problems: list[Problem] = []
    for role in sorted(roles):
        group = [i for i in replayed if i.role is role]
        hn = role is Role.HN
        cpu_milli = (cluster.hn_cpu if hn else cluster.cn_cpu) * _MILLI
        memory_mib = (cluster.hn_memory if hn else cluster.cn_memory) * _MIB_PER_GIB
        gpus = cluster.gpus if hn else 0
        problems.extend(_unplaceable(group, cpu_milli, memory_mib, gpus, file, cluster))
        count = cluster.hn_nodes if hn else cluster.cn_nodes
        if not count:
            peak_gpus, peak_cpu, peak_memory = _peak(group)
            need = max(
                peak_gpus / gpus if gpus else 0.0, peak_cpu / cpu_milli, peak_memory / memory_mib
            )
            count = math.ceil(need * cluster.scale - 1e-9) if group else 0
        prefix = f"dlrm-{role.value.lower()}"
        for index in range(count):
            model = cluster.model if hn else None
            nodes.append(TraceNode(f"{prefix}-{index:04d}", cpu_milli, memory_mib, gpus, model))
        shape = f"{gpus} x {cluster.model}, " if hn else ""
        notes.append(
            f"{count:,} {role.value} nodes ({shape}{cpu_milli // _MILLI} vCPU, "
            f"{memory_mib // _MIB_PER_GIB} GiB each)"
        )
    if problems:
        raise InputError(problems)
    models = GpuModels({cluster.model: gpu_model})
    return ReplayTrace(workload, tuple(nodes), pods, models, source=file, notes=tuple(notes))


def trace_pod(instance: DlrmInstance) -> TracePod:
    """An instance's request: whole GPUs of any model (the trace names none); role, app and
    times stay on the record."""
    gpu_milli = _MILLI if instance.gpus else 0
    return TracePod(
        instance.name,
        instance.cpu_milli,
        instance.memory_mib,
        instance.gpus,
        gpu_milli,
        line=instance.line,
    )


def timed_pod(instance: DlrmInstance) -> TimedPod:
    """An instance on the replay's clock: it arrives at `creation_time` (0 when it existed
    before the window) and runs until `deletion_time` (None: it outlives the window)."""
    arrival = instance.creation_time if instance.creation_time is not None else 0.0
    duration = None if instance.deletion_time is None else instance.deletion_time - arrival
    return TimedPod(trace_pod(instance), arrival, duration)


def _unplaceable(
    instances: Iterable[DlrmInstance],
    cpu_milli: int,
    memory_mib: int,
    gpus: int,
    file: str,
    cluster: DlrmCluster,
) -> list[Problem]:
    problems = []
    for i in instances:
        for column, want, have, option in (
            ("cpu_request", i.cpu_milli, cpu_milli, "cpu"),
            ("memory_request", i.memory_mib, memory_mib, "memory"),
            ("gpu_request", i.gpus, gpus, "gpus"),
        ):
            if want > have:
                key = option if option == "gpus" else f"{i.role.value.lower()}_{option}"
                problems.append(
                    Problem(
                        file,
                        f"line {i.line}",
                        column,
                        f"instance {i.name} needs more than a whole {i.role.value} node has"
                        f" ({key}={getattr(cluster, key)}): it could never run",
                    )
                )
                break
    return problems


def _peak(instances: Sequence[DlrmInstance]) -> tuple[int, int, int]:
    """The most GPUs, milli-cores and MiB in use at once over the trace's own times, each
    maximised separately."""
    changes: list[tuple[float, int, int, int, int]] = []
    for i in instances:
        start = i.creation_time if i.creation_time is not None else 0.0
        changes.append((start, 1, i.gpus, i.cpu_milli, i.memory_mib))
        if i.deletion_time is not None:
            changes.append((i.deletion_time, 0, -i.gpus, -i.cpu_milli, -i.memory_mib))
    # Departures before arrivals at the same second: a slot freed at t is free for t.
    changes.sort(key=lambda c: (c[0], c[1]))
    gpus = cpu = memory = 0
    peak = [0, 0, 0]
    for _, _, d_gpus, d_cpu, d_memory in changes:
        gpus, cpu, memory = gpus + d_gpus, cpu + d_cpu, memory + d_memory
        peak = [max(peak[0], gpus), max(peak[1], cpu), max(peak[2], memory)]
    return peak[0], peak[1], peak[2]
