"""`--queues ...+tas` end to end through the replay's engine: each admitted gang's pods run
in the domains TAS gave them (the engine's `release_onto` / `place_onto`)."""

from __future__ import annotations

import pytest

from dralloc.sim.batch_objects import TopologyLayout
from dralloc.sim.job_replay import JobReplayOptions, job_replay
from dralloc.sim.queue_replay import KueueAdmission, queue_policy
from dralloc.sim.replay import replay
from dralloc.sim.traces.jobs import BatchJob, JobTrace, Tenant

# 12 hosts of 8 GPUs, racks of 2 hosts (16 GPUs); gangs of 2-4 workers, some larger than a
# rack; two tenants with 48 GPUs each, so jobs queue.
JOBS = tuple(
    BatchJob(f"j{i}", 30.0 * i, (200.0, 600.0, 1200.0)[i % 3], w, per, tenant="ab"[i % 2])
    for i, (w, per) in enumerate(
        [(2, 8), (1, 4), (3, 8), (2, 4), (4, 4), (1, 8), (2, 8), (4, 8), (1, 2), (2, 2)] * 3
    )
)
TRACE = JobTrace("t", JOBS, (Tenant("a", 48), Tenant("b", 48)))


@pytest.mark.parametrize("queues", ["besteffortfifo+tas", "fair+placement+tas"])
def test_required_gangs_run_in_one_rack_each(queues: str) -> None:
    options = JobReplayOptions(topology=TopologyLayout(rack_hosts=2, request="required"))
    replayed, gangs = job_replay(TRACE, options)
    admission = KueueAdmission(
        TRACE, queue_policy(queues), replayed=replayed, layout=options.topology
    )
    result = replay(replayed, "bestfit", 1, gangs=gangs, admission=admission)
    placed = [pod.node for pod in result.pods]
    spans = admission.racks_spanned(placed)
    fits = {k for k, j in admission.jobs.items() if len(j.indices) > 1}
    assert all(job.finished_at is not None for job in admission.jobs.values())
    for job in (j for j in JOBS if j.is_gang):
        key = next(k for k in fits if k.partition("/")[2].startswith(f"job-{job.name}-"))
        if options.topology.fits_rack(job):
            assert spans[key] == 1, key
    stats = admission.queue_stats(result.end_time, placed)
    assert sum(q.cross_rack_jobs for q in stats) == sum(1 for n in spans.values() if n > 1)
    assert sum(q.stuck for q in stats) == 0


@pytest.mark.parametrize("queues", ["strictfifo+tas", "fair+placement+tas"])
def test_skipping_quiet_instants_changes_nothing_with_tas(queues: str) -> None:
    options = JobReplayOptions(topology=TopologyLayout(rack_hosts=2))
    replayed, gangs = job_replay(TRACE, options)
    runs = []
    for skip in (True, False):
        admission = KueueAdmission(
            TRACE,
            queue_policy(queues),
            replayed=replayed,
            layout=options.topology,
            skip_quiet_instants=skip,
        )
        result = replay(replayed, "bestfit", 1, gangs=gangs, admission=admission)
        runs.append((admission.log, result.pods))
    assert runs[0] == runs[1]
