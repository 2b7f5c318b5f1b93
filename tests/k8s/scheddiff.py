"""The scheduler differential: one scenario through the real kube-scheduler and through
`dralloc schedule`, and what each decided, in one comparable shape.

A scenario (tests/data/scheduler_differential/*.yaml, or one the generated families build) is
Kubernetes objects: `objects` (Namespaces, PriorityClasses, RuntimeClasses, DeviceClasses,
Nodes with their status, ResourceSlices, ResourceClaims, ResourceClaimTemplates, ReplicaSets,
and running pods, which carry `spec.nodeName`) and `pods`, the pending pods in the order they
are created; optionally `requires` (plugins), `known` (a known disagreement) and
`dralloc_args` (options of `dralloc schedule`).

On the cluster (`run_on_cluster`) the objects are created (what names another object's uid,
an owner reference or a claim's `reservedFor`, gets the real one), then each pending pod
alone, and the next one only once kube-scheduler has bound this one or marked it
unschedulable, so that upstream's queue holds one pod at a time and the order is the file's.
Before the first pod, a probe pod that fits nowhere must be told "0/<nodes of the scenario>
nodes are available": kube-scheduler then sees exactly this scenario's nodes. `dralloc
schedule` orders its queue by priority, then input order, so a scenario's pending pods must
come in non-increasing priority (the loader checks): the two orders are then the same.
Preemption victims are running pods; with no kubelet to finish a graceful deletion they are
given `terminationGracePeriodSeconds: 0` (unless the file says otherwise), so a victim is gone
once kube-scheduler deletes it.

Both sides end as an `Observed`: per pending pod, as its turn ended, the node, the
PodScheduled=False message and the node preemption nominated (kube-scheduler retries pending
pods on later events and may rewrite the message or bind them; `dralloc schedule` tries each
pod once, so a later binding is recorded apart, in `late`); the running pods preemption
deleted; and per pod claim (also the claim made for extended resources backed by DRA) the
devices of each request.

This module owns nothing long-lived: `ClusterRun.cleanup` deletes what a run created, except
namespaces, which never finish deleting without a namespace controller."""

from __future__ import annotations

import copy
import json
import random
import re
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import yaml
from apiclient import ApiClient, ApiError
from typer.testing import CliRunner

from dralloc.cli import schedule as schedule_command_module
from dralloc.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "tests" / "data" / "scheduler_differential"
POD_SCHEDULED = "PodScheduled"
SETTLE_SECONDS = 15.0  # how long one pod may take to be bound or marked unschedulable
BARRIER_NAMESPACE = "scheduler-barrier"

Obj = dict[str, Any]

# Where each kind lives on the wire, and the order a scenario's objects are created in: what
# others refer to first, running pods last.
_KINDS: dict[str, tuple[str, bool]] = {
    "Namespace": ("/api/v1/namespaces", False),
    "PriorityClass": ("/apis/scheduling.k8s.io/v1/priorityclasses", False),
    # Pod overhead is admitted only as a RuntimeClass's (dralloc reads the pod's and sets the
    # RuntimeClass aside).
    "RuntimeClass": ("/apis/node.k8s.io/v1/runtimeclasses", False),
    "DeviceClass": ("/apis/resource.k8s.io/v1/deviceclasses", False),
    "ResourceSlice": ("/apis/resource.k8s.io/v1/resourceslices", False),
    "Node": ("/api/v1/nodes", False),
    "ResourceClaimTemplate": (
        "/apis/resource.k8s.io/v1/namespaces/{ns}/resourceclaimtemplates",
        True,
    ),
    "ResourceClaim": ("/apis/resource.k8s.io/v1/namespaces/{ns}/resourceclaims", True),
    # Read by PodTopologySpread's default constraints (no controller runs here).
    "ReplicaSet": ("/apis/apps/v1/namespaces/{ns}/replicasets", True),
    "Pod": ("/api/v1/namespaces/{ns}/pods", True),
}
_ORDER = {kind: rank for rank, kind in enumerate(_KINDS)}


class ScenarioError(ValueError):
    """A scenario file that cannot be compared as written (ties, order, unknown kinds)."""


