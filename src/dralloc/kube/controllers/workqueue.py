"""The work queue every cluster-mode controller drains: client-go's rate-limiting workqueue.

A key (`pod:ns/name`, `ns/name`) waits in the queue at most once however often it is added;
a key being processed is never handed to a second worker, and one added meanwhile comes back
once `done()` is called. A failed key returns after a per-key exponential delay
(`failure_delay`: 5 ms doubling to 1000 s, client-go's `DefaultControllerRateLimiter`
without its overall token bucket) until `forget()` clears its failure count.

Owns the keys and their failure counts; never calls the API server. Delays are timers on the
running event loop, cancelled by `shut_down()`.

    queue = WorkQueue("resource_claim")
    queue.add("pod:default/train-0")
    key = await queue.get()
    try:
        await sync(key)
        queue.forget(key)
    except ApiStatusError:
        queue.add_rate_limited(key)
    finally:
        queue.done(key)
"""

from __future__ import annotations

import asyncio
from collections import deque

BASE_DELAY_SECONDS = 0.005
MAX_DELAY_SECONDS = 1000.0


def failure_delay(
    failures: int, base: float = BASE_DELAY_SECONDS, cap: float = MAX_DELAY_SECONDS
) -> float:
    """The wait before the `failures`-th retry of one key: `base * 2**(failures - 1)`, at most
    `cap` (client-go's ItemExponentialFailureRateLimiter).

    >>> [failure_delay(n) for n in (1, 2, 3)]
    [0.005, 0.01, 0.02]
    >>> failure_delay(40)
    1000.0
    """
    if failures <= 0:
        return 0.0
    # 2**60 overflows nothing in Python, but a float of it is pointless past the cap.
    exponent = min(failures - 1, 62)
    return min(cap, base * 2.0**exponent)


class WorkQueue:
    """Deduplicated keys for workers; see the module docstring for the contract."""

    def __init__(
        self,
        name: str,
        *,
        base_delay: float = BASE_DELAY_SECONDS,
        max_delay: float = MAX_DELAY_SECONDS,
    ) -> None:
        self.name = name
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._queue: deque[str] = deque()
        # Keys waiting to be processed (in `_queue`, or to be put back when processing ends).
        self._dirty: set[str] = set()
        self._processing: set[str] = set()
        self._failures: dict[str, int] = {}
        self._timers: set[asyncio.TimerHandle] = set()
        self._wake = asyncio.Event()
        self._shut_down = False

    def __len__(self) -> int:
        return len(self._queue)

    def add(self, key: str) -> None:
        """Queue `key` unless it already waits; a key being processed waits for `done()`."""
        if self._shut_down or key in self._dirty:
            return
        self._dirty.add(key)
        if key in self._processing:
            return
        self._queue.append(key)
        self._wake.set()

    def add_after(self, key: str, delay: float) -> None:
        """Queue `key` after `delay` seconds (at once when `delay` is not positive)."""
        if self._shut_down:
            return
        if delay <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle | None = None

        def fire() -> None:
            assert handle is not None
            self._timers.discard(handle)
            self.add(key)

        handle = loop.call_later(delay, fire)
        self._timers.add(handle)

    def add_rate_limited(self, key: str) -> None:
        """Queue `key` again after its next failure delay (one more failure counted)."""
        failures = self._failures.get(key, 0) + 1
        self._failures[key] = failures
        self.add_after(key, failure_delay(failures, self.base_delay, self.max_delay))

    def failures(self, key: str) -> int:
        return self._failures.get(key, 0)

    def forget(self, key: str) -> None:
        """Clear `key`'s failure count (after a successful sync)."""
        self._failures.pop(key, None)

    async def get(self) -> str:
        """The next key; the caller must call `done(key)` when it has finished with it."""
        while not self._queue:
            self._wake.clear()
            await self._wake.wait()
        key = self._queue.popleft()
        self._processing.add(key)
        self._dirty.discard(key)
        return key

    def done(self, key: str) -> None:
        """Processing of `key` ended; it is queued again if it was added meanwhile."""
        self._processing.discard(key)
        if key in self._dirty and not self._shut_down:
            self._queue.append(key)
            self._wake.set()

    def shut_down(self) -> None:
        """Drop pending timers and refuse new keys."""
        self._shut_down = True
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
