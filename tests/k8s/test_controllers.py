"""dralloc's cluster-mode controllers against a real kube-apiserver: claims from templates,
reservations of deleted pods released, orphans collected, a Job's pods made, and the refusal
to run beside kube-controller-manager."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from controlplane import ApiServer

from dralloc.kube.client import (
    EVENTS,
    JOBS,
    LEASES,
    PODS,
    RESOURCE_CLAIM_TEMPLATES,
    RESOURCE_CLAIMS,
    ApiStatusError,
    KubeClient,
)
from dralloc.kube.controllers import (
    DELETE_PROTECTION_FINALIZER,
    DEPLOYMENTS,
    REPLICA_SETS,
    ControllerConflict,
    build_controllers,
    check_no_controller_manager,
)
from dralloc.kube.informer import Informer
from dralloc.kube.shared_informers import SharedInformers

pytestmark = pytest.mark.k8s

Obj = dict[str, Any]
POD_CLAIM_ANNOTATION = "resource.kubernetes.io/pod-claim-name"


@asynccontextmanager
async def running_controllers(kubeconfig: Path, names: list[str]) -> AsyncIterator[KubeClient]:
    """dralloc's controllers `names` running in this event loop; yields an admin client."""
    client = KubeClient.connect(kubeconfig)
    informers = SharedInformers(client, random.Random(7))
    controllers = build_controllers(names, client, informers, rng=random.Random(7))
    await informers.start()
    await informers.wait_synced(30)
    tasks = [asyncio.create_task(c.run(), name=c.name) for c in controllers]
    try:
        yield client
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await informers.stop()
        await client.aclose()


@asynccontextmanager
async def admin_client(kubeconfig: Path) -> AsyncIterator[KubeClient]:
    client = KubeClient.connect(kubeconfig)
    try:
        yield client
    finally:
        await client.aclose()


async def eventually(
    check: Callable[[], Awaitable[Any]], timeout: float = 30.0, what: str = "condition"
) -> Any:
    """Poll `check` until it returns something truthy; fail with its last answer."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what} not reached in {timeout:g} s; last: {last!r}")


async def get_or_none(client: KubeClient, path: str) -> Obj | None:
    try:
        return await client.get(path)
    except ApiStatusError as err:
        if err.is_not_found:
            return None
        raise


def template(namespace: str, name: str = "gpu-template") -> Obj:
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaimTemplate",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "metadata": {"labels": {"team": "ml"}, "annotations": {"note": "from-template"}},
            "spec": {
                "devices": {
                    "requests": [{"name": "gpu", "exactly": {"deviceClassName": "gpu.example.com"}}]
                }
            },
        },
    }


def pod_with_template_claims(
    namespace: str, name: str, claims: dict[str, str], *, scheduler: str = "nobody"
) -> Obj:
    """A pod (never scheduled: no scheduler has `scheduler`'s name) with one pod claim per
    entry of `claims` (pod claim name -> template name)."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "schedulerName": scheduler,
            "containers": [
                {
                    "name": "main",
                    "image": "registry.example/app:1",
                    "resources": {"claims": [{"name": claim} for claim in claims]},
                }
            ],
            "resourceClaims": [
                {"name": claim, "resourceClaimTemplateName": tmpl} for claim, tmpl in claims.items()
            ],
        },
    }


def claim_status_of(pod: Obj) -> dict[str, str | None]:
    return {
        s["name"]: s.get("resourceClaimName")
        for s in (pod.get("status") or {}).get("resourceClaimStatuses") or []
    }


async def create_pod_with_claim(client: KubeClient, namespace: str, pod_name: str) -> Obj:
    await client.create(RESOURCE_CLAIM_TEMPLATES.collection(namespace), template(namespace))
    return await client.create(
        PODS.collection(namespace),
        pod_with_template_claims(namespace, pod_name, {"gpu": "gpu-template"}),
    )


