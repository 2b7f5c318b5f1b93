"""Consumable capacity (KEP-5075): what a request consumes of a device, and whether it fits.

Pure computation on exact nano-unit integers, no I/O (spec/dra-v1.md 6.9). Rounding within a
`validRange` works in whole units, as upstream's Quantity.Value() does in 1.36 (quirk 7).
"""

from __future__ import annotations

from collections.abc import Mapping

from dralloc.allocator.inventory import CapacityPolicy
from dralloc.api.quantity import Format, Quantity

NANO = 1_000_000_000


def readable_quantity(nano: int) -> Quantity:
    """A quantity for output: binary suffixes for whole multiples of 1Mi (memory-like
    amounts print as `10Gi`, not `10737418240`), decimal otherwise (counts stay `2048`)."""
    if nano and nano % (1024 * 1024 * NANO) == 0:
        return Quantity.from_nano(nano, Format.BinarySI)
    return Quantity.from_nano(nano)


def ceil_units(nano: int) -> int:
    """The quantity rounded up to a whole number of units."""
    return -(-nano // NANO)


def consumed(policy: CapacityPolicy, requested: int | None) -> int:
    """Nano-units one allocation consumes of a capacity, given what the request asks for."""
    if requested is None:
        return policy.default if policy.default is not None else policy.value
    if policy.range_min is not None:
        low = policy.range_min
        if requested < low:
            return low
        if policy.range_step is None:
            return requested
        step = ceil_units(policy.range_step)
        steps = -(-(ceil_units(requested) - ceil_units(low)) // step)
        return (ceil_units(low) + steps * step) * NANO
    if policy.valid_values:
        for value in policy.valid_values:
            if requested <= value:
                return value
        return requested
    return requested


def violates(policy: CapacityPolicy, amount: int) -> bool:
    """The amount is not one the request policy allows."""
    if policy.default is not None and amount == policy.default:
        return False
    if policy.range_min is not None:
        if policy.range_max is not None and amount > policy.range_max:
            return True
        if policy.range_step is not None:
            step = ceil_units(policy.range_step)
            return (ceil_units(amount) - ceil_units(policy.range_min)) % step != 0
        return False
    if policy.valid_values:
        return amount not in policy.valid_values
    return False


def consumption(
    capacity: Mapping[str, CapacityPolicy], requested: Mapping[str, int]
) -> dict[str, int] | None:
    """Per-capacity consumption of one allocation, or None when the request cannot be met
    by this device's policies (a requested name the device lacks, or a disallowed amount)."""
    for name in requested:
        if name not in capacity:
            return None
    amounts: dict[str, int] = {}
    for name, policy in capacity.items():
        amount = consumed(policy, requested.get(name))
        if violates(policy, amount):
            return None
        amounts[name] = amount
    return amounts


def first_shortfall(
    capacity: Mapping[str, CapacityPolicy],
    amounts: Mapping[str, int],
    *,
    committed: Mapping[str, int] | None,
    in_flight: Mapping[str, int] | None,
) -> tuple[str, int] | None:
    """The first capacity that would be exceeded, with how much is missing; None if it fits."""
    for name, amount in amounts.items():
        used = amount
        if committed:
            used += committed.get(name, 0)
        if in_flight:
            used += in_flight.get(name, 0)
        total = capacity[name].value
        if used > total:
            return name, used - total
    return None
