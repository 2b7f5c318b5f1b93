"""What other claims already hold: the allocator's view of committed allocations (spec 6.1).

Pure computation, no I/O. Built from claims that carry `status.allocation` (committed, or
in flight in a scheduler); never mutated by the search, which keeps its own tally.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from dralloc.allocator.inventory import DeviceKey
from dralloc.api.resource import ResourceClaim
from dralloc.features import Features


@dataclass
class AllocatedState:
    """Devices and capacity held by claims other than those being allocated.

    `devices`: device keys with a dedicated (non-admin, non-shared) allocation.
    `shares`: (device key, shareID) pairs of shared allocations.
    `capacity`: per device key, per capacity name, the sum of consumedCapacity (nano-units).
    `owners`: who holds each device, for explanations (`namespace/name` of the claim).
    """

    devices: set[DeviceKey] = field(default_factory=set)
    shares: set[tuple[DeviceKey, str]] = field(default_factory=set)
    capacity: dict[DeviceKey, dict[str, int]] = field(default_factory=dict)
    owners: dict[DeviceKey, list[str]] = field(default_factory=dict)
    shared_devices: set[DeviceKey] = field(default_factory=set)
    # (driver, pool) -> names of devices with any allocation, for counter accounting.
    by_pool: dict[tuple[str, str], set[str]] = field(default_factory=dict)

    def has_allocation(self, key: DeviceKey) -> bool:
        """Counts as allocated for counter accounting (dedicated, a share, or capacity)."""
        return key in self.devices or key in self.shared_devices or key in self.capacity

    def add_claim(self, claim: ResourceClaim, features: Features) -> None:
        allocation = claim.status.allocation
        if allocation is None:
            return
        owner = f"{claim.metadata.namespace}/{claim.metadata.name}"
        for result in allocation.devices.results:
            if result.admin_access:
                continue  # admin access never blocks anybody
            key = DeviceKey(result.driver, result.pool, result.device)
            self.owners.setdefault(key, []).append(owner)
            self.by_pool.setdefault((result.driver, result.pool), set()).add(result.device)
            if features.consumable_capacity and result.share_id:
                self.shares.add((key, result.share_id))
                self.shared_devices.add(key)
                if result.consumed_capacity:
                    tally = self.capacity.setdefault(key, {})
                    for name, amount in result.consumed_capacity.items():
                        tally[name] = tally.get(name, 0) + amount.nano
            elif features.consumable_capacity and result.consumed_capacity:
                tally = self.capacity.setdefault(key, {})
                for name, amount in result.consumed_capacity.items():
                    tally[name] = tally.get(name, 0) + amount.nano
            else:
                self.devices.add(key)

    def remove_claim(self, claim: ResourceClaim, features: Features) -> None:
        """Undo `add_claim` for the same claim (its allocation released): a scheduler's cache
        keeps one state up to date instead of rebuilding it from every claim."""
        allocation = claim.status.allocation
        if allocation is None:
            return
        owner = f"{claim.metadata.namespace}/{claim.metadata.name}"
        for result in allocation.devices.results:
            if result.admin_access:
                continue
            key = DeviceKey(result.driver, result.pool, result.device)
            owners = self.owners.get(key)
            if owners is not None and owner in owners:
                owners.remove(owner)
                if not owners:
                    del self.owners[key]
            if features.consumable_capacity and (result.share_id or result.consumed_capacity):
                if result.share_id:
                    self.shares.discard((key, result.share_id))
                    if not any(share_key == key for share_key, _ in self.shares):
                        self.shared_devices.discard(key)
                tally = self.capacity.get(key)
                if tally is not None:
                    for name, amount in result.consumed_capacity.items():
                        left = tally.get(name, 0) - amount.nano
                        if left:
                            tally[name] = left
                        else:
                            tally.pop(name, None)
                    if not tally:
                        del self.capacity[key]
            else:
                self.devices.discard(key)
            if not self.has_allocation(key):
                names = self.by_pool.get((result.driver, result.pool))
                if names is not None:
                    names.discard(result.device)
                    if not names:
                        del self.by_pool[(result.driver, result.pool)]


def allocated_state(claims: Iterable[ResourceClaim], features: Features) -> AllocatedState:
    """The state of every claim in `claims` that has an allocation."""
    state = AllocatedState()
    for claim in claims:
        state.add_claim(claim, features)
    return state
