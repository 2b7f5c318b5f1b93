"""One allocation attempt of the DRA structured allocator (spec/dra-v1.md section 6).

Owns one `allocate` (or `explain`) call on one node: it ties together preparation of the
claims (preparation.py, 6.4), device eligibility with the in-flight picks (eligibility.py,
6.6-6.10), the search (search.py, 6.5) and building results (results.py, 6.12). It reads an
`Inventory` (published devices, long-lived) and an `AllocatedState` (what other claims hold)
and mutates neither: in-flight choices live in the attempt's `Eligibility`.

Design notes:
* Determinism: the same input gives the same result; only shareIDs are random (they come from
  an injectable `share_ids` source).
* The time limit counts from the start of the attempt, preparation included.
* Before and early in the search, pruning.py may prove that no allocation exists; the answer
  is then the search's own "no" (see there for why the checks are exact and never hide an
  error).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from dralloc.allocator.eligibility import Eligibility
from dralloc.allocator.errors import NodeFailure
from dralloc.allocator.inventory import DeviceEntry, DeviceOrder, Inventory, Pool, PoolState
from dralloc.allocator.preparation import prepare_claim
from dralloc.allocator.prepared import PreparedClaim
from dralloc.allocator.results import build_result
from dralloc.allocator.search import search
from dralloc.allocator.state import AllocatedState
from dralloc.api.core import Node
from dralloc.api.resource import AllocationResult, DeviceClass, ResourceClaim

if TYPE_CHECKING:
    from dralloc.allocator.allocator import Allocator


class Attempt:
    """One `allocate` call: its claims prepared, the eligibility of devices with the picks in
    flight, and the search over them.

    `details` fills in human-readable details of refusals (for explanations). The other
    parameters are positional although there are several: they all differ in type (mypy
    catches a swap), and keyword arguments to a class cost a measurable share of a
    one-device `allocate` call on Python 3.11."""

    __slots__ = (
        "allocated",
        "allocator",
        "claims",
        "classes",
        "deadline",
        "device_order",
        "eligibility",
        "features",
        "node",
        "options",
        "ordered",
        "pools",
        "prepared",
        "prune_at",
        "steps",
        "view",
    )

    def __init__(
        self,
        allocator: Allocator,
        node: Node,
        claims: Sequence[ResourceClaim],
        inventory: Inventory,
        classes: Mapping[str, DeviceClass],
        allocated: AllocatedState,
        device_order: DeviceOrder | None = None,
        *,
        details: bool = False,
    ) -> None:
        self.allocator = allocator
        self.features = allocator.features
        self.options = allocator.options
        self.node = node
        self.claims = claims
        self.classes = classes
        self.allocated = allocated
        self.device_order = device_order
        self.view = inventory.view(node)
        self.pools = self.view.pools
        self.eligibility = Eligibility(
            self.features, allocator.cel, self.options.share_ids, self.view, claims, allocated
        )
        if details:
            self.eligibility.details = True
        self.prepared: list[PreparedClaim] = []
        # The search's state (search.py): the time limit counts from here, preparation
        # included; steps taken; the step at which the full check of pruning.py runs (-1:
        # never); the candidates in `device_order`, per selector set.
        self.deadline = (
            None if self.options.timeout is None else self.options.clock() + self.options.timeout
        )
        self.steps = 0
        self.prune_at = -1
        self.ordered: dict[object, list[tuple[DeviceEntry, Pool]]] = {}

    def prepare(self) -> None:
        """Prepare every claim (6.4), reusing the allocator's prepared claims where it can."""
        allocator = self.allocator
        for index, claim in enumerate(self.claims):
            prepared = allocator.cached_preparation(index, claim, self.classes)
            if prepared is None:
                prepared = prepare_claim(self, index)
                allocator.remember_preparation(index, prepared)
            self.prepared.append(prepared)

    def run(self) -> list[AllocationResult] | None:
        self.prepare()
        if search(self):
            return [build_result(self, i) for i in range(len(self.prepared))]
        if any(pool.state is PoolState.INVALID for pool in self.pools):
            raise NodeFailure("invalid resource pools were encountered")
        return None
