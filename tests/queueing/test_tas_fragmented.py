"""Capacity that exists but that no topology domain holds (Kueue v0.17's flavor assigner and
`preemption.workloadFits`): `TopologyPlacement.fits_if_empty` is Kueue's `WithSimulateEmpty`
retry (Preempt when it fits, NoFit when not) and `fits_without(victims)` the topology half of
the preemptor's fit test with the victims' domains given back. The pending message says when
the topology is only fragmented."""

from __future__ import annotations

from pathlib import Path

import yaml
from queueing_helpers import NOW
from test_tas_pods import SAMPLE_QUEUES, nodes, queue, sample_job, workload_of

from dralloc.queueing import (
    QueueManager,
    QueueState,
    TopologyPlacement,
    decode_assignment,
    read_queue_files,
    schedule,
)
from dralloc.queueing.flavors import Assignment
from dralloc.queueing.queues import QueuedWorkload
from dralloc.queueing.state import Snapshot

RACK = "cloud.provider.com/topology-rack"


class Capture:
    """The TAS check, remembering the entries and assignments it refused."""

    def __init__(self, tas: TopologyPlacement) -> None:
        self.tas = tas
        self.refused: dict[str, tuple[QueuedWorkload, Assignment]] = {}

    def check(
        self, snapshot: Snapshot, entry: QueuedWorkload, assignment: Assignment
    ) -> str | None:
        why = self.tas.check(snapshot, entry, assignment)
        if why is not None:
            self.refused[entry.key] = (entry, assignment)
        return why


def two_racks_filled(tmp_path: Path, *jobs: tuple[str, int]) -> tuple[Capture, list[str]]:
    """2 racks x 2 hosts of 2 cpu (4 one-cpu pods a rack); `jobs` (name, pods) asking for a
    rack, queued in that order; returns the check and the admitted Workload keys."""
    path = tmp_path / "input.yaml"
    path.write_text(
        "---\n".join(
            [
                nodes(1, 2, 2, cpu=2),
                SAMPLE_QUEUES,
                *(sample_job("required", RACK, pods, name) for name, pods in jobs),
            ]
        ),
        encoding="utf-8",
    )
    inputs = read_queue_files([str(path)])
    inputs.add_job_workloads()
    state = QueueState.build(inputs)
    manager = QueueManager(state)
    manager.add_all(inputs.workloads.values())
    capture = Capture(TopologyPlacement.from_input(inputs))
    admitted: list[str] = []
    for _ in range(len(jobs) + 1):
        admitted += schedule(state, manager, NOW, placement=capture).admitted
    return capture, admitted


def key_of(admitted: list[str], job: str) -> str:
    (found,) = [k for k in admitted if k.split("/")[1].startswith(f"job-{job}-")]
    return found


def test_three_free_pods_spread_over_two_racks_are_fragmentation_not_a_no_fit(
    tmp_path: Path,
) -> None:
    capture, admitted = two_racks_filled(tmp_path, ("a", 3), ("b", 3), ("c", 2))
    assert len(admitted) == 2  # a and b took a rack each, one pod free in each
    (key,) = capture.refused
    entry, assignment = capture.refused[key]
    tas = capture.tas
    assert tas.fits_if_empty(entry, assignment)
    assert key in tas.fragmented
    # Giving back either rack's Workload lets the 2 pods in; nothing given back does not.
    assert tas.fits_without(entry, assignment, [key_of(admitted, "a")])
    assert tas.fits_without(entry, assignment, [key_of(admitted, "b")])
    assert not tas.fits_without(entry, assignment, [])
    # The what-if changed nothing: the same check still refuses.
    assert not tas.fits_without(entry, assignment, ["default/not-admitted"])
    before = tas.snapshots["tas-flavor"].free_capacity()
    tas.fits_without(entry, assignment, admitted)
    assert tas.snapshots["tas-flavor"].free_capacity() == before


def test_a_pod_set_bigger_than_any_empty_rack_is_a_no_fit(tmp_path: Path) -> None:
    capture, admitted = two_racks_filled(tmp_path, ("a", 3), ("big", 5))
    assert len(admitted) == 1
    entry, assignment = next(iter(capture.refused.values()))
    assert not capture.tas.fits_if_empty(entry, assignment)
    assert not capture.tas.fits_without(entry, assignment, admitted)
    assert capture.tas.fragmented == {}


def test_the_pending_message_keeps_kueues_text_and_says_when_the_topology_is_fragmented(
    tmp_path: Path,
) -> None:
    code, items, _ = queue(
        tmp_path,
        nodes(1, 2, 2, cpu=2),
        SAMPLE_QUEUES,
        sample_job("required", RACK, 3, "a"),
        sample_job("required", RACK, 3, "b"),
        sample_job("required", RACK, 2, "c"),
        sample_job("required", RACK, 5, "big"),
    )
    assert code == 1

    def waiting(job: str) -> str:
        (found,) = [
            c
            for c in workload_of(items, job)["status"]["conditions"]
            if c["type"] == "QuotaReserved"
        ]
        assert (found["status"], found["reason"]) == ("False", "PlacementInfeasible")
        return str(found["message"])

    assert waiting("c") == (
        "placement infeasible: couldn't assign flavors to pod set main: topology "
        '"default" allows to fit only 1 out of 2 pod(s). Total nodes: 4; excluded: '
        'resource "cpu": 2; fragmented: the empty topology would hold it (Kueue then looks '
        "for Workloads to preempt for its domains; dralloc waits for domains to free up)"
    )
    assert waiting("big") == (
        "placement infeasible: couldn't assign flavors to pod set main: topology "
        '"default" allows to fit only 1 out of 5 pod(s). Total nodes: 4; excluded: '
        'resource "cpu": 2'
    )


def test_a_workload_admitted_before_keeps_its_domains_when_the_topology_is_rebuilt(
    tmp_path: Path,
) -> None:
    """A Workload read back admitted (a restart, a live pass) is charged from its
    `topologyAssignment`: the next Job asking for a rack gets the other one."""
    first_run = tmp_path / "first"
    first_run.mkdir()
    code, items, _ = queue(
        first_run, nodes(1, 2, 2, cpu=2), SAMPLE_QUEUES, sample_job("required", RACK, 4, "a")
    )
    assert code == 0
    admitted = workload_of(items, "a")
    (psa,) = admitted["status"]["admission"]["podSetAssignments"]
    taken = {d.values[0] for d in decode_assignment(psa["topologyAssignment"])[1]}
    # Its job is gone from the input: only its Workload holds the rack now.
    code, items, _ = queue(
        tmp_path,
        nodes(1, 2, 2, cpu=2),
        SAMPLE_QUEUES,
        yaml.safe_dump(admitted),
        sample_job("required", RACK, 4, "b"),
        extra=("--no-placement",),
    )
    assert code == 0
    (psa,) = workload_of(items, "b")["status"]["admission"]["podSetAssignments"]
    hosts = {d.values[0] for d in decode_assignment(psa["topologyAssignment"])[1]}
    assert len(hosts) == 2 and not hosts & taken