async def generated_claim(client: KubeClient, namespace: str, pod_name: str) -> Obj:
    """The claim recorded in the pod's status, once it is there."""

    async def recorded() -> Obj | None:
        pod = await client.get(PODS.item(namespace, pod_name))
        name = claim_status_of(pod).get("gpu")
        return await client.get(RESOURCE_CLAIMS.item(namespace, name)) if name else None

    found: Obj = await eventually(recorded, what=f"claim recorded in pod {pod_name}")
    return found


async def allocate_and_reserve(client: KubeClient, claim: Obj, pod: Obj) -> Obj:
    """What the scheduler's PreBind does: the finalizer (PUT), then allocation and
    reservedFor (status PUT)."""
    namespace, name = claim["metadata"]["namespace"], claim["metadata"]["name"]
    claim["metadata"].setdefault("finalizers", []).append(DELETE_PROTECTION_FINALIZER)
    claim = await client.update(RESOURCE_CLAIMS.item(namespace, name), claim)
    claim["status"] = {
        "allocation": {
            "devices": {
                "results": [
                    {
                        "request": "gpu",
                        "driver": "gpu.example.com",
                        "pool": "node-a",
                        "device": "gpu-0",
                    }
                ]
            }
        },
        "reservedFor": [
            {"resource": "pods", "name": pod["metadata"]["name"], "uid": pod["metadata"]["uid"]}
        ],
    }
    return await client.update(RESOURCE_CLAIMS.item(namespace, name, "status"), claim)


class ClaimHistory:
    """Every state of the claims of one namespace as a watch saw them, in order:
    (claim name, reserved pod names, allocated, has the finalizer) or (name, "deleted")."""

    def __init__(self) -> None:
        self.states: list[tuple[Any, ...]] = []

    def on_add(self, obj: Obj) -> None:
        self.states.append(self._state(obj))

    def on_update(self, old: Obj, new: Obj) -> None:
        state = self._state(new)
        if not self.states or self.states[-1] != state:
            self.states.append(state)

    def on_delete(self, obj: Obj) -> None:
        self.states.append((obj["metadata"]["name"], "deleted"))

    @staticmethod
    def _state(claim: Obj) -> tuple[Any, ...]:
        status = claim.get("status") or {}
        return (
            claim["metadata"]["name"],
            tuple(r["name"] for r in status.get("reservedFor") or []),
            bool(status.get("allocation")),
            DELETE_PROTECTION_FINALIZER in (claim["metadata"].get("finalizers") or []),
        )


@asynccontextmanager
async def claim_history(kubeconfig: Path, namespace: str) -> AsyncIterator[ClaimHistory]:
    history = ClaimHistory()
    async with admin_client(kubeconfig) as client:
        informer = Informer(client, RESOURCE_CLAIMS, namespace=namespace, handlers=[history])
        task = asyncio.create_task(informer.run())
        await informer.wait_synced(30)
        try:
            yield history
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def released_claim_scenario(
    kubeconfig: Path, namespace: str, controllers: list[str] | None
) -> tuple[Obj, list[tuple[Any, ...]]]:
    """A pod's generated claim is allocated and reserved, then the pod is deleted. Runs
    dralloc's `controllers` (None: another controller manager does the work). Returns the
    claim as first created and the claim's history until it is gone."""
    async with claim_history(kubeconfig, namespace) as history:
        async with admin_client(kubeconfig) as client:
            if controllers is not None:
                context = running_controllers(kubeconfig, controllers)
            else:
                context = _nothing(client)
            async with context:
                pod = await create_pod_with_claim(client, namespace, "trainer")
                claim = await generated_claim(client, namespace, "trainer")
                await allocate_and_reserve(client, dict(claim), pod)
                await client.delete(PODS.item(namespace, "trainer"), {"gracePeriodSeconds": 0})
                path = RESOURCE_CLAIMS.item(namespace, claim["metadata"]["name"])

                async def gone() -> bool:
                    return await get_or_none(client, path) is None

                await eventually(gone, timeout=60, what="generated claim deleted")
                await eventually(lambda: _has_deleted(history), timeout=10, what="deletion watched")
        return claim, list(history.states)


