"""Node events read from a CSV file (`--node-events`): the rows become `NodeEvent`s in file
order, every malformed row is reported at its file, line and column, and the checks against
a workload's nodes name the file's line and the workload."""

from __future__ import annotations

from pathlib import Path

import pytest

from dralloc.errors import InputError
from dralloc.sim.replay import PodState, replay
from dralloc.sim.traces import NodeAction, NodeEvent, ReplayTrace, TimedPod, TraceNode, TracePod
from dralloc.sim.traces.node_events import load_node_events, parse_node_events, with_node_events
from dralloc.sim.traces.openb import openb_models

HEADER = "time,action,node\n"
T4 = (TraceNode("t4-0", 16000, 65536, 1, "T4"), TraceNode("t4-1", 16000, 65536, 1, "T4"))


def problems(text: str) -> list[str]:
    with pytest.raises(InputError) as caught:
        parse_node_events(text, "events.csv")
    return str(caught.value).splitlines()


def cluster(*pods: tuple[str, float, float]) -> ReplayTrace:
    timed = tuple(
        TimedPod(TracePod(name, 1000, 1024, 1, 1000), arrival, duration)
        for name, arrival, duration in pods
    )
    return ReplayTrace("test", T4, timed, openb_models(), source="pods.csv")


def test_rows_become_events_in_file_order_with_their_line() -> None:
    text = HEADER + "3600,remove,t4-0\n0.5,Add,t4-1\n7.2e3,ADD,t4-0\n"
    events = parse_node_events(text, "events.csv")
    assert events == (
        NodeEvent(3600.0, NodeAction.REMOVE, "t4-0"),
        NodeEvent(0.5, NodeAction.ADD, "t4-1"),
        NodeEvent(7200.0, NodeAction.ADD, "t4-0"),
    )
    assert [(e.file, e.line) for e in events] == [("events.csv", n) for n in (2, 3, 4)]
    assert parse_node_events(HEADER, "events.csv") == ()


def test_a_file_is_read_as_utf8_with_or_without_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("\ufeff" + HEADER + "10,remove,t4-0\n", encoding="utf-8")
    (event,) = load_node_events(path)
    assert (event.time, event.action, event.node, event.line) == (10, NodeAction.REMOVE, "t4-0", 2)
    with pytest.raises(InputError, match=r"missing\.csv: cannot read: No such file"):
        load_node_events(tmp_path / "missing.csv")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (HEADER + "soon,add,t4-0\n", "line 2: time: not a number: 'soon', expected seconds ≥ 0"),
        (HEADER + ",add,t4-0\n", "line 2: time: empty, expected seconds ≥ 0"),
        (
            HEADER + "-5,add,t4-0\n",
            "line 2: time: must be a finite number of seconds ≥ 0, got '-5'",
        ),
        (
            HEADER + "inf,add,t4-0\n",
            "line 2: time: must be a finite number of seconds ≥ 0, got 'inf'",
        ),
        (
            HEADER + "5,drain,t4-0\n",
            "line 2: action: unknown action 'drain', expected add or remove",
        ),
        (HEADER + "5,add,\n", "line 2: node: empty, expected a node name"),
        (HEADER + "5,add\n", "line 2: node: missing: the row ends after 2 of 3 fields"),
        (HEADER + "5,add,t4-0,x\n", "line 2: the row has 4 fields, the header 3"),
        (HEADER + "\n5,add,t4-0\n", "line 2: blank line: every line after the header is a row"),
        (
            "time,action\n5,add\n",
            "line 1: node: missing column; the header must be time,action,node",
        ),
        (
            "time,action,node,zone\n5,add,t4-0,a\n",
            "line 1: zone: unknown column 'zone'; the header must be time,action,node",
        ),
        (
            "node,action,time\n",
            "line 1: got node,action,time; the header must be time,action,node",
        ),
        ("", "line 1: the file is empty, expected the header time,action,node"),
        (HEADER + '5,add,"t4-0\n', "line 2: not valid CSV: unexpected end of data"),
    ],
)
def test_a_malformed_row_is_reported_at_its_file_line_and_column(text: str, expected: str) -> None:
    assert problems(text) == [f"events.csv: {expected}"]


def test_every_malformed_row_is_reported_at_once_and_none_is_dropped() -> None:
    text = HEADER + "x,add,t4-0\n5,remove,t4-0\n6,up,\n10,add,t4-0\n-1,Remove,t4-1\n"
    assert problems(text) == [
        "events.csv: line 2: time: not a number: 'x', expected seconds ≥ 0",
        "events.csv: line 4: action: unknown action 'up', expected add or remove",
        "events.csv: line 4: node: empty, expected a node name",
        "events.csv: line 6: time: must be a finite number of seconds ≥ 0, got '-1'",
    ]


def test_events_naming_a_node_the_workload_lacks_or_out_of_order_are_refused_at_their_line() -> (
    None
):
    # t4-1's first event adds it, so it is absent until 30 s and the add at 40 s is one too many.
    text = HEADER + "5,add,t4-9\n10,remove,t4-0\n20,remove,t4-0\n30,add,t4-1\n40,add,t4-1\n"
    trace = with_node_events(cluster(), parse_node_events(text, "events.csv"))
    with pytest.raises(InputError) as caught:
        trace.check()
    assert str(caught.value).splitlines() == [
        "events.csv: line 2: node: no node 't4-9' in test (2 nodes, t4-0 to t4-1)",
        "events.csv: line 4: action: node 't4-0' is not in the cluster at 20 s",
        "events.csv: line 6: action: node 't4-1' is in the cluster at 40 s already",
    ]


def test_a_node_added_from_the_file_takes_pods_from_then_and_one_removed_evicts_them() -> None:
    text = HEADER + "40,add,t4-1\n70,remove,t4-0\n"
    trace = with_node_events(
        cluster(("a", 0, 100), ("b", 10, 100)), parse_node_events(text, "events.csv")
    )
    result = replay(trace, "fgd", seed=1)
    outcomes = {p.name: (p.start, p.end, p.node, p.state) for p in result.pods}
    assert outcomes == {
        "a": (0, 70, "t4-0", PodState.EVICTED),
        "b": (40, 140, "t4-1", PodState.COMPLETED),
    }
    assert with_node_events(trace, ()) is trace
