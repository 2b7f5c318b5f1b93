"""dralloc's StatefulSet, JobSet and LeaderWorkerSet controllers against a real
kube-apiserver with the projects' real CRDs (JobSet v0.11.1, LeaderWorkerSet v0.8.0, fetched
by tools/build.sh): pods made in order and removed highest first, a JobSet's Jobs, Service and
completion, an LWS's leader and worker StatefulSets, the garbage collector taking everything
when the owner goes, and the pods' names and labels equal to what the offline expansion
(`dralloc schedule`'s) makes of the same objects.

No kubelet runs: the tests write the pod status a kubelet would (Running and Ready, or
Succeeded), which also lets them hold a pod back and watch the controller wait for it."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from controlplane import ApiServer
from crdkit import install_crds
from test_controllers import eventually, get_or_none, running_controllers

from dralloc.api.io import from_server
from dralloc.api.validation.times import format_time
from dralloc.api.workloads import WORKLOAD_KINDS
from dralloc.controllers.workloads import expand_workloads
from dralloc.kube.client import JOBS, PODS, KubeClient
from dralloc.kube.controllers.jobset import JOBSETS, SERVICES
from dralloc.kube.controllers.leaderworkerset import LEADER_WORKER_SETS
from dralloc.kube.controllers.statefulset import CONTROLLER_REVISIONS, STATEFUL_SETS
from dralloc.kube.informer import Informer

pytestmark = pytest.mark.k8s

Obj = dict[str, Any]
CRD_FILES = ("jobset.x-k8s.io_jobsets.yaml", "leaderworkerset.x-k8s.io_leaderworkersets.yaml")

# Labels whose values are UIDs (the offline expansion draws its own).
UID_LABELS = frozenset(
    {"batch.kubernetes.io/controller-uid", "controller-uid", "jobset.sigs.k8s.io/jobset-uid"}
)
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"
REVISION_HASH = "controller-revision-hash"


@pytest.fixture(scope="module")
def crds(apiserver: ApiServer) -> Iterator[None]:
    """The JobSet and LeaderWorkerSet CRDs installed and served (skipped without them)."""
    install_crds(apiserver, CRD_FILES, ("jobset.x-k8s.io/v1alpha2", "leaderworkerset.x-k8s.io/v1"))
    yield


# What a kubelet would write.


async def set_running_and_ready(client: KubeClient, pod: Obj) -> None:
    meta = pod["metadata"]
    stamp = format_time(datetime.now(UTC))
    await client.patch(
        PODS.item(meta["namespace"], meta["name"], "status"),
        {
            "status": {
                "phase": "Running",
                "conditions": [
                    {"type": "Ready", "status": "True", "lastTransitionTime": stamp},
                ],
            }
        },
    )


async def set_phase(client: KubeClient, pod: Obj, phase: str) -> None:
    meta = pod["metadata"]
    await client.patch(
        PODS.item(meta["namespace"], meta["name"], "status"), {"status": {"phase": phase}}
    )


async def pods_of(client: KubeClient, namespace: str, selector: str = "") -> dict[str, Obj]:
    params = {"labelSelector": selector} if selector else {}
    listed = await client.list(PODS.collection(namespace), **params)
    return {p["metadata"]["name"]: p for p in listed["items"]}


class PodEvents:
    """The names of a namespace's pods as a watch saw them created and deleted, in order."""

    def __init__(self) -> None:
        self.added: list[str] = []
        self.deleted: list[str] = []

    def on_add(self, obj: Obj) -> None:
        self.added.append(obj["metadata"]["name"])

    def on_update(self, old: Obj, new: Obj) -> None:
        return None

    def on_delete(self, obj: Obj) -> None:
        self.deleted.append(obj["metadata"]["name"])


@asynccontextmanager
async def pod_events(client: KubeClient, namespace: str) -> AsyncIterator[PodEvents]:
    events = PodEvents()
    informer = Informer(client, PODS, namespace=namespace, handlers=[events])
    task = asyncio.create_task(informer.run())
    await informer.wait_synced(30)
    try:
        yield events
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


# The one comparison with the offline expansion.


def pod_identity(pod_name: str, labels: dict[str, str]) -> str:
    """A pod's name, or for a Job's pod (named by the server from `generateName`) its Job
    and completion index."""
    if JOB_NAME_LABEL in labels:
        return f"{labels[JOB_NAME_LABEL]}[{labels.get(COMPLETION_INDEX, '')}]"
    return pod_name


