"""The request model every trace is turned into: what the simulator consumes, whatever trace a
pod or a node came from.

Each loader (`openb`, `dlrm`, `synthetic`) reads its file into its own record types, which
keep what that file holds (openb's QoS, phase and times; DLRM's role, app and times; what the
synthetic generator drew), and converts them here and nowhere else. Everything downstream
(`sim.openb_objects`, `sim.experiment`, `sim.replay`, the campaign, the CLI) reads only these
types, so no trace pretends to be another.

- `TracePod`: a pod's request. CPU in milli-cores, memory in MiB, `num_gpu` GPUs each at
  `gpu_milli` milli-GPU (1000 = a whole GPU; below 1000 only for one GPU, a sharing pod), and
  `gpu_spec`, the GPU model codes it may use (empty: any).
- `TraceNode`: a node's shape. CPU in milli-cores, memory in MiB, `gpus` GPUs of model code
  `model` (None on a CPU-only node).
- `GpuModels`: a trace's model codes (`G2`, `a10`) resolved to catalog `GpuModel`s.
- `ArrivalTrace`: nodes and pods without times, what the FGD experiment places. The timed
  shape the replay consumes is `timeline.ReplayTrace`.

`line` on a pod or node is where its row is in its file (0 when it was not read from one):
provenance for problems, not part of equality. Pure values: no I/O, no state.

Example::

    TracePod("p-0", cpu_milli=4000, memory_mib=8192, num_gpu=1, gpu_milli=500).is_sharing  # True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from dralloc.devices.catalog import GpuModel

__all__ = ["GPU_MILLI", "ArrivalTrace", "GpuModels", "TraceNode", "TracePod"]

GPU_MILLI: Final = 1000
"""Milli-GPU in one whole GPU: a `gpu_milli` of 1000 asks for all of each GPU."""


@dataclass(frozen=True, slots=True)
class TracePod:
    """A pod's request, whatever trace it came from (see the module docstring for units).

    TracePod("p-0", cpu_milli=6000, memory_mib=12288, num_gpu=1, gpu_milli=460)
    """

    name: str
    cpu_milli: int
    memory_mib: int
    num_gpu: int
    gpu_milli: int
    gpu_spec: frozenset[str] = frozenset()
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


@dataclass(frozen=True, slots=True)
class TraceNode:
    """A node's shape, whatever trace it came from (see the module docstring for units).

    TraceNode("openb-node-0000", cpu_milli=64000, memory_mib=262144, gpus=2, model="P100")
    """

    name: str
    cpu_milli: int
    memory_mib: int
    gpus: int
    model: str | None
    line: int = field(default=0, compare=False)


@dataclass(frozen=True)
class GpuModels:
    """A trace's GPU model codes -> catalog models (openb's from its packaged `models.yaml`,
    the DLRM and synthetic traces' from catalog names)."""

    by_code: Mapping[str, GpuModel]

    def model(self, code: str) -> GpuModel:
        try:
            return self.by_code[code]
        except KeyError:
            known = ", ".join(sorted(self.by_code))
            raise KeyError(f"unknown GPU model {code!r} (known: {known})") from None


@dataclass(frozen=True)
class ArrivalTrace:
    """A cluster and the pods to place on it, with no times: what the FGD experiment consumes.

    `workload` is the name the user gave (`openb:gpushare40`); `models` resolves the nodes' and
    pods' model codes; `source` the file the pods were read from (empty for pods built in code).
    """

    workload: str
    nodes: tuple[TraceNode, ...]
    pods: tuple[TracePod, ...]
    models: GpuModels
    source: str = ""

    @property
    def total_gpus(self) -> int:
        return sum(node.gpus for node in self.nodes)
