"""The writes dralloc's queue and JobSet controllers make to start a queued job, checked
without a server: the merge patches that start a Job or a JobSet on its admitted flavors
(Kueue's integration) and resume a JobSet's Job (the JobSet controller's `resumeJob`)."""

from __future__ import annotations

from typing import Any

from dralloc.api.core import Toleration
from dralloc.api.meta import ObjectMeta
from dralloc.kube.controllers.jobset import resume_patch
from dralloc.kube.controllers.queue import start_patch
from dralloc.queueing.objects import (
    Admission,
    PodSet,
    PodSetAssignment,
    ResourceFlavor,
    ResourceFlavorSpec,
    Workload,
    WorkloadSpec,
    WorkloadStatus,
)

Obj = dict[str, Any]
TOLERATION = {"key": "pool", "operator": "Exists", "effect": "NoSchedule"}
# What Kueue's getPodSetsInfoFromStatus puts on every admitted pod template.
KUEUE_METADATA = {
    "labels": {"kueue.x-k8s.io/podset": "main"},
    "annotations": {"kueue.x-k8s.io/workload": "w"},
}


def flavors() -> dict[str, ResourceFlavor]:
    return {
        "a100": ResourceFlavor(
            metadata=ObjectMeta(name="a100"),
            spec=ResourceFlavorSpec(
                node_labels={"gpu": "a100"},
                tolerations=[Toleration(key="pool", operator="Exists", effect="NoSchedule")],
            ),
        )
    }


def admitted(pod_sets: list[tuple[str, int]], counts: list[int]) -> Workload:
    return Workload(
        metadata=ObjectMeta(name="w", namespace="ns"),
        spec=WorkloadSpec(
            pod_sets=[PodSet(name=name, count=count) for name, count in pod_sets],
            queue_name="lq",
        ),
        status=WorkloadStatus(
            admission=Admission(
                cluster_queue="cq",
                pod_set_assignments=[
                    PodSetAssignment(name=name, flavors={"cpu": "a100"}, count=count)
                    for (name, _), count in zip(pod_sets, counts, strict=True)
                ],
            )
        ),
    )


def test_a_partially_admitted_job_starts_on_its_flavor_with_its_parallelism_set() -> None:
    job: Obj = {
        "kind": "Job",
        "spec": {
            "suspend": True,
            "parallelism": 4,
            "template": {"spec": {"tolerations": [{"operator": "Exists"}]}},
        },
    }
    patch = start_patch(job, admitted([("main", 4)], [2]), dict(flavors()))
    assert patch == {
        "spec": {
            "suspend": False,
            "parallelism": 2,
            "template": {
                "metadata": KUEUE_METADATA,
                "spec": {
                    "nodeSelector": {"gpu": "a100"},
                    "tolerations": [{"operator": "Exists"}, TOLERATION],
                },
            },
        }
    }


def test_a_fully_admitted_job_keeps_its_parallelism_and_its_tolerations_once() -> None:
    job: Obj = {
        "kind": "Job",
        "spec": {"suspend": True, "template": {"spec": {"tolerations": [TOLERATION]}}},
    }
    patch = start_patch(job, admitted([("main", 4)], [4]), dict(flavors()))
    assert patch == {
        "spec": {
            "suspend": False,
            "template": {"metadata": KUEUE_METADATA, "spec": {"nodeSelector": {"gpu": "a100"}}},
        }
    }


