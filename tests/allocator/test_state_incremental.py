"""`AllocatedState.remove_claim` undoes `add_claim`: an incrementally kept state equals one
rebuilt from the remaining claims (the scheduler cache relies on it)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from dralloc.allocator import AllocatedState, allocated_state
from dralloc.api.meta import ObjectMeta
from dralloc.api.quantity import Quantity
from dralloc.api.resource import (
    AllocationResult,
    DeviceAllocationResult,
    DeviceRequestAllocationResult,
    ResourceClaim,
    ResourceClaimStatus,
)
from dralloc.features import Features

FEATURES = Features()


@st.composite
def _claims(draw: st.DrawFn) -> list[ResourceClaim]:
    """Claims as a real cluster holds them: a device is either dedicated to at most one claim
    or shared (allowMultipleAllocations) among any; admin access may see any device."""
    count = draw(st.integers(1, 8))
    results: list[list[DeviceRequestAllocationResult]] = [[] for _ in range(count)]
    for pool in ("node-a", "node-b"):
        for device in ("gpu-0", "gpu-1", "gpu-2"):
            shared = draw(st.booleans())
            owners = (
                draw(st.lists(st.integers(0, count - 1), max_size=4))
                if shared
                else draw(st.lists(st.integers(0, count - 1), max_size=1))
            )
            for owner in owners:
                consumed = (
                    {"cores": Quantity.from_int(draw(st.integers(1, 50)))}
                    if shared and draw(st.booleans())
                    else {}
                )
                results[owner].append(
                    DeviceRequestAllocationResult(
                        request="gpu",
                        driver="gpu.nvidia.com",
                        pool=pool,
                        device=device,
                        share_id=f"share-{owner}-{len(results[owner])}" if shared else None,
                        consumed_capacity=consumed,
                    )
                )
            for admin in draw(st.lists(st.integers(0, count - 1), max_size=1)):
                results[admin].append(
                    DeviceRequestAllocationResult(
                        request="admin",
                        driver="gpu.nvidia.com",
                        pool=pool,
                        device=device,
                        admin_access=True,
                    )
                )
    return [
        ResourceClaim(
            metadata=ObjectMeta(name=f"c{index}", namespace="default"),
            status=ResourceClaimStatus(
                allocation=AllocationResult(devices=DeviceAllocationResult(results=own))
            ),
        )
        for index, own in enumerate(results)
    ]


def _view(state: AllocatedState) -> tuple[object, ...]:
    return (
        state.devices,
        state.shares,
        {k: v for k, v in state.capacity.items() if v},
        state.shared_devices,
        state.by_pool,
        {k: sorted(v) for k, v in state.owners.items()},
    )


@settings(max_examples=150, deadline=None)
@given(claims=_claims(), data=st.data())
def test_removing_claims_leaves_the_state_of_the_rest(
    claims: list[ResourceClaim], data: st.DataObject
) -> None:
    state = allocated_state(claims, FEATURES)
    removed = data.draw(st.sets(st.integers(0, len(claims) - 1)))
    for index in sorted(removed):
        state.remove_claim(claims[index], FEATURES)
    remaining = [c for i, c in enumerate(claims) if i not in removed]
    assert _view(state) == _view(allocated_state(remaining, FEATURES))
