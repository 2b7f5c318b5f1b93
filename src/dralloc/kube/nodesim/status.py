"""The status a simulated kubelet and DRA driver write: node conditions and identity, pod
start and completion, device conditions for binding conditions, and the addresses handed out.

Pure computation, no I/O: each function returns the body of one request, built from the
object as the API server last sent it and the time `now` (Unix seconds). The shapes are the
kubelet's (`pkg/kubelet/nodestatus`, `pkg/kubelet/status`) and KWOK's node-initialize and
pod-ready stages (spec/cluster-mode.md section 8.5).
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import uuid
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from dralloc.api.validation.times import format_time
from dralloc.kube.client import KubeDict

SIMULATED_DURATION_ANNOTATION = "dralloc.io/simulated-duration"
KUBELET_VERSION = "v1.36.3"
# Addresses: nodes from 10.64.0.0/10 (away from the usual service ranges), pods from
# 10.244.0.0/16 (the range kubeadm and kind give pods).
NODE_NETWORK = ipaddress.IPv4Network("10.64.0.0/10")
POD_NETWORK = ipaddress.IPv4Network("10.244.0.0/16")
DEVICE_CONDITION_REASON = "SimulatedDriver"
_NODE_CONDITIONS = (
    ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
    (
        "MemoryPressure",
        "False",
        "KubeletHasSufficientMemory",
        "kubelet has sufficient memory available",
    ),
    ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ("NetworkUnavailable", "False", "RouteCreated", "simulated node: routes are always there"),
)
_DURATION_TERM = re.compile(r"([0-9]*\.?[0-9]+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def timestamp(now: float) -> str:
    """RFC 3339 in seconds, as metav1.Time is written."""
    return format_time(datetime.fromtimestamp(now, UTC))


def parse_timestamp(text: str) -> float | None:
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None


def parse_simulated_duration(text: str) -> float | None:
    """Seconds from `90`, `2.5`, or a Go duration (`90s`, `2m`, `1m30s`, `500ms`); None when
    the text is neither or is negative."""
    text = text.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if seconds >= 0 and seconds == seconds else None
    total, rest = 0.0, text.replace("μs", "µs")
    if not rest:
        return None
    while rest:
        match = _DURATION_TERM.match(rest)
        if match is None:
            return None
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        rest = rest[match.end() :]
    return total


def simulated_duration(pod: KubeDict) -> float | None:
    """The pod's run time from its annotation; None without one (or with one that does not
    parse: the pod then runs until deleted, as a pod without the annotation does)."""
    annotations = pod.get("metadata", {}).get("annotations") or {}
    text = annotations.get(SIMULATED_DURATION_ANNOTATION)
    return parse_simulated_duration(text) if isinstance(text, str) else None


# ------------------------------------------------------------------------------------ nodes


def node_address(index: int) -> str:
    """The InternalIP of the fleet's `index`-th node."""
    return str(NODE_NETWORK.network_address + 1 + index)


def node_conditions(now: float, since: float) -> list[KubeDict]:
    """The five conditions of a healthy kubelet: heartbeat `now`, unchanged since `since`."""
    return [
        {
            "type": kind,
            "status": status,
            "reason": reason,
            "message": message,
            "lastHeartbeatTime": timestamp(now),
            "lastTransitionTime": timestamp(since),
        }
        for kind, status, reason, message in _NODE_CONDITIONS
    ]