async def _has_deleted(history: ClaimHistory) -> bool:
    return any(state[1:] == ("deleted",) for state in history.states)


@asynccontextmanager
async def _nothing(client: KubeClient) -> AsyncIterator[KubeClient]:
    yield client


def test_a_pod_with_a_template_claim_gets_its_claim_and_the_claim_is_recorded_in_its_status(
    apiserver: ApiServer, namespace: str
) -> None:
    async def scenario() -> None:
        async with running_controllers(apiserver.admin_kubeconfig, ["resourceclaim"]) as client:
            pod = await create_pod_with_claim(client, namespace, "trainer-0")
            claim = await generated_claim(client, namespace, "trainer-0")
            meta = claim["metadata"]
            assert meta["generateName"] == "trainer-0-gpu-"
            assert meta["name"].startswith("trainer-0-gpu-") and len(meta["name"]) == 19
            assert meta["annotations"] == {POD_CLAIM_ANNOTATION: "gpu", "note": "from-template"}
            assert meta["labels"] == {"team": "ml"}
            assert meta["ownerReferences"] == [
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "name": "trainer-0",
                    "uid": pod["metadata"]["uid"],
                    "controller": True,
                }
            ]
            assert claim["spec"]["devices"]["requests"][0]["exactly"]["deviceClassName"] == (
                "gpu.example.com"
            )
            updated = await client.get(PODS.item(namespace, "trainer-0"))
            assert claim_status_of(updated) == {"gpu": meta["name"]}
            managers = {m["manager"] for m in updated["metadata"]["managedFields"]}
            assert "ResourceClaimController" in managers
            listed = await client.list(RESOURCE_CLAIMS.collection(namespace))
            assert [c["metadata"]["name"] for c in listed["items"]] == [meta["name"]]

    asyncio.run(scenario())


def test_a_pod_with_two_template_claims_gets_both_recorded_in_one_status(
    apiserver: ApiServer, namespace: str
) -> None:
    async def scenario() -> None:
        async with running_controllers(apiserver.admin_kubeconfig, ["resourceclaim"]) as client:
            await client.create(RESOURCE_CLAIM_TEMPLATES.collection(namespace), template(namespace))
            long_pod = "p" * 50
            await client.create(
                PODS.collection(namespace),
                pod_with_template_claims(
                    namespace, long_pod, {"gpu": "gpu-template", "second": "gpu-template"}
                ),
            )

            async def both() -> dict[str, str | None] | None:
                statuses = claim_status_of(await client.get(PODS.item(namespace, long_pod)))
                return statuses if len(statuses) == 2 else None

            statuses = await eventually(both, what="two claims recorded")
            claims = await client.list(RESOURCE_CLAIMS.collection(namespace))
            by_name = {c["metadata"]["name"]: c for c in claims["items"]}
            assert set(by_name) == set(statuses.values())
            prefixes = {c["metadata"]["generateName"] for c in by_name.values()}
            # Past 57 characters both parts are cut in proportion to their lengths.
            assert prefixes == {"p" * 50 + "-gpu-", "p" * 49 + "-secon"}

    asyncio.run(scenario())


def test_a_claim_whose_template_appears_later_is_created_then(
    apiserver: ApiServer, namespace: str
) -> None:
    async def scenario() -> None:
        async with running_controllers(apiserver.admin_kubeconfig, ["resourceclaim"]) as client:
            await client.create(
                PODS.collection(namespace),
                pod_with_template_claims(namespace, "early", {"gpu": "late-template"}),
            )

            async def warned() -> Obj | None:
                listed = await client.list(EVENTS.collection(namespace))
                found = [e for e in listed["items"] if e["reason"] == "FailedResourceClaimCreation"]
                return found[0] if found else None

            event = await eventually(warned, what="a FailedResourceClaimCreation event")
            assert event["type"] == "Warning" and event["regarding"]["name"] == "early"
            assert event["reportingController"] == "resource_claim"
            assert event["note"].startswith('PodResourceClaim gpu: resource claim template "late')
            await client.create(
                RESOURCE_CLAIM_TEMPLATES.collection(namespace),
                template(namespace, "late-template"),
            )

            async def recorded() -> bool:
                pod = await client.get(PODS.item(namespace, "early"))
                return bool(claim_status_of(pod).get("gpu"))

            await eventually(recorded, what="claim from the late template")

    asyncio.run(scenario())


