"""`PodGroupPodsCount`: kube-scheduler 1.36's PlacementScore plugin
(TopologyAwareWorkloadScheduling): a candidate placement of a pod group scores the number of
its pods placed in it (already scheduled plus proposed), normalised by the best candidate's
count, so the placement holding the most pods wins.

dralloc's framework does not run the placement extension points yet (a profile naming them
explicitly is refused); the plugin is registered, and in the default profile when the gate
is on, so configurations written for 1.36 load, and the scoring rule is here for the
topology-aware cycle to use. Pure computation.
"""

from __future__ import annotations

from collections.abc import Sequence

MAX_SCORE = 100
MIN_SCORE = 0


class PodGroupPodsCount:
    """Scores placements by how many of the group's pods they hold.

    >>> plugin = PodGroupPodsCount()
    >>> plugin.normalize_placement_scores([plugin.score_placement(2, 2), 2])
    [100, 50]
    """

    name = "PodGroupPodsCount"

    def score_placement(self, scheduled: int, proposed: int) -> int:
        """Pods already scheduled plus those the placement proposes."""
        return scheduled + proposed

    def normalize_placement_scores(self, scores: Sequence[int]) -> list[int]:
        """Each score scaled by the highest; ValueError when no placement holds a pod (the
        upstream plugin's error)."""
        top = max(scores, default=0)
        if top == 0:
            raise ValueError(
                "no pods from pod group are assigned to any of the candidate placements"
            )
        return [MIN_SCORE + score * (MAX_SCORE - MIN_SCORE) // top for score in scores]
