"""What every cluster-mode controller shares: the `Controller` Protocol, the worker loop that
drains a `WorkQueue`, the refusal to run beside kube-controller-manager, and small readers of
objects as the server sends them (plain dicts).

Owns no state of its own: each controller owns its queue, the informers own their stores.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from dralloc.errors import DrallocError
from dralloc.kube.client import LEASES, ApiStatusError, KubeClient, KubeDict
from dralloc.kube.controllers.workqueue import WorkQueue
from dralloc.kube.informer import Informer

log = logging.getLogger(__name__)

# kube-controller-manager's leader-election Lease (its default --leader-elect-resource-name).
CONTROLLER_MANAGER_LEASE = ("kube-system", "kube-controller-manager")
# dralloc's controllers that kube-controller-manager also runs.
CONTROLLER_MANAGER_CONTROLLERS = frozenset(
    {"resourceclaim", "gc", "job", "replicaset", "deployment", "statefulset"}
)
# The others' upstream operators and their default leader-election Lease names
# (controller-runtime, in the namespace the operator runs in).
OPERATOR_LEASES = {
    "jobset": ("the JobSet controller", "6d4f6a47.jobset.x-k8s.io"),
    "leaderworkerset": ("the LeaderWorkerSet controller", "b8b2488c.x-k8s.io"),
    # Kueue's controller manager (kueue-system by default).
    "queue": ("Kueue", "c1f6bfd2.kueue.x-k8s.io"),
}
# Kueue's manager Deployment as its release manifests install it, for a Kueue run without
# leader election (its Lease is then never written).
KUEUE_DEPLOYMENT = ("kueue-system", "kueue-controller-manager")
_TERMINAL_PHASES = ("Succeeded", "Failed")


class Controller(Protocol):
    """A cluster-mode controller: registered its informer handlers when it was built, and
    `run()` works its queue until cancelled (waiting first for its informers to sync)."""

    name: str

    async def run(self) -> None: ...


class ControllerConflict(DrallocError):
    """kube-controller-manager runs in this cluster: dralloc's controllers of the same names
    would fight it over the same objects (spec/cluster-mode.md section 5)."""


async def check_no_controller_manager(
    client: KubeClient,
    controllers: Sequence[str],
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    lease: tuple[str, str] = CONTROLLER_MANAGER_LEASE,
) -> None:
    """Raise ControllerConflict when the component that owns one of `controllers` upstream
    runs: kube-controller-manager (its Lease `lease` renewed within its duration) for the
    controllers it has, the JobSet or LeaderWorkerSet operator (their leader-election Lease,
    in whatever namespace they were installed) for theirs. A Lease that is absent, expired or
    unreadable (403: the `dralloc-scheduler` role reads only its own Lease) is no evidence,
    and passes."""
    ours = [c for c in controllers if c in CONTROLLER_MANAGER_CONTROLLERS]
    if ours:
        namespace, name = lease
        found = await _read_leases(client, ours, LEASES.item(namespace, name), name)
        for held in found:
            _refuse_if_held(held, "kube-controller-manager", ours, now, f"{namespace}/{name}")
    for controller in controllers:
        operator = OPERATOR_LEASES.get(controller)
        if operator is None:
            continue
        component, name = operator
        selector = f"metadata.name={name}"
        path = LEASES.collection(None)
        for held in await _read_leases(client, [controller], path, name, selector):
            where = f"{(held.get('metadata') or {}).get('namespace')}/{name}"
            _refuse_if_held(held, component, [controller], now, where)
    if "queue" in controllers:
        await _refuse_if_kueue_deployed(client)


async def _refuse_if_kueue_deployed(client: KubeClient) -> None:
    """Kueue's Deployment with a ready replica is evidence too; absent or unreadable (403)
    is not."""
    namespace, name = KUEUE_DEPLOYMENT
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}"
    try:
        found = await client.get(path)
    except ApiStatusError as err:
        if err.is_not_found or err.is_forbidden:
            return
        raise
    ready = (found.get("status") or {}).get("readyReplicas") or 0
    if isinstance(ready, int) and ready > 0:
        raise ControllerConflict(
            f"Kueue is running (Deployment {namespace}/{name} has {ready} ready "
            "replica(s)): dralloc's controllers queue must not run beside it; drop them "
            "from --controllers"
        )


async def _read_leases(
    client: KubeClient, controllers: Sequence[str], path: str, name: str, selector: str = ""
) -> list[KubeDict]:
    """The Lease at `path`, or the Leases its list finds with field `selector`."""
    try:
        found = await (client.list(path, fieldSelector=selector) if selector else client.get(path))
    except ApiStatusError as err:
        if err.is_not_found:
            return []
        if err.is_forbidden:
            log.warning(
                "cannot read Lease %s to check for the component that runs %s upstream (%s); "
                "make sure it does not run beside --controllers %s",
                name,
                ",".join(controllers),
                err.message,
                ",".join(controllers),
            )
            return []
        raise
    items = found.get("items")
    return list(items) if isinstance(items, list) else [found]


def _refuse_if_held(
    found: KubeDict,
    component: str,
    controllers: Sequence[str],
    now: Callable[[], datetime],
    where: str,
) -> None:
    spec = found.get("spec") or {}
    renewed = parse_time(spec.get("renewTime") or spec.get("acquireTime"))
    duration = spec.get("leaseDurationSeconds")
    if renewed is None or not isinstance(duration, int):
        return
    age = (now() - renewed).total_seconds()
    if age > duration:
        return
    holder = spec.get("holderIdentity") or "unknown"
    raise ControllerConflict(
        f"{component} is running (Lease {where} held by "
        f"{holder}, renewed {age:.0f} s ago, duration {duration} s): dralloc's controllers "
        f"{', '.join(controllers)} must not run beside it; drop them from --controllers"
    )


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 Time or MicroTime from the wire, or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


async def wait_for_informers(informers: Iterable[Informer]) -> None:
    """client-go's WaitForCacheSync: return once every informer has listed once."""
    for informer in informers:
        await informer.synced.wait()