def test_a_claim_reserved_for_a_deleted_pod_is_released_deallocated_unprotected_then_deleted(
    apiserver: ApiServer, namespace: str
) -> None:
    claim, states = asyncio.run(
        released_claim_scenario(apiserver.admin_kubeconfig, namespace, ["resourceclaim", "gc"])
    )
    name = claim["metadata"]["name"]
    reserved = (name, ("trainer",), True, True)
    released = [reserved, (name, (), False, True)]  # reservation and allocation in one PUT
    # Then the claim controller drops the finalizer while the garbage collector deletes the
    # claim whose pod is gone. Finalizer first shows the claim without it before the
    # deletion; deletion first makes dropping the finalizer the deletion itself.
    assert states[states.index(reserved) :] in (
        [*released, (name, (), False, False), (name, "deleted")],
        [*released, (name, "deleted")],
    )


def test_a_terminal_pod_loses_its_reservation_and_its_generated_claim(
    apiserver: ApiServer, namespace: str
) -> None:
    async def scenario() -> None:
        async with running_controllers(apiserver.admin_kubeconfig, ["resourceclaim"]) as client:
            pod = await create_pod_with_claim(client, namespace, "done")
            claim = await generated_claim(client, namespace, "done")
            await allocate_and_reserve(client, dict(claim), pod)
            await client.patch(
                PODS.item(namespace, "done", "status"), {"status": {"phase": "Succeeded"}}
            )
            path = RESOURCE_CLAIMS.item(namespace, claim["metadata"]["name"])

            async def gone() -> bool:
                return await get_or_none(client, path) is None

            await eventually(gone, what="claim of a finished pod deleted")

    asyncio.run(scenario())


def test_a_reservation_of_a_live_pod_is_kept_and_a_shared_claim_is_never_deleted(
    apiserver: ApiServer, namespace: str
) -> None:
    async def scenario() -> None:
        async with running_controllers(apiserver.admin_kubeconfig, ["resourceclaim", "gc"]) as c:
            pod = await create_pod_with_claim(c, namespace, "alive")
            claim = await generated_claim(c, namespace, "alive")
            reserved = await allocate_and_reserve(c, dict(claim), pod)
            shared = {
                "apiVersion": "resource.k8s.io/v1",
                "kind": "ResourceClaim",
                "metadata": {"name": "shared", "namespace": namespace},
                "spec": template(namespace)["spec"]["spec"],
            }
            shared = await c.create(RESOURCE_CLAIMS.collection(namespace), shared)
            ghost = {"name": "ghost", "uid": str(uuid.uuid4())}
            shared = await allocate_and_reserve(c, shared, {"metadata": ghost})

            async def shared_released() -> bool:
                found = await c.get(RESOURCE_CLAIMS.item(namespace, "shared"))
                return not found.get("status") and not found["metadata"].get("finalizers")

            await eventually(shared_released, what="shared claim of a ghost pod released")
            still = await c.get(RESOURCE_CLAIMS.item(namespace, claim["metadata"]["name"]))
            assert still["metadata"]["resourceVersion"] == reserved["metadata"]["resourceVersion"]

    asyncio.run(scenario())


