"""What PodTopologySpread's PreFilter and PreScore compute for one cycle.

`PreFilterState` holds, per hard constraint, how many matching pods each eligible domain has
and the two "critical paths" upstream keeps (the domain with the fewest matching pods, and one
with at least as many), so that Filter reads the global minimum in O(1) and preemption's dry
run can add or remove a pod without recounting. Like upstream's, the second path is exact
only for one pod moved at a time on one node copy, which is how the dry run uses it.

`PreScoreState` holds the soft constraints, the feasible nodes that lack a topology key
(scored 0), the matching pods per domain (hostname domains are counted at Score), and each
constraint's weight `ln(domains + 2)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Self

from dralloc.scheduler.plugins.podtopologyspread.constraints import Constraint

_MAX_INT32 = 2**31 - 1


class CriticalPaths:
    """Upstream's `criticalPaths`: `nums[0]` is the minimum match count, at domain
    `values[0]`; `nums[1]` is at least as large. Both start at ("", MaxInt32), so a domain
    whose value is the empty string starts out as path 0, as upstream's does."""

    __slots__ = ("nums", "values")

    def __init__(self) -> None:
        self.values = ["", ""]
        self.nums = [_MAX_INT32, _MAX_INT32]

    def update(self, value: str, num: int) -> None:
        values, nums = self.values, self.nums
        at = 0 if value == values[0] else 1 if value == values[1] else -1
        if at >= 0:
            nums[at] = num
            if nums[0] > nums[1]:
                values.reverse()
                nums.reverse()
        elif num < nums[0]:
            values[1], nums[1] = values[0], nums[0]
            values[0], nums[0] = value, num
        elif num < nums[1]:
            values[1], nums[1] = value, num

    def copy(self) -> CriticalPaths:
        copied = CriticalPaths()
        copied.values = list(self.values)
        copied.nums = list(self.nums)
        return copied


@dataclass
class PreFilterState:
    """Per hard constraint: domain value -> matching pods, and the critical paths. A
    `StateData`: preemption's dry run changes a clone."""

    constraints: tuple[Constraint, ...]
    counts: list[dict[str, int]] = field(default_factory=list)
    paths: list[CriticalPaths] = field(default_factory=list)

    def min_match(self, index: int) -> int:
        """The global minimum for constraint `index`: 0 while fewer domains than
        `minDomains` are eligible."""
        if len(self.counts[index]) < self.constraints[index].min_domains:
            return 0
        return self.paths[index].nums[0]

    def clone(self) -> Self:
        return type(self)(
            self.constraints,
            [dict(counts) for counts in self.counts],
            [paths.copy() for paths in self.paths],
        )


@dataclass(frozen=True)
class PreScoreState:
    constraints: tuple[Constraint, ...]
    ignored: frozenset[str]
    counts: list[dict[str, int]]
    weights: tuple[float, ...]
