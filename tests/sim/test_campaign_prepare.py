"""`campaign.prepare_replay`: a spec's replay read and checked before it runs, with the node
events added and a fresh Kueue admission for each run; queues asked of a trace without
tenants are refused naming --queues."""

from __future__ import annotations

import pytest

from dralloc.errors import InputError
from dralloc.sim.campaign import RunSpec, prepare_replay
from dralloc.sim.traces.timeline import NodeAction, NodeEvent

JOBS = "synthetic-jobs:jobs=6,seed=1"


def test_a_prepared_replay_holds_the_trace_with_its_node_events_and_makes_admissions_afresh() -> (
    None
):
    plain = prepare_replay(RunSpec(JOBS, "fgd", 1))
    node = plain.trace.nodes[0].name
    event = NodeEvent(30.0, NodeAction.REMOVE, node)
    prepared = prepare_replay(RunSpec(JOBS, "fgd", 1, node_events=(event,), queues="fair"))
    assert event in prepared.trace.node_events and event not in plain.trace.node_events
    assert prepared.jobs is not None and prepared.gangs is not None
    assert prepared.autoscaling is None
    first, second = prepared.admission(), prepared.admission()
    assert first is not None and second is not None and first is not second
    assert plain.admission() is None


def test_queues_of_a_trace_without_tenants_are_refused_naming_the_option() -> None:
    with pytest.raises(InputError) as err:
        prepare_replay(RunSpec("synthetic:pods=5,nodes=1", "fgd", 1, queues="fair"))
    assert str(err.value) == (
        "--queues: synthetic:pods=5,nodes=1 has no tenants to make queues of (a job trace with "
        "tenants is needed: synthetic-jobs, itp-elasticflow, dlrm-jobs)"
    )
