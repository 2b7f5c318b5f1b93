"""What the API server last said about one resource: a list, then a watch, kept in memory.

An `Informer` owns its `store` (objects by `namespace/name`, exactly as the server sent them)
and its `resource_version`; nobody else mutates either. It follows client-go's reflector
(spec/cluster-mode.md section 3):

1. LIST with `resourceVersion=0` (served from the apiserver's watch cache) and replace the
   store, telling the handlers what was added, changed (a different resourceVersion) or removed;
2. WATCH from the list's resourceVersion with bookmarks and a random `timeoutSeconds`, applying
   each event to the store before the handlers hear of it;
3. when the server says the resourceVersion is gone (410 Expired, in an ERROR event or as the
   answer to the request), LIST again with no resourceVersion (a consistent read) and diff;
   when the watch simply ends, watch again from the last resourceVersion; on any other failure,
   back off (0.8 s doubling to 30 s, with jitter) and watch again.

    informer = Informer(client, PODS, field_selector=NOT_TERMINAL, handlers=[queue])
    task = asyncio.create_task(informer.run())
    await informer.wait_synced(timeout=60)
    pod = informer.get("default/train-0")

Handlers run in the informer's task, one event at a time and in the server's order; they must
not block. One that raises is logged and the informer goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from typing import Any, Protocol, cast

from dralloc.kube.client import ApiStatusError, ApiUnavailable, KubeClient, KubeDict, Resource

logger = logging.getLogger(__name__)

# client-go's reflector: 800 ms doubling to a 30 s cap, each delay stretched by up to 100 %.
BACKOFF_INITIAL_SECONDS = 0.8
BACKOFF_CAP_SECONDS = 30.0
BACKOFF_FACTOR = 2.0
BACKOFF_JITTER = 1.0

# The server ends a watch at timeoutSeconds; the client waits that long plus this margin before
# it calls the connection dead.
READ_TIMEOUT_MARGIN_SECONDS = 30.0

EXPIRED = 410


class InformerHandler(Protocol):
    """Told of every change to an informer's store, after the store has it.

    Called in the informer's task, in the order the server reported the changes; `old` and `new`
    are the store's objects (do not mutate them). A handler must return quickly: hand slow work
    to a queue. An exception is logged and does not stop the informer or the other handlers."""

    def on_add(self, obj: KubeDict) -> None: ...

    def on_update(self, old: KubeDict, new: KubeDict) -> None: ...

    def on_delete(self, obj: KubeDict) -> None: ...


def object_key(obj: KubeDict) -> str:
    """`namespace/name`, or `name` for a cluster-scoped one (client-go's MetaNamespaceKeyFunc)."""
    metadata = obj.get("metadata") or {}
    name = str(metadata.get("name", ""))
    namespace = metadata.get("namespace")
    return f"{namespace}/{name}" if namespace else name


def resource_version_of(obj: KubeDict) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion", ""))


class WatchBackoff:
    """The delays between failed attempts: `initial` doubling up to `cap`, each one plus a random
    part of up to `jitter` times itself (client-go's wait.Backoff). `reset()` after a success."""

    def __init__(
        self,
        rng: random.Random,
        *,
        initial: float = BACKOFF_INITIAL_SECONDS,
        cap: float = BACKOFF_CAP_SECONDS,
        factor: float = BACKOFF_FACTOR,
        jitter: float = BACKOFF_JITTER,
    ) -> None:
        self.rng = rng
        self.initial = initial
        self.cap = cap
        self.factor = factor
        self.jitter = jitter
        self._base = initial

    def next_delay(self) -> float:
        base = self._base
        self._base = min(self.cap, self._base * self.factor)
        return base + base * self.jitter * self.rng.random()

    def reset(self) -> None:
        self._base = self.initial


class _Expired(Exception):
    """The resourceVersion the watch started from is no longer available: list again."""


class Informer:
    """The list-and-watch cache of one resource (optionally one namespace, filtered by
    selectors), feeding handlers. See the module docstring for the protocol it follows.

    `store` and `resource_version` are the informer's; others only read them. `synced` is set
    once the first list is in the store and the handlers were told of it. `relists` counts the
    lists made: 1 after a normal start, one more each time the server expired the watch."""

    def __init__(
        self,
        client: KubeClient,
        resource: Resource,
        *,
        namespace: str | None = None,
        field_selector: str = "",
        label_selector: str = "",
        handlers: Sequence[InformerHandler] = (),
        rng: random.Random | None = None,
        watch_timeout: tuple[int, int] = (300, 600),
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        if not 0 < watch_timeout[0] <= watch_timeout[1]:
            raise ValueError(f"watch_timeout: want 0 < low <= high seconds, got {watch_timeout}")
        self.client = client
        self.resource = resource
        self.namespace = namespace
        self.field_selector = field_selector
        self.label_selector = label_selector
        self.handlers: list[InformerHandler] = list(handlers)
        self.rng = rng if rng is not None else random.Random()
        self.watch_timeout = watch_timeout
        self.sleep = sleep
        self.backoff = WatchBackoff(self.rng)
        self.store: dict[str, KubeDict] = {}
        self.resource_version = ""
        self.synced = asyncio.Event()
        self.relists = 0

    def __repr__(self) -> str:
        return f"Informer({self.path})"

    @property
    def path(self) -> str:
        return self.resource.collection(self.namespace)

    def add_handler(self, handler: InformerHandler) -> None:
        """Adds a handler for the changes from now on. It is not told of what the store already
        holds: read `store` first if it needs that."""
        self.handlers.append(handler)

    def get(self, key: str) -> KubeDict | None:
        return self.store.get(key)

    async def wait_synced(self, timeout: float) -> None:
        """Returns once the first list was applied; TimeoutError after `timeout` seconds."""
        try:
            await asyncio.wait_for(self.synced.wait(), timeout)
        except TimeoutError:
            raise TimeoutError(f"{self.path}: not synced within {timeout:g} s") from None

    async def run(self) -> None:
        """Lists, then watches forever. Returns only by cancellation (CancelledError)."""
        # The first list may come from the watch cache; after an expiry it must not.
        list_from: str | None = "0"
        while True:
            if list_from is not None:
                try:
                    await self._list(list_from)
                except (ApiUnavailable, ApiStatusError, ValueError) as err:
                    await self._back_off("list", err)
                    continue
                list_from = None
            try:
                await self._watch()
            except _Expired as err:
                logger.info("%s: %s; listing again", self.path, err)
                list_from = ""
            except ApiStatusError as err:
                if err.is_gone:
                    logger.info("%s: %s; listing again", self.path, err)
                    list_from = ""
                else:
                    await self._back_off("watch", err)
            except (ApiUnavailable, ValueError) as err:
                await self._back_off("watch", err)

    async def _back_off(self, what: str, err: Exception) -> None:
        delay = self.backoff.next_delay()
        if isinstance(err, ApiStatusError) and (err.is_forbidden or err.is_not_found):
            # Missing RBAC or an unserved resource will not fix itself: say so loudly.
            logger.warning("%s %s failed, retrying in %.1f s: %s", self.path, what, delay, err)
        else:
            logger.info("%s %s failed, retrying in %.1f s: %s", self.path, what, delay, err)
        await self.sleep(delay)

    async def _list(self, resource_version: str) -> None:
        params: dict[str, str | int | bool] = self._selectors()
        if resource_version:
            params["resourceVersion"] = resource_version
        answer = await self.client.list(self.path, **params)
        items = answer.get("items") or []
        listed_rv = resource_version_of(answer)
        self.relists += 1
        self.backoff.reset()
        self._replace([self._typed(item) for item in items], listed_rv)
        self.synced.set()

    def _replace(self, items: Sequence[KubeDict], resource_version: str) -> None:
        """Makes the store hold exactly `items` (a list's answer, read at `resource_version`)
        and tells the handlers the difference: adds and updates (resourceVersion changed) in
        list order, then deletes of what the list lacks, with the last object known."""
        fresh = {object_key(item): item for item in items}
        previous = dict(self.store)
        # In place: readers may hold a reference to the store.
        self.store.clear()
        self.store.update(fresh)
        self.resource_version = resource_version
        for key, new in fresh.items():
            old = previous.get(key)
            if old is None:
                self._notify("on_add", new)
            elif resource_version_of(old) != resource_version_of(new):
                self._notify("on_update", old, new)
        for key, old in previous.items():
            if key not in fresh:
                self._notify("on_delete", old)

    async def _watch(self) -> None:
        timeout = self.rng.randint(*self.watch_timeout)
        params: dict[str, str | int | bool] = self._selectors()
        params.update(
            watch=True,
            resourceVersion=self.resource_version,
            allowWatchBookmarks=True,
            timeoutSeconds=timeout,
        )
        # KubeClient.stream is an async generator; it is typed as the iterator it promises.
        stream = cast(
            AsyncGenerator[KubeDict, None],
            self.client.stream(
                self.path, params, read_timeout=timeout + READ_TIMEOUT_MARGIN_SECONDS
            ),
        )
        # aclosing: an ERROR event leaves the loop early; the connection must not linger.
        async with contextlib.aclosing(stream):
            async for event in stream:
                self._apply(event)
                self.backoff.reset()

    def _apply(self, event: KubeDict) -> None:
        """One watch event: the store changes and the handlers hear of it; a bookmark only
        moves `resource_version`. An ERROR event raises (_Expired for a 410)."""
        kind = event.get("type")
        obj = event.get("object")
        if not isinstance(obj, dict):
            raise ValueError(f"watch {self.path}: event {kind!r} without an object")
        if kind == "ERROR":
            code = int(obj.get("code", 0) or 0)
            message = str(obj.get("message", ""))
            if code == EXPIRED:
                raise _Expired(f"watch from resourceVersion {self.resource_version}: {message}")
            raise ApiStatusError("WATCH", self.path, code, str(obj.get("reason", "")), message)
        rv = resource_version_of(obj)
        if kind == "BOOKMARK":
            if rv:
                self.resource_version = rv
            return
        obj = self._typed(obj)
        key = object_key(obj)
        old = self.store.get(key)
        if kind in ("ADDED", "MODIFIED"):
            self.store[key] = obj
            if old is None:
                self._notify("on_add", obj)
            else:
                self._notify("on_update", old, obj)
        elif kind == "DELETED":
            self.store.pop(key, None)
            # The server's final state, not the cached one: it may carry a later change.
            self._notify("on_delete", obj)
        else:
            raise ValueError(f"watch {self.path}: unknown event type {kind!r}")
        if rv:
            self.resource_version = rv

    def _selectors(self) -> dict[str, str | int | bool]:
        params: dict[str, str | int | bool] = {}
        if self.field_selector:
            params["fieldSelector"] = self.field_selector
        if self.label_selector:
            params["labelSelector"] = self.label_selector
        return params

    def _typed(self, obj: KubeDict) -> KubeDict:
        # List items come without apiVersion and kind; watch events carry them. Every object
        # in the store carries both, so it can be decoded or written back as it is.
        if "apiVersion" not in obj or "kind" not in obj:
            obj = {"apiVersion": self.resource.api_version, "kind": self.resource.kind, **obj}
        return obj

    def _notify(self, method: str, *objects: KubeDict) -> None:
        for handler in list(self.handlers):
            try:
                getattr(handler, method)(*objects)
            except Exception:
                logger.exception(
                    "%s: handler %r failed in %s(%s)",
                    self.path,
                    handler,
                    method,
                    object_key(objects[-1]),
                )
