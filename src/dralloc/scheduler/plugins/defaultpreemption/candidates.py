"""Preemption candidates and the choice among them (upstream's pickOneNodeForPreemption,
spec/scheduler.md sections 5.2 and 5.4). Pure computation over the dry run's results."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from dralloc.scheduler.framework import PodInfo
from dralloc.scheduler.plugins.defaultpreemption.args import DefaultPreemptionArgs
from dralloc.scheduler.plugins.defaultpreemption.pods import start_time

# Upstream shifts every priority by 2^31 before summing, so each term is non-negative.
_PRIORITY_SHIFT = 1 << 31


@dataclass(frozen=True)
class Candidate:
    """A node where preemption works: the victims (most important first) and how many of
    them violate a PodDisruptionBudget."""

    node_name: str
    victims: tuple[PodInfo, ...]
    pdb_violations: int = 0


def num_candidates(args: DefaultPreemptionArgs, potential: int) -> int:
    """How many candidates the dry run wants before it may stop early."""
    wanted = max(
        potential * args.min_candidate_nodes_percentage // 100, args.min_candidate_nodes_absolute
    )
    return min(wanted, potential)


def _earliest_start_of_top_priority(candidate: Candidate) -> float:
    top = candidate.victims[0].priority
    return min(start_time(v.pod) for v in candidate.victims if v.priority == top)


# Each maps a candidate to a score; higher is better. Upstream's order (section 5.4).
_SCORES: tuple[Callable[[Candidate], float], ...] = (
    lambda c: -c.pdb_violations,
    lambda c: -c.victims[0].priority,
    lambda c: -sum(v.priority + _PRIORITY_SHIFT for v in c.victims),
    lambda c: -len(c.victims),
    # The youngest top-priority victims: the least work lost.
    _earliest_start_of_top_priority,
)


def pick_one_node_for_preemption(candidates: Sequence[Candidate]) -> Candidate:
    """The candidate the tie-break sequence keeps. Each score keeps only the candidates
    sharing its best value, and the first score that leaves one decides. A tie after every
    score goes to the first remaining candidate in dry-run order, where upstream's pick is
    effectively arbitrary (it iterates a map)."""
    if not candidates:
        raise ValueError("no preemption candidates to pick from")
    remaining = list(candidates)
    for score in _SCORES:
        if len(remaining) == 1:
            break
        values = [score(c) for c in remaining]
        best = max(values)
        remaining = [c for c, value in zip(remaining, values, strict=True) if value == best]
    return remaining[0]
