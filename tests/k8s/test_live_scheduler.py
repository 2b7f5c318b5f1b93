"""dralloc's live scheduler against a real kube-apiserver (spec/cluster-mode.md section 8.7):
claims written in upstream's order and shape, pods bound, conditions and events, races."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from controlplane import ApiServer
from livekit import (
    claim,
    create_node,
    device_class,
    eventually,
    gpu_slice,
    live_scheduler,
    pod,
    unique,
)

from dralloc.kube.binding import BindingPlan
from dralloc.kube.client import KubeClient

pytestmark = pytest.mark.k8s

Obj = dict[str, Any]


def _condition(pod_obj: Obj, kind: str) -> Obj | None:
    for condition in (pod_obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind:
            return condition
    return None


async def _fleet(client: KubeClient, nodes: int, devices: int, label: str) -> tuple[str, list[str]]:
    """Nodes labelled `owner=<label>` with `devices` GPUs each, and a class for them."""
    driver = f"{label}.example.com"
    names = [unique(f"{label}-n{i}") for i in range(nodes)]
    for name in names:
        await create_node(client, name, {"owner": label})
        await client.create(
            "/apis/resource.k8s.io/v1/resourceslices", gpu_slice(name, devices, driver)
        )
    class_name = unique(f"{label}-class")
    await client.create("/apis/resource.k8s.io/v1/deviceclasses", device_class(class_name, driver))
    return class_name, names


def test_a_pod_with_a_claim_is_bound_and_its_claim_allocated_and_reserved_as_upstream_writes_it(
    apiserver: ApiServer, namespace: str
) -> None:
    async def scenario() -> None:
        admin = KubeClient.connect(apiserver.admin_kubeconfig)
        class_name, nodes = await _fleet(admin, 1, 2, "one")
        claims = f"/apis/resource.k8s.io/v1/namespaces/{namespace}/resourceclaims"
        await admin.create(claims, claim(namespace, "c1", class_name))
        async with live_scheduler(apiserver.admin_kubeconfig, owned="owner=one") as live:
            await admin.create(
                f"/api/v1/namespaces/{namespace}/pods", pod(namespace, "p1", claim_name="c1")
            )

            async def bound() -> Obj | None:
                got = await admin.get(f"/api/v1/namespaces/{namespace}/pods/p1")
                return got if got["spec"].get("nodeName") else None

            placed = await eventually(bound, what="pod bound")
            assert placed["spec"]["nodeName"] == nodes[0]
            assert (_condition(placed, "PodScheduled") or {}).get("status") == "True"
            written = await admin.get(f"{claims}/c1")
            assert written["metadata"]["finalizers"] == ["resource.kubernetes.io/delete-protection"]
            assert written["status"]["reservedFor"] == [
                {"resource": "pods", "name": "p1", "uid": placed["metadata"]["uid"]}
            ]
            results = written["status"]["allocation"]["devices"]["results"]
            assert [(r["driver"], r["pool"], r["request"]) for r in results] == [
                ("one.example.com", nodes[0], "gpu")
            ]
            # Round trip (8.7 test 8): what dralloc computed is what the server holds.
            assert live.cache.claims[f"{namespace}/c1"].status.allocation is not None
            node_selector = written["status"]["allocation"]["nodeSelector"]
            assert node_selector["nodeSelectorTerms"][0]["matchFields"][0]["values"] == [nodes[0]]

            async def scheduled_event() -> list[Obj]:
                found = await admin.list(f"/apis/events.k8s.io/v1/namespaces/{namespace}/events")
                return [e for e in found["items"] if e["reason"] == "Scheduled"]

            events = await eventually(scheduled_event, what="Scheduled event")
            assert events[0]["note"] == f"Successfully assigned {namespace}/p1 to {nodes[0]}"
            assert events[0]["reportingController"] == "dralloc"
        await admin.aclose()

    asyncio.run(scenario())


def test_two_pods_racing_for_the_last_device_one_is_bound_the_other_says_why(
    apiserver: ApiServer, namespace: str
) -> None:
    async def scenario() -> None:
        admin = KubeClient.connect(apiserver.admin_kubeconfig)
        class_name, _ = await _fleet(admin, 1, 1, "race")
        claims = f"/apis/resource.k8s.io/v1/namespaces/{namespace}/resourceclaims"
        for name in ("a", "b"):
            await admin.create(claims, claim(namespace, name, class_name))
        async with live_scheduler(apiserver.admin_kubeconfig, owned="owner=race"):
            for name in ("a", "b"):
                await admin.create(
                    f"/api/v1/namespaces/{namespace}/pods", pod(namespace, name, claim_name=name)
                )

            async def settled() -> list[Obj] | None:
                pods = [await admin.get(f"/api/v1/namespaces/{namespace}/pods/{n}") for n in "ab"]
                done = [
                    p for p in pods if p["spec"].get("nodeName") or _condition(p, "PodScheduled")
                ]
                return pods if len(done) == 2 else None

            pods = await eventually(settled, what="both pods decided")
            bound = [p for p in pods if p["spec"].get("nodeName")]
            waiting = [p for p in pods if not p["spec"].get("nodeName")]
            assert len(bound) == 1 and len(waiting) == 1
            condition = _condition(waiting[0], "PodScheduled")
            assert condition is not None
            assert condition["status"] == "False" and condition["reason"] == "Unschedulable"
            assert condition["message"].startswith("0/1 nodes are available")
            written = [await admin.get(f"{claims}/{n}") for n in "ab"]
            allocated = [c for c in written if (c.get("status") or {}).get("allocation")]
            assert len(allocated) == 1
        await admin.aclose()

    asyncio.run(scenario())


def test_a_conflict_between_reserve_and_prebind_is_retried_after_a_fresh_read(
    apiserver: ApiServer, namespace: str
) -> None:
    """8.7 test 3: the claim's labels change between Reserve and PreBind; the status PUT
    made from the cached claim gets a 409, and the retry (after a GET) succeeds."""

    async def scenario() -> None:
        admin = KubeClient.connect(apiserver.admin_kubeconfig)
        class_name, nodes = await _fleet(admin, 1, 1, "conflict")
        claims = f"/apis/resource.k8s.io/v1/namespaces/{namespace}/resourceclaims"
        await admin.create(claims, claim(namespace, "c", class_name))
        injected: list[str] = []

        async def relabel(plan: BindingPlan) -> None:
            current = await admin.get(f"{claims}/c")
            current["metadata"].setdefault("labels", {})["touched"] = "yes"
            updated = await admin.update(f"{claims}/c", current)
            injected.append(updated["metadata"]["resourceVersion"])

        async with live_scheduler(
            apiserver.admin_kubeconfig, owned="owner=conflict", before_pre_bind=relabel
        ) as live:
            await admin.create(
                f"/api/v1/namespaces/{namespace}/pods", pod(namespace, "p", claim_name="c")
            )

            async def bound() -> Obj | None:
                got = await admin.get(f"/api/v1/namespaces/{namespace}/pods/p")
                return got if got["spec"].get("nodeName") else None

            placed = await eventually(bound, what="pod bound after a conflict")
            assert placed["spec"]["nodeName"] == nodes[0]
            assert len(injected) == 1  # bound at the first attempt: the retry was PreBind's own
            written = await admin.get(f"{claims}/c")
            assert written["metadata"]["labels"] == {"touched": "yes"}
            assert [r["name"] for r in written["status"]["reservedFor"]] == ["p"]
            assert live.scheduled == 1
            assert live.binder.conflicts == 1
        await admin.aclose()

    asyncio.run(scenario())


def test_a_claim_allocated_elsewhere_first_leaves_no_reservation_and_the_next_attempt_decides(
    apiserver: ApiServer, namespace: str
) -> None:
    """8.7 test 4: another writer allocates the claim between Reserve and PreBind."""

    async def scenario() -> None:
        admin = KubeClient.connect(apiserver.admin_kubeconfig)
        class_name, nodes = await _fleet(admin, 1, 2, "elsewhere")
        claims = f"/apis/resource.k8s.io/v1/namespaces/{namespace}/resourceclaims"
        await admin.create(claims, claim(namespace, "c", class_name))
        raced: list[bool] = []

        async def allocate_first(plan: BindingPlan) -> None:
            if raced:
                return
            raced.append(True)
            current = await admin.get(f"{claims}/c")
            current["status"] = {
                "allocation": {
                    "devices": {
                        "results": [
                            {
                                "request": "gpu",
                                "driver": "elsewhere.example.com",
                                "pool": nodes[0],
                                "device": "gpu-1",
                            }
                        ]
                    },
                    "nodeSelector": {
                        "nodeSelectorTerms": [
                            {
                                "matchFields": [
                                    {"key": "metadata.name", "operator": "In", "values": [nodes[0]]}
                                ]
                            }
                        ]
                    },
                }
            }
            await admin.update(f"{claims}/c/status", current)

        async with live_scheduler(
            apiserver.admin_kubeconfig, owned="owner=elsewhere", before_pre_bind=allocate_first
        ):
            await admin.create(
                f"/api/v1/namespaces/{namespace}/pods", pod(namespace, "p", claim_name="c")
            )

            async def failed_event() -> list[Obj]:
                found = await admin.list(f"/apis/events.k8s.io/v1/namespaces/{namespace}/events")
                return [e for e in found["items"] if "allocated elsewhere" in e["note"]]

            events = await eventually(failed_event, what="the allocated-elsewhere failure")
            assert events[0]["reason"] == "FailedScheduling"

            async def bound() -> Obj | None:
                got = await admin.get(f"/api/v1/namespaces/{namespace}/pods/p")
                return got if got["spec"].get("nodeName") else None

            placed = await eventually(
                bound, what="the next attempt binds on the other's allocation"
            )
            written = await admin.get(f"{claims}/c")
            results = written["status"]["allocation"]["devices"]["results"]
            assert [r["device"] for r in results] == ["gpu-1"]  # the other writer's choice
            assert [r["uid"] for r in written["status"]["reservedFor"]] == [
                placed["metadata"]["uid"]
            ]
        await admin.aclose()

    asyncio.run(scenario())


def test_a_scheduler_killed_between_the_claim_write_and_the_bind_leaves_nothing_behind(
    apiserver: ApiServer, namespace: str
) -> None:
    """8.7 test 7: the claim says allocated and reserved for the pod, the pod is not bound,
    and the scheduler is gone without cleaning up; the next one binds the pod on that
    allocation, with one reservation."""

    async def scenario() -> None:
        admin = KubeClient.connect(apiserver.admin_kubeconfig)
        class_name, nodes = await _fleet(admin, 2, 1, "restart")
        claims = f"/apis/resource.k8s.io/v1/namespaces/{namespace}/resourceclaims"
        await admin.create(claims, claim(namespace, "c", class_name))
        frozen = asyncio.Event()

        async with live_scheduler(apiserver.admin_kubeconfig, owned="owner=restart") as first:

            async def never_bind(plan: BindingPlan) -> None:
                frozen.set()
                await asyncio.Event().wait()  # the process dies here

            first.binder.bind = never_bind  # type: ignore[method-assign]
            await admin.create(
                f"/api/v1/namespaces/{namespace}/pods", pod(namespace, "p", claim_name="c")
            )
            await asyncio.wait_for(frozen.wait(), 30)
            first.stop_leading()  # cancels the binding cycle: no Unreserve reaches the server
        written = await admin.get(f"{claims}/c")
        chosen = written["status"]["allocation"]["devices"]["results"][0]["pool"]
        assert [r["name"] for r in written["status"]["reservedFor"]] == ["p"]
        assert not (await admin.get(f"/api/v1/namespaces/{namespace}/pods/p"))["spec"].get(
            "nodeName"
        )

        async with live_scheduler(apiserver.admin_kubeconfig, owned="owner=restart"):

            async def bound() -> Obj | None:
                got = await admin.get(f"/api/v1/namespaces/{namespace}/pods/p")
                return got if got["spec"].get("nodeName") else None

            placed = await eventually(bound, what="the restarted scheduler binds the pod")
            assert placed["spec"]["nodeName"] == chosen
            written = await admin.get(f"{claims}/c")
            assert [r["uid"] for r in written["status"]["reservedFor"]] == [
                placed["metadata"]["uid"]
            ]
        assert nodes
        await admin.aclose()

    asyncio.run(scenario())


def test_bad_input_on_the_wire_ends_as_a_condition_and_the_scheduler_goes_on(
    apiserver: ApiServer, namespace: str
) -> None:
    """A claim the API server accepts but no device can serve (a selector that errors at
    run time), and a slice deleted while pods are being placed: the pods at fault get
    PodScheduled=False naming the problem, and the other pods are still bound."""

    async def scenario() -> None:
        admin = KubeClient.connect(apiserver.admin_kubeconfig)
        class_name, nodes = await _fleet(admin, 1, 2, "badwire")
        claims = f"/apis/resource.k8s.io/v1/namespaces/{namespace}/resourceclaims"
        broken = claim(namespace, "broken", class_name)
        broken["spec"]["devices"]["requests"][0]["exactly"]["selectors"] = [
            {"cel": {"expression": 'device.attributes["badwire.example.com"].missing == 1'}}
        ]
        await admin.create(claims, broken)
        await admin.create(claims, claim(namespace, "fine", class_name))
        pods = f"/api/v1/namespaces/{namespace}/pods"
        async with live_scheduler(apiserver.admin_kubeconfig, owned="owner=badwire") as live:
            await admin.create(pods, pod(namespace, "broken", claim_name="broken"))
            await admin.create(pods, pod(namespace, "fine", claim_name="fine"))

            async def decided() -> Obj | None:
                got = await admin.get(f"{pods}/broken")
                return got if _condition(got, "PodScheduled") else None

            refused = await eventually(decided, what="the broken pod's condition")
            condition = _condition(refused, "PodScheduled")
            assert condition is not None and condition["status"] == "False"
            assert "missing" in condition["message"], condition
            await eventually(
                lambda: _bound_pod(admin, pods, "fine"), what="the good pod bound despite it"
            )
            # The node's devices go away: what waits for them is told so, nothing crashes.
            await admin.delete(
                f"/apis/resource.k8s.io/v1/resourceslices/{nodes[0]}-badwire.example.com"
            )
            await admin.create(claims, claim(namespace, "late", class_name))
            await admin.create(pods, pod(namespace, "late", claim_name="late"))

            async def late_refused() -> Obj | None:
                got = await admin.get(f"{pods}/late")
                return got if _condition(got, "PodScheduled") else None

            late = await eventually(late_refused, what="the late pod's condition")
            message = (_condition(late, "PodScheduled") or {})["message"]
            assert message.startswith("0/1 nodes are available"), message
            assert live.scheduled == 1
        await admin.aclose()

    asyncio.run(scenario())


async def _bound_pod(admin: KubeClient, pods: str, name: str) -> Obj | None:
    got = await admin.get(f"{pods}/{name}")
    return got if got["spec"].get("nodeName") else None


def test_preemption_marks_and_deletes_the_victim_then_binds_the_preemptor(
    apiserver: ApiServer, namespace: str
) -> None:
    """A high-priority pod that fits nowhere preempts a low-priority one (spec 4.5): the victim
    gets DisruptionTarget=True (PreemptionByScheduler) and is deleted, the preemptor is
    nominated, then bound once the victim is gone."""

    async def scenario() -> None:
        admin = KubeClient.connect(apiserver.admin_kubeconfig)
        label = unique("preempt")
        node_name = unique("preempt-node")
        await create_node(admin, node_name, {"owner": label})
        classes = "/apis/scheduling.k8s.io/v1/priorityclasses"
        low, high = unique("low"), unique("high")
        for name, value in ((low, 10), (high, 1000)):
            await admin.create(
                classes,
                {
                    "apiVersion": "scheduling.k8s.io/v1",
                    "kind": "PriorityClass",
                    "metadata": {"name": name},
                    "value": value,
                },
            )
        pods = f"/api/v1/namespaces/{namespace}/pods"

        def big(name: str, priority_class: str) -> Obj:
            body = pod(namespace, name)
            body["spec"]["priorityClassName"] = priority_class
            body["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "6"
            return body

        async with live_scheduler(apiserver.admin_kubeconfig, owned=f"owner={label}"):
            await admin.create(pods, big("victim", low))
            await eventually(lambda: _bound_pod(admin, pods, "victim"), what="victim bound")
            await admin.create(pods, big("preemptor", high))

            async def marked() -> Obj | None:
                got = await admin.get(f"{pods}/victim")
                return got if got["metadata"].get("deletionTimestamp") else None

            victim = await eventually(marked, what="the victim marked and deleted")
            target = _condition(victim, "DisruptionTarget")
            assert target is not None and target["reason"] == "PreemptionByScheduler"

            async def nominated() -> str | None:
                got = await admin.get(f"{pods}/preemptor")
                return got["status"].get("nominatedNodeName")

            assert await eventually(nominated, what="the preemptor nominated") == node_name
            # No kubelet here: finish the victim's graceful deletion as one would.
            await admin.delete(f"{pods}/victim", {"gracePeriodSeconds": 0})
            placed = await eventually(
                lambda: _bound_pod(admin, pods, "preemptor"), what="the preemptor bound"
            )
            assert placed["spec"]["nodeName"] == node_name
        await admin.aclose()

    asyncio.run(scenario())


def test_a_pod_asking_for_an_extended_resource_gets_a_claim_made_for_it_as_upstream_does(
    apiserver: ApiServer, namespace: str
) -> None:
    """KEP-5004 (spec 4.1): `example.com/gpu: 1` in a container's limits, served by a
    DeviceClass's extendedResourceName: the scheduler creates the pod's special claim (owned
    by the pod, annotated), allocates and reserves it, records it in the pod's status and
    binds the pod."""

    async def scenario() -> None:
        admin = KubeClient.connect(apiserver.admin_kubeconfig)
        label = unique("ext")
        driver = f"{label}.example.com"
        node_name = unique("ext-node")
        await create_node(admin, node_name, {"owner": label})
        await admin.create(
            "/apis/resource.k8s.io/v1/resourceslices", gpu_slice(node_name, 2, driver)
        )
        resource = f"{label}.example.com/gpu"
        gpu_class = device_class(unique("ext-class"), driver)
        gpu_class["spec"]["extendedResourceName"] = resource
        await admin.create("/apis/resource.k8s.io/v1/deviceclasses", gpu_class)
        pods = f"/api/v1/namespaces/{namespace}/pods"
        async with live_scheduler(apiserver.admin_kubeconfig, owned=f"owner={label}"):
            body = pod(namespace, "plain-gpu")
            body["spec"]["containers"][0]["resources"]["limits"] = {resource: "1"}
            await admin.create(pods, body)
            placed = await eventually(lambda: _bound_pod(admin, pods, "plain-gpu"), what="bound")
        recorded = placed["status"]["extendedResourceClaimStatus"]
        name = recorded["resourceClaimName"]
        assert name.startswith("plain-gpu-extended-resources-")
        # Requests are numbered over the container's sorted resource names (cpu is 0).
        assert recorded["requestMappings"] == [
            {"containerName": "c", "resourceName": resource, "requestName": "container-0-request-1"}
        ]
        made = await admin.get(
            f"/apis/resource.k8s.io/v1/namespaces/{namespace}/resourceclaims/{name}"
        )
        assert made["metadata"]["annotations"] == {
            "resource.kubernetes.io/extended-resource-claim": "true"
        }
        owner = made["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["uid"], owner["controller"]) == (
            "Pod",
            placed["metadata"]["uid"],
            True,
        )
        assert made["metadata"]["finalizers"] == ["resource.kubernetes.io/delete-protection"]
        assert [r["uid"] for r in made["status"]["reservedFor"]] == [placed["metadata"]["uid"]]
        assert len(made["status"]["allocation"]["devices"]["results"]) == 1
        await admin.aclose()

    asyncio.run(scenario())


def test_binding_waits_for_the_drivers_binding_conditions_and_fails_on_a_failure_condition(
    apiserver: ApiServer, namespace: str
) -> None:
    """dra-v1.md 7.6 step 3: a device with bindingConditions: the pod gets a
    BindingConditionsPending event and is bound only once the driver reports the condition
    True; a failure condition True fails the attempt with upstream's message."""

    async def scenario() -> None:
        admin = KubeClient.connect(apiserver.admin_kubeconfig)
        label = unique("bc")
        driver = f"{label}.example.com"
        node_name = unique("bc-node")
        await create_node(admin, node_name, {"owner": label})
        published = gpu_slice(node_name, 2, driver)
        for device in published["spec"]["devices"]:
            device["bindingConditions"] = ["Attached"]
            device["bindingFailureConditions"] = ["AttachFailed"]
            device["bindsToNode"] = True
        await admin.create("/apis/resource.k8s.io/v1/resourceslices", published)
        class_name = unique("bc-class")
        await admin.create(
            "/apis/resource.k8s.io/v1/deviceclasses", device_class(class_name, driver)
        )
        claims = f"/apis/resource.k8s.io/v1/namespaces/{namespace}/resourceclaims"
        pods = f"/api/v1/namespaces/{namespace}/pods"
        for name in ("ready", "broken"):
            await admin.create(claims, claim(namespace, name, class_name))

        async def report(name: str, condition: str) -> bool:
            current = await admin.get(f"{claims}/{name}")
            allocation = (current.get("status") or {}).get("allocation")
            if not allocation:
                return False
            result = allocation["devices"]["results"][0]
            current["status"]["devices"] = [
                {
                    "driver": result["driver"],
                    "pool": result["pool"],
                    "device": result["device"],
                    "conditions": [
                        {
                            "type": condition,
                            "status": "True",
                            "reason": "Test",
                            "message": f"{condition} by the test",
                            "lastTransitionTime": "2026-12-07T00:00:00Z",
                        }
                    ],
                }
            ]
            await admin.update(f"{claims}/{name}/status", current)
            return True

        async with live_scheduler(
            apiserver.admin_kubeconfig, owned=f"owner={label}", binding_poll_seconds=0.2
        ):
            await admin.create(pods, pod(namespace, "ready", claim_name="ready"))

            async def pending_event() -> list[Obj]:
                found = await admin.list(f"/apis/events.k8s.io/v1/namespaces/{namespace}/events")
                return [e for e in found["items"] if e["reason"] == "BindingConditionsPending"]

            events = await eventually(pending_event, what="BindingConditionsPending")
            assert (
                events[0]["note"]
                == f"waiting for binding conditions for device on node {node_name}"
            )
            assert await _bound_pod(admin, pods, "ready") is None
            await eventually(lambda: report("ready", "Attached"), what="condition written")
            await eventually(lambda: _bound_pod(admin, pods, "ready"), what="bound once attached")

            await admin.create(pods, pod(namespace, "broken", claim_name="broken"))
            await eventually(lambda: report("broken", "AttachFailed"), what="failure written")

            async def failed() -> list[Obj]:
                found = await admin.list(f"/apis/events.k8s.io/v1/namespaces/{namespace}/events")
                return [
                    e
                    for e in found["items"]
                    if e["reason"] == "FailedScheduling" and "binding failed" in e["note"]
                ]

            refused = await eventually(failed, what="the failure condition ends the attempt")
            assert refused[0]["note"].startswith(
                "claim broken binding failed: reason=Test, message=AttachFailed by the test"
            ), refused[0]["note"]
        await admin.aclose()

    asyncio.run(scenario())


