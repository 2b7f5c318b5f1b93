"""Admission Fair Sharing (spec/queueing.md 4.3): LocalQueues feeding one ClusterQueue are
ordered by what they consumed recently.

Owns: `AdmissionFairSharingConfig` (Kueue's global `admissionFairSharing`) and
`AdmissionFairSharing`, the per-LocalQueue consumption it keeps. The `QueueManager` owns one
and alone updates it: `on_admitted` when a Workload of a LocalQueue reserves quota, `sample`
every sampling interval (the simulator's clock or a live timer calls it). Time is passed in
as seconds. Pure computation, no I/O.

A ClusterQueue uses it when its `admissionScope.admissionMode` is
`UsageBasedAdmissionFairSharing` and the config is given. Then:

* consumption: consumed <- consumed * (1 - a) + admitted usage * a, with
  a = 1 - 0.5^(elapsed / usageHalfLifeTime); a half-life of 0 resets consumption to 0;
* entry penalty: an admission adds a_sampling * its request at once (a_sampling is a with one
  sampling interval elapsed), so one tenant's burst is not admitted wholesale before the next
  sample (Kueue folds the penalty into consumption when it observes the admission; offline that
  is the same moment);
* score = sum over resources of weight_r * (consumed_r + penalty_r) / LocalQueue weight, values
  as Kueue reads them (`AsApproximateFloat64`: cores for cpu, bytes for memory); weight <= 0
  gives +inf. The lower score goes first in the ClusterQueue's heap, before priority.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from dralloc.queueing.quota import quantity_of


@dataclass(frozen=True)
class AdmissionFairSharingConfig:
    """`usage_half_life_seconds`: Kueue's `usageHalfLifeTime`; `usage_sampling_interval_seconds`:
    `usageSamplingInterval` (default 5 minutes); `resource_weights`: per resource, default 1."""

    usage_half_life_seconds: float
    usage_sampling_interval_seconds: float = 300.0
    resource_weights: Mapping[str, float] = field(default_factory=dict)


def alpha(elapsed: float, half_life: float) -> float:
    if half_life == 0:
        return 0.0
    return 1.0 - math.pow(0.5, elapsed / half_life)


def as_floats(amounts: Mapping[str, int]) -> dict[str, float]:
    return {r: quantity_of(r, v).as_approximate_float() for r, v in amounts.items()}


@dataclass
class LocalQueueUsage:
    consumed: dict[str, float] = field(default_factory=dict)
    last_update: float | None = None


@dataclass
class AdmissionFairSharing:
    """Consumption per LocalQueue (`namespace/name`)."""

    config: AdmissionFairSharingConfig
    usage: dict[str, LocalQueueUsage] = field(default_factory=dict)

    def _decayed(
        self, entry: LocalQueueUsage, admitted: Mapping[str, int], now: float
    ) -> dict[str, float]:
        half_life = self.config.usage_half_life_seconds
        if half_life == 0:
            return {}
        # A LocalQueue seen for the first time starts its clock now (Kueue's cache entry).
        elapsed = 0.0 if entry.last_update is None else max(0.0, now - entry.last_update)
        a = alpha(elapsed, half_life)
        new = as_floats(admitted)
        keys = set(entry.consumed) | set(new)
        return {r: entry.consumed.get(r, 0.0) * (1 - a) + new.get(r, 0.0) * a for r in keys}

    def sample(self, local_queue: str, admitted: Mapping[str, int], now: float) -> None:
        """A sampling tick for one LocalQueue, given its current admitted usage."""
        entry = self.usage.setdefault(local_queue, LocalQueueUsage())
        entry.consumed = self._decayed(entry, admitted, now)
        entry.last_update = now

    def on_admitted(
        self,
        local_queue: str,
        request: Mapping[str, int],
        admitted: Mapping[str, int],
        now: float,
    ) -> None:
        """A Workload of `local_queue` reserved `request`; `admitted` is the LocalQueue's
        admitted usage including it."""
        entry = self.usage.setdefault(local_queue, LocalQueueUsage())
        consumed = self._decayed(entry, admitted, now)
        penalty = alpha(
            self.config.usage_sampling_interval_seconds, self.config.usage_half_life_seconds
        )
        for r, value in as_floats(request).items():
            consumed[r] = consumed.get(r, 0.0) + value * penalty
        entry.consumed = consumed
        entry.last_update = now

    def score(self, local_queue: str, weight: float = 1.0) -> float:
        if weight <= 0:
            return math.inf
        entry = self.usage.get(local_queue)
        if entry is None:
            return 0.0
        total = 0.0
        for resource in sorted(entry.consumed):
            total += self.config.resource_weights.get(resource, 1.0) * entry.consumed[resource]
        return total / weight
