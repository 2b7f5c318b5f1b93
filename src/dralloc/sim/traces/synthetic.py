"""A seeded synthetic time-based trace: `--trace synthetic[:key=value,...]`.

This module owns generating a `ReplayTrace` (pods with arrival and duration, and the cluster
they run on) from a handful of options, so a replay can be studied without a real trace, and
so tests get traces of any size. Pure computation: randomness comes only from a
`random.Random` seeded with the `seed` option, so the same options give the same trace on
every machine and in every process.

The model (every option, with its default, is a field of `SyntheticWorkload`):

- **Arrivals** are a Poisson process: exponential gaps with mean `1/rate` seconds.
- **Durations** are lognormal with median `median` seconds and shape `sigma` (the logarithm
  of a duration is normal with mean `ln(median)` and deviation `sigma`), the usual heavy-tailed
  fit to job run times.
- **Requests** are drawn by relative weight: CPU-only pods (`cpu_only`), GPU-sharing pods
  (`sharing`: one GPU, a share drawn uniformly from `shares` milli-GPU), whole-GPU pods
  (`whole`) and multi-GPU pods (`multi`: a count drawn uniformly from `sizes`, whole GPUs on
  one node). A pod asks for `cpu_per_gpu` vCPU and `memory_per_gpu` GiB per GPU it uses
  (in proportion for a share, at least 1 vCPU and 1 GiB), and a CPU-only pod for one GPU's
  worth. A share `spec` of the GPU pods may run only on one model, drawn from `models`.
- **The cluster** has `nodes` nodes of `gpus` GPUs each, `node_cpu` vCPU and `node_memory`
  GiB; the GPU models of `models` (catalog names, `|`-separated) take turns node by node.

Records: the generator draws `SyntheticPod`s (`draw_pods`), each keeping its kind and the
model it was bound to; `trace_pod` and `timed_pod` convert them to the request model. The
cluster is not drawn, so its nodes are `TraceNode`s from the start.

Options that make no sense (a weight below 0, a share that is not a whole percentage, a pod
larger than a node) are refused with an InputError naming the option.

Example::

    trace = generate("synthetic:pods=500,rate=0.05,seed=7")
    len(trace.pods), trace.total_gpus  # (500, 128)
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from dralloc.devices.catalog import GpuModel, load_catalog
from dralloc.errors import DrallocError, InputError, Problem
from dralloc.sim.options import parse_options, split_workload
from dralloc.sim.traces.model import GpuModels, TraceNode, TracePod
from dralloc.sim.traces.timeline import ReplayTrace, TimedPod

__all__ = [
    "NAME",
    "PodKind",
    "SyntheticPod",
    "SyntheticWorkload",
    "draw_pods",
    "generate",
    "timed_pod",
    "trace_pod",
]

NAME: Final = "synthetic"
_MILLI: Final = 1000
_MIB_PER_GIB: Final = 1024


@dataclass(frozen=True)
class SyntheticWorkload:
    """The options of `--trace synthetic:key=value,...` (see the module docstring).

    Defaults: 2,000 pods arriving 0.015/s (one every ~67 s) for a lognormal run time of median
    1 h (sigma 1, so a mean of ~1.65 h) on 16 nodes x 8 GPUs: about 1.3 GPUs per pod on
    average, so the offered load is about 90% of the GPUs and queues form at the peaks.
    """

    seed: int = 1
    pods: int = 2000
    rate: float = 0.015  # arrivals per second
    median: float = 3600.0  # seconds
    sigma: float = 1.0
    cpu_only: float = 0.10  # relative weights of the four kinds of pod
    sharing: float = 0.30
    whole: float = 0.45
    multi: float = 0.15
    shares: str = "250|500|750"  # milli-GPU of a sharing pod, `|`-separated
    sizes: str = "2|4|8"  # GPUs of a multi-GPU pod, `|`-separated
    spec: float = 0.0  # share of GPU pods bound to one GPU model
    nodes: int = 16
    gpus: int = 8  # per node
    models: str = "a100-80gb"  # catalog names, `|`-separated
    node_cpu: int = 128  # vCPU
    node_memory: int = 1024  # GiB
    cpu_per_gpu: int = 8  # vCPU
    memory_per_gpu: int = 64  # GiB


def generate(workload: str) -> ReplayTrace:
    """The trace `synthetic[:key=value,...]` names. InputError for a bad option."""
    name, text = split_workload(workload)
    if name != NAME:
        raise InputError([Problem("", "", "", f"not a synthetic workload: {workload!r}")])
    options = parse_options(workload, text, SyntheticWorkload())
    where = f"--trace {workload}"
    shares, sizes, models, problems = _check(options, where)
    if problems:
        raise InputError(problems)
    return _generate(workload, options, shares, sizes, models)


def _numbers(text: str) -> list[int] | None:
    parts = text.split("|")
    if not all(p.strip().isdigit() for p in parts):
        return None
    return [int(p) for p in parts]


def _check(
    o: SyntheticWorkload, where: str
) -> tuple[list[int], list[int], list[GpuModel], list[Problem]]:
    problems: list[Problem] = []

    def bad(key: str, message: str) -> None:
        problems.append(Problem("", where, key, message))

    if o.pods < 0:
        bad("pods", f"must be ≥ 0, got {o.pods}")
    for key in ("nodes", "gpus", "node_cpu", "node_memory", "cpu_per_gpu", "memory_per_gpu"):
        if getattr(o, key) < 1:
            bad(key, f"must be ≥ 1, got {getattr(o, key)}")
    for key in ("rate", "median"):
        if not getattr(o, key) > 0:
            bad(key, f"must be > 0, got {getattr(o, key)}")
    if o.sigma < 0:
        bad("sigma", f"must be ≥ 0, got {o.sigma}")
    if not 0 <= o.spec <= 1:
        bad("spec", f"must be between 0 and 1, got {o.spec}")
    weights = {k: getattr(o, k) for k in ("cpu_only", "sharing", "whole", "multi")}
    for key, weight in weights.items():
        if weight < 0:
            bad(key, f"a weight must be ≥ 0, got {weight}")
    if all(w <= 0 for w in weights.values()):
        bad("whole", "the weights cpu_only, sharing, whole and multi are all 0")
    shares = _numbers(o.shares)
    if shares is None or not all(10 <= s <= 990 and s % 10 == 0 for s in shares):
        bad(
            "shares",
            f"expected milli-GPU values 10..990 in steps of 10 (a|b|...), got {o.shares!r}",
        )
        shares = []
    sizes = _numbers(o.sizes)
    if sizes is None or not all(s >= 2 for s in sizes):
        bad("sizes", f"expected GPU counts ≥ 2 (a|b|...), got {o.sizes!r}")
        sizes = []
    elif o.multi > 0 and max(sizes) > o.gpus:
        bad("sizes", f"a pod of {max(sizes)} GPUs cannot fit a node of gpus={o.gpus}")
    models: list[GpuModel] = []
    catalog = load_catalog()
    for name in o.models.split("|"):
        try:
            models.append(catalog.gpu(name.strip()))
        except DrallocError as err:
            bad("models", str(err))
    largest = max(sizes, default=1) if o.multi > 0 else 1
    if largest * o.cpu_per_gpu > o.node_cpu:
        bad("cpu_per_gpu", f"a pod of {largest} GPUs needs more than node_cpu={o.node_cpu} vCPU")
    if largest * o.memory_per_gpu > o.node_memory:
        bad(
            "memory_per_gpu",
            f"a pod of {largest} GPUs needs more than node_memory={o.node_memory} GiB",
        )
    return shares, sizes, models, problems


class PodKind(StrEnum):
    """The four kinds of pod the generator draws between, by the options' weights."""

    CPU_ONLY = "cpu_only"
    SHARING = "sharing"
    WHOLE = "whole"
    MULTI = "multi"