def test_gc_deletes_claims_and_pods_whose_owning_pod_is_gone_and_keeps_the_others(
    apiserver: ApiServer, namespace: str
) -> None:
    async def scenario() -> None:
        async with running_controllers(apiserver.admin_kubeconfig, ["gc"]) as client:
            owner = await client.create(
                PODS.collection(namespace),
                pod_with_template_claims(namespace, "owner", {}),
            )
            live_ref = {
                "apiVersion": "v1",
                "kind": "Pod",
                "name": "owner",
                "uid": owner["metadata"]["uid"],
            }
            ghost_ref = {"apiVersion": "v1", "kind": "Pod", "name": "ghost", "uid": "1234"}
            # A pod named like the owner but another instance does not keep its dependents.
            stale_ref = {**live_ref, "uid": str(uuid.uuid4())}
            spec = template(namespace)["spec"]["spec"]
            for name, refs in (
                ("orphan", [ghost_ref]),
                ("replaced-owner", [stale_ref]),
                ("kept", [live_ref]),
                ("half-orphan", [ghost_ref, live_ref]),
            ):
                await client.create(
                    RESOURCE_CLAIMS.collection(namespace),
                    {
                        "apiVersion": "resource.k8s.io/v1",
                        "kind": "ResourceClaim",
                        "metadata": {"name": name, "namespace": namespace, "ownerReferences": refs},
                        "spec": spec,
                    },
                )
            child = pod_with_template_claims(namespace, "child", {})
            child["metadata"]["ownerReferences"] = [ghost_ref]
            await client.create(PODS.collection(namespace), child)

            async def collected() -> list[str] | None:
                claims = await client.list(RESOURCE_CLAIMS.collection(namespace))
                names = sorted(c["metadata"]["name"] for c in claims["items"])
                child_left = await get_or_none(client, PODS.item(namespace, "child"))
                return names if names == ["half-orphan", "kept"] and not child_left else None

            await eventually(collected, what="orphans collected")
            await client.delete(PODS.item(namespace, "owner"), {"gracePeriodSeconds": 0})

            async def all_gone() -> bool:
                claims = await client.list(RESOURCE_CLAIMS.collection(namespace))
                return not claims["items"]

            await eventually(all_gone, what="dependents of the deleted owner collected")

    asyncio.run(scenario())


def job(namespace: str, name: str, **spec: Any) -> Obj:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            **spec,
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "restartPolicy": "Never",
                    "schedulerName": "nobody",
                    "containers": [{"name": "main", "image": "registry.example/train:1"}],
                },
            },
        },
    }


async def job_pods(client: KubeClient, namespace: str, name: str) -> list[Obj]:
    listed = await client.list(
        PODS.collection(namespace), labelSelector=f"batch.kubernetes.io/job-name={name}"
    )
    return sorted(listed["items"], key=lambda p: p["metadata"]["name"])


async def finish(client: KubeClient, pod: Obj, phase: str) -> None:
    meta = pod["metadata"]
    await client.patch(
        PODS.item(meta["namespace"], meta["name"], "status"), {"status": {"phase": phase}}
    )


