"""A heap of queued pods that can also remove a pod by uid (removal is lazy)."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable

from dralloc.scheduler.queue.records import QueuedPodInfo

HeapKey = Callable[[QueuedPodInfo], tuple[float, ...]]


class PodHeap:
    """Queued pods in key order, removable by uid: removal forgets the uid, and stale
    entries are dropped when they reach the top (or at compaction)."""

    def __init__(self, key: HeapKey) -> None:
        self._key = key
        self._entries: list[tuple[tuple[float, ...], int, QueuedPodInfo]] = []
        self._live: dict[str, tuple[int, QueuedPodInfo]] = {}
        self._tokens = itertools.count()

    def __len__(self) -> int:
        return len(self._live)

    def get(self, uid: str) -> QueuedPodInfo | None:
        entry = self._live.get(uid)
        return entry[1] if entry else None

    def push(self, info: QueuedPodInfo) -> None:
        token = next(self._tokens)
        self._live[info.uid] = (token, info)
        heapq.heappush(self._entries, (self._key(info), token, info))
        if len(self._entries) > 2 * len(self._live) + 64:
            self._entries = [e for e in self._entries if self._is_live(e[1], e[2])]
            heapq.heapify(self._entries)

    def remove(self, uid: str) -> QueuedPodInfo | None:
        entry = self._live.pop(uid, None)
        return entry[1] if entry else None

    def peek(self) -> QueuedPodInfo | None:
        entries = self._entries
        while entries and not self._is_live(entries[0][1], entries[0][2]):
            heapq.heappop(entries)
        return entries[0][2] if entries else None

    def pop(self) -> QueuedPodInfo | None:
        info = self.peek()
        if info is not None:
            heapq.heappop(self._entries)
            del self._live[info.uid]
        return info

    def ordered(self) -> list[QueuedPodInfo]:
        return [info for _, token, info in sorted(self._entries) if self._is_live(token, info)]

    def _is_live(self, token: int, info: QueuedPodInfo) -> bool:
        entry = self._live.get(info.uid)
        return entry is not None and entry[0] == token
