"""Preemption that knows placement in the queued replay: the engine's what-if
(`AdmissionCluster.placeable_without`) leaves the cache as it found it and answers as the
cluster would, and `+placement` then spares preemptions that would not let the preemptor run.

Two nodes of 8 GPUs (64 CPUs, 512 GiB each); tenants a and b with 8 GPUs of quota each. b's
4-GPU jobs (half a node's GPUs, CPUs and memory) fill both nodes, so a's 8-GPU job needs
a whole node: quota lets it reclaim 8 GPUs from b, placement only if both victims share a
node."""

from __future__ import annotations

import copy
from typing import Any

from dralloc.scheduler.cache import SchedulerCache
from dralloc.sim.job_replay import JobReplayOptions, job_replay
from dralloc.sim.queue_replay import KueueAdmission, queue_policy
from dralloc.sim.replay import AdmissionCluster, replay
from dralloc.sim.traces.jobs import BatchJob, JobTrace, Tenant

TENANTS = (Tenant("a", 8), Tenant("b", 8))


def _b(name: str, arrival: float, duration: float = 100.0) -> BatchJob:
    return BatchJob(name, arrival, duration, 1, 4, tenant="b")


def _cache_state(cache: SchedulerCache) -> dict[str, Any]:
    """Everything a what-if could leave changed, the pods and claims by identity."""
    allocated = cache.allocated
    return {
        "pods": {key: (id(info), node) for key, (info, node) in cache.pods.items()},
        "claims": {key: id(claim) for key, claim in cache.claims.items()},
        "devices": set(allocated.devices),
        "shares": set(allocated.shares),
        "capacity": copy.deepcopy(allocated.capacity),
        "owners": {key: sorted(owners) for key, owners in allocated.owners.items() if owners},
        "by_pool": {key: set(names) for key, names in allocated.by_pool.items() if names},
        "nodes": {
            name: (
                sorted(pod.key for pod in node.pods),
                copy.deepcopy(node.requested),
                copy.deepcopy(node.non_zero_requested),
            )
            for name, node in cache.nodes.items()
        },
    }


class _WhatIfProbe(KueueAdmission):
    """At a0's arrival, before admission, asks the engine's what-if for every victim set
    of one or two running jobs, checking each time that the engine is as it was."""

    answers: dict[tuple[str, ...], str | None]

    def admit(self, now: float, cluster: AdmissionCluster) -> None:
        if now == 10.0:
            engine: Any = cluster
            self.answers = {}
            running = {run.index: run.node for run in engine.running.values()}
            names = {j.indices[0]: key.partition("/")[2][4:6] for key, j in self.jobs.items()}
            a0 = next(job for job in self.jobs.values() if job.cluster_queue == "a")
            before = _cache_state(engine.cache)
            engine_before = (dict(engine.waiting), list(engine.states), dict(engine.shapes))
            sets = [[i] for i in running] + [[i, j] for i in running for j in running if i < j]
            for victims in sets:
                why = cluster.placeable_without("a0", a0.indices, victims)
                self.answers[tuple(sorted(names[i] for i in victims))] = why
                assert _cache_state(engine.cache) == before, victims
                assert (dict(engine.waiting), list(engine.states), dict(engine.shapes)) == (
                    engine_before
                )
            self.nodes = {names[i]: node for i, node in running.items()}
        super().admit(now, cluster)


def test_the_engines_what_if_answers_as_the_cluster_would_and_changes_nothing() -> None:
    jobs = (
        _b("b0", 0),
        _b("b1", 1),
        _b("b2", 2),
        _b("b3", 3),
        BatchJob("a0", 10, 100, 1, 8, tenant="a"),
    )
    trace = JobTrace("t", jobs, TENANTS)
    replayed, gangs = job_replay(trace, JobReplayOptions(nodes=2))
    probe = _WhatIfProbe(trace, queue_policy("besteffortfifo+placement"), replayed=replayed)
    replay(replayed, "bestfit", 1, gangs=gangs, admission=probe)
    assert len(probe.answers) == 4 + 6
    for victims, why in probe.answers.items():
        same_node = len(victims) == 2 and len({probe.nodes[v] for v in victims}) == 1
        assert (why is None) == same_node, (victims, why)
        if why is not None:
            assert why.startswith("pod default/a0-0: 0/2 nodes are available")
    # Nothing the what-ifs did reached the run: a0 reclaimed a node and every job finished.
    assert all(job.finished_at is not None for job in probe.jobs.values())


def test_placement_aware_preemption_spares_victims_that_would_not_let_the_preemptor_run() -> None:
    # bestfit packs b0, b1 on one node and b2, b3 on the other; b1 ends at 5 and b4 takes
    # its place. Kueue's candidates for a0 (newest first, while b still borrows) are b4 and
    # b3, on different nodes: quota-only preemption evicts both and a0 still cannot run.
    jobs = (
        _b("b0", 0),
        _b("b1", 1, 4),
        _b("b2", 2),
        _b("b3", 3),
        _b("b4", 6),
        BatchJob("a0", 10, 100, 1, 8, tenant="a"),
    )
    trace = JobTrace("t", jobs, TENANTS)
    runs = {}
    for placement_preemption in (True, False):
        replayed, gangs = job_replay(trace, JobReplayOptions(nodes=2))
        admission = KueueAdmission(
            trace,
            queue_policy("besteffortfifo+placement"),
            replayed=replayed,
            placement_preemption=placement_preemption,
        )
        replay(replayed, "bestfit", 1, gangs=gangs, admission=admission)
        assert all(job.finished_at is not None for job in admission.jobs.values())
        a0 = next(job for job in admission.jobs.values() if job.cluster_queue == "a")
        runs[placement_preemption] = (admission.preemptions, a0.running_at)
    # Placement-aware: nothing at 10; at 100 (b0 done) one victim frees a node. Quota-only:
    # two useless evictions at 10, then one at 100; a0 starts at 100 either way.
    assert runs == {True: (1, 100.0), False: (3, 100.0)}