def test_a_job_makes_its_pods_counts_them_and_completes(
    apiserver: ApiServer, namespace: str
) -> None:
    async def scenario() -> None:
        async with running_controllers(apiserver.admin_kubeconfig, ["job", "gc"]) as client:
            created = await client.create(
                JOBS.collection(namespace), job(namespace, "train", parallelism=2, completions=3)
            )
            uid = created["metadata"]["uid"]

            async def active(count: int) -> list[Obj] | None:
                pods = [
                    p
                    for p in await job_pods(client, namespace, "train")
                    if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
                ]
                return pods if len(pods) == count else None

            pods = await eventually(lambda: active(2), what="two active pods")
            for pod in pods:
                meta = pod["metadata"]
                assert meta["generateName"] == "train-"
                assert meta["labels"]["batch.kubernetes.io/job-name"] == "train"
                assert meta["labels"]["batch.kubernetes.io/controller-uid"] == uid
                assert meta["labels"]["app"] == "train"
                assert meta["ownerReferences"] == [
                    {
                        "apiVersion": "batch/v1",
                        "kind": "Job",
                        "name": "train",
                        "uid": uid,
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ]
            # No more than `parallelism` pods, whatever the events in between.
            await asyncio.sleep(0.5)
            assert len(await job_pods(client, namespace, "train")) == 2

            async def status_is(**want: int) -> Obj | None:
                found = await client.get(JOBS.item(namespace, "train"))
                status = found.get("status") or {}
                return found if all(status.get(k, 0) == v for k, v in want.items()) else None

            await eventually(lambda: status_is(active=2), what="active=2")
            await finish(client, pods[0], "Succeeded")
            await eventually(lambda: status_is(active=2, succeeded=1), what="a third pod")
            for pod in await active(2) or []:
                await finish(client, pod, "Succeeded")
            done = await eventually(
                lambda: status_is(active=0, succeeded=3), what="three succeeded"
            )

            async def complete() -> Obj | None:
                found = await client.get(JOBS.item(namespace, "train"))
                types = {c["type"] for c in found["status"].get("conditions", [])}
                return found if "Complete" in types else None

            done = await eventually(complete, what="Complete condition")
            types = [c["type"] for c in done["status"]["conditions"]]
            assert types == ["SuccessCriteriaMet", "Complete"]
            assert done["status"]["completionTime"]
            assert len(await job_pods(client, namespace, "train")) == 3

            # The Job goes (as kubectl deletes it: a Job's own default is to orphan its
            # pods); the garbage collector takes its pods.
            await client.delete(JOBS.item(namespace, "train"), {"propagationPolicy": "Background"})

            async def pods_gone() -> bool:
                return not await job_pods(client, namespace, "train")

            await eventually(pods_gone, what="the Job's pods collected")

    asyncio.run(scenario())


def test_a_job_past_its_backoff_limit_fails(apiserver: ApiServer, namespace: str) -> None:
    async def scenario() -> None:
        async with running_controllers(apiserver.admin_kubeconfig, ["job"]) as client:
            await client.create(JOBS.collection(namespace), job(namespace, "flaky", backoffLimit=1))
            for failures in (1, 2):

                async def running(expected: int = failures) -> Obj | None:
                    pods = await job_pods(client, namespace, "flaky")
                    live = [p for p in pods if p.get("status", {}).get("phase") == "Pending"]
                    return live[0] if len(pods) == expected and live else None

                pod = await eventually(running, what=f"pod {failures}")
                await finish(client, pod, "Failed")

            async def failed() -> Obj | None:
                found = await client.get(JOBS.item(namespace, "flaky"))
                types = [c["type"] for c in (found.get("status") or {}).get("conditions", [])]
                return found if "Failed" in types else None

            found = await eventually(failed, what="Failed condition")
            conditions = found["status"]["conditions"]
            assert [c["type"] for c in conditions] == ["FailureTarget", "Failed"]
            assert {c["reason"] for c in conditions} == {"BackoffLimitExceeded"}
            assert found["status"]["failed"] == 2
            assert len(await job_pods(client, namespace, "flaky")) == 2

    asyncio.run(scenario())


def test_the_controllers_refuse_to_run_beside_a_live_kube_controller_manager(
    apiserver: ApiServer,
) -> None:
    async def scenario() -> None:
        async with admin_client(apiserver.admin_kubeconfig) as client:
            await check_no_controller_manager(client, ["resourceclaim"])  # no Lease: fine
            now = datetime(2026, 12, 7, 4, 0, 0, tzinfo=UTC)
            lease = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": "kube-controller-manager", "namespace": "kube-system"},
                "spec": {
                    "holderIdentity": "cp-1_1234",
                    "leaseDurationSeconds": 15,
                    "renewTime": "2026-12-07T03:59:55.000000Z",
                },
            }
            await client.create(LEASES.collection("kube-system"), lease)
            try:
                with pytest.raises(ControllerConflict) as refused:
                    await check_no_controller_manager(
                        client, ["resourceclaim", "gc"], now=lambda: now
                    )
                message = str(refused.value)
                assert "Lease kube-system/kube-controller-manager" in message
                assert "cp-1_1234" in message and "resourceclaim, gc" in message
                later = now + timedelta(seconds=30)
                await check_no_controller_manager(client, ["gc"], now=lambda: later)
                # kube-controller-manager runs no JobSet or LeaderWorkerSet controller.
                await check_no_controller_manager(
                    client, ["jobset", "leaderworkerset"], now=lambda: now
                )
            finally:
                await client.delete(LEASES.item("kube-system", "kube-controller-manager"))

    asyncio.run(scenario())