@dataclass(frozen=True)
class Scenario:
    """One scenario. `requires` names the plugins of dralloc's default profile it needs (while
    one is missing the comparison is a strict xfail); `known` names a known disagreement;
    `dralloc_args` are options for `dralloc schedule`."""

    name: str
    description: str
    objects: tuple[Obj, ...]
    pods: tuple[Obj, ...]
    requires: tuple[str, ...] = ()
    known: str | None = None
    # Options `dralloc schedule` runs with (a departure from upstream it offers, say).
    dralloc_args: tuple[str, ...] = ()

    @property
    def namespaces(self) -> list[str]:
        """Every namespace the scenario's objects live in, in first-use order."""
        seen: dict[str, None] = {}
        for obj in (*self.objects, *self.pods):
            if obj["kind"] == "Namespace":
                seen.setdefault(obj["metadata"]["name"], None)
            elif _KINDS[obj["kind"]][1]:
                seen.setdefault(obj["metadata"]["namespace"], None)
        return list(seen)

    @property
    def node_names(self) -> list[str]:
        return [o["metadata"]["name"] for o in self.objects if o["kind"] == "Node"]

    def documents(self) -> list[Obj]:
        """Everything, as one `dralloc schedule` input: objects, then pods in order."""
        return [*self.objects, *self.pods]


def _priority(pod: Obj, classes: Mapping[str, int]) -> int:
    spec = pod.get("spec") or {}
    if "priority" in spec:
        return int(spec["priority"])
    return classes.get(spec.get("priorityClassName") or "", 0)


def make_scenario(
    name: str,
    objects: Iterable[Obj],
    pods: Iterable[Obj],
    *,
    description: str = "",
    requires: Sequence[str] = (),
    known: str | None = None,
    dralloc_args: Sequence[str] = (),
) -> Scenario:
    """A scenario with its defaults filled in: objects without a namespace go to one named
    after the scenario, running pods get `terminationGracePeriodSeconds: 0`, and objects are
    sorted so that what others refer to is created first. Raises ScenarioError when the
    pending pods are not in non-increasing priority."""
    objects = [copy.deepcopy(o) for o in objects]
    pods = [copy.deepcopy(p) for p in pods]
    for obj in (*objects, *pods):
        kind = obj.get("kind")
        if kind not in _KINDS:
            raise ScenarioError(f"{name}: kind {kind!r} is not one a scenario may hold")
        metadata = obj.setdefault("metadata", {})
        if _KINDS[kind][1]:
            metadata.setdefault("namespace", name)
    for pod in pods:
        if pod["kind"] != "Pod" or (pod.get("spec") or {}).get("nodeName"):
            raise ScenarioError(f"{name}: pods: {pod['metadata']['name']} is not a pending Pod")
    for obj in objects:
        if obj["kind"] == "Pod":
            obj["spec"].setdefault("terminationGracePeriodSeconds", 0)
    objects.sort(key=lambda o: _ORDER[o["kind"]])
    classes = {
        o["metadata"]["name"]: int(o["value"]) for o in objects if o["kind"] == "PriorityClass"
    }
    priorities = [_priority(p, classes) for p in pods]
    if priorities != sorted(priorities, reverse=True):
        raise ScenarioError(
            f"{name}: pending pods must come in non-increasing priority (dralloc's queue order "
            f"is priority first), got {priorities}"
        )
    return Scenario(
        name,
        description,
        tuple(objects),
        tuple(pods),
        tuple(requires),
        known,
        tuple(dralloc_args),
    )


def load_scenario(path: Path) -> Scenario:
    data = yaml.safe_load(path.read_text())
    return make_scenario(
        path.stem,
        data.get("objects") or [],
        data.get("pods") or [],
        description=data.get("description", ""),
        requires=data.get("requires") or (),
        known=data.get("known"),
        dralloc_args=data.get("dralloc_args") or (),
    )


def load_scenarios(folder: Path = SCENARIOS) -> list[Scenario]:
    return [load_scenario(path) for path in sorted(folder.glob("*.yaml"))]


# ------------------------------------------------------------------------ what was decided

Devices = tuple[tuple[str, str, str], ...]  # (driver, pool, device), sorted


@dataclass(frozen=True)
class PodResult:
    node: str | None
    message: str | None = None  # the PodScheduled=False message, for a pod left pending
    nominated: str | None = None  # for a pod left pending: where preemption made room


