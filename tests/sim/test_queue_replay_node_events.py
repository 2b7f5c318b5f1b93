"""A node leaving a replay with queues: Kueue evicts the admitted jobs that ran there
(Evicted and Requeued with reason NodeFailures, quota released, queued again in their place)
and they run again from the start; without queues their pods are simply gone."""

from __future__ import annotations

import dataclasses

import pytest

from dralloc.sim.job_replay import JobReplayOptions, job_replay
from dralloc.sim.queue_replay import KueueAdmission, queue_policy
from dralloc.sim.replay import PodState, ReplayResult, replay
from dralloc.sim.traces.jobs import BatchJob, JobTrace, Tenant
from dralloc.sim.traces.timeline import NodeAction, NodeEvent

# Two 8-GPU jobs on two nodes of 8 GPUs, quota 16: both run from 0 to 100 unless a node
# leaves. `c` (8 GPUs) arrives at 10 and waits for quota behind them.
JOBS = (
    BatchJob("a", 0, 100, 1, 8, tenant="a"),
    BatchJob("b", 0, 100, 1, 8, tenant="a"),
    BatchJob("c", 10, 100, 1, 8, tenant="a"),
)
TRACE = JobTrace("t", JOBS, (Tenant("a", 16),))


def _run(queues: str) -> tuple[ReplayResult, KueueAdmission, str]:
    replayed, gangs = job_replay(TRACE, JobReplayOptions(nodes=2))
    # Where `a` runs when nothing leaves: that node leaves at 50.
    first = replay(
        replayed, "bestfit", 1, gangs=gangs, admission=KueueAdmission(TRACE, queue_policy(queues))
    )
    node = next(p.node for p in first.pods if p.name.startswith("a-"))
    assert node is not None
    replayed = dataclasses.replace(
        replayed, node_events=(NodeEvent(50.0, NodeAction.REMOVE, node),)
    )
    admission = KueueAdmission(TRACE, queue_policy(queues))
    return replay(replayed, "bestfit", 1, gangs=gangs, admission=admission), admission, node


def _job(admission: KueueAdmission, name: str) -> str:
    return next(k for k in admission.jobs if k.partition("/")[2].startswith(f"job-{name}-"))


@pytest.mark.parametrize("queues", ["besteffortfifo", "strictfifo", "fair"])
def test_a_job_whose_node_leaves_is_evicted_requeued_and_runs_again(queues: str) -> None:
    result, admission, node = _run(queues)
    a, b, c = (_job(admission, n) for n in "abc")
    # At 50: `a` is evicted and its 8 GPUs of quota released; in line, `a` (created at 0)
    # comes before `c` (10), so `a` is admitted again at once, and waits for a node: the
    # one left runs `b` until 100. Then `a` runs 100-200, and `c` is admitted at 200.
    events = [(t, what, key) for t, what, key, _, _ in admission.log]
    assert (50.0, "evict", a) in events
    assert events.index((50.0, "evict", a)) < events.index((50.0, "admit", a))
    assert admission.jobs[a].node_evictions == 1 and admission.jobs[a].evictions == 0
    assert admission.jobs[a].finished_at == 200.0
    assert admission.jobs[b].finished_at == 100.0
    assert admission.jobs[c].finished_at == 300.0
    # Re-admitted since: Evicted is False now, and says why it was True (as Kueue writes).
    workload = admission.workloads[a]
    evicted = workload.condition("Evicted")
    requeued = workload.condition("Requeued")
    assert evicted is not None and (evicted.status, evicted.reason) == ("False", "QuotaReserved")
    assert evicted.message == (
        "Previously: Workload was evicted as there was no replacement for unhealthy "
        f"node(s): {node}"
    )
    assert requeued is not None and (requeued.status, requeued.reason) == ("True", "NodeFailures")
    assert {p.state for p in result.pods} == {PodState.COMPLETED}
    # Quota never held twice for one job: admissions and releases alternate per job.
    held = 0
    for _, what, _, _, gpus in admission.log:
        held += gpus if what == "admit" else -gpus
        assert 0 <= held <= 16


def test_with_placement_the_evicted_job_is_admitted_when_a_node_can_take_it() -> None:
    _, admission, _ = _run("besteffortfifo+placement")
    a = _job(admission, "a")
    admits = [t for t, what, key, _, _ in admission.log if key == a and what == "admit"]
    assert admits == [0.0, 100.0]
    assert admission.jobs[a].finished_at == 200.0


def test_without_queues_the_pods_of_a_node_that_leaves_are_gone() -> None:
    result, admission, _ = _run("none")
    states = {p.name.rsplit("-", 1)[0]: p.state for p in result.pods}
    assert states["a"] is PodState.EVICTED
    assert admission.log == []
