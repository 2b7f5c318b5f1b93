"""The engine's records of the trace's pods it knows: one waiting (arrived, not running) and
one running (started on a node, not stopped yet), and how a pod's keys and shape are spelled.
Plain values; the engine owns and changes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from dralloc.scheduler.framework import Resources
from dralloc.sim.openb_objects import OpenbPodObjects
from dralloc.sim.traces.model import TracePod
from dralloc.sim.traces.timeline import TimedPod


@dataclass(slots=True)
class WaitingPod:
    index: int
    timed: TimedPod
    objects: OpenbPodObjects
    requests: Resources
    products: frozenset[str]  # allowed GPU product names; empty: any
    shape: bytes  # what every plugin reads of the pod (the framework's signature)
    rejectors: frozenset[str] = frozenset()  # of the last rejection; empty: never rejected
    checked: int = 0  # nodes that gained room (`HopelessRetries.freed`) known not to help
    error_at: float | None = None  # when its last attempt ended in an error


@dataclass(slots=True)
class RunningPod:
    index: int
    objects: OpenbPodObjects
    node: str
    model: str
    start: float
    milli: int
    run: int = 0  # which run of the pod (an evicted pod may run again): its completion's tag


def pod_shape(pod: TracePod, node_selector: Mapping[str, str] | None) -> bytes:
    """What every plugin reads of the pod: pods of one shape are alike to every plugin (fresh
    pending claims), so the framework may reuse node verdicts across them."""
    return repr(
        (
            pod.cpu_milli,
            pod.memory_mib,
            pod.num_gpu,
            pod.gpu_milli,
            sorted(pod.gpu_spec),
            sorted((node_selector or {}).items()),
        )
    ).encode()


def pod_key(objects: OpenbPodObjects) -> str:
    return f"{objects.pod.metadata.namespace}/{objects.pod.metadata.name}"


def claim_key(objects: OpenbPodObjects) -> str:
    assert objects.claim is not None
    return f"{objects.claim.metadata.namespace}/{objects.claim.metadata.name}"