@dataclass
class Observed:
    """What one scheduler decided for a scenario. Pods are keyed `namespace/name`; claims
    `namespace/pod:podClaimName` (the extended-resource claim as `namespace/pod:<extended>`)."""

    pods: dict[str, PodResult] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    claims: dict[str, dict[str, Devices]] = field(default_factory=dict)
    # Pods upstream left pending in their turn and bound later, when a retry (an event such
    # as another pod's binding) found them room: pod -> node. `dralloc schedule` tries each
    # pod once, so a scenario must not depend on this.
    late: dict[str, str] = field(default_factory=dict)

    def as_data(self) -> Obj:
        """A plain, ordered form for assertion messages and equality."""
        return {
            "pods": {k: vars(v) for k, v in sorted(self.pods.items())},
            "deleted": sorted(self.deleted),
            "claims": {
                k: {r: [list(d) for d in devs] for r, devs in sorted(v.items())}
                for k, v in sorted(self.claims.items())
            },
        }


EXTENDED_CLAIM = "<extended>"


def _allocated_devices(claim: Obj) -> dict[str, Devices] | None:
    allocation = (claim.get("status") or {}).get("allocation")
    if not allocation:
        return None
    by_request: dict[str, list[tuple[str, str, str]]] = {}
    for result in (allocation.get("devices") or {}).get("results") or []:
        by_request.setdefault(result["request"], []).append(
            (result["driver"], result["pool"], result["device"])
        )
    return {request: tuple(sorted(devs)) for request, devs in by_request.items()}


def _pod_claim_names(pod: Obj) -> dict[str, str | None]:
    """podClaimName -> the ResourceClaim's name (None while not created)."""
    generated = {
        s["name"]: s.get("resourceClaimName")
        for s in (pod.get("status") or {}).get("resourceClaimStatuses") or []
    }
    names: dict[str, str | None] = {}
    for entry in (pod.get("spec") or {}).get("resourceClaims") or []:
        names[entry["name"]] = entry.get("resourceClaimName") or generated.get(entry["name"])
    extended = (pod.get("status") or {}).get("extendedResourceClaimStatus")
    if extended:
        names[EXTENDED_CLAIM] = extended.get("resourceClaimName")
    return names


def _record_claims(observed: Observed, pod: Obj, claims: Mapping[str, Obj]) -> None:
    key = f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"
    for pod_claim, name in _pod_claim_names(pod).items():
        claim = claims.get(f"{pod['metadata']['namespace']}/{name}") if name else None
        devices = _allocated_devices(claim) if claim is not None else None
        if devices is not None:
            observed.claims[f"{key}:{pod_claim}"] = devices


def _unschedulable_message(pod: Obj) -> str | None:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == POD_SCHEDULED and condition.get("status") == "False":
            message: str = condition.get("message", "")
            return message
    return None


# -------------------------------------------------------------------------- on the cluster


def _path(obj: Obj) -> str:
    collection, namespaced = _KINDS[obj["kind"]]
    return collection.format(ns=obj["metadata"].get("namespace")) if namespaced else collection


def _key(obj: Obj) -> str:
    return f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"


_NODES_AVAILABLE = re.compile(r"^0/(\d+) nodes are available")


