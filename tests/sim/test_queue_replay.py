"""Job traces replayed with Kueue queues (`dralloc.sim.queue_replay`): small traces whose
answers are worked out by hand, and properties over random ones."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dralloc.scheduler.cache import SchedulerCache
from dralloc.sim.job_replay import JobReplayOptions, job_replay
from dralloc.sim.queue_replay import (
    KueueAdmission,
    jain_index,
    parse_queue_policies,
    queue_policy,
)
from dralloc.sim.replay import ReplayResult, replay
from dralloc.sim.traces.jobs import BatchJob, JobTrace, Tenant


def _trace(jobs: list[BatchJob], tenants: list[Tenant]) -> JobTrace:
    return JobTrace("test", tuple(jobs), tuple(tenants))


def _job(
    name: str, arrival: float, gpus: int, duration: float = 100.0, tenant: str = "a"
) -> BatchJob:
    workers, per = (gpus // 8, 8) if gpus > 8 else (1, gpus)
    return BatchJob(name, arrival, duration, workers, per, tenant=tenant)


def _run(
    trace: JobTrace, queues: str, nodes: int | None = None, policy: str = "bestfit"
) -> tuple[ReplayResult, KueueAdmission]:
    replayed, gangs = job_replay(trace, JobReplayOptions(nodes=nodes))
    admission = KueueAdmission(trace, queue_policy(queues))
    result = replay(replayed, policy, 1, gangs=gangs, admission=admission)
    return result, admission


def _waits(admission: KueueAdmission) -> dict[str, float | None]:
    return {
        key.partition("/")[2].rsplit("-", 1)[0].removeprefix("job-"): (
            None if job.running_at is None else job.running_at - job.arrival
        )
        for key, job in admission.jobs.items()
    }


HEAD_BLOCKS = [_job("j0", 0, 4), _job("j1", 1, 8), _job("j2", 2, 2)]


def test_strict_fifo_keeps_the_next_job_behind_a_head_that_does_not_fit() -> None:
    # Quota 8: j0 holds 4, j1 (8) cannot fit until j0 ends at 100; j2 (2) waits behind it
    # and starts when j1 ends at 200.
    _, admission = _run(_trace(HEAD_BLOCKS, [Tenant("a", 8)]), "strictfifo")
    assert _waits(admission) == {"j0": 0.0, "j1": 99.0, "j2": 198.0}


def test_best_effort_fifo_admits_the_next_job_past_a_head_that_does_not_fit() -> None:
    # j2 fits beside j0 at once; j1 then needs both to end (j2 ends at 102).
    _, admission = _run(_trace(HEAD_BLOCKS, [Tenant("a", 8)]), "besteffortfifo")
    assert _waits(admission) == {"j0": 0.0, "j1": 101.0, "j2": 0.0}


FRAGMENTED = [_job("big0", 0, 6), _job("big1", 0, 6), _job("four", 1, 4), _job("two", 2, 2)]


def test_without_placement_a_job_is_admitted_and_then_stuck_unschedulable() -> None:
    # Two nodes of 8; 6 + 6 taken leaves 2 + 2: quota says 4 fit, no node holds 4.
    result, admission = _run(_trace(FRAGMENTED, [Tenant("a", 16)]), "besteffortfifo", nodes=2)
    stats = admission.queue_stats(result.end_time)
    assert [s.stuck for s in stats] == [1]
    # `two` cannot take quota `four` holds: it waits for `big0` to end at 100.
    assert _waits(admission)["two"] == 98.0


def test_placement_aware_admission_admits_what_can_run_and_nothing_waits_unschedulable() -> None:
    result, admission = _run(
        _trace(FRAGMENTED, [Tenant("a", 16)]), "besteffortfifo+placement", nodes=2
    )
    stats = admission.queue_stats(result.end_time)
    assert [s.stuck for s in stats] == [0]
    waits = _waits(admission)
    assert waits["two"] == 0.0
    assert waits["four"] == 99.0  # when big0 ends at 100


def test_jain_index_is_one_for_equal_tenants_with_equal_work() -> None:
    tenants = [Tenant("a", 8), Tenant("b", 8)]
    jobs = [_job(f"{t}{i}", 10.0 * i, 4, 50.0, tenant=t) for i in range(4) for t in "ab"]
    for queues in ("none", "besteffortfifo", "fair"):
        result, admission = _run(_trace(jobs, tenants), queues)
        assert admission.jain(result.start_time, result.end_time, 16) == pytest.approx(1.0)


def test_jain_index_formula() -> None:
    assert jain_index([1.0, 1.0]) == 1.0
    assert jain_index([1.0, 0.0]) == 0.5
    assert jain_index([]) is None


def test_a_tenant_reclaims_its_quota_from_a_borrower_by_preemption() -> None:
    # b borrows all 16 GPUs at 0; a's 8-GPU job at 10 takes back a's nominal 8.
    tenants = [Tenant("a", 8), Tenant("b", 8)]
    jobs = [_job("b0", 0, 8, 100, "b"), _job("b1", 0, 8, 100, "b"), _job("a0", 10, 8, 100, "a")]
    _, admission = _run(_trace(jobs, tenants), "besteffortfifo")
    assert admission.preemptions == 1
    assert _waits(admission)["a0"] == 0.0
    assert all(job.finished_at is not None for job in admission.jobs.values())


def test_queue_policy_names_are_checked() -> None:
    assert parse_queue_policies("none, fair+placement,none") == ["none", "fair+placement"]
    with pytest.raises(ValueError, match="unknown queue policy 'fifo'"):
        parse_queue_policies("fifo")
    with pytest.raises(ValueError, match="unknown queue policy 'none\\+placement'"):
        parse_queue_policies("none+placement")


# ---------------------------------------------------------------------------- properties

SIZES = st.sampled_from([1, 2, 4, 8, 16])


@st.composite
def job_traces(draw: st.DrawFn) -> JobTrace:
    tenants = [Tenant("a", draw(st.sampled_from([8, 16]))), Tenant("b", 8)]
    jobs = [
        _job(
            f"j{i}",
            float(draw(st.integers(0, 60))),
            draw(SIZES),
            float(draw(st.integers(1, 120))),
            draw(st.sampled_from("ab")),
        )
        for i in range(draw(st.integers(1, 7)))
    ]
    jobs.sort(key=lambda j: j.arrival)
    return _trace(jobs, tenants)


POLICY_NAMES = [
    "strictfifo",
    "besteffortfifo",
    "fair",
    "besteffortfifo+placement",
    "fair+placement",
]


def _devices_once(time: float, cache: SchedulerCache) -> None:
    seen: Counter[tuple[str, str, str]] = Counter()
    for claim in cache.claims.values():
        allocation = claim.status.allocation
        if allocation is None:
            continue
        for result in allocation.devices.results:
            seen[(result.driver, result.pool, result.device)] += 1
    assert not [d for d, n in seen.items() if n > 1], time


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(job_traces(), st.sampled_from(POLICY_NAMES))
def test_quota_is_never_exceeded_no_gang_runs_in_part_and_every_job_is_accounted_for(
    trace: JobTrace, queues: str
) -> None:
    replayed, gangs = job_replay(trace)
    admission = KueueAdmission(trace, queue_policy(queues))
    partial: list[tuple[float, str]] = []
    drained = admission.drained

    def check_drained(now: float) -> None:
        drained(now)
        for job in admission.jobs.values():
            if job.running not in (0, len(job.indices)):
                partial.append((now, job.key))

    admission.drained = check_drained  # type: ignore[method-assign]
    result = replay(
        replayed, "bestfit", 1, gangs=gangs, admission=admission, observer=_devices_once
    )
    assert not partial
    # The event log: quota held over the cohort never above the tenants' quota together.
    total = trace.total_quota
    held = 0
    for _, what, _, _, gpus in admission.log:
        held += gpus if what == "admit" else -gpus
        assert 0 <= held <= total
    for job in admission.jobs.values():
        assert job.finished_at is not None or job.running_at is None, job
    # Nothing outlives the trace: every job fits the quota, so every job finishes.
    assert all(job.finished_at is not None for job in admission.jobs.values())
    assert result.summary().pending == 0


def test_best_effort_fifo_admits_past_a_blocked_head_arriving_at_the_same_instant() -> None:
    # j1 (8) and j2 (2) arrive together behind j0 (4): one cycle parks j1, the next admits j2.
    jobs = [_job("j0", 0, 4), _job("j1", 1, 8), _job("j2", 1, 2)]
    _, admission = _run(_trace(jobs, [Tenant("a", 8)]), "besteffortfifo")
    assert _waits(admission) == {"j0": 0.0, "j1": 100.0, "j2": 0.0}
    _, admission = _run(_trace(jobs, [Tenant("a", 8)]), "strictfifo")
    assert _waits(admission) == {"j0": 0.0, "j1": 99.0, "j2": 199.0}


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(job_traces(), st.sampled_from(POLICY_NAMES))
def test_sharing_nominations_changes_nothing(trace: JobTrace, queues: str) -> None:
    replayed, gangs = job_replay(trace)
    outcomes = []
    for share in (True, False):
        admission = KueueAdmission(trace, queue_policy(queues), share_nominations=share)
        result = replay(replayed, "bestfit", 1, gangs=gangs, admission=admission)
        statuses = {k: repr(w.status) for k, w in admission.workloads.items()}
        outcomes.append(
            (result.pods, list(admission.jobs.values()), admission.log, admission.cycles, statuses)
        )
    assert outcomes[0] == outcomes[1]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(job_traces(), st.sampled_from(POLICY_NAMES))
def test_skipping_quiet_instants_changes_nothing(trace: JobTrace, queues: str) -> None:
    replayed, gangs = job_replay(trace)
    outcomes = []
    for skip in (True, False):
        admission = KueueAdmission(trace, queue_policy(queues), skip_quiet_instants=skip)
        result = replay(replayed, "bestfit", 1, gangs=gangs, admission=admission)
        outcomes.append((result.pods, list(admission.jobs.values()), admission.log))
    assert outcomes[0] == outcomes[1]
