"""Running a generated `Problem` through `dralloc.testing.Cluster`, and checking the answer.

`commit_prior` allocates the problem's earlier claims one at a time (each on its own node) and
commits the results as `status.allocation`, the way a scheduler would have; `allocate_pending`
then allocates the pending claims together. `answer_problems` lists everything wrong with one
allocation: the oracle's rule violations plus the shape of the results (shareIDs, consumed
capacity, order, node selector).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from allocation_model import (
    Claim,
    Committed,
    Problem,
    assignment_of,
    consumption,
    render,
    search_position,
    violations,
)

from dralloc.api.io import to_builtins
from dralloc.api.resource import AllocationResult
from dralloc.testing import Cluster

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
NANO = 10**9


@dataclass
class Scenario:
    problem: Problem
    committed: Committed = field(default_factory=Committed)
    committed_documents: list[dict[str, Any]] = field(default_factory=list)
    # Problems found in the allocations of the earlier claims (they must be empty too).
    prior_problems: list[str] = field(default_factory=list)

    def documents(self, pending: tuple[Claim, ...] | None = None) -> list[dict[str, Any]]:
        claims = self.problem.pending if pending is None else pending
        return [
            *self.problem.base_documents(),
            *self.committed_documents,
            *(c.document() for c in claims),
        ]

    def text(self, pending: tuple[Claim, ...] | None = None) -> str:
        return render(self.documents(pending))


def cluster_of(documents: list[dict[str, Any]]) -> Cluster:
    """The cluster `dralloc.testing.Cluster.from_yaml` builds from these documents (as one
    JSON `kind: List`, which the loader reads through its JSON fast path)."""
    return Cluster.from_yaml(render(documents))


def commit_prior(problem: Problem) -> Scenario:
    scenario = Scenario(problem)
    for number, (claim, node) in enumerate(problem.prior):
        cluster = cluster_of(scenario.documents((claim,)))
        results = cluster.allocate(node=node, gates=problem.gates, pairwise_distinct=True)
        if results is None:
            continue
        (result,) = results
        scenario.prior_problems += answer_problems(
            problem, (claim,), node, scenario.committed, results
        )
        allocation = to_builtins(result)
        for index, entry in enumerate(allocation["devices"]["results"]):
            if "shareID" in entry:  # unique across claims, unlike the harness' sequence
                entry["shareID"] = f"00000000-0000-4000-8000-{0xC0000 + number * 100 + index:012x}"
        document = claim.document()
        document["status"] = {"allocation": allocation}
        scenario.committed_documents.append(document)
        scenario.committed.add(problem, claim, assignment_of(result))
    return scenario


def allocate_pending(scenario: Scenario) -> list[AllocationResult] | None:
    """The pending claims allocated with pairwise distinctAttribute, the semantics the answer
    checker holds allocations to (spec 6.10). Kubernetes 1.36's one value per request,
    dralloc's default, may repeat a value; tests/oracle compares that mode with upstream."""
    cluster = cluster_of(scenario.documents())
    return cluster.allocate(
        node=scenario.problem.node, gates=scenario.problem.gates, pairwise_distinct=True
    )


def _node_selector_matches(selector: Any, node: str, labels: dict[str, str]) -> bool:
    if selector is None:
        return True
    for term in selector.node_selector_terms:
        ok = bool(term.match_expressions or term.match_fields)
        for req in term.match_expressions:
            value = labels.get(req.key)
            ok = ok and req.operator == "In" and value in req.values
        for req in term.match_fields:
            ok = ok and req.key == "metadata.name" and req.operator == "In" and node in req.values
        if ok:
            return True
    return False


def answer_problems(
    problem: Problem,
    claims: tuple[Claim, ...],
    node: str,
    committed: Committed,
    results: list[AllocationResult],
) -> list[str]:
    """Everything wrong with `results` as the allocation of `claims` on `node`."""
    if len(results) != len(claims):
        return [f"{len(results)} allocation results for {len(claims)} claims"]
    found = violations(problem, claims, node, committed, [assignment_of(r) for r in results])
    devices = problem.device_map
    share_ids: list[str] = []
    for claim, result in zip(claims, results, strict=True):
        order = {a.name: i for i, r in enumerate(claim.requests) for a in r.alternatives}
        previous: tuple[int, tuple[str, str, str, int]] | None = None
        for entry in result.devices.results:
            where = f"{claim.name}/{entry.request} {entry.driver}/{entry.pool}/{entry.device}"
            key = (entry.driver, entry.pool, entry.device)
            device = devices.get(key)
            alt = claim.alternative(entry.request)
            if device is None or alt is None:
                continue  # reported by violations()
            position = (order[entry.request], search_position(problem, key))
            if previous is not None and position <= previous:
                found.append(f"{where}: results not in request order and candidate order")
            previous = position
            # Copied whatever DRADeviceTaints says, as upstream's allocator does (the API
            # server drops them on write while the gate is off).
            if len(entry.tolerations) != len(alt.tolerations):
                found.append(f"{where}: tolerations not copied from the request")
            if device.multi:
                if entry.share_id is None or not UUID.match(entry.share_id):
                    found.append(f"{where}: shared device without a lower-case UUID shareID")
                else:
                    share_ids.append(entry.share_id)
                expected = consumption(device, dict(alt.capacity)) or {}
                got = {n: Fraction(q.nano, NANO) for n, q in entry.consumed_capacity.items()}
                if got != expected:
                    found.append(f"{where}: consumedCapacity {got}, expected {expected}")
            elif entry.share_id is not None or entry.consumed_capacity:
                found.append(f"{where}: dedicated device with shareID or consumedCapacity")
        labels = {"zone": "a"} if node == "node-1" else {"zone": "b"}
        if not _node_selector_matches(result.node_selector, node, labels):
            found.append(f"{claim.name}: nodeSelector {result.node_selector} excludes {node}")
    if len(set(share_ids)) != len(share_ids):
        found.append(f"shareIDs not unique: {share_ids}")
    return found


def without_share_ids(results: list[AllocationResult] | None) -> Any:
    if results is None:
        return None
    plain = to_builtins(results)
    for result in plain:
        for entry in result["devices"]["results"]:
            entry.pop("shareID", None)
    return plain
