"""The pure parts of the cluster-mode controllers: the work queue, claim naming and building,
the Job plan, the orphan rule, the controller-manager check, and building by name."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime
from typing import Any

import pytest

from dralloc.errors import InputError
from dralloc.kube.client import ApiStatusError, KubeClient
from dralloc.kube.controllers import (
    POD_OWNERS,
    ControllerConflict,
    WorkQueue,
    build_controllers,
    check_no_controller_manager,
    claim_from_template,
    failure_delay,
    plan_deployment,
    plan_job,
    plan_replica_set,
)
from dralloc.kube.controllers.base import RecentUids, ReverseIndex
from dralloc.kube.controllers.gc import JOB_OWNERS, is_orphan
from dralloc.kube.controllers.job import format_indexes, parse_indexes
from dralloc.kube.controllers.owned import Expectations, PodsPlan
from dralloc.kube.controllers.podclaims import (
    ClaimNotCreated,
    UnsupportedPodClaim,
    is_pod_done,
    pod_claim_name,
    resource_claim_statuses_apply,
)
from dralloc.kube.shared_informers import SharedInformers

Obj = dict[str, Any]
NOW = datetime(2026, 12, 7, 4, 0, 0, tzinfo=UTC)


# The work queue.


def test_a_key_added_twice_waits_in_the_queue_once() -> None:
    async def scenario() -> None:
        queue = WorkQueue("t")
        queue.add("a")
        queue.add("b")
        queue.add("a")
        assert len(queue) == 2
        assert await queue.get() == "a"
        assert await queue.get() == "b"

    asyncio.run(scenario())


def test_a_key_added_while_processed_comes_back_after_done_and_never_to_two_workers() -> None:
    async def scenario() -> None:
        queue = WorkQueue("t")
        queue.add("a")
        key = await queue.get()
        queue.add("a")
        assert len(queue) == 0  # not handed out while a worker holds it
        queue.done(key)
        assert await queue.get() == "a"
        queue.done("a")
        assert len(queue) == 0

    asyncio.run(scenario())


def test_a_waiting_worker_wakes_when_a_key_arrives() -> None:
    async def scenario() -> None:
        queue = WorkQueue("t")
        waiter = asyncio.create_task(queue.get())
        await asyncio.sleep(0)
        assert not waiter.done()
        queue.add("late")
        assert await asyncio.wait_for(waiter, 5) == "late"

    asyncio.run(scenario())


def test_failures_back_off_exponentially_until_forgotten() -> None:
    assert [failure_delay(n) for n in range(0, 5)] == [0.0, 0.005, 0.01, 0.02, 0.04]
    assert failure_delay(100) == 1000.0

    async def scenario() -> None:
        queue = WorkQueue("t", base_delay=0.001)
        queue.add_rate_limited("a")
        queue.add_rate_limited("a")
        assert queue.failures("a") == 2
        assert await asyncio.wait_for(queue.get(), 5) == "a"
        queue.forget("a")
        assert queue.failures("a") == 0

    asyncio.run(scenario())


def test_a_shut_down_queue_drops_its_timers_and_new_keys() -> None:
    async def scenario() -> None:
        queue = WorkQueue("t")
        queue.add_after("a", 60)
        queue.shut_down()
        queue.add("b")
        assert len(queue) == 0

    asyncio.run(scenario())


def test_indexes_and_recent_uids_stay_bounded_and_exact() -> None:
    index = ReverseIndex()
    index.set("pod-a", ["ns/c1", "ns/c2"])
    index.set("pod-b", ["ns/c1"])
    index.set("pod-a", ["ns/c2"])
    assert index.members("ns/c1") == ["pod-b"]
    index.remove("pod-b")
    assert index.members("ns/c1") == []
    uids = RecentUids(capacity=2)
    for uid in ("u1", "u2", "u3"):
        uids.add(uid)
    assert "u1" not in uids and "u3" in uids and len(uids) == 2


# The ResourceClaim controller's pure parts.


def pod(name: str = "web-0", **status: Any) -> Obj:
    return {
        "metadata": {"name": name, "namespace": "ml", "uid": "pod-uid"},
        "spec": {
            "resourceClaims": [
                {"name": "gpu", "resourceClaimTemplateName": "tmpl"},
                {"name": "shared", "resourceClaimName": "big"},
            ]
        },
        "status": status,
    }


def test_a_pod_claim_resolves_as_upstreams_resourceclaim_name() -> None:
    fresh = pod()
    by_name, by_template = fresh["spec"]["resourceClaims"][1], fresh["spec"]["resourceClaims"][0]
    assert pod_claim_name(fresh, by_name) == ("big", False)
    with pytest.raises(ClaimNotCreated):
        pod_claim_name(fresh, by_template)
    recorded = pod(resourceClaimStatuses=[{"name": "gpu", "resourceClaimName": "web-0-gpu-x"}])
    assert pod_claim_name(recorded, by_template) == ("web-0-gpu-x", True)
    not_needed = pod(resourceClaimStatuses=[{"name": "gpu"}])
    assert pod_claim_name(not_needed, by_template) == (None, True)
    with pytest.raises(UnsupportedPodClaim):
        pod_claim_name(fresh, {"name": "odd"})


def test_a_pod_is_done_when_terminal_or_deleted_before_it_was_scheduled() -> None:
    assert not is_pod_done(pod(phase="Running"))
    assert is_pod_done(pod(phase="Succeeded")) and is_pod_done(pod(phase="Failed"))
    deleting = pod(phase="Pending")
    deleting["metadata"]["deletionTimestamp"] = "2026-12-07T04:00:00Z"
    assert is_pod_done(deleting)
    deleting["spec"]["nodeName"] = "node-a"
    assert not is_pod_done(deleting)  # a bound pod may still be running its containers


def test_a_claim_from_a_template_carries_its_metadata_spec_and_the_pod_as_controller() -> None:
    template = {
        "metadata": {"name": "tmpl", "namespace": "ml"},
        "spec": {
            "metadata": {"labels": {"a": "1"}, "annotations": {"b": "2"}},
            "spec": {"devices": {"requests": [{"name": "gpu", "futureField": True}]}},
        },
    }
    claim = claim_from_template(pod(), "gpu", template)
    assert claim == {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaim",
        "metadata": {
            "generateName": "web-0-gpu-",
            "namespace": "ml",
            "ownerReferences": [
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "name": "web-0",
                    "uid": "pod-uid",
                    "controller": True,
                }
            ],
            "annotations": {"b": "2", "resource.kubernetes.io/pod-claim-name": "gpu"},
            "labels": {"a": "1"},
        },
        # Fields dralloc does not model travel as the server sent them.
        "spec": {"devices": {"requests": [{"name": "gpu", "futureField": True}]}},
    }
    assert template["spec"]["metadata"]["annotations"] == {"b": "2"}  # not mutated


def test_the_status_apply_names_the_pod_and_lists_claims_in_spec_order() -> None:
    body = resource_claim_statuses_apply(pod(), {"shared": "big", "gpu": "web-0-gpu-x"})
    assert body == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web-0", "namespace": "ml"},
        "status": {
            "resourceClaimStatuses": [
                {"name": "gpu", "resourceClaimName": "web-0-gpu-x"},
                {"name": "shared", "resourceClaimName": "big"},
            ]
        },
    }


# The garbage collector's rule.


def test_an_object_is_an_orphan_only_when_every_owner_of_a_known_kind_is_gone() -> None:
    existing = {("ml", "alive", "u1")}

    def exists(kind: Any, namespace: str, ref: Obj) -> bool:
        return (namespace, ref["name"], ref["uid"]) in existing

    def owned(*refs: Obj) -> Obj:
        return {"metadata": {"namespace": "ml", "name": "x", "ownerReferences": list(refs)}}

    alive = {"apiVersion": "v1", "kind": "Pod", "name": "alive", "uid": "u1"}
    gone = {"apiVersion": "v1", "kind": "Pod", "name": "gone", "uid": "u2"}
    replaced = {**alive, "uid": "u-old"}
    job = {"apiVersion": "batch/v1", "kind": "Job", "name": "j", "uid": "u3"}
    owners = (POD_OWNERS,)
    assert is_orphan(owned(gone), owners, exists)
    assert is_orphan(owned(replaced), owners, exists)
    assert not is_orphan(owned(alive), owners, exists)
    assert not is_orphan(owned(gone, alive), owners, exists)
    assert not is_orphan(owned(job), owners, exists)  # Jobs unknown without the job controller
    assert is_orphan(owned(job), (POD_OWNERS, JOB_OWNERS), exists)
    assert not is_orphan(owned(), owners, exists)
    deleting = owned(gone)
    deleting["metadata"]["deletionTimestamp"] = "2026-12-07T04:00:00Z"
    assert not is_orphan(deleting, owners, exists)


# The Job plan.


def job(**spec: Any) -> Obj:
    status = spec.pop("status", {})
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "train", "namespace": "ml", "uid": "job-uid"},
        "spec": {
            "parallelism": 1,
            "backoffLimit": 6,
            "completionMode": "NonIndexed",
            **spec,
            "template": {
                "metadata": {"labels": {"batch.kubernetes.io/job-name": "train"}},
                "spec": {"containers": [{"name": "main", "image": "x"}]},
            },
        },
        "status": status,
    }


def job_pod(name: str, phase: str = "Pending", index: int | None = None, **meta: Any) -> Obj:
    annotations = {} if index is None else {"batch.kubernetes.io/job-completion-index": str(index)}
    return {
        "metadata": {
            "name": name,
            "namespace": "ml",
            "uid": f"uid-{name}",
            "annotations": annotations,
            "ownerReferences": [
                {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "name": "train",
                    "uid": "job-uid",
                    "controller": True,
                }
            ],
            **meta,
        },
        "spec": {},
        "status": {"phase": phase},
    }


def test_a_new_job_creates_parallelism_pods_and_records_its_start() -> None:
    plan = plan_job(job(parallelism=2, completions=5), [], NOW)
    assert len(plan.create) == 2 and not plan.delete
    created = plan.create[0]
    assert created["metadata"]["generateName"] == "train-"
    assert created["metadata"]["ownerReferences"][0]["controller"] is True
    assert created["metadata"]["labels"] == {"batch.kubernetes.io/job-name": "train"}
    assert plan.status == {
        "active": 2,
        "ready": 0,
        "terminating": 0,
        "startTime": "2026-12-07T04:00:00Z",
    }


def test_a_job_near_its_completions_creates_only_what_is_missing() -> None:
    pods = [job_pod("a", "Succeeded"), job_pod("b", "Succeeded"), job_pod("c")]
    plan = plan_job(job(parallelism=3, completions=4), pods, NOW)
    assert len(plan.create) == 1
    assert plan.status is not None and plan.status["succeeded"] == 2


def test_surplus_pods_go_unscheduled_first_then_newest_first() -> None:
    pods = [
        job_pod("old", creationTimestamp="2026-12-07T03:00:00Z"),
        job_pod("new", creationTimestamp="2026-12-07T03:30:00Z"),
        job_pod("bound", creationTimestamp="2026-12-07T03:40:00Z"),
    ]
    pods[2]["spec"]["nodeName"] = "node-a"
    plan = plan_job(job(parallelism=1, completions=9), pods, NOW)
    assert [p["metadata"]["name"] for p in plan.delete] == ["new", "old"]


def test_enough_successes_complete_a_job_with_the_interim_condition_first() -> None:
    pods = [job_pod("a", "Succeeded"), job_pod("b", "Succeeded")]
    plan = plan_job(job(parallelism=2, completions=2), pods, NOW)
    assert plan.status is not None
    assert [c["type"] for c in plan.status["conditions"]] == ["SuccessCriteriaMet", "Complete"]
    assert plan.status["completionTime"] == "2026-12-07T04:00:00Z"
    assert {c["reason"] for c in plan.status["conditions"]} == {"CompletionsReached"}


def test_failures_past_the_backoff_limit_fail_the_job_after_its_pods_are_gone() -> None:
    pods = [job_pod("a", "Failed"), job_pod("b", "Failed"), job_pod("c")]
    plan = plan_job(job(backoffLimit=1), pods, NOW)
    assert [p["metadata"]["name"] for p in plan.delete] == ["c"]
    assert plan.status is not None
    assert [c["type"] for c in plan.status["conditions"]] == ["FailureTarget"]
    assert plan.status["terminating"] == 1
    marked = job(backoffLimit=1, status=plan.status)
    later = plan_job(marked, pods[:2], NOW)
    assert later.status is not None
    assert [c["type"] for c in later.status["conditions"]] == ["FailureTarget", "Failed"]
    assert plan_job({**marked, "status": later.status}, pods[:2], NOW).status is None


def test_a_work_queue_job_stops_creating_after_a_success_and_completes_when_idle() -> None:
    running = plan_job(job(parallelism=2), [job_pod("a", "Succeeded"), job_pod("b")], NOW)
    assert not running.create and not running.delete
    idle = plan_job(job(parallelism=2), [job_pod("a", "Succeeded")], NOW)
    assert idle.status is not None and "completionTime" in idle.status


def test_an_indexed_job_creates_the_lowest_missing_indexes() -> None:
    pods = [job_pod("a", "Succeeded", index=0), job_pod("b", index=2)]
    plan = plan_job(job(parallelism=3, completions=5, completionMode="Indexed"), pods, NOW)
    indexes = [
        p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]
        for p in plan.create
    ]
    assert indexes == ["1", "3"]
    first = plan.create[0]
    assert first["metadata"]["generateName"] == "train-1-"
    assert first["spec"]["hostname"] == "train-1"
    assert first["spec"]["containers"][0]["env"][0]["name"] == "JOB_COMPLETION_INDEX"
    assert plan.status is not None and plan.status["completedIndexes"] == "0"
    assert parse_indexes("0-2,5") == {0, 1, 2, 5} and format_indexes([5, 0, 1, 2]) == "0-2,5"


def test_a_suspended_finished_or_foreign_job_creates_nothing() -> None:
    suspended = plan_job(job(suspend=True, parallelism=2), [job_pod("a")], NOW)
    assert not suspended.create and [p["metadata"]["name"] for p in suspended.delete] == ["a"]
    foreign = plan_job(job(managedBy="kueue.x-k8s.io/multikueue"), [], NOW)
    assert foreign.create == () and foreign.status is None
    complete = {"conditions": [{"type": "Complete", "status": "True"}]}
    assert plan_job(job(status=complete), [], NOW).create == ()


def test_expectations_hold_a_job_until_its_creations_are_seen_or_time_out() -> None:
    now = [0.0]
    expectations = Expectations(clock=lambda: now[0], timeout=300)
    expectations.expect("ml/train", adds=2, deletes=0)
    assert not expectations.is_satisfied("ml/train")
    expectations.observed_add("ml/train")
    expectations.observed_add("ml/train")
    assert expectations.is_satisfied("ml/train")
    expectations.expect("ml/train", adds=1, deletes=0)
    now[0] = 301.0
    assert expectations.is_satisfied("ml/train")


# Building, and the controller-manager check.


def test_unknown_controller_names_are_an_input_error_naming_the_valid_ones() -> None:
    async def scenario() -> None:
        client = KubeClient.__new__(KubeClient)
        informers = SharedInformers(client, random.Random(1))
        with pytest.raises(InputError) as err:
            build_controllers(
                ["scheduler", "resourceclaim", "nodelifecycle"],
                client,
                informers,
                rng=random.Random(1),
            )
        assert "unknown controller 'nodelifecycle'" in str(err.value)
        assert "scheduler, resourceclaim, gc, job" in str(err.value)
        built = build_controllers(
            ["scheduler", "gc", "job", "resourceclaim"], client, informers, rng=random.Random(1)
        )
        assert [c.name for c in built] == ["resourceclaim", "job", "gc"]

    asyncio.run(scenario())


class LeaseClient:
    """Answers GETs of one Lease (or a status error)."""

    def __init__(self, lease: Obj | None = None, code: int = 404) -> None:
        self.lease = lease
        self.code = code

    async def get(self, path: str, **params: Any) -> Obj:
        if self.lease is None:
            raise ApiStatusError("GET", path, self.code, "", "no")
        return self.lease


def lease(renew: str, duration: int = 15) -> Obj:
    return {
        "spec": {"holderIdentity": "cp_1", "renewTime": renew, "leaseDurationSeconds": duration}
    }


@pytest.mark.parametrize(
    ("client", "refused"),
    [
        (LeaseClient(), False),
        (LeaseClient(code=403), False),
        (LeaseClient(lease("2026-12-07T03:59:50.123456Z")), True),
        (LeaseClient(lease("2026-12-07T03:59:30.000000Z")), False),
        (LeaseClient({"spec": {}}), False),
    ],
)
def test_a_recently_renewed_controller_manager_lease_refuses_the_controllers(
    client: LeaseClient, refused: bool
) -> None:
    async def check() -> None:
        await check_no_controller_manager(client, ["resourceclaim"], now=lambda: NOW)  # type: ignore[arg-type]

    if refused:
        with pytest.raises(ControllerConflict, match="Lease kube-system/kube-controller-manager"):
            asyncio.run(check())
    else:
        asyncio.run(check())


def test_another_lease_error_is_not_swallowed() -> None:
    with pytest.raises(ApiStatusError):
        asyncio.run(check_no_controller_manager(LeaseClient(code=500), ["gc"], now=lambda: NOW))  # type: ignore[arg-type]


# ReplicaSets and Deployments.


def replica_set(name: str = "web-abc", replicas: int = 2, **meta: Any) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": name,
            "namespace": "ml",
            "uid": f"uid-{name}",
            "generation": 3,
            **meta,
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": []}},
        },
        "status": {"replicas": 0},
    }


def rs_pod(name: str, owner: str = "web-abc", ready: bool = False, **meta: Any) -> Obj:
    return {
        "metadata": {
            "name": name,
            "namespace": "ml",
            "uid": f"uid-{name}",
            "labels": {"app": "web"},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": owner,
                    "uid": f"uid-{owner}",
                    "controller": True,
                }
            ],
            **meta,
        },
        "spec": {},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": str(ready)}]},
    }


def test_a_replica_set_creates_its_missing_pods_and_counts_the_ready_ones() -> None:
    plan = plan_replica_set(
        replica_set(replicas=3), [rs_pod("a", ready=True), rs_pod("other", owner="x")], NOW
    )
    assert len(plan.create) == 2
    assert plan.create[0]["metadata"]["generateName"] == "web-abc-"
    assert plan.create[0]["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet"
    assert plan.status == {
        "replicas": 1,
        "fullyLabeledReplicas": 1,
        "readyReplicas": 1,
        "availableReplicas": 1,
        "observedGeneration": 3,
    }


def test_a_scaled_down_replica_set_deletes_not_ready_pods_first() -> None:
    pods = [rs_pod("ready", ready=True), rs_pod("waiting")]
    plan = plan_replica_set(replica_set(replicas=1), pods, NOW)
    assert [p["metadata"]["name"] for p in plan.delete] == ["waiting"]


def deployment(version: str = "v1", **status: Any) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "ml",
            "uid": "uid-web",
            "generation": 2,
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}", "team": "ml"},
        },
        "spec": {
            "replicas": 4,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}},
            "template": {
                "metadata": {"labels": {"app": "web"}, "annotations": {"v": version}},
                "spec": {"containers": [{"name": "c", "image": "x"}]},
            },
        },
        "status": status,
    }


def test_a_new_deployment_creates_its_replica_set_named_by_the_template_hash() -> None:
    plan = plan_deployment(deployment(), [])
    assert plan.create is not None and plan.scale == ()
    meta = plan.create["metadata"]
    hash_ = meta["labels"]["pod-template-hash"]
    assert meta["name"] == f"web-{hash_}"
    assert meta["annotations"] == {
        "team": "ml",
        "deployment.kubernetes.io/revision": "1",
        "deployment.kubernetes.io/desired-replicas": "4",
        "deployment.kubernetes.io/max-replicas": "5",
    }
    assert plan.create["spec"]["selector"]["matchLabels"] == {
        "app": "web",
        "pod-template-hash": hash_,
    }
    assert plan.create["spec"]["template"]["metadata"]["labels"]["pod-template-hash"] == hash_
    # Another collision count, another name.
    bumped = plan_deployment(deployment(collisionCount=1), [])
    assert bumped.create is not None and bumped.create["metadata"]["name"] != meta["name"]


def test_a_changed_template_gets_a_new_replica_set_and_the_old_one_goes_to_zero() -> None:
    first = plan_deployment(deployment("v1"), []).create
    assert first is not None
    old = {
        **first,
        "metadata": {
            **first["metadata"],
            "uid": "uid-old",
            "creationTimestamp": "2026-12-07T03:00:00Z",
        },
        "status": {"replicas": 4, "readyReplicas": 4, "availableReplicas": 4},
    }
    again = plan_deployment(deployment("v1"), [old])
    assert again.create is None and again.scale == ()
    assert again.status == {
        "replicas": 4,
        "updatedReplicas": 4,
        "readyReplicas": 4,
        "availableReplicas": 4,
        "observedGeneration": 2,
    }
    rolled = plan_deployment(deployment("v2"), [old])
    assert rolled.create is not None
    assert rolled.create["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    assert [(rs["metadata"]["uid"], n) for rs, n in rolled.scale] == [("uid-old", 0)]
    paused = deployment("v2")
    paused["spec"]["paused"] = True
    assert plan_deployment(paused, [old]).create is None


def test_a_job_being_deleted_never_replaces_its_pods() -> None:
    deleting = job(parallelism=2)
    deleting["metadata"]["deletionTimestamp"] = "2026-12-07T04:00:00Z"
    assert plan_job(deleting, [], NOW) == PodsPlan()