def test_postfilter_deallocates_a_claim_allocated_where_its_pod_cannot_go_then_binds_it(
    apiserver: ApiServer, namespace: str
) -> None:
    """dra-v1.md 7.4: the pod's claim is allocated (unreserved) on a node the pod may not
    use; PostFilter clears the allocation, and the next attempt allocates where it can."""

    async def scenario() -> None:
        admin = KubeClient.connect(apiserver.admin_kubeconfig)
        class_name, nodes = await _fleet(admin, 2, 1, "dealloc")
        claims = f"/apis/resource.k8s.io/v1/namespaces/{namespace}/resourceclaims"
        created = await admin.create(claims, claim(namespace, "c", class_name))
        created["status"] = {
            "allocation": {
                "devices": {
                    "results": [
                        {
                            "request": "gpu",
                            "driver": "dealloc.example.com",
                            "pool": nodes[0],
                            "device": "gpu-0",
                        }
                    ]
                },
                "nodeSelector": {
                    "nodeSelectorTerms": [
                        {
                            "matchFields": [
                                {"key": "metadata.name", "operator": "In", "values": [nodes[0]]}
                            ]
                        }
                    ]
                },
            }
        }
        await admin.update(f"{claims}/c/status", created)
        pods = f"/api/v1/namespaces/{namespace}/pods"
        async with live_scheduler(apiserver.admin_kubeconfig, owned="owner=dealloc"):
            body = pod(
                namespace, "p", claim_name="c", node_selector={"kubernetes.io/hostname": nodes[1]}
            )
            await admin.create(pods, body)
            placed = await eventually(lambda: _bound_pod(admin, pods, "p"), what="bound on B")
            assert placed["spec"]["nodeName"] == nodes[1]
            written = await admin.get(f"{claims}/c")
            assert written["status"]["allocation"]["devices"]["results"][0]["pool"] == nodes[1]
        await admin.aclose()

    asyncio.run(scenario())


