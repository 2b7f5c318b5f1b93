"""What the dashboard's HTTP threads read: the newest published document, a bounded history
of samples, and a version that moves on every publish (server-sent events wait on it).

`Published` has one writer (the sampler: the live scheduler's event loop, or the offline
command once) and any number of readers (the HTTP server's threads). The writer hands over a
finished, never-mutated document; readers take a reference under a lock, so nobody reads a
half-built document and the scheduler's own state is never touched from another thread.

    published = Published(history_limit=720)
    published.publish(document, sample)      # the writer
    version, document = published.latest()  # a reader
    published.wait_newer(version, 15.0)      # an event stream: True when something new came
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

JSON = dict[str, Any]

# Samples kept: at one every 5 s, an hour of history.
DEFAULT_HISTORY_LIMIT = 720


@dataclass(frozen=True)
class Sample:
    """One point of the utilization, fragmentation and cost history. `time` is seconds
    since the epoch (the sampler's clock)."""

    time: float
    utilization: float
    fragmentation: float
    used_gpus: float
    gpus: int
    pending_pods: int
    cost_per_hour: float
    idle_cost_per_hour: float

    @classmethod
    def of(cls, time: float, document: JSON) -> Sample:
        summary = document["summary"]
        return cls(
            time=time,
            utilization=float(summary["utilization"]),
            fragmentation=float(summary["fragmentation"]),
            used_gpus=float(summary["usedGpus"]),
            gpus=int(summary["gpus"]),
            pending_pods=int(summary["pendingPods"]),
            cost_per_hour=float(summary["costPerHour"]),
            idle_cost_per_hour=float(summary["idleCostPerHour"]),
        )

    def to_json(self) -> JSON:
        return {
            "time": self.time,
            "utilization": self.utilization,
            "fragmentation": self.fragmentation,
            "usedGpus": self.used_gpus,
            "gpus": self.gpus,
            "pendingPods": self.pending_pods,
            "costPerHour": self.cost_per_hour,
            "idleCostPerHour": self.idle_cost_per_hour,
        }


class Published:
    """The newest document and the history, shared between one writer and many readers."""

    def __init__(self, history_limit: int = DEFAULT_HISTORY_LIMIT) -> None:
        self._changed = threading.Condition()
        self._version = 0
        self._document: JSON | None = None
        self._history: deque[Sample] = deque(maxlen=history_limit)
        self._closed = False

    def publish(self, document: JSON, sample: Sample | None = None) -> int:
        """Make `document` the one readers see (the caller never mutates it afterwards)."""
        with self._changed:
            self._version += 1
            self._document = {**document, "version": self._version}
            if sample is not None:
                self._history.append(sample)
            self._changed.notify_all()
            return self._version

    def latest(self) -> tuple[int, JSON | None]:
        with self._changed:
            return self._version, self._document

    def history(self) -> list[Sample]:
        with self._changed:
            return list(self._history)

    def wait_newer(self, version: int, timeout: float) -> bool:
        """Block until a document newer than `version` is published (True), the timeout
        passes or the dashboard closes (False)."""
        with self._changed:
            self._changed.wait_for(lambda: self._version > version or self._closed, timeout)
            return self._version > version and not self._closed

    def close(self) -> None:
        """Wake every waiting reader (the server is stopping)."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    @property
    def closed(self) -> bool:
        with self._changed:
            return self._closed