def test_the_jobset_controller_refuses_to_run_beside_the_jobset_operator(
    apiserver: ApiServer,
) -> None:
    """The operator's leader-election Lease, in the namespace it was installed in."""

    async def scenario() -> None:
        async with admin_client(apiserver.admin_kubeconfig) as client:
            await check_no_controller_manager(client, ["jobset"])  # no Lease: fine
            now = datetime(2026, 12, 7, 4, 0, 0, tzinfo=UTC)
            await client.create("/api/v1/namespaces", {"metadata": {"name": "jobset-system"}})
            lease = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": "6d4f6a47.jobset.x-k8s.io", "namespace": "jobset-system"},
                "spec": {
                    "holderIdentity": "jobset-controller-manager-abc_1",
                    "leaseDurationSeconds": 15,
                    "renewTime": "2026-12-07T03:59:58.000000Z",
                },
            }
            await client.create(LEASES.collection("jobset-system"), lease)
            try:
                with pytest.raises(ControllerConflict) as refused:
                    await check_no_controller_manager(client, ["job", "jobset"], now=lambda: now)
                message = str(refused.value)
                assert message.startswith("the JobSet controller is running")
                assert "jobset-system/6d4f6a47.jobset.x-k8s.io" in message
                assert "controllers jobset must not" in message
                await check_no_controller_manager(
                    client, ["job", "leaderworkerset"], now=lambda: now
                )
            finally:
                await client.delete(LEASES.item("jobset-system", "6d4f6a47.jobset.x-k8s.io"))

    asyncio.run(scenario())


@pytest.mark.parametrize("policy", ["Orphan", "Foreground"])
def test_a_job_deleted_with_a_garbage_collector_finalizer_is_finished_by_gc(
    apiserver: ApiServer, namespace: str, policy: str
) -> None:
    async def scenario() -> None:
        async with running_controllers(apiserver.admin_kubeconfig, ["job", "gc"]) as client:
            await client.create(JOBS.collection(namespace), job(namespace, "batch", parallelism=2))

            async def two() -> list[Obj] | None:
                pods = await job_pods(client, namespace, "batch")
                return pods if len(pods) == 2 else None

            await eventually(two, what="the Job's pods")
            await client.delete(JOBS.item(namespace, "batch"), {"propagationPolicy": policy})

            async def job_gone() -> bool:
                return await get_or_none(client, JOBS.item(namespace, "batch")) is None

            await eventually(job_gone, what=f"Job deleted with {policy} gone")
            left = await job_pods(client, namespace, "batch")
            if policy == "Orphan":
                assert len(left) == 2
                assert all(not p["metadata"].get("ownerReferences") for p in left)
            else:

                async def pods_gone() -> bool:
                    return not await job_pods(client, namespace, "batch")

                await eventually(pods_gone, what="the Job's pods deleted")

    asyncio.run(scenario())


def deployment(namespace: str, name: str, replicas: int, version: str) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "annotations": {"team": "ml"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}, "annotations": {"version": version}},
                "spec": {
                    "schedulerName": "nobody",
                    "containers": [{"name": "main", "image": "registry.example/web:1"}],
                },
            },
        },
    }