def comparable(labels: dict[str, str], *, ignore: frozenset[str] = frozenset()) -> dict[str, str]:
    return {k: v for k, v in labels.items() if k not in UID_LABELS | ignore}


def assert_agrees_with_offline(
    stored: list[Obj], live_pods: list[Obj], *, ignore: frozenset[str] = frozenset()
) -> None:
    """The live pods are the ones `expand_workloads` makes of the same objects as the API
    server stored them: the same names (or Job and index), the same labels but for UIDs,
    and the keys in `ignore`."""
    workloads = [from_server(obj, WORKLOAD_KINDS[obj["kind"]][0]) for obj in stored]
    expansion = expand_workloads(workloads, random.Random(0))
    assert not expansion.problems, expansion.problems
    offline = {
        pod_identity(e.pod.metadata.name, e.pod.metadata.labels): comparable(
            e.pod.metadata.labels, ignore=ignore
        )
        for e in expansion.pods
    }
    live = {
        pod_identity(p["metadata"]["name"], p["metadata"].get("labels") or {}): comparable(
            p["metadata"].get("labels") or {}, ignore=ignore
        )
        for p in live_pods
    }
    assert sorted(live) == sorted(offline)
    for identity, labels in live.items():
        assert labels == offline[identity], identity


# StatefulSet


def stateful_set(namespace: str, name: str, replicas: int, policy: str = "OrderedReady") -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "serviceName": name,
            "podManagementPolicy": policy,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "schedulerName": "nobody",
                    "containers": [{"name": "main", "image": "registry.example/web:1"}],
                },
            },
        },
    }