@dataclass
class ClusterRun:
    """One scenario on a real kube-apiserver with kube-scheduler (and the ResourceClaim
    controller) running: `run()` creates and schedules, `cleanup()` deletes it all again."""

    client: ApiClient
    scenario: Scenario
    created: list[Obj] = field(default_factory=list)
    settled: dict[str, Obj] = field(default_factory=dict)  # pod -> as its turn ended

    def run(self) -> Observed:
        for namespace in [*self.scenario.namespaces, BARRIER_NAMESPACE]:
            self._ensure_namespace(namespace)
        held: list[tuple[Obj, Obj]] = []
        for obj in self.scenario.objects:
            if obj["kind"] == "Namespace":
                continue
            created = self._create(obj)
            if obj["kind"] == "ResourceClaim" and obj.get("status"):
                held.append((created, obj["status"]))
        for claim, status in held:
            self._write_claim_status(claim, status)
        self._wait_for_nodes(len(self.scenario.node_names))
        for pod in self.scenario.pods:
            self._schedule(pod)
        return self._observe()

    def _ensure_namespace(self, name: str) -> None:
        labels: dict[str, str] = {}
        for obj in self.scenario.objects:
            if obj["kind"] == "Namespace" and obj["metadata"]["name"] == name:
                labels = obj["metadata"].get("labels") or {}
        metadata: Obj = {"name": name}
        if labels:
            metadata["labels"] = labels
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata}
        response = self.client.create("/api/v1/namespaces", body)
        if response.status != 409:  # namespaces outlive scenarios: one may be there already
            response.raise_for_status()

    def _create(self, obj: Obj) -> Obj:
        body = {k: v for k, v in obj.items() if k != "status"}
        owners = body["metadata"].get("ownerReferences")
        if owners:
            # The API server gives every object a uid of its own: an owner reference names
            # its owner's real one.
            body = copy.deepcopy(body)
            namespace = body["metadata"].get("namespace")
            for owner in body["metadata"]["ownerReferences"]:
                owner["uid"] = next(
                    o["metadata"]["uid"]
                    for o in self.created
                    if o.get("kind") == owner["kind"]
                    and o["metadata"]["name"] == owner["name"]
                    and o["metadata"].get("namespace") == namespace
                )
        created: Obj = self.client.create(_path(obj), body).raise_for_status().body
        self.created.append(created)
        status = obj.get("status")
        if status and obj["kind"] == "Node":
            # The node's status as a kubelet reports it: capacity, allocatable, images.
            name = created["metadata"]["name"]
            self.client.patch_status(f"/api/v1/nodes/{name}", {"status": status}).raise_for_status()
        return created

    def _write_claim_status(self, claim: Obj, status: Obj) -> None:
        """A claim allocated beforehand (a running pod's), written as a scheduler would once
        the pods exist: `reservedFor` entries get the real uids of the pods they name (the
        API server gives every pod a uid of its own)."""
        uids = {_key(o): o["metadata"]["uid"] for o in self.created if o.get("kind") == "Pod"}
        status = copy.deepcopy(status)
        namespace = claim["metadata"]["namespace"]
        for consumer in status.get("reservedFor") or []:
            consumer["uid"] = uids[f"{namespace}/{consumer['name']}"]
        claim["status"] = status
        path = f"{_path(claim)}/{claim['metadata']['name']}/status"
        self.client.request("PUT", path, claim).raise_for_status()

    def _wait_for_nodes(self, count: int) -> None:
        """Waits until kube-scheduler's cache holds exactly this scenario's nodes: a probe
        pod that fits nowhere must be told "0/<count> nodes are available". A node deleted
        by the last scenario, or one of this scenario not seen yet, gives another count."""
        deadline = time.monotonic() + SETTLE_SECONDS
        last = ""
        while time.monotonic() < deadline:
            name = f"barrier-{uuid.uuid4().hex[:8]}"
            probe = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": name, "namespace": BARRIER_NAMESPACE},
                "spec": {
                    "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}],
                    "nodeSelector": {"scheduler-differential/barrier": name},
                    "tolerations": [{"operator": "Exists"}],
                },
            }
            path = f"/api/v1/namespaces/{BARRIER_NAMESPACE}/pods"
            self.client.create(path, probe).raise_for_status()
            settled = self._settle(BARRIER_NAMESPACE, name)
            self.client.request("DELETE", f"{path}/{name}", {"gracePeriodSeconds": 0})
            last = _unschedulable_message(settled) or ""
            match = _NODES_AVAILABLE.match(last)
            if match and int(match.group(1)) == count:
                return
        raise AssertionError(
            f"kube-scheduler did not come to see exactly {count} nodes; last: {last!r}"
        )

    def _settle(self, namespace: str, name: str) -> Obj:
        """Watches the pod until it is bound, or marked unschedulable with no node nominated
        (a nominated preemptor waits for its victims to go and is then bound)."""
        path = f"/api/v1/namespaces/{namespace}/pods"
        deadline = time.monotonic() + SETTLE_SECONDS
        last: Obj = {}
        while time.monotonic() < deadline:
            current = self.client.get(f"{path}/{name}").raise_for_status().body
            for event in self._events(path, name, current):
                last = event
                nominated = (last.get("status") or {}).get("nominatedNodeName")
                if last["spec"].get("nodeName"):
                    return last
                if _unschedulable_message(last) is not None and not nominated:
                    return last
        raise AssertionError(f"pod {namespace}/{name} neither bound nor unschedulable: {last}")

    def _events(self, path: str, name: str, current: Obj) -> Iterator[Obj]:
        yield current
        version = current["metadata"]["resourceVersion"]
        for event in self.client.watch(
            path,
            timeout_seconds=int(SETTLE_SECONDS),
            fieldSelector=f"metadata.name={name}",
            resourceVersion=version,
        ):
            if event["type"] in ("ADDED", "MODIFIED"):
                yield event["object"]

    def _schedule(self, pod: Obj) -> None:
        self._create(pod)
        metadata = pod["metadata"]
        self.settled[_key(pod)] = self._settle(metadata["namespace"], metadata["name"])

    def _observe(self) -> Observed:
        observed = Observed()
        claims: dict[str, Obj] = {}
        for namespace in self.scenario.namespaces:
            listed = self.client.get(
                f"/apis/resource.k8s.io/v1/namespaces/{namespace}/resourceclaims"
            ).raise_for_status()
            for claim in listed.body["items"]:
                claims[_key(claim)] = claim
        for pod in self.scenario.pods:
            # Each pod as its turn ended: what dralloc, trying each pod once, is compared with.
            key = _key(pod)
            settled = self.settled[key]
            node = settled["spec"].get("nodeName")
            current = self.client.get(_path(pod) + "/" + pod["metadata"]["name"]).body
            if node is None and current["spec"].get("nodeName"):
                observed.late[key] = current["spec"]["nodeName"]
            # A bound pod's nominated node says nothing more: 1.36 also nominates a pod whose
            # PreBind has work to do (its claims), and preemption's victims show as deleted.
            nominated = None if node else (settled.get("status") or {}).get("nominatedNodeName")
            observed.pods[key] = PodResult(
                node, None if node else _unschedulable_message(settled), nominated
            )
            if node:
                _record_claims(observed, current, claims)
        for obj in self.scenario.objects:
            if obj["kind"] == "Pod":
                response = self.client.get(_path(obj) + "/" + obj["metadata"]["name"])
                if response.status == 404:
                    observed.deleted.add(_key(obj))
        return observed

    def cleanup(self) -> None:
        """Deletes the scenario's pods and claims (generated ones too) at once, then every
        cluster-scoped object it created. Namespaces stay."""
        for namespace in self.scenario.namespaces:
            pods = f"/api/v1/namespaces/{namespace}/pods"
            for pod in self.client.get(pods).body["items"]:
                name = pod["metadata"]["name"]
                self.client.request("DELETE", f"{pods}/{name}", {"gracePeriodSeconds": 0})
            path = f"/apis/resource.k8s.io/v1/namespaces/{namespace}/resourceclaims"
            for claim in self.client.get(path).body["items"]:
                claim_path = f"{path}/{claim['metadata']['name']}"
                if claim["metadata"].get("finalizers"):
                    # No controller is left to remove kube-scheduler's delete protection.
                    self.client.request(
                        "PATCH",
                        claim_path,
                        {"metadata": {"finalizers": None}},
                        content_type="application/merge-patch+json",
                    )
                self.client.delete(claim_path)
        for obj in reversed(self.created):
            if not _KINDS[obj["kind"]][1]:
                response = self.client.delete(_path(obj) + "/" + obj["metadata"]["name"])
                if response.status not in (200, 202, 404):
                    raise ApiError(response)


