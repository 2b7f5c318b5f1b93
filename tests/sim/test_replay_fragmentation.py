"""The replay's fragmentation measure (FGD's F(M) against the trace's typical pods, summed
over the nodes in the cluster), with and without queues, worked out by hand."""

from __future__ import annotations

import dataclasses

import pytest

from dralloc.sim.job_replay import JobReplayOptions, job_replay
from dralloc.sim.queue_replay import KueueAdmission, queue_policy
from dralloc.sim.replay import replay
from dralloc.sim.traces.jobs import BatchJob, JobTrace, Tenant
from dralloc.sim.traces.timeline import NodeAction, NodeEvent


def _trace() -> JobTrace:
    # A 1-GPU job and an 8-GPU job, both for 100 s, on two nodes of 8 GPUs. The typical
    # pods are those two shapes, half each. The 8-GPU job's node has nothing idle (0); the
    # other node's 7 idle GPUs cannot host the 8-GPU shape (7 x 1000 x 1/2 = 3,500 milli)
    # and can host the 1-GPU one (0): 3,500 of 16,000 milli-GPU, 21.875 %, while both run.
    jobs = (BatchJob("a", 0, 100, 1, 1, tenant="a"), BatchJob("b", 0, 100, 1, 8, tenant="a"))
    return JobTrace("t", jobs, (Tenant("a", 16),))


@pytest.mark.parametrize("queues", ["none", "besteffortfifo", "fair+placement"])
def test_fragmented_gpu_is_the_idle_gpu_the_typical_pods_cannot_use(queues: str) -> None:
    trace = _trace()
    replayed, gangs = job_replay(trace, JobReplayOptions(nodes=2))
    admission = KueueAdmission(trace, queue_policy(queues))
    result = replay(replayed, "bestfit", 1, gangs=gangs, admission=admission)
    running = [s for s in result.samples if s.time < 100]
    assert running and {s.fragmented_milli for s in running} == {3500.0}
    assert running[0].fragmentation == pytest.approx(0.21875)
    assert result.samples[-1].fragmented_milli == 0.0  # an empty cluster wastes nothing
    assert result.mean_fragmentation == pytest.approx(0.21875)
    assert result.summary().mean_fragmentation == pytest.approx(0.21875)


def test_a_node_that_leaves_takes_its_fragments_with_it() -> None:
    # The node holding the 1-GPU job leaves at 50 s: from then on no node is fragmented.
    trace = _trace()
    replayed, gangs = job_replay(trace, JobReplayOptions(nodes=2))
    result = replay(replayed, "bestfit", 1, gangs=gangs)
    node = next(p.node for p in result.pods if p.gpu_milli == 1000)
    assert node is not None
    events = (NodeEvent(50.0, NodeAction.REMOVE, node),)
    replayed = dataclasses.replace(replayed, node_events=events)
    result = replay(replayed, "bestfit", 1, gangs=gangs)
    assert {s.fragmented_milli for s in result.samples if s.time < 50} == {3500.0}
    assert {s.fragmented_milli for s in result.samples if s.time >= 50} == {0.0}
