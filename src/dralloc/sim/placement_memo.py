"""Remembered answers of the queued replay's placement checks and what-ifs
(`sim.queue_replay`'s `+placement`): a speed-up that changes no outcome.

Placement-aware admission asks the replay's engine, over and over within one instant, the
same two questions for jobs that look alike: "can this job's pods be placed now?" (a failed
`AdmissionCluster.place`) and "could they be placed were these victims gone?"
(`AdmissionCluster.placeable_without`). BestEffortFIFO pops every waiting head of every
ClusterQueue in turn after quota is released, and the preemptor asks its what-if at every
fit test of its search: with thousands of jobs waiting, nearly every question was answered
a moment before for a job of the same shape, on the same cluster.

Owns `PlacementMemo`, which keeps those answers:

- keyed on the cluster generation they were computed at, the job's signature (each pod's
  requests and GPU models, in rank order: everything the engine's pods differ in besides
  their names), the pods' topology-domain nodeSelectors, and for a what-if the victims;
- the generation moves (and every answer is dropped) whenever the engine's cache may have
  changed: a job placed and bound, a job evicted, a pod started or stopped, and at the start
  of each instant's admission (the engine ran events since: completions, nodes joining or
  leaving). Within one `admit` the engine runs nothing of its own, so the answers the memo
  gives are those the engine would compute again;
- an answer names the job's blocking pod (`pod default/<job>-<i>: <the FitError text>`): it
  is kept as (rank of that pod, text) and given back naming the asking job's pod of that
  rank. An answer whose text names the job itself (its pod group or a pod) is not kept, so
  nothing of one job leaks into another's message;
- only refusals of `place` are kept (a success binds the pods and moves the generation);
  what-ifs are kept either way.

Alike pods get alike answers because the engine treats them alike: the same plugins, the same
requests, fresh pending claims, ties between nodes broken by the replay's fixed node ranking
(never by the order nodes were visited). One thing the engine keeps across cycles is
kube-scheduler's rotating filter start index, which decides which nodes are scored in a
cluster of more than 100 nodes (`MIN_FEASIBLE_NODES_TO_FIND`). It moves only when pods are
placed: a refused placement and a what-if put it back (`Framework.what_if`), and a placement
moves the generation, so within a generation every question is asked at the same start
index and the memo is exact in a cluster of any size (an autoscaled fleet growing past 100
nodes included). A policy that draws a node per cycle (Random: a PreScore or Score plugin
that is not node-local) would draw differently after a skipped question, so the admission
keeps no memo for it. Skipped `place` calls are not counted in `ReplayResult.attempts`.

Bounded: it holds one generation's answers (the job shapes x victim sets asked in it).
Off switch: `KueueAdmission(remember_placements=False)`; tests/sim/test_queue_replay_memo.py
checks runs with and without it agree.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

__all__ = ["PlacementMemo"]


@dataclass(frozen=True, slots=True)
class _Refusal:
    """A refusal without the job's names: the blocking pod's rank and the FitError text."""

    rank: int
    text: str


@dataclass
class PlacementMemo:
    """The remembered answers (module docstring). Owned by the `KueueAdmission` whose checks
    ask; `moved()` is called by that owner whenever the engine's cache may have changed.

        memo = PlacementMemo()
        known, answer = memo.recall(question, pod_keys)
        if not known:
            answer = cluster.placeable_without(...)
            memo.keep(question, pod_keys, answer, names=(job_name, workload_name))
    """

    generation: int = 0
    hits: int = 0
    misses: int = 0
    _answers: dict[Hashable, _Refusal | None] = field(default_factory=dict)

    def moved(self) -> None:
        """The cluster may have changed: every answer is dropped."""
        self.generation += 1
        self._answers.clear()

    def recall(self, question: Hashable, pod_keys: Sequence[str]) -> tuple[bool, str | None]:
        """(True, the remembered answer to `question`) for the job whose pods are
        `pod_keys` (namespace/name, in rank order); (False, None) when none is."""
        if question not in self._answers:
            self.misses += 1
            return False, None
        self.hits += 1
        found = self._answers[question]
        if found is None:
            return True, None
        return True, f"pod {pod_keys[found.rank]}: {found.text}"

    def keep(
        self,
        question: Hashable,
        pod_keys: Sequence[str],
        answer: str | None,
        names: Sequence[str] = (),
    ) -> None:
        """Remember `answer` (None: placeable) to `question`, asked for the job whose pods
        are `pod_keys` and which is also known by `names` (its pod group, its Workload),
        unless the answer names the job (module docstring)."""
        if answer is None:
            self._answers[question] = None
            return
        for rank, key in enumerate(pod_keys):
            head = f"pod {key}: "
            if answer.startswith(head):
                text = answer[len(head) :]
                if not any(name in text for name in (*names, *pod_keys)):
                    self._answers[question] = _Refusal(rank, text)
                return
