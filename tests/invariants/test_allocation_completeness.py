"""The allocator says "no" only when no allocation exists (hypothesis, tiny problems).

The allocator is first-fit depth-first with full backtracking (spec 6.5), so `None` must mean
that no assignment of devices to requests exists at all under the rules of in use, counters,
capacity, taints, selectors and constraints. A brute-force search over every assignment (the
oracle of `allocation_model`) checks that on problems small enough to enumerate.
"""

from __future__ import annotations

from allocation_model import (
    Alternative,
    Claim,
    Committed,
    Device,
    DeviceClass,
    Pool,
    Problem,
    Request,
    Slice,
    find_assignment,
)
from allocation_scenario import allocate_pending, answer_problems, commit_prior
from allocation_strategies import problems
from hypothesis import HealthCheck, event, given, settings

TINY = problems(max_devices=6, max_pending=2, max_requests=2, max_count=2, max_prior=1)


@settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(TINY)
def test_the_allocator_says_no_only_when_brute_force_finds_no_assignment_either(
    problem: Problem,
) -> None:
    scenario = commit_prior(problem)
    results = allocate_pending(scenario)
    found = find_assignment(problem, problem.pending, problem.node, scenario.committed)
    event("allocated" if results is not None else "no allocation")
    if results is None:
        assert found is None, f"the allocator said no, but this assignment works: {found}"
    else:
        assert found is not None, "the allocator found an allocation the oracle cannot"


def _typed(name: str, index: int, kind: str) -> Device:
    return Device(
        driver="gpu.example.com",
        pool="pool-0",
        slice="pool-0-s0",
        index=index,
        name=name,
        attributes=(("model", ("string", kind)),),
        capacity=(),
        multi=False,
        consumes=(),
        taints=(),
    )


def test_backtracking_gives_the_first_request_the_devices_the_second_does_not_need() -> None:
    """Spec section 8: count 2 over d1 (type x), d2, d3, and a second request needing type x
    ends with the first request on {d2, d3}."""
    exact = Alternative("any", "any", (), False, 2, (), ())
    needs_x = Alternative(
        "x", "any", (("string_eq", "gpu.example.com", "model", "x"),), False, 1, (), ()
    )
    claim = Claim(
        "claim-0",
        (Request("any", (exact,), False), Request("x", (needs_x,), False)),
        (),
    )
    problem = Problem(
        nodes=("node-1",),
        pools=(
            Pool(
                "gpu.example.com",
                "pool-0",
                (Slice("pool-0-s0", "gpu.example.com", "pool-0", ("nodeName", "node-1")),),
            ),
        ),
        devices=(_typed("d1", 0, "x"), _typed("d2", 1, "y"), _typed("d3", 2, "y")),
        classes=(DeviceClass("any", ()),),
        prior=(),
        pending=(claim,),
        node="node-1",
    )
    assert find_assignment(problem, (claim,), "node-1", Committed()) is not None
    results = allocate_pending(commit_prior(problem))
    assert results is not None
    assert answer_problems(problem, (claim,), "node-1", Committed(), results) == []
    assert [r.device for r in results[0].devices.results] == ["d2", "d3", "d1"]
