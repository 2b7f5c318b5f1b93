"""The node-resource scoring formulas (spec/scheduler.md sections 4.4 and 4.5).

Pure integer computation, except `balance`, which follows upstream's float64 arithmetic
operation for operation so that truncation lands where it does in Go. Lists passed together
are aligned: entry i of `requested`, `allocatable` and `weights` is the same resource, and an
entry with `allocatable == 0` is a resource the node does not have or the pod does not ask for
(see `allocatable_and_requested`); every formula skips it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from dralloc.scheduler.framework import NodeInfo
from dralloc.scheduler.framework.nodeinfo import CPU, EPHEMERAL_STORAGE, MEMORY, PODS
from dralloc.scheduler.plugins.helper import is_qualified_name

MAX_NODE_SCORE = 100
MAX_UTILIZATION = 100
_NATIVE = (CPU, MEMORY, EPHEMERAL_STORAGE, PODS)
_PREFIXED_NATIVE = "kubernetes.io/"


def is_extended_resource_name(name: str) -> bool:
    """A `vendor/name` resource outside `kubernetes.io/` (for example `nvidia.com/gpu`)."""
    if "/" not in name or _PREFIXED_NATIVE in name or name.startswith("requests."):
        return False
    return is_qualified_name(f"requests.{name}") is None


def is_scalar_resource_name(name: str) -> bool:
    """Extended, hugepages, `kubernetes.io/`-prefixed or attachable-volume resources: those
    NodeInfo keeps in its scalar map, and those scoring skips when the pod asks for none."""
    return (
        is_extended_resource_name(name)
        or name.startswith("hugepages-")
        or _PREFIXED_NATIVE in name
        or name.startswith("attachable-volumes-")
    )


def allocatable_and_requested(
    node: NodeInfo, name: str, pod_request: int, *, use_requested: bool
) -> tuple[int, int]:
    """(allocatable, requested including the pod) of one resource on `node`, or (0, 0) when
    the resource is to be skipped: a scalar the pod does not request, or one the node lacks.

    cpu and memory count the node's non-zero requests unless `use_requested`; ephemeral
    storage and scalars always count the real ones (upstream's
    `calculateResourceAllocatableRequest`)."""
    if pod_request == 0 and is_scalar_resource_name(name):
        return 0, 0
    used = node.requested if use_requested else node.non_zero_requested
    if name == CPU:
        return node.allocatable.milli_cpu, used.milli_cpu + pod_request
    if name == MEMORY:
        return node.allocatable.memory, used.memory + pod_request
    if name == EPHEMERAL_STORAGE:
        return node.allocatable.ephemeral_storage, node.requested.ephemeral_storage + pod_request
    if is_scalar_resource_name(name) and name in node.allocatable.scalars:
        return node.allocatable.scalars[name], node.requested.scalars.get(name, 0) + pod_request
    return 0, 0


def least_allocated(
    requested: Sequence[int], allocatable: Sequence[int], weights: Sequence[int]
) -> int:
    """`Σ w·s // Σ w` with `s = 0 if req > alloc else (alloc - req)·100 // alloc`."""
    total = weight_sum = 0
    for req, alloc, weight in zip(requested, allocatable, weights, strict=True):
        if alloc == 0:
            continue
        score = 0 if req > alloc else (alloc - req) * MAX_NODE_SCORE // alloc
        total += score * weight
        weight_sum += weight
    return total // weight_sum if weight_sum else 0


def most_allocated(
    requested: Sequence[int], allocatable: Sequence[int], weights: Sequence[int]
) -> int:
    """`Σ w·s // Σ w` with `s = min(req, alloc)·100 // alloc`."""
    total = weight_sum = 0
    for req, alloc, weight in zip(requested, allocatable, weights, strict=True):
        if alloc == 0:
            continue
        total += min(req, alloc) * MAX_NODE_SCORE // alloc * weight
        weight_sum += weight
    return total // weight_sum if weight_sum else 0


def _go_div(a: int, b: int) -> int:
    """Go's integer division, which truncates toward zero (Python's `//` floors)."""
    quotient = abs(a) // abs(b)
    return quotient if (a >= 0) == (b > 0) else -quotient


def broken_linear(shape: Sequence[tuple[int, int]], utilization: int) -> int:
    """Upstream's `BuildBrokenLinearFunction`: piecewise linear through the points
    (utilization, score), flat before the first and after the last, integer arithmetic
    truncating toward zero as Go does."""
    for i, (x, y) in enumerate(shape):
        if utilization <= x:
            if i == 0:
                return y
            px, py = shape[i - 1]
            return py + _go_div((y - py) * (utilization - px), x - px)
    return shape[-1][1]


def requested_to_capacity_ratio(
    requested: Sequence[int],
    allocatable: Sequence[int],
    weights: Sequence[int],
    shape: Sequence[tuple[int, int]],
) -> int:
    """`round(Σ w·s / Σ w)` over the resources with `s > 0`, where
    `s = f(100 if req > alloc else req·100 // alloc)` and `f = broken_linear(shape)`; `shape`
    scores are already scaled to 0..100. The rounding is Go's `math.Round` (half away from
    zero), done here exactly on integers."""
    total = weight_sum = 0
    for req, alloc, weight in zip(requested, allocatable, weights, strict=True):
        if alloc == 0:
            continue
        utilization = MAX_UTILIZATION if req > alloc else req * MAX_UTILIZATION // alloc
        score = broken_linear(shape, utilization)
        if score > 0:
            total += score * weight
            weight_sum += weight
    if weight_sum == 0:
        return 0
    return (2 * total + weight_sum) // (2 * weight_sum)


def balance(requested: Sequence[int], allocatable: Sequence[int]) -> int:
    """`int((1 - std) · 100)` of the requested fractions (each capped at 1): half the
    difference for two resources, the population standard deviation for more, 0 for fewer.
    Range 50..100 for two resources."""
    fractions: list[float] = []
    total = 0.0
    for req, alloc in zip(requested, allocatable, strict=True):
        if alloc == 0:
            continue
        fraction = min(float(req) / float(alloc), 1.0)
        total += fraction
        fractions.append(fraction)
    std = 0.0
    if len(fractions) == 2:
        std = abs((fractions[0] - fractions[1]) / 2)
    elif len(fractions) > 2:
        mean = total / len(fractions)
        std = math.sqrt(sum((f - mean) * (f - mean) for f in fractions) / len(fractions))
    return int((1 - std) * MAX_NODE_SCORE)


def balanced_allocation(
    with_pod: Sequence[int], without_pod: Sequence[int], allocatable: Sequence[int]
) -> int:
    """1.36 (#135573): `50 + (50 + balance(with_pod) - balance(without_pod)) // 2`.

    No change scores 75, balanced to imbalanced 50, the reverse 100. The formula comes from
    the PR description and a secondary listing; the integer rounding (floor division of a
    non-negative value here) is unverified against the merged Go code.
    """
    delta = balance(with_pod, allocatable) - balance(without_pod, allocatable)
    return MAX_NODE_SCORE // 2 + (MAX_NODE_SCORE // 2 + delta) // 2