def node_status_patch(name: str, address: str, now: float) -> KubeDict:
    """The strategic-merge patch on `nodes/{name}/status` that makes the node Ready.

    Conditions and addresses merge by `type`; capacity and allocatable are not named, so the
    ones the Node was created with stay."""
    ids = uuid.uuid5(uuid.NAMESPACE_DNS, f"{name}.nodes.dralloc.io")
    return {
        "status": {
            "conditions": node_conditions(now, now),
            "addresses": [
                {"type": "InternalIP", "address": address},
                {"type": "Hostname", "address": name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": ids.hex,
                "systemUUID": str(ids),
                "bootID": str(uuid.uuid5(ids, "boot")),
                "kernelVersion": "6.8.0-dralloc-simulated",
                "osImage": "dralloc simulated node",
                "containerRuntimeVersion": "simulated://1.0.0",
                "kubeletVersion": KUBELET_VERSION,
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        }
    }


def node_heartbeat_patch(now: float, since: float) -> KubeDict:
    """The periodic renewal: the same conditions with a new `lastHeartbeatTime`. A node
    lifecycle controller marks a node whose heartbeat is older than its grace period (50 s
    by default in 1.36) NotReady, so the kubelet renews more often than that."""
    return {"status": {"conditions": node_conditions(now, since)}}


# ------------------------------------------------------------------------------------- pods


class PodAddressPool:
    """Pod IPs from 10.244.0.0/16, each held by one pod (by UID) until released.

    Addresses are handed out in order and reused only after the pool wraps around, so a
    released address is not given to the next pod at once (as CNI plugins avoid)."""

    def __init__(self, network: ipaddress.IPv4Network = POD_NETWORK) -> None:
        self._first = int(network.network_address) + 1
        self._size = network.num_addresses - 2
        self._next = 0
        self._by_uid: dict[str, int] = {}
        self._used: set[int] = set()

    def __len__(self) -> int:
        return len(self._by_uid)

    def allocate(self, uid: str) -> str:
        """The pod's address (the same one when asked again); RuntimeError when all are used."""
        if uid in self._by_uid:
            return str(ipaddress.IPv4Address(self._by_uid[uid]))
        for _ in range(self._size):
            candidate = self._first + self._next
            self._next = (self._next + 1) % self._size
            if candidate not in self._used:
                self._used.add(candidate)
                self._by_uid[uid] = candidate
                return str(ipaddress.IPv4Address(candidate))
        raise RuntimeError(f"all {self._size} pod addresses are in use")

    def reserve(self, uid: str, address: str) -> None:
        """Record an address a pod already holds (written by an earlier run)."""
        try:
            value = int(ipaddress.IPv4Address(address))
        except ValueError:
            return
        if self._first <= value < self._first + self._size and uid not in self._by_uid:
            self._used.add(value)
            self._by_uid[uid] = value

    def release(self, uid: str) -> None:
        value = self._by_uid.pop(uid, None)
        if value is not None:
            self._used.discard(value)


def _container_id(pod: KubeDict, container: str) -> str:
    uid = pod["metadata"].get("uid", "")
    return "simulated://" + hashlib.sha256(f"{uid}/{container}".encode()).hexdigest()


def _condition(kind: str, status: str, now: float, reason: str = "") -> KubeDict:
    condition: KubeDict = {"type": kind, "status": status, "lastTransitionTime": timestamp(now)}
    if reason:
        condition["reason"] = reason
    return condition


def _is_sidecar(container: KubeDict) -> bool:
    return container.get("restartPolicy") == "Always"


def _running(pod: KubeDict, container: KubeDict, started: str) -> KubeDict:
    return {
        "name": container["name"],
        "image": container.get("image", ""),
        "imageID": "",
        "containerID": _container_id(pod, container["name"]),
        "ready": True,
        "started": True,
        "restartCount": 0,
        "state": {"running": {"startedAt": started}},
    }


def _terminated(pod: KubeDict, container: KubeDict, started: str, finished: str) -> KubeDict:
    return {
        "name": container["name"],
        "image": container.get("image", ""),
        "imageID": "",
        "containerID": _container_id(pod, container["name"]),
        "ready": False,
        "started": False,
        "restartCount": 0,
        "state": {
            "terminated": {
                "exitCode": 0,
                "reason": "Completed",
                "startedAt": started,
                "finishedAt": finished,
                "containerID": _container_id(pod, container["name"]),
            }
        },
    }


def _has_true_condition(pod: KubeDict, kind: str) -> bool:
    return any(
        c.get("type") == kind and c.get("status") == "True"
        for c in pod.get("status", {}).get("conditions") or []
    )


def pod_running_patch(pod: KubeDict, pod_ip: str, host_ip: str, now: float) -> KubeDict:
    """The strategic-merge patch on `pods/{name}/status` that starts a bound pod: init
    containers done (sidecars running), every container running and ready, phase Running."""
    at = timestamp(now)
    spec = pod.get("spec", {})
    init = spec.get("initContainers") or []
    conditions = [
        _condition("PodReadyToStartContainers", "True", now),
        _condition("Initialized", "True", now),
        _condition("ContainersReady", "True", now),
        _condition("Ready", "True", now),
    ]
    if not _has_true_condition(pod, "PodScheduled"):
        conditions.insert(0, _condition("PodScheduled", "True", now))
    status: KubeDict = {
        "phase": "Running",
        "conditions": conditions,
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "podIP": pod_ip,
        "podIPs": [{"ip": pod_ip}],
        "startTime": at,
        "containerStatuses": [_running(pod, c, at) for c in spec.get("containers") or []],
    }
    if init:
        status["initContainerStatuses"] = [
            _running(pod, c, at) if _is_sidecar(c) else _terminated(pod, c, at, at) for c in init
        ]
    return {"status": status}


def _started_at(pod: KubeDict, name: str, default: str) -> str:
    for key in ("containerStatuses", "initContainerStatuses"):
        for status in pod.get("status", {}).get(key) or []:
            if status.get("name") == name:
                state = status.get("state", {})
                found = (state.get("running") or state.get("terminated") or {}).get("startedAt")
                if isinstance(found, str):
                    return found
    return default


def pod_succeeded_patch(pod: KubeDict, now: float) -> KubeDict:
    """The strategic-merge patch that ends a running pod: every container terminated with
    exit code 0 (reason Completed), Ready and ContainersReady False, phase Succeeded."""
    at = timestamp(now)
    spec = pod.get("spec", {})
    started = pod.get("status", {}).get("startTime", at)

    def done(container: KubeDict) -> KubeDict:
        return _terminated(pod, container, _started_at(pod, container["name"], started), at)

    status: KubeDict = {
        "phase": "Succeeded",
        "conditions": [
            _condition("ContainersReady", "False", now, "PodCompleted"),
            _condition("Ready", "False", now, "PodCompleted"),
        ],
        "containerStatuses": [done(c) for c in spec.get("containers") or []],
    }
    if spec.get("initContainers"):
        status["initContainerStatuses"] = [done(c) for c in spec["initContainers"]]
    return {"status": status}


# ---------------------------------------------------------------------------------- claims


def _device_key(entry: KubeDict) -> tuple[str, str, str, str]:
    return (entry["driver"], entry["pool"], entry["device"], entry.get("shareID") or "")


def claim_with_device_conditions(
    claim: KubeDict, pools: Collection[tuple[str, str]], now: float
) -> KubeDict | None:
    """The claim with `status.devices` entries whose conditions include every binding
    condition of its allocated devices on `pools` (driver, pool), set True, as a DRA driver
    reports a device attached; None when nothing is to be written.

    The result is for a PUT on `resourceclaims/{name}/status` (it keeps the claim's
    resourceVersion). Binding failure conditions are never set: simulated devices attach."""
    status = claim.get("status") or {}
    results = ((status.get("allocation") or {}).get("devices") or {}).get("results") or []
    wanted: dict[tuple[str, str, str, str], list[str]] = {}
    for result in results:
        conditions = result.get("bindingConditions") or []
        if conditions and (result.get("driver"), result.get("pool")) in pools:
            wanted.setdefault(_device_key(result), []).extend(conditions)
    if not wanted:
        return None
    devices: list[KubeDict] = [dict(d) for d in status.get("devices") or []]
    by_key = {_device_key(d): d for d in devices}
    changed = False
    for key, conditions in wanted.items():
        entry = by_key.get(key)
        if entry is None:
            driver, pool, device, share = key
            entry = {"driver": driver, "pool": pool, "device": device}
            if share:
                entry["shareID"] = share
            devices.append(entry)
            by_key[key] = entry
        current: list[Any] = [dict(c) for c in entry.get("conditions") or []]
        for kind in conditions:
            found = next((c for c in current if c.get("type") == kind), None)
            if found is not None and found.get("status") == "True":
                continue
            if found is not None:
                current.remove(found)
            current.append(
                {
                    "type": kind,
                    "status": "True",
                    "reason": DEVICE_CONDITION_REASON,
                    "message": "the simulated device is ready",
                    "lastTransitionTime": timestamp(now),
                }
            )
            changed = True
        entry["conditions"] = current
    if not changed:
        return None
    return {**claim, "status": {**status, "devices": devices}}
