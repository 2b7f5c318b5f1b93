"""A team's manifests, read unchanged from a folder (ResourceFlavors, a Cohort, ClusterQueues,
LocalQueues, a WorkloadPriorityClass, suspended Jobs, and kinds queueing ignores), through
Kueue's Job integration and three admission cycles."""

from __future__ import annotations

from pathlib import Path

from queueing_helpers import NOW

from dralloc.queueing import (
    QueueManager,
    QueueState,
    check,
    explain,
    queue_statuses,
    read_queue_files,
    schedule,
)

TEAM = Path(__file__).resolve().parent / "data" / "team"


def test_jobs_of_two_teams_are_admitted_in_kueues_order_and_the_rest_is_explained() -> None:
    inputs = read_queue_files([str(TEAM)])
    made = inputs.add_job_workloads()
    assert sorted(w.metadata.name.rsplit("-", 1)[0] for w in made) == [
        "job-bert",
        "job-resnet",
        "job-vit-large",
    ]
    state = QueueState.build(inputs)
    check(state)
    manager = QueueManager(state)
    manager.add_all(made)
    names = {
        w.metadata.name.rsplit("-", 1)[0]: f"{w.metadata.namespace}/{w.metadata.name}" for w in made
    }

    # Cycle 1: nlp's bert fits its own nominal and goes first; vision's vit-large (higher
    # priority, but borrowing) no longer fits after it.
    first = schedule(state, manager, NOW)
    assert first.admitted == [names["job-bert"]]
    assert first.pending[names["job-vit-large"]].message == (
        "Workload no longer fits after processing another workload"
    )
    # Cycle 2: vit-large waits for quota; BestEffortFIFO sets it aside.
    second = schedule(state, manager, NOW)
    assert second.admitted == []
    assert second.pending[names["job-vit-large"]].reason == "WaitingForQuota"
    # Cycle 3: resnet fits vision's own on-demand quota.
    assert schedule(state, manager, NOW).admitted == [names["job-resnet"]]

    resnet = inputs.workloads[names["job-resnet"]]
    assert resnet.status.admission is not None
    assert resnet.status.admission.pod_set_assignments[0].flavors == {
        "cpu": "on-demand",
        "memory": "on-demand",
        "nvidia.com/gpu": "on-demand",
    }
    why = explain(state, manager, names["job-vit-large"])
    gpu = {
        (s.fr.flavor, s.requested, s.available, s.maximum)
        for s in why.shortfalls
        if s.fr.resource == "nvidia.com/gpu"
    }
    assert gpu == {("on-demand", 6, 0, 6), ("spot", 6, 4, 4)}
    status = queue_statuses(state, manager)
    vision_gpu = [
        r
        for f in status["vision"].flavors_usage
        if f.name == "on-demand"
        for r in f.resources
        if r.name == "nvidia.com/gpu"
    ]
    assert [(str(r.total), str(r.borrowed)) for r in vision_gpu] == [("4", "0")]
    assert status["nlp"].admitted_workloads == 1
    assert status["vision"].pending_workloads == 1
