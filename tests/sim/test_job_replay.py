"""Batch-job traces replayed with gangs (`dralloc.sim.job_replay`): a job's workers arrive
together and, with the gates on, start together or not at all; with `gangs=off` the same pods
go one by one, so a distributed job can hold part of the cluster while its other workers
wait. `dralloc simulate --mode replay --trace synthetic-jobs:...` runs it end to end."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dralloc.cli.main import app
from dralloc.errors import InputError
from dralloc.sim.job_replay import JobReplayOptions, job_replay, resolve_replay
from dralloc.sim.replay import replay
from dralloc.sim.traces.jobs import BatchJob, JobTrace, Tenant


def _trace(*jobs: BatchJob) -> JobTrace:
    return JobTrace("test-jobs", tuple(jobs), (Tenant("team", 16),))


# One node is busy with a long single-worker job; a two-worker gang of 8-GPU workers arrives.
BLOCKER = BatchJob("solo", arrival=0.0, duration=1000.0, workers=1, gpus_per_worker=8)
GANG = BatchJob("pair", arrival=10.0, duration=100.0, workers=2, gpus_per_worker=8)


def _starts(gangs: bool) -> dict[str, float | None]:
    replayed, found = job_replay(_trace(BLOCKER, GANG), JobReplayOptions(gangs=gangs, nodes=2))
    result = replay(replayed, "fgd", 1, gangs=found)
    return {p.name: p.start for p in result.pods}


def test_a_gang_starts_whole_when_both_workers_fit_and_not_before() -> None:
    starts = _starts(gangs=True)
    assert starts["solo-0"] == 0.0
    # Only one node is free until the solo job ends: the gang waits, whole.
    assert starts["pair-0"] == starts["pair-1"] == 1000.0


def test_without_gangs_one_worker_holds_a_node_while_the_other_waits() -> None:
    starts = _starts(gangs=False)
    # One worker runs alone on the free node, the other only once it has finished: what a
    # distributed job cannot do, and what pod-by-pod scheduling lets happen.
    assert sorted([starts["pair-0"], starts["pair-1"]]) == [10.0, 110.0]


def test_jobs_become_pods_and_multi_worker_jobs_pod_groups() -> None:
    replayed, gangs = job_replay(_trace(BLOCKER, GANG))
    assert [t.pod.name for t in replayed.pods] == ["solo-0", "pair-0", "pair-1"]
    assert all(t.pod.num_gpu == 8 and t.pod.gpu_milli == 1000 for t in replayed.pods)
    assert len(replayed.nodes) == 2  # the tenant's 16 GPUs as 8-GPU nodes
    assert [g.metadata.name for g in gangs.pod_groups] == ["pair"]
    gang = gangs.pod_groups[0].spec.scheduling_policy.gang
    assert gang is not None and gang.min_count == 2
    assert dict(gangs.members) == {"pair-0": "pair", "pair-1": "pair"}
    assert gangs.features.gang_scheduling


def test_a_worker_larger_than_a_node_is_an_input_error() -> None:
    big = BatchJob("big", arrival=0.0, duration=1.0, workers=1, gpus_per_worker=16)
    with pytest.raises(InputError, match="16 GPUs per worker, more than a node's 8"):
        job_replay(_trace(big))


def test_the_replay_keys_sit_beside_the_traces_own() -> None:
    replayed, gangs = resolve_replay("synthetic-jobs:jobs=20,seed=3,nodes=5,gangs=off")
    assert len(replayed.nodes) == 5
    assert gangs is not None and not gangs.features.gang_scheduling
    with pytest.raises(InputError, match="expected on or off"):
        resolve_replay("synthetic-jobs:jobs=20,gangs=maybe")
    with pytest.raises(InputError, match="unknown option"):
        resolve_replay("synthetic-jobs:jobs=20,colour=red")
    pods, none = resolve_replay("synthetic:pods=10")
    assert none is None and len(pods.pods) == 10


def test_simulate_replays_a_job_trace_with_gangs(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "simulate",
            "--mode",
            "replay",
            "--trace",
            "synthetic-jobs:jobs=60,tenants=2,seed=5,nodes=4",
            "--policy",
            "fgd",
            "--seeds",
            "1",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert re.search(r"\b\d+ gangs? placed all or nothing", result.output)
    assert (out / "replay.csv").read_text().count("synthetic-jobs") >= 1