def test_an_ordered_ready_stateful_set_comes_up_in_order_and_scales_down_highest_first(
    apiserver: ApiServer, namespace: str
) -> None:
    async def scenario() -> None:
        names = ["statefulset", "gc"]
        async with (
            running_controllers(apiserver.admin_kubeconfig, names) as client,
            pod_events(client, namespace) as events,
        ):
            stored = await client.create(
                STATEFUL_SETS.collection(namespace), stateful_set(namespace, "web", 3)
            )
            uid = stored["metadata"]["uid"]
            for ordinal in range(3):
                name = f"web-{ordinal}"

                async def exists(name: str = name) -> Obj | None:
                    return (await pods_of(client, namespace)).get(name)

                pod = await eventually(exists, what=f"pod {name}")
                # Nothing past it until it is Running and Ready.
                await asyncio.sleep(0.5)
                assert sorted(await pods_of(client, namespace)) == [
                    f"web-{i}" for i in range(ordinal + 1)
                ]
                meta = pod["metadata"]
                assert meta["generateName"] == "web-"
                assert meta["labels"]["statefulset.kubernetes.io/pod-name"] == name
                assert meta["labels"]["apps.kubernetes.io/pod-index"] == str(ordinal)
                assert meta["labels"]["app"] == "web"
                assert pod["spec"]["hostname"] == name
                assert pod["spec"]["subdomain"] == "web"
                assert meta["ownerReferences"] == [
                    {
                        "apiVersion": "apps/v1",
                        "kind": "StatefulSet",
                        "name": "web",
                        "uid": uid,
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ]
                await set_running_and_ready(client, pod)
            assert events.added == ["web-0", "web-1", "web-2"]

            async def settled() -> Obj | None:
                found = await client.get(STATEFUL_SETS.item(namespace, "web"))
                status = found.get("status") or {}
                want = {"replicas": 3, "readyReplicas": 3, "availableReplicas": 3}
                ok = all(status.get(k) == v for k, v in want.items())
                return found if ok and status.get("currentReplicas") == 3 else None

            found = await eventually(settled, what="status of 3 ready replicas")
            status = found["status"]
            revision = status["updateRevision"]
            assert status["currentRevision"] == revision
            assert status["updatedReplicas"] == 3
            assert status["observedGeneration"] == 1
            assert status["collisionCount"] == 0
            assert revision.startswith("web-")
            pods = await pods_of(client, namespace)
            assert {p["metadata"]["labels"][REVISION_HASH] for p in pods.values()} == {revision}
            history = await client.get(CONTROLLER_REVISIONS.item(namespace, revision))
            assert history["revision"] == 1
            assert history["metadata"]["ownerReferences"][0]["uid"] == uid
            assert history["metadata"]["labels"] == {"app": "web"}
            assert history["data"]["spec"]["template"]["$patch"] == "replace"
            assert_agrees_with_offline([found], list(pods.values()))

            # A pod that fails is deleted and made again.
            failed_uid = pods["web-1"]["metadata"]["uid"]
            await set_phase(client, pods["web-1"], "Failed")

            async def replaced() -> Obj | None:
                pod = (await pods_of(client, namespace)).get("web-1")
                return pod if pod and pod["metadata"]["uid"] != failed_uid else None

            await set_running_and_ready(client, await eventually(replaced, what="web-1 anew"))

            # Scale to 1: web-2, then web-1, one at a time.
            await client.patch(STATEFUL_SETS.item(namespace, "web"), {"spec": {"replicas": 1}})

            async def scaled_down() -> bool:
                return sorted(await pods_of(client, namespace)) == ["web-0"]

            await eventually(scaled_down, what="scaled down to web-0")
            assert events.deleted == ["web-1", "web-2", "web-1"]

            # A pod deleted by someone else is made again.
            gone_uid = (await pods_of(client, namespace))["web-0"]["metadata"]["uid"]
            await client.delete(PODS.item(namespace, "web-0"))

            async def recreated() -> bool:
                pod = (await pods_of(client, namespace)).get("web-0")
                return pod is not None and pod["metadata"]["uid"] != gone_uid

            await eventually(recreated, what="web-0 made again after its deletion")

            # The StatefulSet goes: the collector takes its pod and its revision.
            await client.delete(
                STATEFUL_SETS.item(namespace, "web"), {"propagationPolicy": "Background"}
            )

            async def collected() -> bool:
                left = await client.list(CONTROLLER_REVISIONS.collection(namespace))
                return not await pods_of(client, namespace) and not left["items"]

            await eventually(collected, what="pods and ControllerRevision collected")

    asyncio.run(scenario())


def test_a_parallel_stateful_set_makes_every_pod_at_once(
    apiserver: ApiServer, namespace: str
) -> None:
    async def scenario() -> None:
        async with running_controllers(apiserver.admin_kubeconfig, ["statefulset"]) as client:
            await client.create(
                STATEFUL_SETS.collection(namespace),
                stateful_set(namespace, "db", 3, policy="Parallel"),
            )

            async def three() -> bool:
                return sorted(await pods_of(client, namespace)) == ["db-0", "db-1", "db-2"]

            await eventually(three, what="three pods with none ready")
            await client.patch(STATEFUL_SETS.item(namespace, "db"), {"spec": {"replicas": 0}})

            async def none() -> bool:
                return not await pods_of(client, namespace)

            await eventually(none, what="every pod deleted")

    asyncio.run(scenario())


# JobSet


def jobset(namespace: str, name: str, **spec: Any) -> Obj:
    def replicated(rjob: str, replicas: int, parallelism: int) -> Obj:
        return {
            "name": rjob,
            "replicas": replicas,
            "template": {
                "metadata": {"labels": {"role": rjob}},
                "spec": {
                    "parallelism": parallelism,
                    "completions": parallelism,
                    "backoffLimit": 0,
                    "template": {
                        "spec": {
                            "restartPolicy": "Never",
                            "schedulerName": "nobody",
                            "containers": [{"name": "main", "image": "registry.example/t:1"}],
                        }
                    },
                },
            },
        }

    return {
        "apiVersion": "jobset.x-k8s.io/v1alpha2",
        "kind": "JobSet",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicatedJobs": [replicated("leader", 1, 1), replicated("workers", 2, 2)],
            **spec,
        },
    }


async def jobset_pods(client: KubeClient, namespace: str, name: str) -> list[Obj]:
    found = await pods_of(client, namespace, f"jobset.sigs.k8s.io/jobset-name={name}")
    return [
        p
        for p in found.values()
        if p["status"].get("phase") not in ("Succeeded", "Failed")
        and not p["metadata"].get("deletionTimestamp")
    ]


