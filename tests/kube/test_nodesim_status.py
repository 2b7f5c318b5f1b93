"""The statuses a simulated kubelet and DRA driver write, built without a server: run times
from the annotation, pod addresses, node and pod status patches, device conditions."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from dralloc.kube.nodesim import PodAddressPool, parse_simulated_duration
from dralloc.kube.nodesim.status import (
    claim_with_device_conditions,
    node_address,
    node_heartbeat_patch,
    node_status_patch,
    parse_timestamp,
    pod_running_patch,
    pod_succeeded_patch,
    simulated_duration,
    timestamp,
)

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90.0),
        ("2.5", 2.5),
        ("0", 0.0),
        ("90s", 90.0),
        ("2m", 120.0),
        ("1m30s", 90.0),
        ("1h", 3600.0),
        ("500ms", 0.5),
        (" 3s ", 3.0),
        ("", None),
        ("soon", None),
        ("5x", None),
        ("-1", None),
        ("1m-3s", None),
        ("nan", None),
    ],
)
def test_a_simulated_duration_is_seconds_or_a_go_duration(text: str, seconds: float | None) -> None:
    assert parse_simulated_duration(text) == seconds


def test_a_pod_without_the_annotation_has_no_run_time() -> None:
    assert simulated_duration({"metadata": {}}) is None
    annotated = {"metadata": {"annotations": {"dralloc.io/simulated-duration": "2m"}}}
    assert simulated_duration(annotated) == 120.0


def test_timestamps_are_rfc3339_seconds_and_read_back() -> None:
    assert timestamp(NOW) == "2027-01-15T08:00:00Z"
    assert parse_timestamp(timestamp(NOW)) == NOW
    assert parse_timestamp("yesterday") is None


def test_pod_addresses_are_unique_stable_per_pod_and_reused_only_after_wrapping() -> None:
    pool = PodAddressPool(ipaddress.IPv4Network("10.244.0.0/29"))  # 6 usable addresses
    first = pool.allocate("a")
    assert first == "10.244.0.1"
    assert pool.allocate("a") == first
    second = pool.allocate("b")
    assert second != first
    pool.release("a")
    assert pool.allocate("c") == "10.244.0.3"  # not the address just released
    pool.reserve("d", "10.244.0.4")  # held by a pod an earlier run started
    pool.reserve("e", "192.168.0.9")  # not from this range: not tracked
    assert pool.allocate("f") == "10.244.0.5"
    assert pool.allocate("g") == "10.244.0.6"
    assert pool.allocate("h") == first  # wrapped around; 10.244.0.1 is free again
    with pytest.raises(RuntimeError, match="all 6 pod addresses are in use"):
        pool.allocate("i")
    assert len(pool) == 6


def test_the_default_pool_hands_out_pod_network_addresses() -> None:
    address = ipaddress.ip_address(PodAddressPool().allocate("a"))
    assert address in ipaddress.ip_network("10.244.0.0/16")


def test_a_node_becomes_ready_with_addresses_and_node_info_and_keeps_its_capacity() -> None:
    patch = node_status_patch("dgx-00", node_address(0), NOW)
    status = patch["status"]
    assert set(status) == {"conditions", "addresses", "daemonEndpoints", "nodeInfo"}
    conditions = {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}
    assert conditions == {
        "Ready": ("True", "KubeletReady"),
        "MemoryPressure": ("False", "KubeletHasSufficientMemory"),
        "DiskPressure": ("False", "KubeletHasNoDiskPressure"),
        "PIDPressure": ("False", "KubeletHasSufficientPID"),
        "NetworkUnavailable": ("False", "RouteCreated"),
    }
    assert status["addresses"] == [
        {"type": "InternalIP", "address": "10.64.0.1"},
        {"type": "Hostname", "address": "dgx-00"},
    ]
    assert status["nodeInfo"]["kubeletVersion"] == "v1.36.3"
    assert node_status_patch("dgx-00", "10.64.0.1", NOW) == patch  # stable identity


def test_a_heartbeat_renews_the_heartbeat_and_keeps_the_transition_time() -> None:
    patch = node_heartbeat_patch(NOW + 30, NOW)
    for condition in patch["status"]["conditions"]:
        assert condition["lastHeartbeatTime"] == timestamp(NOW + 30)
        assert condition["lastTransitionTime"] == timestamp(NOW)


def _pod(**status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "namespace": "ns", "uid": "u-1"},
        "spec": {
            "nodeName": "dgx-00",
            "initContainers": [
                {"name": "setup", "image": "busybox"},
                {"name": "proxy", "image": "envoy", "restartPolicy": "Always"},
            ],
            "containers": [{"name": "main", "image": "trainer"}],
        },
        "status": status,
    }


def test_a_started_pod_runs_every_container_with_init_containers_done_and_sidecars_running() -> (
    None
):
    status = pod_running_patch(_pod(phase="Pending"), "10.244.0.7", "10.64.0.1", NOW)["status"]
    assert status["phase"] == "Running"
    assert [c["type"] for c in status["conditions"]] == [
        "PodScheduled",
        "PodReadyToStartContainers",
        "Initialized",
        "ContainersReady",
        "Ready",
    ]
    assert all(c["status"] == "True" for c in status["conditions"])
    assert (status["podIP"], status["podIPs"]) == ("10.244.0.7", [{"ip": "10.244.0.7"}])
    assert (status["hostIP"], status["startTime"]) == ("10.64.0.1", timestamp(NOW))
    [main] = status["containerStatuses"]
    assert (main["name"], main["ready"], main["state"]) == (
        "main",
        True,
        {"running": {"startedAt": timestamp(NOW)}},
    )
    setup, proxy = status["initContainerStatuses"]
    assert setup["state"]["terminated"]["reason"] == "Completed"
    assert "running" in proxy["state"]


def test_a_pod_the_binding_marked_scheduled_keeps_its_scheduled_condition() -> None:
    scheduled = _pod(
        phase="Pending",
        conditions=[{"type": "PodScheduled", "status": "True", "lastTransitionTime": "x"}],
    )
    status = pod_running_patch(scheduled, "10.244.0.7", "10.64.0.1", NOW)["status"]
    assert "PodScheduled" not in [c["type"] for c in status["conditions"]]


def test_a_completed_pod_terminates_every_container_with_exit_code_0() -> None:
    running = pod_running_patch(_pod(), "10.244.0.7", "10.64.0.1", NOW)["status"]
    status = pod_succeeded_patch(_pod(**running), NOW + 60)["status"]
    assert status["phase"] == "Succeeded"
    assert {(c["type"], c["status"], c["reason"]) for c in status["conditions"]} == {
        ("Ready", "False", "PodCompleted"),
        ("ContainersReady", "False", "PodCompleted"),
    }
    [main] = status["containerStatuses"]
    terminated = main["state"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (0, "Completed")
    assert (terminated["startedAt"], terminated["finishedAt"]) == (
        timestamp(NOW),
        timestamp(NOW + 60),
    )
    assert [s["state"]["terminated"]["exitCode"] for s in status["initContainerStatuses"]] == [
        0,
        0,
    ]


def _claim(*results: dict[str, Any], devices: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {"allocation": {"devices": {"results": list(results)}}}
    if devices is not None:
        status["devices"] = devices
    return {"metadata": {"name": "c", "namespace": "ns", "resourceVersion": "7"}, "status": status}


def _result(device: str, pool: str = "dgx-00", **more: Any) -> dict[str, Any]:
    return {"request": "gpu", "driver": "gpu.nvidia.com", "pool": pool, "device": device, **more}


POOLS = frozenset({("gpu.nvidia.com", "dgx-00")})


def test_devices_without_binding_conditions_or_on_other_pools_get_no_status() -> None:
    assert claim_with_device_conditions(_claim(_result("gpu-0")), POOLS, NOW) is None
    elsewhere = _result("gpu-0", "other-node", bindingConditions=["attached"])
    assert claim_with_device_conditions(_claim(elsewhere), POOLS, NOW) is None
    assert claim_with_device_conditions({"metadata": {}}, POOLS, NOW) is None


def test_binding_conditions_are_set_true_once_keeping_the_rest_of_the_claim() -> None:
    claim = _claim(
        _result("gpu-0", bindingConditions=["attached", "cabled"]),
        _result("gpu-1", shareID="s-1", bindingConditions=["attached"]),
        _result("gpu-2"),
        devices=[
            {
                "driver": "gpu.nvidia.com",
                "pool": "dgx-00",
                "device": "gpu-0",
                "conditions": [
                    {"type": "attached", "status": "False", "reason": "Waiting"},
                    {"type": "health", "status": "True", "reason": "Fine"},
                ],
            }
        ],
    )
    updated = claim_with_device_conditions(claim, POOLS, NOW)
    assert updated is not None
    assert updated["metadata"]["resourceVersion"] == "7"
    assert updated["status"]["allocation"] == claim["status"]["allocation"]
    first, second = updated["status"]["devices"]
    assert [(c["type"], c["status"]) for c in first["conditions"]] == [
        ("health", "True"),
        ("attached", "True"),
        ("cabled", "True"),
    ]
    assert (second["device"], second["shareID"]) == ("gpu-1", "s-1")
    assert [(c["type"], c["status"], c["reason"]) for c in second["conditions"]] == [
        ("attached", "True", "SimulatedDriver")
    ]
    assert claim["status"]["devices"][0]["conditions"][0]["status"] == "False"  # not mutated
    assert claim_with_device_conditions(updated, POOLS, NOW + 1) is None