def test_an_internal_error_for_one_pod_is_reported_on_it_and_the_loop_goes_on(
    apiserver: ApiServer, namespace: str
) -> None:
    """A bug met while scheduling one pod (here: a plugin that raises for it) becomes that
    pod's SchedulerError condition; the scheduler does not stop, and other pods are bound."""

    async def scenario() -> None:
        admin = KubeClient.connect(apiserver.admin_kubeconfig)
        label = unique("bug")
        await create_node(admin, unique("bug-node"), {"owner": label})
        pods = f"/api/v1/namespaces/{namespace}/pods"
        async with live_scheduler(apiserver.admin_kubeconfig, owned=f"owner={label}") as live:
            framework = live.built.frameworks["dralloc"]
            plain = framework.schedule

            def flaky(state: Any, info: Any, nodes: Any) -> Any:
                if info.pod.metadata.name == "cursed":
                    raise KeyError("a bug")
                return plain(state, info, nodes)

            framework.schedule = flaky  # type: ignore[method-assign]
            await admin.create(pods, pod(namespace, "cursed"))
            await admin.create(pods, pod(namespace, "fine"))

            async def reported() -> Obj | None:
                got = await admin.get(f"{pods}/cursed")
                return got if _condition(got, "PodScheduled") else None

            cursed = await eventually(reported, what="the internal error on the pod")
            condition = _condition(cursed, "PodScheduled") or {}
            assert condition["reason"] == "SchedulerError"
            assert condition["message"].startswith("internal error in dralloc, please report")
            await eventually(lambda: _bound_pod(admin, pods, "fine"), what="the other bound")
        await admin.aclose()

    asyncio.run(scenario())
