"""`FrameworkSpeedups`: the framework's own shortcuts, each with its switch.

None changes a decision, a score total, a message or the random numbers a cycle draws
(tests/scheduler/test_framework_speedups.py compares every switch on with all of them off):

- `uniform_scores`: a Score plugin that declares, for one cycle, the raw score every node
  gets (`UniformScorer`: ImageLocality for a pod whose images no node holds) is not called
  per node; its one value goes through the same normalising, range check and weighting.
  DynamicResources declares 0 for a pod with no `firstAvailable` alternative to score.
- `ties_by_position`: ties between equally scored nodes are drawn over the tied nodes'
  positions in the cycle's node list when that list is in name order (a `NodeSnapshot`'s
  list always is), instead of over their sorted names: the same node at the same draw,
  without building and sorting a name per tied node (every node ties on an idle fleet).

Pure data; the framework reads it when it is built.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FrameworkSpeedups:
    """Which of the framework's shortcuts are on (all by default).

    >>> FrameworkSpeedups.none()
    FrameworkSpeedups(uniform_scores=False, ties_by_position=False)
    """

    uniform_scores: bool = True
    ties_by_position: bool = True

    @classmethod
    def none(cls) -> FrameworkSpeedups:
        return cls(uniform_scores=False, ties_by_position=False)
