"""Workload tuning and the node ranking (§2 steps 4-6): the arrival stream and tie-breaks.

`tune` shuffles the pods and clones or drops them until their GPU request is `factor` × the
cluster's GPU capacity; `node_order` is the run's fixed random ranking of nodes for equal
scores. Randomness comes only from the `random.Random` the caller passes.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar, cast

import msgspec

from dralloc.scheduler.plugins.gpushare.workload import NamedPodRequest, PodRequest

__all__ = ["node_order", "tune"]

P = TypeVar("P", bound=NamedPodRequest)


def _renamed(pod: P, name: str) -> P:
    """A copy of `pod` named `name`: dataclasses, NamedTuples and msgspec Structs."""
    if dataclasses.is_dataclass(pod) and not isinstance(pod, type):
        return cast(P, dataclasses.replace(cast(Any, pod), name=name))
    if isinstance(pod, msgspec.Struct):
        return cast(P, msgspec.structs.replace(pod, name=name))
    replace = getattr(pod, "_replace", None)
    if callable(replace):
        return cast(P, replace(name=name))
    raise TypeError(f"cannot copy a {type(pod).__name__} under a new name: pass clone=")


def _gpu_request(pod: PodRequest) -> int:
    return pod.num_gpu * pod.gpu_milli


def tune(
    pods: Sequence[P],
    capacity_milli: int,
    *,
    rng: random.Random,
    factor: float = 1.3,
    clone: Callable[[P, str], P] | None = None,
) -> list[P]:
    """The arrival stream: the pods shuffled, then tuned to `factor` × GPU capacity (§2 steps 4-5).

    The pods are sorted by name and shuffled with `rng`. With T = factor × capacity_milli and the
    total GPU request Σ num_gpu × gpu_milli:

    - below T: clones drawn uniformly with replacement from the original pods (indexing the
      name-sorted list, so the result does not depend on the input order) are appended until the
      next sample would pass T. The stop test adds the sample's *per-GPU* `gpu_milli` (the
      artifact's quirk), while the total grows by its full request, so the result ends within
      one pod of T: above T − 1000 and at most T + (k − 1) × 1000 for the largest k-GPU clone.
      The clones are named `<name>-tuned-<i>`, i = 0, 1, ... in order, which is unique as long as
      no original name already has that form; `clone(pod, name)` makes them (by default a copy of
      a dataclass, NamedTuple or msgspec Struct with `name` replaced).
    - above T: pods are removed at uniformly drawn positions until the total is <= T.
    - equal: the shuffled pods.

    Raises ValueError for duplicate names or when no pod requests a GPU (tuning up would never
    stop; the artifact panics).
    """
    if capacity_milli <= 0:
        raise ValueError(f"capacity_milli must be > 0, got {capacity_milli}")
    originals = sorted(pods, key=lambda pod: pod.name)
    if len({pod.name for pod in originals}) != len(originals):
        raise ValueError("pod names must be unique")
    stream = list(originals)
    rng.shuffle(stream)
    total = sum(_gpu_request(pod) for pod in stream)
    if total <= 0:
        raise ValueError("no pod requests a GPU: cannot tune to a GPU target")
    target = factor * float(capacity_milli)
    if total == target:
        return stream
    if total > target:
        while total > target:
            total -= _gpu_request(stream.pop(rng.randrange(len(stream))))
        return stream
    make = _renamed if clone is None else clone
    index = 0
    while True:
        sample = originals[rng.randrange(len(originals))]
        if total + sample.gpu_milli > target:
            return stream
        total += _gpu_request(sample)
        stream.append(make(sample, f"{sample.name}-tuned-{index}"))
        index += 1


def node_order(names: Iterable[str], rng: random.Random) -> dict[str, int]:
    """The run's fixed random node ranking for ties (§2 step 6, §4.3): name → rank, 0 first.

    Nodes are sorted by name and the i-th gets rank perm[i] of a random permutation (the
    artifact's `%04d-` prefix from `rand.Perm`). Among equal scores the lowest rank wins, which
    is the artifact's "smallest prefixed name". Raises ValueError for duplicate names.
    """
    ordered = sorted(names)
    if len(set(ordered)) != len(ordered):
        raise ValueError("node names must be unique")
    perm = list(range(len(ordered)))
    rng.shuffle(perm)
    return dict(zip(ordered, perm, strict=True))