def test_a_deployment_makes_a_replica_set_whose_pods_follow_template_changes(
    apiserver: ApiServer, namespace: str
) -> None:
    names = ["deployment", "replicaset", "gc"]

    async def scenario() -> None:
        async with running_controllers(apiserver.admin_kubeconfig, names) as client:
            created = await client.create(
                DEPLOYMENTS.collection(namespace), deployment(namespace, "web", 2, "v1")
            )

            async def replica_sets() -> list[Obj]:
                listed = await client.list(REPLICA_SETS.collection(namespace))
                return sorted(listed["items"], key=lambda rs: rs["metadata"]["name"])

            async def pods_of(rs: Obj) -> list[Obj]:
                listed = await client.list(PODS.collection(namespace))
                return [
                    p
                    for p in listed["items"]
                    if any(
                        r["uid"] == rs["metadata"]["uid"]
                        for r in p["metadata"].get("ownerReferences", [])
                    )
                ]

            async def one_rs_with_pods(count: int) -> Obj | None:
                found = [rs for rs in await replica_sets() if rs["spec"]["replicas"] > 0]
                if len(found) != 1 or len(await pods_of(found[0])) != count:
                    return None
                return found[0]

            first = await eventually(lambda: one_rs_with_pods(2), what="a ReplicaSet, 2 pods")
            meta = first["metadata"]
            hash_ = meta["labels"]["pod-template-hash"]
            assert meta["name"] == f"web-{hash_}" and len(hash_) == 10
            assert meta["annotations"]["deployment.kubernetes.io/revision"] == "1"
            assert meta["annotations"]["team"] == "ml"
            assert meta["ownerReferences"][0]["uid"] == created["metadata"]["uid"]
            assert first["spec"]["selector"]["matchLabels"] == {
                "app": "web",
                "pod-template-hash": hash_,
            }
            pod = (await pods_of(first))[0]
            assert pod["metadata"]["generateName"] == f"web-{hash_}-"
            assert pod["metadata"]["labels"] == {"app": "web", "pod-template-hash": hash_}

            async def status_replicas() -> bool:
                found = await client.get(DEPLOYMENTS.item(namespace, "web"))
                return bool(found.get("status", {}).get("replicas") == 2)

            await eventually(status_replicas, what="Deployment status replicas=2")

            changed = await client.get(DEPLOYMENTS.item(namespace, "web"))
            changed["spec"]["template"]["metadata"]["annotations"]["version"] = "v2"
            await client.update(DEPLOYMENTS.item(namespace, "web"), changed)

            async def rolled() -> Obj | None:
                current = await one_rs_with_pods(2)
                if current is None or current["metadata"]["name"] == meta["name"]:
                    return None
                return current if not await pods_of(first) else None

            second = await eventually(rolled, what="the new template's ReplicaSet")
            assert second["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
            assert len(await replica_sets()) == 2

            await client.delete(
                DEPLOYMENTS.item(namespace, "web"), {"propagationPolicy": "Background"}
            )

            async def all_gone() -> bool:
                listed = await client.list(PODS.collection(namespace))
                return not await replica_sets() and not listed["items"]

            await eventually(all_gone, what="ReplicaSets and pods collected")

    asyncio.run(scenario())


def test_an_allocated_claim_of_a_pod_bound_without_a_scheduler_is_reserved_for_it(
    apiserver: ApiServer, namespace: str
) -> None:
    async def scenario() -> None:
        async with running_controllers(apiserver.admin_kubeconfig, ["resourceclaim"]) as client:
            await client.create(RESOURCE_CLAIM_TEMPLATES.collection(namespace), template(namespace))
            body = pod_with_template_claims(namespace, "direct", {"gpu": "gpu-template"})
            body["spec"]["nodeName"] = "node-a"
            pod = await client.create(PODS.collection(namespace), body)
            claim = await generated_claim(client, namespace, "direct")
            claim["status"] = {
                "allocation": {
                    "devices": {
                        "results": [
                            {
                                "request": "gpu",
                                "driver": "gpu.example.com",
                                "pool": "node-a",
                                "device": "gpu-0",
                            }
                        ]
                    }
                }
            }
            path = RESOURCE_CLAIMS.item(namespace, claim["metadata"]["name"])
            await client.update(f"{path}/status", claim)

            async def reserved() -> list[Obj] | None:
                found = await client.get(path)
                return (found.get("status") or {}).get("reservedFor")

            entries = await eventually(reserved, what="reservation for the bound pod")
            assert entries == [
                {"resource": "pods", "name": "direct", "uid": pod["metadata"]["uid"]}
            ]

    asyncio.run(scenario())