def test_a_jobset_starts_with_every_replicated_job_on_its_flavor() -> None:
    def rjob(name: str) -> Obj:
        return {"name": name, "template": {"spec": {"template": {"spec": {"containers": []}}}}}

    jobset: Obj = {
        "kind": "JobSet",
        "spec": {"suspend": True, "replicatedJobs": [rjob("leader"), rjob("workers")]},
    }
    patch = start_patch(jobset, admitted([("leader", 1), ("workers", 4)], [1, 4]), dict(flavors()))
    replicated = patch["spec"]["replicatedJobs"]
    assert patch["spec"]["suspend"] is False
    for found in replicated:
        template = found["template"]["spec"]["template"]
        assert template["metadata"] == {
            "labels": {"kueue.x-k8s.io/podset": found["name"]},
            "annotations": {"kueue.x-k8s.io/workload": "w"},
        }
        pod = template["spec"]
        assert pod == {
            "containers": [],
            "nodeSelector": {"gpu": "a100"},
            "tolerations": [TOLERATION],
        }
    # The JobSet itself was not changed in place.
    assert (
        "nodeSelector"
        not in jobset["spec"]["replicatedJobs"][0]["template"]["spec"]["template"]["spec"]
    )


def test_a_job_admitted_with_topology_domains_starts_gated_for_the_topology_ungater() -> None:
    job: Obj = {
        "kind": "Job",
        "spec": {
            "suspend": True,
            "template": {
                "metadata": {"labels": {"app": "x"}},
                "spec": {"schedulingGates": [{"name": "example.com/other"}]},
            },
        },
    }
    workload = admitted([("main", 2)], [2])
    assert workload.status.admission is not None
    workload.status.admission.pod_set_assignments[0].topology_assignment = {
        "levels": ["kubernetes.io/hostname"],
        "slices": [
            {
                "domainCount": 1,
                "valuesPerLevel": [{"universal": "node-1"}],
                "podCounts": {"universal": 2},
            }
        ],
    }
    template = start_patch(job, workload, dict(flavors()))["spec"]["template"]
    # The pod set asks for no topology itself (implicit TAS): Kueue marks it unconstrained.
    assert template["metadata"] == {
        "labels": {"kueue.x-k8s.io/podset": "main"},
        "annotations": {
            "kueue.x-k8s.io/workload": "w",
            "kueue.x-k8s.io/podset-unconstrained-topology": "true",
        },
    }
    assert template["spec"]["schedulingGates"] == [
        {"name": "example.com/other"},
        {"name": "kueue.x-k8s.io/topology"},
    ]


def test_a_job_readmitted_without_topology_domains_loses_the_topology_gate() -> None:
    job: Obj = {
        "kind": "Job",
        "spec": {
            "suspend": True,
            "template": {
                "spec": {
                    "schedulingGates": [
                        {"name": "example.com/other"},
                        {"name": "kueue.x-k8s.io/topology"},
                    ]
                }
            },
        },
    }
    template = start_patch(job, admitted([("main", 2)], [2]), dict(flavors()))["spec"]["template"]
    assert template["spec"]["schedulingGates"] == [{"name": "example.com/other"}]
    job["spec"]["template"]["spec"]["schedulingGates"] = [{"name": "kueue.x-k8s.io/topology"}]
    template = start_patch(job, admitted([("main", 2)], [2]), dict(flavors()))["spec"]["template"]
    # A merge patch's null removes the field.
    assert template["spec"]["schedulingGates"] is None


def test_a_resumed_jobset_job_takes_its_replicated_jobs_selectors_and_tolerations() -> None:
    jobset: Obj = {
        "spec": {
            "replicatedJobs": [
                {
                    "name": "workers",
                    "template": {
                        "spec": {
                            "template": {
                                "metadata": {"labels": {"kueue": "yes"}},
                                "spec": {
                                    "nodeSelector": {"gpu": "a100"},
                                    "tolerations": [TOLERATION],
                                },
                            }
                        }
                    },
                }
            ]
        }
    }
    job: Obj = {
        "metadata": {"labels": {"jobset.sigs.k8s.io/replicatedjob-name": "workers"}},
        "spec": {"suspend": True, "template": {"spec": {"tolerations": [TOLERATION]}}},
    }
    assert resume_patch(jobset, job) == {
        "spec": {
            "suspend": False,
            "template": {
                "metadata": {"labels": {"kueue": "yes"}},
                "spec": {"nodeSelector": {"gpu": "a100"}},
            },
        }
    }
