"""Which names a replay takes (`resolve_replay_trace`): an unknown one is refused naming the
option the trace loaders name (`--trace <workload>`) and every trace a replay takes, the job
traces `resolve_job_replay` hands on included."""

from __future__ import annotations

import pytest

from dralloc.errors import InputError, Problem
from dralloc.sim.job_replay import resolve_job_replay
from dralloc.sim.traces import JOB_TRACES, REPLAY_TRACES, resolve_replay_trace


def test_an_unknown_name_lists_every_trace_a_replay_takes_under_the_trace_option() -> None:
    known = ", ".join((*REPLAY_TRACES, *JOB_TRACES))
    expected = Problem(
        "", "--trace nosuch", "", f"unknown workload for a replay, expected one of {known}"
    )
    for resolve in (resolve_replay_trace, resolve_job_replay):
        with pytest.raises(InputError) as refused:
            resolve("nosuch")
        assert refused.value.problems == [expected]
    assert "synthetic-jobs[:key=value,...]" in known and "itp-elasticflow" in known
