"""Per node-group exponential backoff after failed scale-ups (spec/autoscaling.md §4.5).

Owns the backoff record of each node group; pure bookkeeping on virtual times. The rules are
cluster-autoscaler's `exponentialBackoff` (utils/backoff, read in kubernetes/autoscaler):

* a failure backs the group off for `initialNodeGroupBackoffDuration` (5 min); a failure
  once the previous backoff has run out doubles the previous duration, capped at
  `maxNodeGroupBackoffDuration` (30 min); a failure while backed off (another node of the
  same scale-up failing) does not double it: it restarts the initial duration from now;
* a record whose last failure is older than `nodeGroupBackoffResetTimeout` (3 h) is
  forgotten (`RemoveStaleBackoffData`), so the next failure starts again at 5 min;
* a scale-up that completes (no upcoming node left in the group) removes the group's record
  (`clusterstate.updateScaleRequests` calls `RemoveBackoff`).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class BackoffRecord:
    duration: float
    until: float
    last_failure: float


@dataclass
class NodeGroupBackoff:
    """Backoff per node group.

    backoff = NodeGroupBackoff(300.0, 1800.0, 10800.0)
    backoff.fail("h100-od", 100.0)        # backed off until 400
    backoff.is_backed_off("h100-od", 200.0)
    """

    initial: float
    maximum: float
    reset_timeout: float
    _records: dict[str, BackoffRecord] = field(default_factory=dict)

    def fail(self, group: str, at: float) -> float:
        """A scale-up of `group` failed at `at`; returns until when the group is backed off."""
        duration = self.initial
        previous = self._records.get(group)
        if previous is not None and previous.until < at:
            # Only a failure after the previous backoff ran out doubles it; one during it
            # starts again from the initial duration, as upstream does.
            duration = min(2 * previous.duration, self.maximum)
        record = BackoffRecord(duration, at + duration, at)
        self._records[group] = record
        return record.until

    def is_backed_off(self, group: str, at: float) -> bool:
        record = self._records.get(group)
        return record is not None and record.until > at

    def until(self, group: str) -> float | None:
        record = self._records.get(group)
        return record.until if record is not None else None

    def remove(self, group: str) -> None:
        self._records.pop(group, None)

    def remove_stale(self, at: float) -> None:
        for group, record in list(self._records.items()):
            if record.last_failure + self.reset_timeout < at:
                del self._records[group]
