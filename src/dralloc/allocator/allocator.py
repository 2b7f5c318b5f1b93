"""The DRA structured allocator's entry point: `Allocator` (spec/dra-v1.md section 6).

An `Allocator` is long-lived: it owns the CEL environment, its options and a cache of prepared
claims. Each `allocate` call runs one `Attempt` (attempt.py), which ties together
preparation.py (6.4), eligibility.py (device checks 6.6-6.10) and search.py (6.5); results.py
builds its results (6.12), and pruning.py proves "no fit" early where it can.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from dralloc.allocator.attempt import Attempt
from dralloc.allocator.inventory import DeviceOrder, Inventory
from dralloc.allocator.prepared import (
    DEFAULT_TIMEOUT_SECONDS,
    PREPARED_CACHE_SIZE,
    PreparedClaim,
    PreparedEntry,
)
from dralloc.allocator.state import AllocatedState
from dralloc.api.core import Node
from dralloc.api.resource import AllocationResult, DeviceClass, ResourceClaim
from dralloc.cel import CelEnvironment
from dralloc.features import Features


def _same_classes(entry: PreparedEntry, classes: Mapping[str, DeviceClass]) -> bool:
    return all(classes.get(name) is device_class for name, device_class in entry.classes)


def _default_share_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class AllocatorOptions:
    """`timeout`: seconds before the search gives up (None = no limit; upstream's
    filterTimeout default is 10 s). `share_ids`: source of shareIDs (tests inject one).

    `prune_unsatisfiable` (default True): prove "no fit" without the search where checks of
    necessary conditions can (allocator/pruning.py); the outcome is the same, success,
    "no fit" or error, except that a search that would give up may answer "no fit" instead.
    A pruned attempt draws no shareIDs, where the plain search draws (and discards) some
    for shared devices it tries. False runs the plain search only.
    `prune_after_steps` (default 1024): search steps (candidates tried) before the fuller
    check (every candidate against committed use, counters, capacity, taints and
    constraints) runs, once. It costs about as much as 20 to 100 steps (40-90 us on an
    8-GPU MIG node or a 24-GPU node with matchAttribute, where a step takes 1-4 us), so a
    search that answers sooner never pays for it, a longer one pays a few percent, and an
    unsatisfiable one stops after about 1024 steps instead of trying every combination.
    0 runs it before the search. Attempts that want at most one device are never checked:
    their search is one scan.
    `pairwise_distinct_attribute` (default False, as Kubernetes 1.36): False remembers one
    value per request for a distinctAttribute constraint, as upstream does, so a request of
    three or more devices may repeat a value; True makes the values truly pairwise distinct
    (spec 6.10; see allocator/constraints.py and docs/conformance.md).
    """

    timeout: float | None = DEFAULT_TIMEOUT_SECONDS
    clock: Callable[[], float] = time.monotonic
    share_ids: Callable[[], str] = _default_share_id
    prune_unsatisfiable: bool = True
    prune_after_steps: int = 1024
    pairwise_distinct_attribute: bool = False

    def __post_init__(self) -> None:
        if self.prune_after_steps < 0:
            raise ValueError(f"prune_after_steps must be >= 0, got {self.prune_after_steps}")


class Allocator:
    """Allocates ResourceClaims on a node, exactly as Kubernetes 1.36 would.

    >>> allocator = Allocator(Features())                                    # doctest: +SKIP
    >>> results = allocator.allocate(node, [claim], inventory, classes, state)  # doctest: +SKIP

    `allocate` returns one AllocationResult per claim (same order), None when no allocation
    exists, or raises AllocationError / NodeFailure / AllocationGaveUp.

    Upstream takes the first fitting devices in the drivers' order. `device_order` (a sort key
    over device keys) changes only which devices are tried first: the search stays complete,
    so the answer "fits or not" is unchanged, and for a one-device request the device chosen
    is the best-ranked feasible one. Device-scoring plugins use it to pick *which GPU*.
    """

    def __init__(
        self,
        features: Features,
        *,
        cel: CelEnvironment | None = None,
        options: AllocatorOptions | None = None,
    ) -> None:
        self.features = features
        self.cel = cel or CelEnvironment(features)
        self.options = options or AllocatorOptions()
        # Prepared claims without `All` requests do not depend on the node: reuse them while
        # the claim, its position and the classes it uses are the same objects. Claims with
        # equal specs (a template's claims, one per pod) share one preparation too, found by
        # the encoded spec: only `PreparedClaim.claim` and `ref` name the claim itself.
        self._prepared: dict[tuple[int, int], PreparedEntry] = {}
        self._by_spec: dict[tuple[int, bytes], PreparedEntry] = {}
        self._spec_encoder = msgspec.json.Encoder(enc_hook=str)

    def cached_preparation(
        self, index: int, claim: ResourceClaim, classes: Mapping[str, DeviceClass]
    ) -> PreparedClaim | None:
        entry = self._prepared.get((id(claim), index))
        if entry is None or entry.claim is not claim:
            shared = self._by_spec.get((index, self._spec_encoder.encode(claim.spec)))
            if shared is None or not _same_classes(shared, classes):
                return None
            meta = claim.metadata
            prepared = PreparedClaim(
                claim,
                f"{meta.namespace}/{meta.name}",
                shared.prepared.requests,
                shared.prepared.constraints,
            )
            entry = PreparedEntry(claim, shared.classes, prepared)
            self._remember(self._prepared, (id(claim), index), entry)
        elif not _same_classes(entry, classes):
            return None
        for checker in entry.prepared.constraints:
            checker.reset()
        return entry.prepared

    def remember_preparation(self, index: int, prepared: PreparedClaim) -> None:
        if any(r.all_mode for alternatives in prepared.requests for r in alternatives):
            return
        classes = tuple((r.class_name, r.device_class) for alts in prepared.requests for r in alts)
        entry = PreparedEntry(prepared.claim, classes, prepared)
        self._remember(self._prepared, (id(prepared.claim), index), entry)
        spec = self._spec_encoder.encode(prepared.claim.spec)
        self._remember(self._by_spec, (index, spec), entry)

    @staticmethod
    def _remember(cache: dict[Any, PreparedEntry], key: Any, entry: PreparedEntry) -> None:
        if len(cache) >= PREPARED_CACHE_SIZE:
            cache.clear()
        cache[key] = entry

    def allocate(
        self,
        node: Node,
        claims: Sequence[ResourceClaim],
        inventory: Inventory,
        classes: Mapping[str, DeviceClass],
        allocated: AllocatedState,
        device_order: DeviceOrder | None = None,
    ) -> list[AllocationResult] | None:
        return Attempt(self, node, claims, inventory, classes, allocated, device_order).run()