def test_a_jobset_makes_its_jobs_and_service_and_completes_when_its_pods_succeed(
    apiserver: ApiServer, namespace: str, crds: None
) -> None:
    async def scenario() -> None:
        names = ["jobset", "job", "gc"]
        async with running_controllers(apiserver.admin_kubeconfig, names) as client:
            stored = await client.create(JOBSETS.collection(namespace), jobset(namespace, "train"))
            uid = stored["metadata"]["uid"]

            async def five_pods() -> list[Obj] | None:
                pods = await jobset_pods(client, namespace, "train")
                return pods if len(pods) == 5 else None

            pods = await eventually(five_pods, what="the JobSet's 5 pods")
            jobs = {
                j["metadata"]["name"]: j
                for j in (await client.list(JOBS.collection(namespace)))["items"]
            }
            assert sorted(jobs) == ["train-leader-0", "train-workers-0", "train-workers-1"]
            worker = jobs["train-workers-1"]
            labels = worker["metadata"]["labels"]
            assert labels["role"] == "workers"
            assert {k: v for k, v in labels.items() if k.startswith("jobset.sigs.k8s.io/")} == {
                "jobset.sigs.k8s.io/jobset-name": "train",
                "jobset.sigs.k8s.io/jobset-uid": uid,
                "jobset.sigs.k8s.io/replicatedjob-name": "workers",
                "jobset.sigs.k8s.io/replicatedjob-replicas": "2",
                "jobset.sigs.k8s.io/global-replicas": "3",
                "jobset.sigs.k8s.io/job-index": "1",
                "jobset.sigs.k8s.io/job-global-index": "2",
                "jobset.sigs.k8s.io/job-key": labels["jobset.sigs.k8s.io/job-key"],
                "jobset.sigs.k8s.io/restart-attempt": "0",
                "jobset.sigs.k8s.io/group-name": "default",
                "jobset.sigs.k8s.io/group-replicas": "3",
                "jobset.sigs.k8s.io/job-group-index": "2",
            }
            assert worker["metadata"]["annotations"]["jobset.sigs.k8s.io/job-index"] == "1"
            assert worker["metadata"]["ownerReferences"][0]["uid"] == uid
            assert worker["spec"]["completionMode"] == "Indexed"
            assert worker["spec"]["suspend"] is False
            assert worker["spec"]["template"]["spec"]["subdomain"] == "train"
            service = await client.get(SERVICES.item(namespace, "train"))
            assert service["spec"]["clusterIP"] == "None"
            assert service["spec"]["selector"] == {"jobset.sigs.k8s.io/jobset-name": "train"}
            assert service["spec"]["publishNotReadyAddresses"] is True
            assert service["metadata"]["ownerReferences"][0]["uid"] == uid
            assert all(p["spec"]["subdomain"] == "train" for p in pods)
            assert_agrees_with_offline([stored], pods)

            async def status() -> Obj | None:
                found = await client.get(JOBSETS.item(namespace, "train"))
                rjobs = (found.get("status") or {}).get("replicatedJobsStatus") or []
                return found if rjobs and rjobs[1]["active"] == 2 else None

            found = await eventually(status, what="replicatedJobsStatus with active Jobs")
            assert [r["name"] for r in found["status"]["replicatedJobsStatus"]] == [
                "leader",
                "workers",
            ]
            assert found["status"]["restarts"] == 0

            for pod in pods:
                await set_phase(client, pod, "Succeeded")

            async def completed() -> Obj | None:
                found = await client.get(JOBSETS.item(namespace, "train"))
                status = found.get("status") or {}
                return found if status.get("terminalState") == "Completed" else None

            done = await eventually(completed, what="the JobSet Completed")
            (condition,) = done["status"]["conditions"]
            assert (condition["type"], condition["status"], condition["reason"]) == (
                "Completed",
                "True",
                "AllJobsCompleted",
            )
            assert {r["name"]: r["succeeded"] for r in done["status"]["replicatedJobsStatus"]} == {
                "leader": 1,
                "workers": 2,
            }

            await client.delete(
                JOBSETS.item(namespace, "train"), {"propagationPolicy": "Background"}
            )

            async def collected() -> bool:
                jobs_left = (await client.list(JOBS.collection(namespace)))["items"]
                service = await get_or_none(client, SERVICES.item(namespace, "train"))
                return not jobs_left and service is None and not await pods_of(client, namespace)

            await eventually(collected, what="Jobs, pods and Service collected")

    asyncio.run(scenario())


