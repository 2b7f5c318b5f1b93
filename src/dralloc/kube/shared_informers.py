"""One informer per resource (and field selector) for everything in one process.

The scheduler, the controllers and the simulated kubelet each need pods and claims; with
`SharedInformers` they read one store per resource and the server sees one watch per
resource, as client-go's shared informer factory arranges:

    informers = SharedInformers(client)
    pods = informers.informer(PODS)
    pods.add_handler(handler)           # before start()
    await informers.start()
    await informers.wait_synced(60)
    ...
    await informers.stop()

Owns the informers' tasks; the informers own their stores.
"""

from __future__ import annotations

import asyncio
import random

from dralloc.kube.client import KubeClient, Resource
from dralloc.kube.informer import Informer


class SharedInformers:
    def __init__(self, client: KubeClient, rng: random.Random | None = None) -> None:
        self.client = client
        self.rng = rng if rng is not None else random.Random()
        self._informers: dict[tuple[Resource, str], Informer] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def informer(self, resource: Resource, *, field_selector: str = "") -> Informer:
        """The informer of `resource` (created on first request; start() runs it)."""
        key = (resource, field_selector)
        found = self._informers.get(key)
        if found is None:
            found = Informer(
                self.client,
                resource,
                field_selector=field_selector,
                rng=random.Random(self.rng.random()),
            )
            self._informers[key] = found
            if self._tasks:  # asked for after start: run it at once
                self._tasks.append(
                    asyncio.create_task(found.run(), name=f"informer {resource.plural}")
                )
        return found

    @property
    def informers(self) -> list[Informer]:
        return list(self._informers.values())

    async def start(self) -> None:
        for (resource, _), informer in self._informers.items():
            self._tasks.append(
                asyncio.create_task(informer.run(), name=f"informer {resource.plural}")
            )

    async def wait_synced(self, timeout: float) -> None:
        """Wait until every informer has listed once; TimeoutError names those that have not."""
        pending = [i for i in self._informers.values() if not i.synced.is_set()]
        if not pending:
            return
        waits = [asyncio.create_task(i.synced.wait()) for i in pending]
        _, not_done = await asyncio.wait(waits, timeout=timeout)
        for task in not_done:
            task.cancel()
        late = [i.resource.plural for i in pending if not i.synced.is_set()]
        if late:
            raise TimeoutError(f"informers not synced after {timeout:g} s: {', '.join(late)}")

    @property
    def is_synced(self) -> bool:
        return all(i.synced.is_set() for i in self._informers.values())

    @property
    def is_running(self) -> bool:
        return bool(self._tasks) and not any(t.done() for t in self._tasks)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
