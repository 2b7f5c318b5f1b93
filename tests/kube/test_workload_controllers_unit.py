"""The pure plans of the live StatefulSet, JobSet and LeaderWorkerSet controllers, over
objects as an API server sends them, and how `build_controllers` wires them."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime
from typing import Any

import pytest

from dralloc.errors import InputError
from dralloc.kube.client import KubeClient
from dralloc.kube.controllers import build_controllers
from dralloc.kube.controllers.gc import GarbageCollector
from dralloc.kube.controllers.jobset import plan_jobset
from dralloc.kube.controllers.leaderworkerset import lws_pod_admission, plan_leader_worker_set
from dralloc.kube.controllers.statefulset import plan_stateful_set, revision_name
from dralloc.kube.shared_informers import SharedInformers

Obj = dict[str, Any]
NOW = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)
LWS = "leaderworkerset.sigs.k8s.io/"


def owner_ref(kind: str, name: str, uid: str, api_version: str) -> Obj:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def sts(replicas: int, policy: str = "OrderedReady", **status: Any) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "web", "namespace": "ml", "uid": "sts-uid", "generation": 2},
        "spec": {
            "replicas": replicas,
            "serviceName": "web-svc",
            "podManagementPolicy": policy,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "main", "image": "app:1"}]},
            },
        },
        "status": status,
    }


def pod(name: str, owner: Obj, phase: str = "Running", ready: bool = True, **labels: str) -> Obj:
    meta = owner["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": meta["namespace"],
            "uid": f"{name}-uid",
            "labels": dict(labels),
            "ownerReferences": [
                owner_ref(owner["kind"], meta["name"], meta["uid"], owner["apiVersion"])
            ],
        },
        "spec": {},
        "status": {
            "phase": phase,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def names(bodies: Any) -> list[str]:
    return [b["metadata"]["name"] for b in bodies]


# StatefulSet


def test_ordered_ready_creates_one_ordinal_at_a_time_after_the_previous_is_ready() -> None:
    owner = sts(3)
    first = plan_stateful_set(owner, [], NOW)
    assert names(first.create) == ["web-0"]
    body = first.create[0]
    revision = revision_name(owner)
    assert body["metadata"]["generateName"] == "web-"
    assert body["metadata"]["labels"] == {
        "app": "web",
        "statefulset.kubernetes.io/pod-name": "web-0",
        "apps.kubernetes.io/pod-index": "0",
        "controller-revision-hash": revision,
    }
    assert (body["spec"]["hostname"], body["spec"]["subdomain"]) == ("web-0", "web-svc")
    waiting = plan_stateful_set(owner, [pod("web-0", owner, "Pending", ready=False)], NOW)
    assert waiting.create == () and waiting.delete == ()
    ready = plan_stateful_set(owner, [pod("web-0", owner)], NOW)
    assert names(ready.create) == ["web-1"]


def test_parallel_creates_every_missing_ordinal_at_once() -> None:
    owner = sts(3, "Parallel")
    assert names(plan_stateful_set(owner, [], NOW).create) == ["web-0", "web-1", "web-2"]


def test_scale_down_deletes_the_highest_ordinal_first_one_at_a_time() -> None:
    owner = sts(1)
    pods = [pod(f"web-{i}", owner) for i in range(3)]
    assert names(plan_stateful_set(owner, pods, NOW).delete) == ["web-2"]
    parallel = sts(1, "Parallel")
    pods = [pod(f"web-{i}", parallel) for i in range(3)]
    assert names(plan_stateful_set(parallel, pods, NOW).delete) == ["web-2", "web-1"]


def test_ordered_ready_does_not_scale_down_while_a_kept_pod_is_not_ready() -> None:
    owner = sts(1)
    pods = [pod("web-0", owner, ready=False), pod("web-1", owner), pod("web-2", owner)]
    assert plan_stateful_set(owner, pods, NOW).delete == ()


def test_a_finished_pod_is_deleted_and_made_again_by_a_later_sync() -> None:
    owner = sts(2)
    pods = [pod("web-0", owner, "Failed", ready=False), pod("web-1", owner)]
    plan = plan_stateful_set(owner, pods, NOW)
    assert (names(plan.delete), plan.create) == (["web-0"], ())
    assert names(plan_stateful_set(owner, pods[1:], NOW).create) == ["web-0"]


def test_pods_of_another_owner_are_not_counted() -> None:
    owner = sts(1)
    stranger = pod("web-0", sts(1) | {"metadata": {**owner["metadata"], "uid": "other"}})
    assert names(plan_stateful_set(owner, [stranger], NOW).create) == ["web-0"]


def test_the_status_counts_pods_by_readiness_and_revision() -> None:
    owner = sts(3)
    revision = revision_name(owner)
    pods = [
        pod("web-0", owner, **{"controller-revision-hash": revision}),
        pod("web-1", owner, ready=False, **{"controller-revision-hash": revision}),
    ]
    status = plan_stateful_set(owner, pods, NOW).status
    assert status == {
        "observedGeneration": 2,
        "replicas": 2,
        "readyReplicas": 1,
        "currentReplicas": 2,
        "updatedReplicas": 2,
        "currentRevision": revision,
        "updateRevision": revision,
        "collisionCount": 0,
        "availableReplicas": 1,
    }
    assert plan_stateful_set({**owner, "status": status}, pods, NOW).status is None


def test_the_revision_is_hashed_with_a_collision_count_of_zero_until_one_is_set() -> None:
    assert revision_name(sts(1)) == revision_name(sts(1, collisionCount=0))
    assert revision_name(sts(1)) != revision_name(sts(1, collisionCount=1))


def test_admission_sees_every_new_pod() -> None:
    def admit(_: Obj, body: Obj) -> Obj:
        return {**body, "metadata": {**body["metadata"], "labels": {"admitted": "yes"}}}

    plan = plan_stateful_set(sts(2, "Parallel"), [], NOW, admission=admit)
    assert [b["metadata"]["labels"] for b in plan.create] == [{"admitted": "yes"}] * 2


# JobSet


def jobset(**spec: Any) -> Obj:
    def rjob(name: str, replicas: int) -> Obj:
        return {
            "name": name,
            "replicas": replicas,
            "template": {
                "spec": {"template": {"spec": {"containers": [{"name": "main", "image": "t:1"}]}}}
            },
        }

    return {
        "apiVersion": "jobset.x-k8s.io/v1alpha2",
        "kind": "JobSet",
        "metadata": {"name": "js", "namespace": "ml", "uid": "js-uid"},
        "spec": {"replicatedJobs": [rjob("a", 1), rjob("b", 2)], **spec},
    }


def child(owner: Obj, name: str, rjob: str, finished: str = "", restarts: str = "0") -> Obj:
    job = pod(name, owner)
    job["metadata"]["labels"] = {
        "jobset.sigs.k8s.io/replicatedjob-name": rjob,
        "jobset.sigs.k8s.io/restart-attempt": restarts,
    }
    conditions = []
    if finished:
        conditions.append(
            {
                "type": finished,
                "status": "True",
                "lastTransitionTime": f"2026-12-07T06:0{name[-1]}:00Z",
            }
        )
    job["spec"] = {"parallelism": 1, "completions": 1}
    job["status"] = {"conditions": conditions}
    return job


def test_a_jobset_makes_its_jobs_and_service_with_the_jobset_labels() -> None:
    owner = jobset()
    plan = plan_jobset(owner, [], has_service=False, now=NOW)
    assert names(plan.create) == ["js-a-0", "js-b-0", "js-b-1"]
    job = plan.create[2]
    labels = job["metadata"]["labels"]
    assert labels["jobset.sigs.k8s.io/job-global-index"] == "2"
    assert labels["jobset.sigs.k8s.io/job-group-index"] == "2"
    assert labels["jobset.sigs.k8s.io/jobset-uid"] == "js-uid"
    assert job["spec"]["template"]["metadata"]["labels"] == labels
    assert job["spec"]["completionMode"] == "Indexed"
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "OnFailure"
    assert job["spec"]["template"]["spec"]["subdomain"] == "js"
    assert plan.service is not None and plan.service["spec"]["clusterIP"] == "None"
    assert plan_jobset(owner, [], has_service=True, now=NOW).service is None
    no_dns = jobset(network={"enableDNSHostnames": False})
    plan = plan_jobset(no_dns, [], has_service=False, now=NOW)
    assert plan.service is None
    assert "subdomain" not in plan.create[0]["spec"]["template"]["spec"]


def test_a_jobset_completes_when_the_success_policy_is_met() -> None:
    owner = jobset()
    jobs = [child(owner, "js-a-0", "a", "Complete"), child(owner, "js-b-0", "b", "Complete")]
    status = plan_jobset(owner, jobs, True, NOW).status
    assert status is not None and "terminalState" not in status
    jobs.append(child(owner, "js-b-1", "b", "Complete"))
    status = plan_jobset(owner, jobs, True, NOW).status
    assert status is not None and status["terminalState"] == "Completed"
    assert [(c["type"], c["reason"]) for c in status["conditions"]] == [
        ("Completed", "AllJobsCompleted")
    ]
    assert [r["succeeded"] for r in status["replicatedJobsStatus"]] == [1, 2]
    anyone = jobset(successPolicy={"operator": "Any", "targetReplicatedJobs": ["b"]})
    status = plan_jobset(anyone, [child(anyone, "js-b-1", "b", "Complete")], True, NOW).status
    assert status is not None and status["terminalState"] == "Completed"


def test_a_failed_job_fails_the_jobset_without_a_failure_policy_naming_the_first() -> None:
    owner = jobset()
    jobs = [child(owner, "js-b-1", "b", "Failed"), child(owner, "js-b-0", "b", "Failed")]
    status = plan_jobset(owner, jobs, True, NOW).status
    assert status is not None
    assert status["conditions"][0]["message"] == (
        "jobset failed due to one or more job failures (first failed job: js-b-0)"
    )


def test_max_restarts_recreates_every_job_then_fails() -> None:
    owner = jobset(failurePolicy={"maxRestarts": 1})
    jobs = [child(owner, "js-a-0", "a"), child(owner, "js-b-0", "b", "Failed")]
    status = plan_jobset(owner, jobs, True, NOW).status
    assert status is not None and (status["restarts"], status["restartsCountTowardsMax"]) == (1, 1)
    restarted = {**owner, "status": status}
    plan = plan_jobset(restarted, jobs, True, NOW)
    assert names(plan.delete) == ["js-a-0", "js-b-0"]
    # Names still taken (until the deletions are seen) are not made again yet.
    assert names(plan.create) == ["js-b-1"]
    plan = plan_jobset(restarted, [], True, NOW)
    assert [j["metadata"]["labels"]["jobset.sigs.k8s.io/restart-attempt"] for j in plan.create] == [
        "1"
    ] * 3
    again = [child(owner, "js-a-0", "a", "Failed", restarts="1")]
    status = plan_jobset(restarted, again, True, NOW).status
    assert status is not None and status["conditions"][0]["reason"] == "ReachedMaxRestarts"


# LeaderWorkerSet


def lws(replicas: int = 2, size: int = 3, **spec: Any) -> Obj:
    return {
        "apiVersion": "leaderworkerset.x-k8s.io/v1",
        "kind": "LeaderWorkerSet",
        "metadata": {"name": "llm", "namespace": "ml", "uid": "lws-uid"},
        "spec": {
            "replicas": replicas,
            "leaderWorkerTemplate": {
                "size": size,
                "workerTemplate": {
                    "metadata": {"labels": {"app": "llm"}},
                    "spec": {"containers": [{"name": "main", "image": "llm:1"}]},
                },
            },
            **spec,
        },
    }


def test_an_lws_makes_its_leader_stateful_set_and_service_then_workers_per_leader() -> None:
    owner = lws()
    plan = plan_leader_worker_set(owner, {}, [], services=(), now=NOW)
    (leaders,) = plan.create
    assert leaders["metadata"]["name"] == "llm"
    assert leaders["spec"]["replicas"] == 2
    assert leaders["spec"]["selector"] == {
        "matchLabels": {LWS + "name": "llm", LWS + "worker-index": "0"}
    }
    assert leaders["spec"]["template"]["metadata"]["annotations"] == {LWS + "size": "3"}
    assert [s["metadata"]["name"] for s in plan.services] == ["llm"]
    leaders["metadata"]["uid"] = "leaders-uid"
    leader = pod("llm-1", leaders, **{LWS + "group-index": "1", LWS + "worker-index": "0"})
    plan = plan_leader_worker_set(owner, {"llm": leaders}, [leader], {"llm"}, NOW)
    (workers,) = plan.create
    assert workers["metadata"]["name"] == "llm-1"
    assert workers["metadata"]["ownerReferences"][0]["uid"] == "llm-1-uid"
    assert workers["spec"]["replicas"] == 2
    assert workers["spec"]["ordinals"] == {"start": 1}
    assert workers["spec"]["template"]["metadata"]["annotations"][LWS + "leader-name"] == "llm-1"


def test_leader_ready_startup_waits_for_the_leader_before_its_workers() -> None:
    owner = lws(startupPolicy="LeaderReady")
    leaders = plan_leader_worker_set(owner, {}, [], {"llm"}, NOW).create[0]
    leaders["metadata"]["uid"] = "leaders-uid"
    labels = {LWS + "group-index": "0", LWS + "worker-index": "0"}
    waiting = pod("llm-0", leaders, "Pending", ready=False, **labels)
    assert plan_leader_worker_set(owner, {"llm": leaders}, [waiting], {"llm"}, NOW).create == ()
    ready = pod("llm-0", leaders, **labels)
    assert names(plan_leader_worker_set(owner, {"llm": leaders}, [ready], {"llm"}, NOW).create) == [
        "llm-0"
    ]


def test_the_pod_webhook_labels_leaders_and_workers() -> None:
    leader = {
        "metadata": {
            "name": "llm-1",
            "namespace": "ml",
            "labels": {LWS + "name": "llm", LWS + "worker-index": "0"},
        },
        "spec": {},
    }
    admitted = lws_pod_admission({}, leader)
    assert admitted["metadata"]["labels"][LWS + "group-index"] == "1"
    assert len(admitted["metadata"]["labels"][LWS + "group-key"]) == 40
    worker = {
        "metadata": {"name": "llm-1-2", "namespace": "ml", "labels": {LWS + "name": "llm"}},
        "spec": {},
    }
    assert lws_pod_admission({}, worker)["metadata"]["labels"][LWS + "worker-index"] == "2"
    other = {"metadata": {"name": "web-0", "labels": {}}, "spec": {}}
    assert lws_pod_admission({}, other) is other


def test_the_lws_is_available_once_every_group_is_ready() -> None:
    owner = lws(replicas=1, size=2)
    leaders = plan_leader_worker_set(owner, {}, [], {"llm"}, NOW).create[0]
    leaders["metadata"]["uid"] = "leaders-uid"
    leaders["status"] = {"replicas": 1}
    leader = pod("llm-0", leaders, **{LWS + "group-index": "0", LWS + "worker-index": "0"})
    workers = plan_leader_worker_set(owner, {"llm": leaders}, [leader], {"llm"}, NOW).create[0]
    sets = {"llm": leaders, "llm-0": workers}
    status = plan_leader_worker_set(owner, sets, [leader], {"llm"}, NOW).status
    assert status is not None and [c["type"] for c in status["conditions"]] == ["Progressing"]
    workers["status"] = {"replicas": 1, "currentRevision": "r", "updateRevision": "r"}
    status = plan_leader_worker_set(
        {**owner, "status": status}, sets, [leader], {"llm"}, NOW
    ).status
    assert status is not None and status["readyReplicas"] == 1
    assert [(c["type"], c["status"]) for c in status["conditions"]] == [
        ("Progressing", "False"),
        ("Available", "True"),
    ]


# Wiring


def test_leaderworkerset_needs_statefulset_and_gc_collects_what_they_make() -> None:
    async def scenario() -> None:
        client = KubeClient.__new__(KubeClient)
        informers = SharedInformers(client, random.Random(1))
        with pytest.raises(InputError, match="leaderworkerset needs statefulset"):
            build_controllers(["leaderworkerset"], client, informers, rng=random.Random(1))
        built = build_controllers(
            ["gc", "leaderworkerset", "jobset", "statefulset"],
            client,
            informers,
            rng=random.Random(1),
        )
        assert [c.name for c in built] == ["statefulset", "jobset", "leaderworkerset", "gc"]
        gc = built[-1]
        assert isinstance(gc, GarbageCollector)
        assert {k.resource.kind for k in gc.owner_kinds} == {
            "Pod",
            "Job",
            "StatefulSet",
            "JobSet",
            "LeaderWorkerSet",
        }
        assert set(gc.dependents) == {
            "pods",
            "resourceclaims",
            "controllerrevisions",
            "jobs",
            "statefulsets",
            "services",
        }

    asyncio.run(scenario())


def test_unique_per_replica_gives_each_group_a_service_owned_by_its_leader() -> None:
    owner = lws(networkConfig={"subdomainPolicy": "UniquePerReplica"})
    first = plan_leader_worker_set(owner, {}, [], (), NOW)
    assert first.services == ()
    leaders = first.create[0]
    leaders["metadata"]["uid"] = "leaders-uid"
    leader = pod("llm-1", leaders, **{LWS + "group-index": "1", LWS + "worker-index": "0"})
    plan = plan_leader_worker_set(owner, {"llm": leaders}, [leader], (), NOW)
    (service,) = plan.services
    assert service["metadata"]["name"] == "llm-1"
    assert service["metadata"]["ownerReferences"][0]["uid"] == "llm-1-uid"
    assert service["spec"]["selector"] == {LWS + "name": "llm", LWS + "group-index": "1"}
    assert plan.create[0]["spec"]["serviceName"] == "llm-1"
    assert plan_leader_worker_set(owner, {"llm": leaders}, [leader], {"llm-1"}, NOW).services == ()


def test_exclusive_placement_makes_workers_once_the_leaders_topology_is_known() -> None:
    owner = lws()
    owner["metadata"]["annotations"] = {LWS + "exclusive-topology": "rack"}
    leaders = plan_leader_worker_set(owner, {}, [], {"llm"}, NOW).create[0]
    leaders["metadata"]["uid"] = "leaders-uid"
    leader = pod("llm-0", leaders, **{LWS + "group-index": "0", LWS + "worker-index": "0"})
    sets = {"llm": leaders}
    assert plan_leader_worker_set(owner, sets, [leader], {"llm"}, NOW).create == ()
    plan = plan_leader_worker_set(owner, sets, [leader], {"llm"}, NOW, {"llm-0": "rack-7"})
    (workers,) = plan.create
    assert workers["spec"]["template"]["spec"]["nodeSelector"] == {"rack": "rack-7"}
    # The pod webhook keeps other groups out of the leader's domain.
    meta = {
        **leader["metadata"],
        "labels": {**leader["metadata"]["labels"], LWS + "name": "llm"},
        "annotations": {LWS + "exclusive-topology": "rack"},
    }
    affinity = lws_pod_admission({}, {"metadata": meta, "spec": {}})["spec"]["affinity"]
    for kind in ("podAffinity", "podAntiAffinity"):
        (term,) = affinity[kind]["requiredDuringSchedulingIgnoredDuringExecution"]
        assert term["topologyKey"] == "rack"
