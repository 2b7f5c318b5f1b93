"""A kubelet and DRA driver that run nothing, for a fleet of simulated nodes.

`SimulatedKubelet` owns what a real node agent would do for a set of node names
(spec/cluster-mode.md section 8.5, KWOK's stages):

* node status: on start, the five conditions (Ready), addresses and nodeInfo; then a
  heartbeat every `heartbeat_seconds`, so a node lifecycle controller keeps the node Ready;
* pods bound to its nodes: Pending -> Running (a unique pod IP from 10.244.0.0/16);
  Running -> Succeeded once the `dralloc.io/simulated-duration` annotation's time has passed
  (a pod without it runs until deleted, a Job's pods included); a pod with a
  deletionTimestamp is deleted at once (grace period 0, the UID as precondition);
* device status: a claim allocated from its pools whose devices carry `bindingConditions`
  gets `status.devices[]` entries with those conditions True (a PUT on the claim's status).
  As admin this just works; a least-privilege identity needs `resourceclaims/driver` with
  the verbs `arbitrary-node:update` and `arbitrary-node:patch` (spec section 6), because the
  kubelet's node-restricted driver identity could only write for its own node.

Pods and claims come from informers (`SharedInformers`, shared with a scheduler in the same
process when one is given). There is no field selector for "bound to one of these nodes",
so every pod is watched and filtered in memory. Handlers only queue keys; workers make the
writes, one key at a time, so two writes for one pod never race.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from dralloc.kube.client import (
    NODES,
    PODS,
    RESOURCE_CLAIMS,
    ApiStatusError,
    ApiUnavailable,
    KubeClient,
    KubeDict,
)
from dralloc.kube.informer import Informer, object_key
from dralloc.kube.nodesim.status import (
    PodAddressPool,
    claim_with_device_conditions,
    node_heartbeat_patch,
    node_status_patch,
    parse_timestamp,
    pod_running_patch,
    pod_succeeded_patch,
    simulated_duration,
)
from dralloc.kube.shared_informers import SharedInformers

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 30.0
# A write that failed for a reason other than the object being gone is tried again after this.
RETRY_SECONDS = 1.0
RETRY_CAP_SECONDS = 60.0
CONFLICT_RETRIES = 5
SYNC_TIMEOUT_SECONDS = 60.0


class WallClock(Protocol):
    """Where the kubelet reads the time it writes into statuses."""

    def now(self) -> float:
        """Unix seconds."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.time()


@dataclass
class KubeletCounts:
    """What the kubelet did, for the summary line."""

    started: int = 0
    completed: int = 0
    deleted: int = 0
    device_status_writes: int = 0
    failed_writes: int = 0