def test_a_failed_job_restarts_the_jobset_until_max_restarts(
    apiserver: ApiServer, namespace: str, crds: None
) -> None:
    async def scenario() -> None:
        names = ["jobset", "job", "gc"]
        async with running_controllers(apiserver.admin_kubeconfig, names) as client:
            await client.create(
                JOBSETS.collection(namespace),
                jobset(namespace, "flaky", failurePolicy={"maxRestarts": 1}),
            )
            for attempt in ("0", "1"):

                async def five(attempt: str = attempt) -> list[Obj] | None:
                    pods = await jobset_pods(client, namespace, "flaky")
                    labels = [p["metadata"]["labels"] for p in pods]
                    of_attempt = [
                        lb for lb in labels if lb["jobset.sigs.k8s.io/restart-attempt"] == attempt
                    ]
                    return pods if len(of_attempt) == len(pods) == 5 else None

                pods = await eventually(five, what=f"5 pods of attempt {attempt}")
                leader = next(
                    p
                    for p in pods
                    if p["metadata"]["labels"]["jobset.sigs.k8s.io/replicatedjob-name"] == "leader"
                )
                await set_phase(client, leader, "Failed")

            async def failed() -> Obj | None:
                found = await client.get(JOBSETS.item(namespace, "flaky"))
                status = found.get("status") or {}
                return found if status.get("terminalState") == "Failed" else None

            done = await eventually(failed, what="the JobSet Failed")
            assert done["status"]["restarts"] == 1
            assert done["status"]["restartsCountTowardsMax"] == 1
            (condition,) = done["status"]["conditions"]
            assert condition["reason"] == "ReachedMaxRestarts"
            assert condition["message"] == (
                "jobset failed due to reaching max number of restarts "
                "(first failed job: flaky-leader-0)"
            )

            async def active_jobs_deleted() -> bool:
                return not await jobset_pods(client, namespace, "flaky")

            await eventually(active_jobs_deleted, what="the finished JobSet's pods gone")

    asyncio.run(scenario())


# LeaderWorkerSet

LWS_PREFIX = "leaderworkerset.sigs.k8s.io/"


def leader_worker_set(namespace: str, name: str, replicas: int, size: int) -> Obj:
    return {
        "apiVersion": "leaderworkerset.x-k8s.io/v1",
        "kind": "LeaderWorkerSet",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "leaderWorkerTemplate": {
                "size": size,
                "workerTemplate": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {
                        "schedulerName": "nobody",
                        "containers": [{"name": "main", "image": "registry.example/llm:1"}],
                    },
                },
            },
        },
    }


def test_a_leader_worker_set_makes_its_stateful_sets_and_labelled_pods(
    apiserver: ApiServer, namespace: str, crds: None
) -> None:
    async def scenario() -> None:
        names = ["statefulset", "leaderworkerset", "gc"]
        async with running_controllers(apiserver.admin_kubeconfig, names) as client:
            stored = await client.create(
                LEADER_WORKER_SETS.collection(namespace), leader_worker_set(namespace, "llm", 2, 3)
            )
            want = ["llm-0", "llm-0-1", "llm-0-2", "llm-1", "llm-1-1", "llm-1-2"]

            async def six() -> dict[str, Obj] | None:
                pods = await pods_of(client, namespace)
                return pods if sorted(pods) == want else None

            pods = await eventually(six, what="2 leaders and 4 workers")
            sets = {
                s["metadata"]["name"]: s
                for s in (await client.list(STATEFUL_SETS.collection(namespace)))["items"]
            }
            assert sorted(sets) == ["llm", "llm-0", "llm-1"]
            leaders = sets["llm"]
            assert leaders["spec"]["replicas"] == 2
            assert leaders["spec"]["podManagementPolicy"] == "Parallel"
            assert leaders["spec"]["serviceName"] == "llm"
            assert leaders["metadata"]["annotations"][LWS_PREFIX + "replicas"] == "2"
            assert leaders["metadata"]["ownerReferences"][0]["uid"] == stored["metadata"]["uid"]
            workers = sets["llm-1"]
            assert workers["spec"]["replicas"] == 2
            assert workers["spec"]["ordinals"] == {"start": 1}
            assert workers["metadata"]["ownerReferences"][0]["kind"] == "Pod"
            assert (
                workers["metadata"]["ownerReferences"][0]["uid"]
                == (pods["llm-1"]["metadata"]["uid"])
            )
            leader = pods["llm-1"]["metadata"]
            worker = pods["llm-1-2"]["metadata"]
            assert leader["labels"][LWS_PREFIX + "worker-index"] == "0"
            assert leader["labels"][LWS_PREFIX + "group-index"] == "1"
            assert worker["labels"][LWS_PREFIX + "worker-index"] == "2"
            assert worker["labels"][LWS_PREFIX + "group-index"] == "1"
            assert (
                worker["labels"][LWS_PREFIX + "group-key"]
                == (leader["labels"][LWS_PREFIX + "group-key"])
            )
            assert worker["annotations"][LWS_PREFIX + "leader-name"] == "llm-1"
            assert worker["annotations"][LWS_PREFIX + "size"] == "3"
            # The server defaults the StatefulSets the LWS controller writes (a pod spec's
            # defaults), which the offline one's templates never are: their revision
            # hashes differ, every other label agrees.
            assert_agrees_with_offline(
                [stored], list(pods.values()), ignore=frozenset({REVISION_HASH})
            )
            service = await client.get(SERVICES.item(namespace, "llm"))
            assert service["spec"]["selector"] == {LWS_PREFIX + "name": "llm"}

            for pod in pods.values():
                await set_running_and_ready(client, pod)

            async def available() -> Obj | None:
                found = await client.get(LEADER_WORKER_SETS.item(namespace, "llm"))
                status = found.get("status") or {}
                types = {c["type"]: c["status"] for c in status.get("conditions") or []}
                ready = status.get("readyReplicas") == 2 and types.get("Available") == "True"
                return found if ready else None

            done = await eventually(available, what="LeaderWorkerSet Available")
            assert done["status"]["replicas"] == 2
            assert done["status"]["hpaPodSelector"] == (
                f"{LWS_PREFIX}name=llm,{LWS_PREFIX}worker-index=0"
            )
            types = {c["type"]: c["status"] for c in done["status"]["conditions"]}
            assert types == {"Progressing": "False", "Available": "True"}

            await client.delete(
                LEADER_WORKER_SETS.item(namespace, "llm"), {"propagationPolicy": "Background"}
            )

            async def collected() -> bool:
                left = (await client.list(STATEFUL_SETS.collection(namespace)))["items"]
                service = await get_or_none(client, SERVICES.item(namespace, "llm"))
                return not left and service is None and not await pods_of(client, namespace)

            await eventually(collected, what="StatefulSets, pods and Service collected")

    asyncio.run(scenario())