async def run_worker(
    queue: WorkQueue, sync: Callable[[str], Awaitable[None]], logger: logging.Logger
) -> None:
    """Process keys until cancelled: a key that fails is retried with its backoff, one that
    succeeds has its failures forgotten (client-go's processNextWorkItem)."""
    while True:
        key = await queue.get()
        try:
            await sync(key)
        except asyncio.CancelledError:
            queue.done(key)
            raise
        except Exception as err:
            # One bad object never stops the others: log and retry later, as upstream's
            # HandleError does; a bug is logged with its traceback.
            failures = queue.failures(key) + 1
            if isinstance(err, ApiStatusError) and err.is_conflict:
                # Someone wrote the object first: normal, retried from the newer copy.
                logger.info("%s: %s: %s, retrying", queue.name, key, err.reason or err.code)
            elif isinstance(err, (ApiStatusError, SyncError)):
                logger.warning("%s: %s failed (attempt %d): %s", queue.name, key, failures, err)
            else:
                logger.exception("%s: %s failed (attempt %d)", queue.name, key, failures)
            queue.add_rate_limited(key)
        else:
            queue.forget(key)
        queue.done(key)


class SyncError(Exception):
    """An object cannot be processed now (a missing template, a claim owned by another pod);
    the key is retried with backoff."""


# Readers of objects as the server sends them.


def metadata(obj: KubeDict) -> dict[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def name_of(obj: KubeDict) -> str:
    return str(metadata(obj).get("name", ""))


def namespace_of(obj: KubeDict) -> str:
    return str(metadata(obj).get("namespace", ""))


def uid_of(obj: KubeDict) -> str:
    return str(metadata(obj).get("uid", ""))


def owner_references(obj: KubeDict) -> list[dict[str, Any]]:
    refs = metadata(obj).get("ownerReferences")
    return [r for r in refs if isinstance(r, dict)] if isinstance(refs, list) else []


def controller_of(obj: KubeDict) -> dict[str, Any] | None:
    """The owner reference with `controller: true` (metav1.GetControllerOf)."""
    for ref in owner_references(obj):
        if ref.get("controller") is True:
            return ref
    return None


def is_being_deleted(obj: KubeDict) -> bool:
    return bool(metadata(obj).get("deletionTimestamp"))


def pod_phase(pod: KubeDict) -> str:
    return str((pod.get("status") or {}).get("phase", ""))


def is_pod_terminal(pod: KubeDict) -> bool:
    """Succeeded or Failed (podutil.IsPodPhaseTerminal)."""
    return pod_phase(pod) in _TERMINAL_PHASES


def is_pod_active(pod: KubeDict) -> bool:
    """Neither finished nor being deleted (controller.IsPodActive)."""
    return not is_pod_terminal(pod) and not is_being_deleted(pod)


def node_name_of(pod: KubeDict) -> str:
    return str((pod.get("spec") or {}).get("nodeName") or "")


class FuncHandler:
    """An InformerHandler from three functions (client-go's ResourceEventHandlerFuncs)."""

    def __init__(
        self,
        on_add: Callable[[KubeDict], None],
        on_update: Callable[[KubeDict, KubeDict], None],
        on_delete: Callable[[KubeDict], None],
    ) -> None:
        self._add = on_add
        self._update = on_update
        self._delete = on_delete

    def on_add(self, obj: KubeDict) -> None:
        self._add(obj)

    def on_update(self, old: KubeDict, new: KubeDict) -> None:
        self._update(old, new)

    def on_delete(self, obj: KubeDict) -> None:
        self._delete(obj)


class ReverseIndex:
    """Members by the values they are indexed under (a client-go Indexer's index): each
    member's values are replaced whole by `set`, so the index never holds stale entries."""

    def __init__(self) -> None:
        self._values: dict[str, frozenset[str]] = {}
        self._members: dict[str, set[str]] = {}

    def set(self, member: str, values: Iterable[str]) -> None:
        self.remove(member)
        fresh = frozenset(values)
        if not fresh:
            return
        self._values[member] = fresh
        for value in fresh:
            self._members.setdefault(value, set()).add(member)

    def remove(self, member: str) -> None:
        for value in self._values.pop(member, frozenset()):
            members = self._members.get(value)
            if members is not None:
                members.discard(member)
                if not members:
                    del self._members[value]

    def members(self, value: str) -> list[str]:
        return sorted(self._members.get(value, ()))


class RecentUids:
    """The UIDs of the last `capacity` deleted objects (upstream's uidCache, an LRU of 500):
    a reservation for one of them can be dropped without asking the server."""

    def __init__(self, capacity: int = 500) -> None:
        self.capacity = capacity
        self._uids: dict[str, None] = {}

    def add(self, uid: str) -> None:
        self._uids.pop(uid, None)
        self._uids[uid] = None
        while len(self._uids) > self.capacity:
            del self._uids[next(iter(self._uids))]

    def __contains__(self, uid: object) -> bool:
        return uid in self._uids

    def __len__(self) -> int:
        return len(self._uids)
