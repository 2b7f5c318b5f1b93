"""The writes dralloc's queue controller makes to stop a queued job, checked without a
server: Kueue's RestorePodSetsInfo (the pod template gets back what its Workload's pod set
says, so a flavor's nodeSelector and tolerations and TAS's gate, label and annotation go), the
order of a batch/v1 Job's stop (suspend with the stopping annotation, start time cleared,
template restored), a JobSet's single write, and when an evicted job counts as active."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from dralloc.api.meta import ObjectMeta
from dralloc.kube.controllers.queuestop import (
    STOPPING_ANNOTATION,
    is_job_active,
    is_job_suspended,
    release_evicted,
    restore_patch,
    stop_steps,
)
from dralloc.queueing.objects import (
    Admission,
    Condition,
    Workload,
    WorkloadSpec,
    WorkloadStatus,
)

Obj = dict[str, Any]
ON_DEMAND = {"key": "on-demand", "operator": "Exists", "effect": "NoSchedule"}
OWN = {"key": "team", "operator": "Equal", "value": "ml", "effect": "NoSchedule"}


def original_template() -> Obj:
    """A Job's pod template before admission (as its Workload's pod set keeps it)."""
    return {
        "metadata": {"labels": {"app": "train"}, "annotations": {"note": "x"}},
        "spec": {
            "nodeSelector": {"kubernetes.io/arch": "amd64"},
            "tolerations": [OWN],
            "containers": [{"name": "c", "image": "busybox"}],
        },
    }


def started_template() -> Obj:
    """The same template as Kueue started it on a TAS flavor, with the Job controller's
    labels the API server added."""
    template = original_template()
    template["metadata"]["labels"].update(
        {
            "kueue.x-k8s.io/podset": "main",
            "batch.kubernetes.io/job-name": "train",
            "batch.kubernetes.io/controller-uid": "u1",
        }
    )
    template["metadata"]["annotations"]["kueue.x-k8s.io/workload"] = "job-train-1"
    template["spec"]["nodeSelector"]["cloud.example.com/pool"] = "on-demand"
    template["spec"]["tolerations"] = [OWN, ON_DEMAND]
    template["spec"]["schedulingGates"] = [{"name": "kueue.x-k8s.io/topology"}]
    return template


def job(template: Obj, *, suspend: bool = False, status: Obj | None = None) -> Obj:
    return {
        "kind": "Job",
        "metadata": {"name": "train", "namespace": "ns", "resourceVersion": "7"},
        "spec": {"suspend": suspend, "parallelism": 2, "template": template},
        "status": status or {},
    }


def workload_raw(*templates: Obj, count: int = 2) -> Obj:
    names = ["main"] if len(templates) == 1 else [f"r{i}" for i in range(len(templates))]
    return {
        "spec": {
            "podSets": [
                {"name": n, "count": count, "template": t}
                for n, t in zip(names, templates, strict=True)
            ]
        }
    }


def merge(target: Obj, patch: Obj) -> Obj:
    """RFC 7386, as the API server applies `application/merge-patch+json`."""
    out = copy.deepcopy(target)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def test_a_started_job_gets_back_its_template_without_flavor_or_topology_fields() -> None:
    running = job(started_template())
    patch = restore_patch(running, workload_raw(original_template()))
    restored = merge(running["spec"], patch)["template"]
    expected = original_template()
    # The Job controller's labels stay: the API server requires them to match its selector.
    expected["metadata"]["labels"].update(
        {"batch.kubernetes.io/job-name": "train", "batch.kubernetes.io/controller-uid": "u1"}
    )
    assert restored == expected
    assert patch["template"]["metadata"]["labels"] == {"kueue.x-k8s.io/podset": None}
    assert patch["template"]["spec"]["schedulingGates"] is None
    assert patch["template"]["spec"]["tolerations"] == [OWN]


def test_a_job_that_has_its_template_already_needs_no_restore() -> None:
    assert restore_patch(job(original_template()), workload_raw(original_template())) == {}


def test_a_partially_admitted_job_gets_back_its_parallelism() -> None:
    partial = job(original_template())
    partial["metadata"]["annotations"] = {
        "kueue.x-k8s.io/job-min-parallelism": "1",
        "kueue.x-k8s.io/job-completions-equal-parallelism": "true",
    }
    partial["spec"]["parallelism"] = 1
    patch = restore_patch(partial, workload_raw(original_template(), count=4))
    assert (patch["parallelism"], patch["completions"]) == (4, 4)


def test_a_running_job_is_suspended_then_its_start_time_cleared_then_restored() -> None:
    running = job(started_template(), status={"startTime": "2026-01-01T00:00:00Z", "active": 2})
    steps = stop_steps(running, workload_raw(original_template()))
    assert [kind for kind, _ in steps] == ["spec", "status", "spec"]
    assert steps[0][1] == {
        "metadata": {"annotations": {STOPPING_ANNOTATION: "true"}},
        "spec": {"suspend": True},
    }
    assert steps[1][1] == {"status": {"startTime": None}}
    assert steps[2][1]["metadata"] == {"annotations": {STOPPING_ANNOTATION: None}}
    assert "template" in steps[2][1]["spec"]
    # Half stopped (the annotation still on): not suspended yet, so the stop is finished.
    half = merge(running, steps[0][1])
    assert not is_job_suspended(half)
    half["status"] = {}
    assert [kind for kind, _ in stop_steps(half, workload_raw(original_template()))] == ["spec"]


def test_a_stopped_and_restored_job_needs_no_more_writes() -> None:
    assert (
        stop_steps(job(original_template(), suspend=True), workload_raw(original_template())) == []
    )


def test_a_jobset_is_suspended_and_restored_in_one_write_and_left_alone_once_suspended() -> None:
    def jobset(template: Obj, suspend: bool) -> Obj:
        rjs = [{"name": f"r{i}", "template": {"spec": {"template": template}}} for i in (0, 1)]
        return {
            "kind": "JobSet",
            "metadata": {},
            "spec": {"suspend": suspend, "replicatedJobs": rjs},
        }

    raw = workload_raw(original_template(), original_template())
    steps = stop_steps(jobset(started_template(), False), raw)
    assert len(steps) == 1
    patch = steps[0][1]["spec"]
    assert patch["suspend"] is True
    for rj in patch["replicatedJobs"]:
        assert rj["template"]["spec"]["template"] == original_template()
    assert stop_steps(jobset(started_template(), True), raw) == []


def test_a_job_with_pods_left_is_active_and_a_jobset_by_its_replicated_jobs() -> None:
    assert is_job_active({"kind": "Job", "status": {"active": 1}})
    assert not is_job_active({"kind": "Job", "status": {"active": 0, "terminating": 2}})
    assert is_job_active(
        {"kind": "JobSet", "status": {"replicatedJobsStatus": [{"active": 0}, {"active": 1}]}}
    )
    assert not is_job_active({"kind": "JobSet", "status": {"replicatedJobsStatus": [{"ready": 1}]}})


def condition(type_: str, status: str, reason: str, message: str) -> Condition:
    return Condition(
        type=type_,
        status=status,
        reason=reason,
        message=message,
        last_transition_time="2026-01-01T00:00:00Z",
    )


def test_releasing_a_preempted_workload_requeues_it_with_the_eviction_message() -> None:
    workload = Workload(
        metadata=ObjectMeta(name="w", namespace="ns"),
        spec=WorkloadSpec(queue_name="lq"),
        status=WorkloadStatus(
            admission=Admission(cluster_queue="cq"),
            conditions=[
                condition("QuotaReserved", "True", "QuotaReserved", "m"),
                condition("Admitted", "True", "Admitted", "m"),
                condition("Evicted", "True", "Preempted", "Preempted to accommodate"),
            ],
        ),
    )
    release_evicted(workload, datetime(2026, 1, 1, 0, 5, tzinfo=UTC))
    found = {c.type: c for c in workload.status.conditions}
    assert workload.status.admission is None
    assert (found["QuotaReserved"].status, found["QuotaReserved"].reason) == ("False", "Pending")
    assert found["QuotaReserved"].message == "Preempted to accommodate"
    assert (found["Requeued"].status, found["Requeued"].reason) == ("True", "Preempted")
    assert found["Admitted"].status == "False"
    assert found["Evicted"].status == "True"