@dataclass(frozen=True, slots=True)
class SyntheticPod:
    """One pod as the generator drew it: its `kind`, `arrival` and `duration` (seconds, rounded
    to milliseconds), `num_gpu` GPUs at `gpu_milli` each, the host resources that follow from
    them (`cpu_milli`, `memory_mib`) and the one GPU `model` it is bound to (None: any).

        SyntheticPod("syn-00000", PodKind.SHARING, 61.2, 3600.0, 1, 500, 4000, 32768, None)
    """

    name: str
    kind: PodKind
    arrival: float
    duration: float
    num_gpu: int
    gpu_milli: int
    cpu_milli: int
    memory_mib: int
    model: str | None


def trace_pod(pod: SyntheticPod) -> TracePod:
    """A drawn pod's request; a bound model becomes a one-model `gpu_spec`."""
    spec = frozenset({pod.model}) if pod.model is not None else frozenset()
    return TracePod(pod.name, pod.cpu_milli, pod.memory_mib, pod.num_gpu, pod.gpu_milli, spec)


def timed_pod(pod: SyntheticPod) -> TimedPod:
    """A drawn pod on the replay's clock, as drawn."""
    return TimedPod(trace_pod(pod), pod.arrival, pod.duration)


def draw_pods(
    o: SyntheticWorkload, shares: list[int], sizes: list[int], models: list[str]
) -> list[SyntheticPod]:
    """The pods of options `o`, drawn from `random.Random(o.seed)` in one fixed order per pod
    (gap, duration, kind, share or size, binding), so a seed gives one trace everywhere."""
    rng = random.Random(o.seed)
    kinds = tuple(PodKind)
    weights = [max(0.0, getattr(o, k.value)) for k in kinds]
    pods: list[SyntheticPod] = []
    clock = 0.0
    for index in range(o.pods):
        clock += rng.expovariate(o.rate)
        duration = rng.lognormvariate(math.log(o.median), o.sigma)
        kind = rng.choices(kinds, weights)[0]
        num_gpu, gpu_milli = {
            PodKind.CPU_ONLY: (0, 0),
            PodKind.SHARING: (1, rng.choice(shares) if shares else _MILLI),
            PodKind.WHOLE: (1, _MILLI),
            PodKind.MULTI: (rng.choice(sizes) if sizes else 2, _MILLI),
        }[kind]
        # A GPU's worth of host resources per GPU used; a CPU-only pod takes one GPU's worth.
        fraction = num_gpu * gpu_milli if num_gpu else _MILLI
        cpu_milli = max(_MILLI, o.cpu_per_gpu * fraction)
        memory_mib = max(_MIB_PER_GIB, o.memory_per_gpu * _MIB_PER_GIB * fraction // _MILLI)
        model = None
        if num_gpu and o.spec > 0 and rng.random() < o.spec:
            model = rng.choice(models)
        pods.append(
            SyntheticPod(
                f"syn-{index:05d}",
                kind,
                round(clock, 3),
                round(duration, 3),
                num_gpu,
                gpu_milli,
                cpu_milli,
                memory_mib,
                model,
            )
        )
    return pods


def _generate(
    workload: str,
    o: SyntheticWorkload,
    shares: list[int],
    sizes: list[int],
    models: list[GpuModel],
) -> ReplayTrace:
    names = [m.name for m in models]
    pods = tuple(timed_pod(pod) for pod in draw_pods(o, shares, sizes, names))
    # The cluster is not drawn: `nodes` alike nodes, the models taking turns.
    nodes = tuple(
        TraceNode(
            f"syn-node-{index:03d}",
            o.node_cpu * _MILLI,
            o.node_memory * _MIB_PER_GIB,
            o.gpus,
            names[index % len(names)],
        )
        for index in range(o.nodes)
    )
    notes = (
        f"{o.pods:,} pods (seed {o.seed}), {o.nodes} nodes x {o.gpus} GPUs "
        f"({', '.join(dict.fromkeys(names))})",
    )
    return ReplayTrace(
        workload,
        nodes,
        pods,
        GpuModels({m.name: m for m in models}),
        notes=notes,
    )