def run_on_cluster(client: ApiClient, scenario: Scenario) -> Observed:
    run = ClusterRun(client, scenario)
    try:
        return run.run()
    finally:
        run.cleanup()


# ---------------------------------------------------------------------------- in dralloc


@dataclass(frozen=True)
class DrallocRun:
    """`dralloc schedule` over a scenario: its exit code, stderr and what it decided."""

    exit_code: int
    stderr: str
    observed: Observed


def run_dralloc(scenario: Scenario, *, seed: int | None = None) -> DrallocRun:
    """Runs `dralloc schedule -f <scenario> -o json` in-process, as a user would run it."""
    with tempfile.TemporaryDirectory(prefix="scheduler-differential-") as directory:
        path = Path(directory) / f"{scenario.name}.yaml"
        path.write_text(yaml.safe_dump_all(scenario.documents(), sort_keys=False))
        args = ["schedule", "-f", str(path), "-o", "json", *scenario.dralloc_args]
        if seed is not None:
            args += ["--seed", str(seed)]
        result = CliRunner().invoke(app, args)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    if result.exit_code not in (0, 1):
        raise AssertionError(f"dralloc schedule exited {result.exit_code}:\n{result.stderr}")
    items = json.loads(result.stdout)["items"]
    return DrallocRun(result.exit_code, result.stderr, observed_from_output(scenario, items))