class _WorkQueue:
    """Keys to look at, each at most once in the queue and never with two workers at once
    (client-go's workqueue: a key added while it is processed is queued again when done)."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self._dirty: set[tuple[str, str]] = set()
        self._processing: set[tuple[str, str]] = set()

    def add(self, item: tuple[str, str]) -> None:
        if item in self._dirty:
            return
        self._dirty.add(item)
        if item not in self._processing:
            self._queue.put_nowait(item)

    async def get(self) -> tuple[str, str]:
        item = await self._queue.get()
        self._dirty.discard(item)
        self._processing.add(item)
        return item

    def done(self, item: tuple[str, str]) -> None:
        self._processing.discard(item)
        if item in self._dirty:
            self._queue.put_nowait(item)


class _Enqueue:
    """An informer handler that queues the key of every object `wanted` accepts."""

    def __init__(self, kind: str, queue: _WorkQueue, wanted: Callable[[KubeDict], bool]) -> None:
        self.kind = kind
        self.queue = queue
        self.wanted = wanted
        # Informers cannot drop a handler; a stopped kubelet's handler turns itself off so
        # that a shared informer, still running, does not fill a queue nobody reads.
        self.active = True

    def on_add(self, obj: KubeDict) -> None:
        if self.active and self.wanted(obj):
            self.queue.add((self.kind, object_key(obj)))

    def on_update(self, old: KubeDict, new: KubeDict) -> None:
        self.on_add(new)

    def on_delete(self, obj: KubeDict) -> None:
        self.on_add(obj)


def _uid(obj: KubeDict) -> str:
    return str(obj.get("metadata", {}).get("uid", ""))


class SimulatedKubelet:
    """The node agent of simulated nodes: see the module docstring.

        kubelet = SimulatedKubelet(client, {"dgx-h100-00": "10.64.0.1"}, pools)
        await kubelet.start()      # nodes Ready, informers synced
        task = asyncio.create_task(kubelet.run())
        ...
        await kubelet.stop()

    `nodes` maps each node name to its InternalIP; `pools` holds the (driver, pool) pairs
    whose devices it reports on. With `informers`, it adds its handlers to those, started by
    the caller before or after this start() (start() waits for their first lists only when
    they run already); without, it runs informers of its own.
    """

    def __init__(
        self,
        client: KubeClient,
        nodes: Mapping[str, str],
        pools: frozenset[tuple[str, str]],
        *,
        informers: SharedInformers | None = None,
        device_status: bool = True,
        clock: WallClock | None = None,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
        workers: int = 8,
        log: Callable[[str], None] | None = None,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.client = client
        self.nodes = dict(nodes)
        self.pools = pools
        self.device_status = device_status
        self.clock: WallClock = clock if clock is not None else SystemClock()
        self.heartbeat_seconds = heartbeat_seconds
        self.workers = workers
        # `log` hears of each object written; `warn` of writes that failed.
        self.log = log if log is not None else (lambda message: logger.info("%s", message))
        self.warn = warn if warn is not None else (lambda message: logger.warning("%s", message))
        self.counts = KubeletCounts()
        self._own_informers = informers is None
        self.informers = informers if informers is not None else SharedInformers(client)
        self._queue = _WorkQueue()
        self._addresses = PodAddressPool()
        self._ready_since: dict[str, float] = {}
        # Per pod UID: when this kubelet started it, whether it wrote its end, whether it
        # deleted it. The informer lags behind writes; these keep a write from repeating.
        self._uid_by_key: dict[str, str] = {}
        self._started: dict[str, float] = {}
        self._written: set[str] = set()
        self._deleting: set[str] = set()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._failures: dict[tuple[str, str], int] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._handlers: list[_Enqueue] = []
        self.pods: Informer | None = None
        self.claims: Informer | None = None

    # -------------------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Make every node Ready, then start watching pods (and claims) and wait for the
        first lists. API errors other than a 404 on a node propagate."""
        await asyncio.gather(*(self._make_ready(name) for name in self.nodes))
        self.pods = self.informers.informer(PODS)
        self._subscribe(self.pods, "pod", self._is_on_my_node)
        if self.device_status:
            self.claims = self.informers.informer(RESOURCE_CLAIMS)
            self._subscribe(self.claims, "claim", self._has_my_devices)
        if self._own_informers:
            await self.informers.start()
        self._tasks = [
            asyncio.create_task(self._work(), name=f"kubelet worker {i}")
            for i in range(self.workers)
        ]
        self._tasks.append(asyncio.create_task(self._heartbeats(), name="kubelet heartbeats"))
        if self.informers.is_running:
            await self.pods.wait_synced(SYNC_TIMEOUT_SECONDS)
            if self.claims is not None:
                await self.claims.wait_synced(SYNC_TIMEOUT_SECONDS)

    async def run(self) -> None:
        """Until cancelled, or until a worker fails for a reason that is a bug."""
        if not self._tasks:
            raise RuntimeError("SimulatedKubelet.run() before start()")
        await asyncio.gather(*self._tasks)

    async def stop(self) -> None:
        for handler in self._handlers:
            handler.active = False
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._own_informers:
            await self.informers.stop()

    def _subscribe(self, informer: Informer, kind: str, wanted: Callable[[KubeDict], bool]) -> None:
        handler = _Enqueue(kind, self._queue, wanted)
        informer.add_handler(handler)
        self._handlers.append(handler)
        # A shared informer may have listed already: what it holds is news to this kubelet.
        for obj in list(informer.store.values()):
            handler.on_add(obj)

    def _is_on_my_node(self, pod: KubeDict) -> bool:
        return pod.get("spec", {}).get("nodeName") in self.nodes

    def _has_my_devices(self, claim: KubeDict) -> bool:
        allocation = (claim.get("status") or {}).get("allocation") or {}
        results = (allocation.get("devices") or {}).get("results") or []
        return any(
            r.get("bindingConditions") and (r.get("driver"), r.get("pool")) in self.pools
            for r in results
        )

    # ------------------------------------------------------------------------------ nodes

    async def _make_ready(self, name: str) -> None:
        now = self.clock.now()
        patch = node_status_patch(name, self.nodes[name], now)
        try:
            await self.client.patch(NODES.item(None, name, "status"), patch)
        except ApiStatusError as err:
            if not err.is_not_found:
                raise
            self.warn(f"node {name} does not exist: not simulated")
            return
        self._ready_since[name] = now

    async def _heartbeats(self) -> None:
        # Spread over the period, one node at a time: 500 nodes every 30 s are a steady
        # 17 requests a second, not a burst that holds up pod starts behind the rate limit.
        loop = asyncio.get_running_loop()
        while True:
            names = list(self._ready_since)
            gap = self.heartbeat_seconds / max(1, len(names))
            began = loop.time()
            if not names:
                await asyncio.sleep(self.heartbeat_seconds)
            for index, name in enumerate(names):
                await asyncio.sleep(max(0.0, began + (index + 1) * gap - loop.time()))
                if name in self._ready_since:
                    await self._heartbeat(name)

    async def _heartbeat(self, name: str) -> None:
        patch = node_heartbeat_patch(self.clock.now(), self._ready_since[name])
        try:
            await self.client.patch(NODES.item(None, name, "status"), patch)
        except ApiStatusError as err:
            if err.is_not_found:
                self.warn(f"node {name} was deleted: its heartbeat stops")
                self._ready_since.pop(name, None)
            else:
                self.counts.failed_writes += 1
                self.warn(f"node {name}: heartbeat failed: {err}")
        except ApiUnavailable as err:
            self.counts.failed_writes += 1
            self.warn(f"node {name}: heartbeat failed: {err}")

    # ---------------------------------------------------------------------------- workers

    async def _work(self) -> None:
        while True:
            item = await self._queue.get()
            kind, key = item
            try:
                if kind == "pod":
                    await self._sync_pod(key)
                else:
                    await self._sync_claim(key)
            except (ApiStatusError, ApiUnavailable) as err:
                self._retry(item, str(err))
            except Exception as err:  # a bug, or an object unlike any the server sends
                logger.exception("%s %s", kind, key)
                self._retry(item, f"internal error, please report: {err!r}")
            else:
                self._failures.pop(item, None)
            finally:
                self._queue.done(item)

    def _retry(self, item: tuple[str, str], why: str) -> None:
        """Look at the item again later: RETRY_SECONDS doubling up to RETRY_CAP_SECONDS, so a
        write the server keeps refusing (403, 422) is not sent many times a second."""
        failures = self._failures.get(item, 0)
        self._failures[item] = failures + 1
        delay = min(RETRY_CAP_SECONDS, RETRY_SECONDS * 2**failures)
        self.counts.failed_writes += 1
        self.warn(f"{item[0]} {item[1]}: {why}; trying again in {delay:g} s")
        self._later(item, delay)

    def _later(self, item: tuple[str, str], delay: float) -> None:
        timer_key = f"{item[0]}:{item[1]}"
        old = self._timers.pop(timer_key, None)
        if old is not None:
            old.cancel()

        def fire() -> None:
            self._timers.pop(timer_key, None)
            self._queue.add(item)

        self._timers[timer_key] = asyncio.get_running_loop().call_later(max(0.0, delay), fire)

    def _forget(self, key: str) -> None:
        """The pod at `key` is gone from this kubelet's nodes: free what it held."""
        timer = self._timers.pop(f"pod:{key}", None)
        if timer is not None:
            timer.cancel()
        uid = self._uid_by_key.pop(key, None)
        if uid is not None:
            self._addresses.release(uid)
            self._started.pop(uid, None)
            self._written.discard(uid)
            self._deleting.discard(uid)

    def _pod_path(self, pod: KubeDict, subresource: str = "") -> str:
        metadata = pod["metadata"]
        return PODS.item(metadata["namespace"], metadata["name"], subresource)

    async def _sync_pod(self, key: str) -> None:
        assert self.pods is not None
        pod = self.pods.get(key)
        if pod is None or not self._is_on_my_node(pod):
            self._forget(key)
            return
        uid = _uid(pod)
        if self._uid_by_key.get(key, uid) != uid:
            self._forget(key)  # deleted and created again under the same name
        self._uid_by_key[key] = uid
        status = pod.get("status") or {}
        phase = status.get("phase", "Pending")
        if pod["metadata"].get("deletionTimestamp"):
            if uid not in self._deleting:
                await self._delete(key, pod)
            return
        if uid in self._written:
            return  # this kubelet ended it already; the informer has not caught up yet
        if phase == "Pending":
            if uid not in self._started:
                await self._start(key, pod)
            return
        if phase != "Running":
            self._addresses.release(uid)  # terminal: its address may be reused
            return
        if status.get("podIP"):
            self._addresses.reserve(uid, status["podIP"])  # started by an earlier run
        duration = simulated_duration(pod)
        if duration is None:
            return
        started = self._started.get(uid) or parse_timestamp(status.get("startTime", ""))
        if started is None:
            started = self._started[uid] = self.clock.now()
        remaining = started + duration - self.clock.now()
        if remaining > 0:
            self._later(("pod", key), remaining)
        else:
            await self._complete(key, pod)

    async def _start(self, key: str, pod: KubeDict) -> None:
        uid = _uid(pod)
        node = pod["spec"]["nodeName"]
        now = self.clock.now()
        if pod["spec"].get("hostNetwork"):
            address = self.nodes[node]  # the kubelet reports the node's address
        else:
            address = self._addresses.allocate(uid)
        patch = pod_running_patch(pod, address, self.nodes[node], now)
        try:
            await self.client.patch(self._pod_path(pod, "status"), patch)
        except ApiStatusError as err:
            self._addresses.release(uid)
            if err.is_not_found:
                return
            raise
        self._started[uid] = now
        self.counts.started += 1
        self.log(f"pod {key} is Running on {node} ({address})")
        duration = simulated_duration(pod)
        if duration is not None:
            self._later(("pod", key), duration)

    async def _complete(self, key: str, pod: KubeDict) -> None:
        uid = _uid(pod)
        patch = pod_succeeded_patch(pod, self.clock.now())
        try:
            await self.client.patch(self._pod_path(pod, "status"), patch)
        except ApiStatusError as err:
            if err.is_not_found:
                return
            raise
        self._written.add(uid)
        self._addresses.release(uid)
        self.counts.completed += 1
        self.log(f"pod {key} Succeeded on {pod['spec']['nodeName']}")

    async def _delete(self, key: str, pod: KubeDict) -> None:
        uid = _uid(pod)
        body = {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "gracePeriodSeconds": 0,
            "preconditions": {"uid": uid},
        }
        try:
            await self.client.delete(self._pod_path(pod), body)
        except ApiStatusError as err:
            # 404: gone already; 409: another pod holds the name now (the informer brings it).
            if not (err.is_not_found or err.is_conflict):
                raise
        # A pod with finalizers stays (with grace period 0) until they are removed; it is
        # not deleted again on each of its updates.
        self._deleting.add(uid)
        self._addresses.release(uid)
        self.counts.deleted += 1
        self.log(f"pod {key} deleted from {pod['spec']['nodeName']}")

    # ----------------------------------------------------------------------------- claims

    async def _sync_claim(self, key: str) -> None:
        assert self.claims is not None
        claim = self.claims.get(key)
        for attempt in range(CONFLICT_RETRIES):
            if claim is None or claim.get("metadata", {}).get("deletionTimestamp"):
                return
            updated = claim_with_device_conditions(claim, self.pools, self.clock.now())
            if updated is None:
                return
            namespace, name = claim["metadata"]["namespace"], claim["metadata"]["name"]
            path = RESOURCE_CLAIMS.item(namespace, name, "status")
            try:
                await self.client.update(path, updated)
            except ApiStatusError as err:
                if err.is_not_found:
                    return
                if not err.is_conflict or attempt == CONFLICT_RETRIES - 1:
                    raise
                claim = await self._fresh_claim(namespace, name)
                continue
            self.counts.device_status_writes += 1
            self.log(f"claim {key}: binding conditions of its devices set True")
            return

    async def _fresh_claim(self, namespace: str, name: str) -> KubeDict | None:
        try:
            return await self.client.get(RESOURCE_CLAIMS.item(namespace, name))
        except ApiStatusError as err:
            if err.is_not_found:
                return None
            raise
