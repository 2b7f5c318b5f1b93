"""Why a claim does or does not fit on a node: a verdict for every request and device.

Pure computation, no I/O. Reuses the allocator's own checks (an `Attempt`'s `Eligibility`),
so an explanation can never disagree with what `allocate` does: each device is offered to
each request alone (against what other claims hold), and then the whole claim is allocated
for real to tell "every device fits alone, but no combination satisfies the constraints"
from a fit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from dralloc.allocator.allocator import Allocator
from dralloc.allocator.attempt import Attempt
from dralloc.allocator.eligibility import Eligibility
from dralloc.allocator.errors import AllocationError, NodeFailure
from dralloc.allocator.inventory import DeviceEntry, Inventory, Pool, PoolState
from dralloc.allocator.prepared import PreparedRequest, Reason
from dralloc.allocator.state import AllocatedState
from dralloc.api.core import Node
from dralloc.api.resource import AllocationResult, DeviceClass, ResourceClaim

FITS = "fits"
POOL_INCOMPLETE = "pool incomplete"
POOL_INVALID = "pool invalid"
SELECTOR_ERROR = "selector error"
# Verdicts whose detail names what ran out (a capacity or a counter): the summary shows them.
_DETAILED = frozenset({Reason.CAPACITY.value, Reason.CAPACITY_POLICY.value, Reason.COUNTERS.value})
_MAX_DETAILS = 3


@dataclass
class DeviceVerdict:
    device: str  # driver/pool/device
    verdict: str  # FITS or a Reason value or a pool/selector verdict
    detail: str = ""


@dataclass
class RequestExplanation:
    name: str  # `req` or `req/sub`
    device_class: str
    needed: int | str  # a count, or "all"
    devices: list[DeviceVerdict] = field(default_factory=list)

    @property
    def fitting(self) -> int:
        return sum(1 for d in self.devices if d.verdict == FITS)

    def summary(self) -> str:
        counts = Counter(d.verdict for d in self.devices if d.verdict != FITS)
        details: dict[str, list[str]] = {}
        for device in self.devices:
            if device.verdict in _DETAILED and device.detail:
                seen = details.setdefault(device.verdict, [])
                if device.detail not in seen:
                    seen.append(device.detail)

        def reason(verdict: str, count: int) -> str:
            said = details.get(verdict, [])
            if not said:
                return f"{count} {verdict}"
            shown = "; ".join(said[:_MAX_DETAILS])
            more = f"; {len(said) - _MAX_DETAILS} more" if len(said) > _MAX_DETAILS else ""
            return f"{count} {verdict} ({shown}{more})"

        reasons = ", ".join(
            reason(v, n) for v, n in sorted(counts.items(), key=lambda x: (-x[1], x[0]))
        )
        head = (
            f"request {self.name}: {self.fitting} of {len(self.devices)} devices fit "
            f"(needs {self.needed})"
        )
        return f"{head}; {reasons}" if reasons else head


@dataclass
class PoolExplanation:
    pool: str
    state: str
    detail: str = ""


@dataclass
class ClaimExplanation:
    claim: str
    node: str
    fits: bool
    error: str = ""
    message: str = ""
    requests: list[RequestExplanation] = field(default_factory=list)
    pools: list[PoolExplanation] = field(default_factory=list)
    allocation: AllocationResult | None = None

    def summary_lines(self) -> list[str]:
        lines = [f"claim {self.claim} on node {self.node}: {self.message}"]
        lines.extend(f"  {r.summary()}" for r in self.requests)
        lines.extend(
            f"  pool {p.pool} is {p.state}" + (f" ({p.detail})" if p.detail else "")
            for p in self.pools
            if p.state != PoolState.COMPLETE
        )
        return lines


def _verdict(
    eligibility: Eligibility, entry: DeviceEntry, pool: Pool, request: PreparedRequest
) -> DeviceVerdict:
    name = str(entry.key)
    try:
        reason = eligibility.selectable_reason(entry, request)
    except AllocationError as err:
        return DeviceVerdict(name, SELECTOR_ERROR, str(err))
    if reason is not None:
        return DeviceVerdict(name, reason.value)
    if eligibility.in_use(entry, request):
        owners = eligibility.allocated.owners.get(entry.key, [])
        return DeviceVerdict(name, Reason.IN_USE.value, f"by {', '.join(owners)}" if owners else "")
    if eligibility.features.consumable_capacity:
        problem = eligibility.capacity_problem(entry, request)
        if problem is not None:
            return DeviceVerdict(name, problem[0].value, problem[1])
    outcome = eligibility.try_allocate(entry, pool, request, must=False)
    if outcome is not None:
        return DeviceVerdict(name, outcome[0].value, outcome[1])
    eligibility.undo(request.claim_index)
    return DeviceVerdict(name, FITS)


def explain(
    allocator: Allocator,
    node: Node,
    claim: ResourceClaim,
    inventory: Inventory,
    classes: Mapping[str, DeviceClass],
    allocated: AllocatedState,
) -> ClaimExplanation:
    """Explain how `claim` fares on `node` given what other claims hold."""
    ref = f"{claim.metadata.namespace}/{claim.metadata.name}"
    result = ClaimExplanation(claim=ref, node=node.metadata.name, fits=False)
    attempt = Attempt(
        allocator,
        node=node,
        claims=[claim],
        inventory=inventory,
        classes=classes,
        allocated=allocated,
        details=True,
    )
    for pool in attempt.pools:
        result.pools.append(PoolExplanation(str(pool.key), pool.state.value, pool.invalid_reason))
    try:
        attempt.prepare()
    except AllocationError as err:
        result.error = str(err)
        result.message = f"allocation fails with an error: {err}"
        return result
    for alternatives in attempt.prepared[0].requests:
        for request in alternatives:
            explanation = RequestExplanation(
                name=request.result_name,
                device_class=request.class_name,
                needed="all" if request.all_mode else request.needed,
            )
            for pool in attempt.pools:
                devices: Sequence[DeviceEntry] = pool.devices
                if not pool.is_usable:
                    verdict = (
                        POOL_INCOMPLETE if pool.state is PoolState.INCOMPLETE else POOL_INVALID
                    )
                    explanation.devices.extend(
                        DeviceVerdict(str(d.key), verdict, pool.invalid_reason) for d in devices
                    )
                    continue
                for entry in devices:
                    explanation.devices.append(_verdict(attempt.eligibility, entry, pool, request))
                explanation.devices.extend(
                    DeviceVerdict(str(entry.key), Reason.WRONG_NODE.value)
                    for entry in pool.wrong_node_devices
                )
            result.requests.append(explanation)
    try:
        allocation = allocator.allocate(node, [claim], inventory, classes, allocated)
    except NodeFailure as err:
        # A per-node failure is "does not fit here", not an error of the whole attempt.
        result.message = f"cannot be allocated: {err}"
        return result
    except AllocationError as err:
        result.error = str(err)
        result.message = f"allocation fails with an error: {err}"
        return result
    if allocation is not None:
        result.fits = True
        result.allocation = allocation[0]
        chosen = {
            (r.request, f"{r.driver}/{r.pool}/{r.device}") for r in allocation[0].devices.results
        }
        for request_explanation in result.requests:
            for device_verdict in request_explanation.devices:
                if (request_explanation.name, device_verdict.device) in chosen:
                    extra = f"; {device_verdict.detail}" if device_verdict.detail else ""
                    device_verdict.detail = "chosen" + extra
        picked = ", ".join(f"{r.request}: {r.device}" for r in allocation[0].devices.results)
        result.message = f"fits ({picked})" if picked else "fits (nothing to allocate)"
        return result
    short = [r for r in result.requests if isinstance(r.needed, int) and r.fitting < r.needed]
    if short and len(short) == len(result.requests):
        result.message = "cannot be allocated: not enough matching devices"
    elif short and not any(len(alts) > 1 for alts in attempt.prepared[0].requests):
        names = ", ".join(r.name for r in short)
        result.message = f"cannot be allocated: not enough matching devices for {names}"
    else:
        result.message = (
            "cannot be allocated: devices fit each request alone, but no combination "
            "satisfies all requests and constraints together"
        )
    return result


# Told after each node of `explain_nodes`: (nodes done, nodes in all, name of the node done).
ExplainProgress = Callable[[int, int, str], None]


def explain_nodes(
    allocator: Allocator,
    nodes: Sequence[Node],
    claim: ResourceClaim,
    inventory: Inventory,
    classes: Mapping[str, DeviceClass],
    allocated: AllocatedState,
    *,
    progress: ExplainProgress | None = None,
) -> list[ClaimExplanation]:
    """`explain` on each of `nodes` in turn, in that order.

    `progress`, if given, is called after each node with (nodes done, len(nodes), the node's
    name), on the calling thread; it must not raise. A command can draw a progress line on a
    terminal with it while many nodes are explained:

    >>> explain_nodes(allocator, nodes, claim, inventory, classes, state,
    ...               progress=lambda done, total, node: print(f"{done}/{total}"))
    ... # doctest: +SKIP
    """
    results: list[ClaimExplanation] = []
    for node in nodes:
        results.append(explain(allocator, node, claim, inventory, classes, allocated))
        if progress is not None:
            progress(len(results), len(nodes), node.metadata.name)
    return results