class _TieRecorder(random.Random):
    """Breaks ties as name order does (the first of the sorted names), remembering each."""

    def __init__(self, seed: int) -> None:
        super().__init__(seed)
        self.ties: list[list[str]] = []

    def choice(self, seq: Any) -> Any:
        self.ties.append(list(seq))
        return seq[0]


def run_dralloc_recording_ties(scenario: Scenario) -> tuple[DrallocRun, list[list[str]]]:
    """`run_dralloc`, and the sets of equally scored best nodes it met on the way (upstream
    would pick among each at random). `dralloc schedule --seed N` draws ties from
    `random.Random(N)`; here that generator records them and takes the first node, as name
    order would."""
    recorders: list[_TieRecorder] = []

    class _Random:
        def Random(self, seed: Any = None) -> random.Random:
            if isinstance(seed, int):
                recorder = _TieRecorder(seed)
                recorders.append(recorder)
                return recorder
            return random.Random(seed)

    with mock.patch.object(schedule_command_module, "random", _Random()):
        run = run_dralloc(scenario, seed=0)
    # The framework may draw among tied positions of its name-ordered node list
    # (`FrameworkSpeedups.ties_by_position`): the same draw, told here by node name.
    names = sorted(obj["metadata"]["name"] for obj in scenario.objects if obj.get("kind") == "Node")
    return run, [
        [names[item] if isinstance(item, int) else item for item in tie]
        for recorder in recorders
        for tie in recorder.ties
    ]


def dralloc_ties(scenario: Scenario) -> list[list[str]]:
    return run_dralloc_recording_ties(scenario)[1]


def accepts_options(options: Sequence[str]) -> bool:
    """Whether `dralloc schedule` has every option named (`--flag` or `--flag=value`)."""
    result = CliRunner().invoke(app, ["schedule", "--help"], terminal_width=200)
    return all(option.split("=", 1)[0] in result.stdout for option in options)


def observed_from_output(scenario: Scenario, items: Sequence[Obj]) -> Observed:
    """`dralloc schedule`'s output list as an Observed."""
    observed = Observed()
    claims = {_key(i): i for i in items if i["kind"] == "ResourceClaim"}
    pods = {_key(i): i for i in items if i["kind"] == "Pod"}
    for item in pods.values():
        if (item.get("status") or {}).get("reason") == "Preempted":
            observed.deleted.add(_key(item))
    for pod in scenario.pods:
        key = _key(pod)
        out = pods[key]
        node = out["spec"].get("nodeName")
        nominated = None if node else (out.get("status") or {}).get("nominatedNodeName")
        observed.pods[key] = PodResult(
            node, None if node else _unschedulable_message(out), nominated
        )
        if node:
            _record_claims(observed, out, claims)
    return observed


def differences(upstream: Observed, local: Observed) -> list[str]:
    """One line per thing the two decided differently, upstream's answer first."""
    lines = []
    for key in sorted(set(upstream.pods) | set(local.pods)):
        theirs, ours = upstream.pods.get(key), local.pods.get(key)
        if theirs == ours:
            continue
        for attribute in ("node", "message", "nominated"):
            a, b = getattr(theirs, attribute, None), getattr(ours, attribute, None)
            if a != b:
                lines.append(f"pod {key} {attribute}: kube-scheduler {a!r}, dralloc {b!r}")
    for key, node in sorted(upstream.late.items()):
        lines.append(f"pod {key} was bound to {node} by a later retry in kube-scheduler only")
    for key in sorted(upstream.deleted ^ local.deleted):
        who = "kube-scheduler" if key in upstream.deleted else "dralloc"
        lines.append(f"pod {key} was preempted by {who} only")
    for key in sorted(set(upstream.claims) | set(local.claims)):
        theirs_claim, ours_claim = upstream.claims.get(key), local.claims.get(key)
        if theirs_claim != ours_claim:
            lines.append(f"claim {key}: kube-scheduler {theirs_claim}, dralloc {ours_claim}")
    return lines
