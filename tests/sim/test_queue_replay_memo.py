"""The queued replay's remembered placement answers (`dralloc.sim.placement_memo`): runs
with and without them agree in every pod, job, log line and Workload status, and the memo
gives each job its own pod's name."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dralloc.sim.job_replay import JobReplayOptions, job_replay
from dralloc.sim.placement_memo import PlacementMemo
from dralloc.sim.queue_replay import KueueAdmission, queue_policy
from dralloc.sim.replay import AdmissionCluster, replay
from dralloc.sim.traces.jobs import BatchJob, JobTrace, Tenant

TENANTS = (Tenant("a", 8), Tenant("b", 8))


def _job(name: str, arrival: float, gpus: int, duration: float, tenant: str) -> BatchJob:
    workers, per = (gpus // 8, 8) if gpus > 8 else (1, gpus)
    return BatchJob(name, arrival, duration, workers, per, tenant=tenant)


def _outcome(
    trace: JobTrace,
    queues: str,
    remember: bool,
    nodes: int | None = None,
    policy: str = "bestfit",
) -> tuple:
    replayed, gangs = job_replay(trace, JobReplayOptions(nodes=nodes))
    admission = KueueAdmission(trace, queue_policy(queues), remember_placements=remember)
    # Every Workload's status after each instant's admission, not only the last.
    seen: list[dict[str, str]] = []
    admit = admission.admit

    def admit_and_look(now: float, cluster: AdmissionCluster) -> None:
        admit(now, cluster)
        seen.append({k: repr(w.status) for k, w in admission.workloads.items()})

    admission.admit = admit_and_look  # type: ignore[method-assign]
    result = replay(replayed, policy, 1, gangs=gangs, admission=admission)
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
def crowded_traces(draw: st.DrawFn) -> tuple[JobTrace, int | None]:
    """Jobs of few shapes arriving close together, so that alike jobs wait at once and
    preemptors ask the same what-ifs; on the trace's small cluster, or on one of more than
    100 nodes, where the scheduler's rotating start index decides which nodes are scored."""
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
    nodes = draw(st.sampled_from([None, None, 104]))
    return JobTrace("crowded", tuple(jobs), TENANTS), nodes


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    crowded_traces(),
    st.sampled_from(["besteffortfifo+placement", "fair+placement"]),
    st.sampled_from(["bestfit", "bestfit", "random"]),
)
def test_remembered_placements_change_nothing(
    crowded: tuple[JobTrace, int | None], queues: str, policy: str
) -> None:
    # Random draws a node per cycle: a skipped question would skip a draw, so its runs
    # keep no memo (and must still equal the plain ones).
    trace, nodes = crowded
    fast, _ = _outcome(trace, queues, True, nodes, policy)
    plain, _ = _outcome(trace, queues, False, nodes, policy)
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


def test_the_memo_answers_in_clusters_of_more_than_100_nodes_too() -> None:
    # 104 nodes: each cycle scores 100 of them from the rotating start index. b's jobs
    # borrow, a's reclaim with the same what-ifs; refusals and what-ifs leave the index
    # where it was, so the memo's skipped questions move nothing a later cycle reads.
    jobs = [_job(f"b{i}", float(i), 4, 300.0, "b") for i in range(8)]
    jobs += [_job(f"a{i}", 10.0 + i, 8, 100.0, "a") for i in range(3)]
    trace = JobTrace("t", tuple(jobs), TENANTS)
    queues = "besteffortfifo+placement"
    fast, hits = _outcome(trace, queues, True, nodes=104)
    plain, _ = _outcome(trace, queues, False, nodes=104)
    assert fast == plain
    assert hits > 0
    off = KueueAdmission(trace, queue_policy(queues), remember_placements=False)
    assert off.placement_memo is None


def test_a_policy_that_draws_nodes_keeps_no_memo() -> None:
    # Random draws one node per cycle from its rng: had a remembered what-if skipped its
    # cycles, the draws after it would differ (this trace's placements did).
    shapes = [
        ("j6", 5, 2, 97, "a"),
        ("j3", 6, 16, 158, "b"),
        ("j7", 8, 16, 172, "b"),
        ("j4", 12, 4, 79, "a"),
        ("j8", 13, 16, 167, "b"),
        ("j2", 15, 8, 161, "a"),
        ("j5", 16, 16, 23, "a"),
        ("j0", 18, 4, 114, "b"),
        ("j1", 20, 2, 175, "a"),
    ]
    jobs = [_job(name, float(at), gpus, float(run), who) for name, at, gpus, run, who in shapes]
    trace = JobTrace("t", tuple(jobs), TENANTS)
    queues = "besteffortfifo+placement"
    fast, hits = _outcome(trace, queues, True, 104, "random")
    plain, _ = _outcome(trace, queues, False, 104, "random")
    assert fast == plain
    assert hits == 0


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
