"""The replay's gangs (`ReplayGangs`): which trace pods form each gang, and the `GangLister`
GangScheduling reads, where the members the scheduler knows are those arrived so far.

Owns the arrival counts per gang; the engine counts a member in when it arrives and out when
it leaves without running.
"""

from __future__ import annotations

from dralloc.scheduler.gangs import Gang, GangIndex, GangKey
from dralloc.sim.openb_objects import NAMESPACE
from dralloc.sim.replay.results import ReplayGangs
from dralloc.sim.traces.timeline import ReplayTrace


class ArrivedGangs:
    """The replay's `GangLister`: the gangs of `ReplayGangs`, where the members the scheduler
    knows (GangScheduling's PreEnqueue quorum) are those arrived so far."""

    def __init__(self, index: GangIndex) -> None:
        self.index = index
        self.arrived: dict[GangKey, int] = {}

    def gang_of(self, pod_key: str) -> Gang | None:
        return self.index.gang_of(pod_key)

    def pre_enqueue(self, pod_key: str, known_pods: int | None = None) -> str | None:
        gang = self.index.gang_of(pod_key)
        if gang is not None and known_pods is None:
            known_pods = self.arrived.get(gang.key, 0)
        return self.index.pre_enqueue(pod_key, known_pods)

    def member_arrived(self, pod_key: str) -> None:
        gang = self.index.gang_of(pod_key)
        if gang is not None:
            self.arrived[gang.key] = self.arrived.get(gang.key, 0) + 1

    def member_left(self, pod_key: str) -> None:
        gang = self.index.gang_of(pod_key)
        if gang is not None:
            self.arrived[gang.key] = max(0, self.arrived.get(gang.key, 0) - 1)


def gang_index(trace: ReplayTrace, gangs: ReplayGangs | None) -> GangIndex | None:
    """The gangs of the run, None when nothing is ganged (no group, or a gate off)."""
    if gangs is None or not gangs.features.gang_scheduling:
        return None
    index = GangIndex()
    for group in gangs.pod_groups:
        key = GangKey(group.metadata.namespace or "default", group.metadata.name)
        policy = group.spec.scheduling_policy.gang
        index.gangs[key] = Gang(key, policy.min_count if policy is not None else None)
    for timed in trace.pods:
        name = gangs.members.get(timed.pod.name)
        if name is None:
            continue
        key = GangKey(NAMESPACE, name)
        index.member_of[f"{NAMESPACE}/{timed.pod.name}"] = key
        # A member naming no PodGroup waits for it, as the API server's pods would.
        index.gangs.setdefault(key, Gang(key, None, declared=False))
    return index if index.member_of else None
