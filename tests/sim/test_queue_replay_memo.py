"""The queued replay's remembered placement answers (`dralloc.sim.placement_memo`): runs
with and without them agree in every pod, job, log line and Workload status, and the memo
gives each job its own pod's name."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dralloc.sim.job_replay import JobReplayOptions, job_replay
from dralloc.sim.placement_memo import PlacementMemo, is_exact_for
from dralloc.sim.queue_replay import KueueAdmission, queue_policy
from dralloc.sim.replay import AdmissionCluster, replay
from dralloc.sim.traces.jobs import BatchJob, JobTrace, Tenant

TENANTS = (Tenant("a", 8), Tenant("b", 8))


def _job(name: str, arrival: float, gpus: int, duration: float, tenant: str) -> BatchJob:
    workers, per = (gpus // 8, 8) if gpus > 8 else (1, gpus)
    return BatchJob(name, arrival, duration, workers, per, tenant=tenant)


def _outcome(trace: JobTrace, queues: str, remember: bool, nodes: int | None = None) -> tuple:
    replayed, gangs = job_replay(trace, JobReplayOptions(nodes=nodes))
    admission = KueueAdmission(trace, queue_policy(queues), remember_placements=remember)
    # Every Workload's status after each instant's admission, not only the last.
    seen: list[dict[str, str]] = []
    admit = admission.admit

    def admit_and_look(now: float, cluster: AdmissionCluster) -> None:
        admit(now, cluster)
        seen.append({k: repr(w.status) for k, w in admission.workloads.items()})

    admission.admit = admit_and_look  # type: ignore[method-assign]
    result = replay(replayed, "bestfit", 1, gangs=gangs, admission=admission)
    memo = admission.placement_memo
    return (
        (
            result.pods,
            result.samples,
            list(admission.jobs.values()),
            admission.log,
            admission.cycles,
            seen,
        ),
        memo.hits if memo is not None else 0,
    )


@st.composite
def crowded_traces(draw: st.DrawFn) -> JobTrace:
    """Jobs of few shapes arriving close together on a small cluster, so that alike jobs
    wait at once and preemptors ask the same what-ifs."""
    jobs = [
        _job(
            f"j{i}",
            float(draw(st.integers(0, 20))),
            draw(st.sampled_from([2, 4, 8, 16])),
            float(draw(st.integers(20, 200))),
            draw(st.sampled_from("ab")),
        )
        for i in range(draw(st.integers(6, 14)))
    ]
    jobs.sort(key=lambda j: j.arrival)
    return JobTrace("crowded", tuple(jobs), TENANTS)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(crowded_traces(), st.sampled_from(["besteffortfifo+placement", "fair+placement"]))
def test_remembered_placements_change_nothing(trace: JobTrace, queues: str) -> None:
    fast, _ = _outcome(trace, queues, True)
    plain, _ = _outcome(trace, queues, False)
    assert fast == plain


@pytest.mark.parametrize("queues", ["besteffortfifo+placement", "strictfifo+placement"])
def test_alike_waiting_jobs_are_answered_from_memory_with_the_same_outcome(queues: str) -> None:
    # b's eight 4-GPU jobs borrow both nodes; a's three 8-GPU jobs then reclaim, asking
    # the same what-ifs; the b jobs left waiting are refused alike until a node frees.
    jobs = [_job(f"b{i}", float(i), 4, 300.0, "b") for i in range(8)]
    jobs += [_job(f"a{i}", 10.0 + i, 8, 100.0, "a") for i in range(3)]
    trace = JobTrace("t", tuple(jobs), TENANTS)
    fast, hits = _outcome(trace, queues, True, nodes=2)
    plain, none = _outcome(trace, queues, False, nodes=2)
    assert fast == plain
    assert hits > 0 and none == 0


def test_a_remembered_refusal_names_the_asking_jobs_pod() -> None:
    memo = PlacementMemo()
    question = ("place", ((8000, 65536, 1, 1000, ()),) * 2, ())
    refusal = "pod default/j1-1: 0/2 nodes are available: 2 Insufficient nvidia.com/gpu."
    memo.keep(question, ("default/j1-0", "default/j1-1"), refusal, ("job-j1-x", "j1"))
    known, answer = memo.recall(question, ("default/j7-0", "default/j7-1"))
    assert known
    assert answer == "pod default/j7-1: 0/2 nodes are available: 2 Insufficient nvidia.com/gpu."
    memo.moved()
    assert memo.recall(question, ("default/j7-0", "default/j7-1")) == (False, None)


def test_a_refusal_that_names_the_job_itself_is_not_kept() -> None:
    memo = PlacementMemo()
    question = ("without", ((1, 1, 1, 1000, ()),), (), ("a/other",))
    memo.keep(question, ("default/j1-0",), "pod default/j1-0: claim default/j1-0-gpu busy")
    assert memo.recall(question, ("default/j2-0",)) == (False, None)
    memo.keep(question, ("default/j1-0",), "pod group default/j1 waits", ("j1",))
    assert memo.recall(question, ("default/j2-0",)) == (False, None)
    memo.keep(question, ("default/j1-0",), None)
    assert memo.recall(question, ("default/j2-0",)) == (True, None)


def test_the_memo_is_used_only_where_every_cycle_walks_every_node() -> None:
    assert is_exact_for(100) and not is_exact_for(101)
    trace = JobTrace("t", (_job("j0", 0.0, 8, 10.0, "a"),), TENANTS)
    replayed, _ = job_replay(trace, JobReplayOptions(nodes=101))
    big = KueueAdmission(trace, queue_policy("besteffortfifo+placement"), replayed=replayed)
    assert big.placement_memo is None
    small = KueueAdmission(trace, queue_policy("besteffortfifo+placement"))
    assert small.placement_memo is not None
    off = KueueAdmission(trace, queue_policy("besteffortfifo+placement"), remember_placements=False)
    assert off.placement_memo is None


@pytest.mark.parametrize("queues", ["besteffortfifo+placement", "fair+placement"])
def test_alike_heads_share_nominations_that_asked_the_placement(queues: str) -> None:
    # bestfit packs b0, b1 on one node and b2, b3 on the other; b1 ends at 5 and b4 takes
    # its place, so quota's victims for a's 8-GPU jobs (b4, b3) sit on different nodes and
    # the placement refuses them: a0 and a1, alike, wait with the same answer, each message
    # quoting its own pod (the statuses agree with the plain run's).
    jobs = [_job(f"b{i}", float(i), 4, 4.0 if i == 1 else 100.0, "b") for i in range(4)]
    jobs += [_job("b4", 6.0, 4, 100.0, "b"), _job("a0", 10.0, 8, 100.0, "a")]
    jobs += [_job("a1", 10.0, 8, 100.0, "a")]
    trace = JobTrace("t", tuple(jobs), TENANTS)
    replayed, gangs = job_replay(trace, JobReplayOptions(nodes=2))
    admission = KueueAdmission(trace, queue_policy(queues))
    replay(replayed, "bestfit", 1, gangs=gangs, admission=admission)
    assert admission.nominations is not None
    assert admission.nominations.placement_hits > 0
    fast, _ = _outcome(trace, queues, True, nodes=2)
    plain, _ = _outcome(trace, queues, False, nodes=2)
    assert fast == plain