# RBAC

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_the_workload_controllers_role_is_enough_for_statefulset_jobset_and_lws(
    apiserver: ApiServer, namespace: str, crds: None
) -> None:
    """The `dralloc` user, bound to deploy/extras/workload-controllers-role.yaml only, runs
    the controllers through a JobSet's and an LWS's life: nothing refused."""
    role = yaml.safe_load((DEPLOY / "extras" / "workload-controllers-role.yaml").read_text())
    name = role["metadata"]["name"]
    if apiserver.admin.get(f"/apis/rbac.authorization.k8s.io/v1/clusterroles/{name}").status == 404:
        apiserver.admin.create(
            "/apis/rbac.authorization.k8s.io/v1/clusterroles", role
        ).raise_for_status()
        apiserver.admin.create(
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": name},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": name,
                },
                "subjects": [
                    {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "dralloc"}
                ],
            },
        ).raise_for_status()

    async def scenario() -> None:
        names = ["statefulset", "jobset", "leaderworkerset", "job", "gc"]
        admin = KubeClient.connect(apiserver.admin_kubeconfig)
        try:
            async with running_controllers(apiserver.dralloc_kubeconfig, names):
                await admin.create(JOBSETS.collection(namespace), jobset(namespace, "js"))
                await admin.create(
                    LEADER_WORKER_SETS.collection(namespace),
                    leader_worker_set(namespace, "lws", 1, 2),
                )

                async def all_pods() -> dict[str, Obj] | None:
                    pods = await pods_of(admin, namespace)
                    return pods if len(pods) == 7 else None

                pods = await eventually(all_pods, what="5 JobSet pods and 2 LWS pods")
                for pod in pods.values():
                    await set_running_and_ready(admin, pod)

                async def statuses() -> bool:
                    js = await admin.get(JOBSETS.item(namespace, "js"))
                    lws = await admin.get(LEADER_WORKER_SETS.item(namespace, "lws"))
                    return (
                        bool(js.get("status"))
                        and (lws.get("status") or {}).get("readyReplicas") == 1
                    )

                await eventually(statuses, what="JobSet and LWS status written")
                for path in (
                    JOBSETS.item(namespace, "js"),
                    LEADER_WORKER_SETS.item(namespace, "lws"),
                ):
                    await admin.delete(path, {"propagationPolicy": "Background"})

                async def collected() -> bool:
                    left = (await admin.list(STATEFUL_SETS.collection(namespace)))["items"]
                    jobs = (await admin.list(JOBS.collection(namespace)))["items"]
                    services = (await admin.list(SERVICES.collection(namespace)))["items"]
                    pods = await pods_of(admin, namespace)
                    return not (left or jobs or services or pods)

                await eventually(collected, what="everything collected")
        finally:
            await admin.aclose()

    asyncio.run(scenario())
