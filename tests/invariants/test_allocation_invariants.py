"""Invariants of the allocator on randomly generated small clusters (hypothesis).

Every successful allocation must hold up against an independent oracle written from the spec
(`allocation_model.violations`): no dedicated device handed out twice across committed and new
claims, shared devices never beyond their capacity, pool counters never exceeded, every device
matching its class and request selectors and reachable from the node, taints tolerated,
constraints kept, each request given exactly its count (`All`: exactly the usable matching
devices). Earlier claims are allocated and committed first, so "in use" is exercised too.
"""

from __future__ import annotations

from fractions import Fraction
from random import Random

from allocation_model import (
    Alternative,
    Capacity,
    Claim,
    Committed,
    Constraint,
    Device,
    DeviceClass,
    Pool,
    Problem,
    Request,
    Slice,
    Taint,
    violations,
)
from allocation_scenario import (
    allocate_pending,
    answer_problems,
    cluster_of,
    commit_prior,
    without_share_ids,
)
from allocation_strategies import problems
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dralloc.testing import Cluster

SETTINGS = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@SETTINGS
@given(problems())
def test_every_allocation_passes_the_oracle_for_use_capacity_counters_selectors_and_constraints(
    problem: Problem,
) -> None:
    scenario = commit_prior(problem)
    assert scenario.prior_problems == []
    results = allocate_pending(scenario)
    event("allocated" if results is not None else "no allocation")
    if results is not None:
        found = answer_problems(problem, problem.pending, problem.node, scenario.committed, results)
        assert found == []


@settings(SETTINGS, max_examples=60)
@given(problems())
def test_pending_claims_are_allocated_all_together_or_not_at_all(problem: Problem) -> None:
    scenario = commit_prior(problem)
    results = allocate_pending(scenario)
    if results is None:
        return
    assert len(results) == len(problem.pending)
    for claim, result in zip(problem.pending, results, strict=True):
        granted = {r.request.split("/", 1)[0] for r in result.devices.results}
        assert granted == {r.name for r in claim.requests}


@settings(SETTINGS, max_examples=60)
@given(problems())
def test_the_same_input_twice_gives_the_same_allocation_ignoring_share_ids(
    problem: Problem,
) -> None:
    scenario = commit_prior(problem)
    text = scenario.text()
    first = Cluster.from_yaml(text).allocate(node=problem.node, gates=problem.gates)
    second = Cluster.from_yaml(text).allocate(node=problem.node, gates=problem.gates)
    assert without_share_ids(first) == without_share_ids(second)


# ---------------------------------------------------------------- the oracle itself can fail
#
# The property tests above are only as good as the oracle; these cases show that it does
# reject each kind of broken assignment.

GPU = "gpu.example.com"


def _device(name: str, **fields: object) -> Device:
    base: dict[str, object] = {
        "driver": GPU,
        "pool": "pool-0",
        "slice": "pool-0-s0",
        "index": int(name.rsplit("-", 1)[1]),
        "name": name,
        "attributes": (),
        "capacity": (),
        "multi": False,
        "consumes": (),
        "taints": (),
    }
    base.update(fields)
    return Device(**base)  # type: ignore[arg-type]


def _problem(*devices: Device, counters: tuple[tuple[str, int], ...] = ()) -> Problem:
    slices = (Slice("pool-0-s0", GPU, "pool-0", ("nodeName", "node-1")),)
    if counters:
        slices += (Slice("pool-0-counters", GPU, "pool-0", ("nodeName", "node-1"), counters),)
    return Problem(
        nodes=("node-1",),
        pools=(Pool(GPU, "pool-0", slices),),
        devices=devices,
        classes=(DeviceClass("any", ()), DeviceClass("gpu", (("driver", GPU),))),
        prior=(),
        pending=(),
        node="node-1",
    )


def _claim(name: str, count: int = 1, **fields: object) -> Claim:
    alt = Alternative(
        name="r0",
        device_class=str(fields.get("device_class", "any")),
        selectors=tuple(fields.get("selectors", ())),  # type: ignore[arg-type]
        all_mode=bool(fields.get("all_mode", False)),
        count=count,
        tolerations=(),
        capacity=tuple(fields.get("capacity", ())),  # type: ignore[arg-type]
    )
    constraints = tuple(fields.get("constraints", ()))  # type: ignore[arg-type]
    return Claim(name, (Request("r0", (alt,), first_available=False),), constraints)


D0 = (GPU, "pool-0", "dev-0")
D1 = (GPU, "pool-0", "dev-1")


def test_the_oracle_rejects_a_dedicated_device_given_to_two_claims() -> None:
    problem = _problem(_device("dev-0"), _device("dev-1"))
    claims = (_claim("a"), _claim("b"))
    assert violations(problem, claims, "node-1", Committed(), [{"r0": (D0,)}, {"r0": (D1,)}]) == []
    assert violations(problem, claims, "node-1", Committed(), [{"r0": (D0,)}, {"r0": (D0,)}])


def test_the_oracle_rejects_a_device_that_is_already_committed() -> None:
    problem = _problem(_device("dev-0"))
    committed = Committed(dedicated={D0}, charged={D0})
    assert violations(problem, (_claim("a"),), "node-1", committed, [{"r0": (D0,)}])


def test_the_oracle_rejects_shares_beyond_a_capacity() -> None:
    shared = _device("dev-0", multi=True, capacity=(("mem", Capacity(Fraction(4))),))
    problem = _problem(shared)
    claims = (
        _claim("a", capacity=(("mem", Fraction(2)),)),
        _claim("b", capacity=(("mem", Fraction(3)),)),
    )
    assert violations(problem, claims[:1], "node-1", Committed(), [{"r0": (D0,)}]) == []
    assert violations(problem, claims, "node-1", Committed(), [{"r0": (D0,)}, {"r0": (D0,)}])


def test_the_oracle_rounds_a_capacity_request_up_to_the_policy_step() -> None:
    policy = Capacity(
        Fraction(10),
        default=Fraction(2),
        range_min=Fraction(2),
        range_max=Fraction(8),
        range_step=Fraction(2),
    )
    assert policy.consumed(Fraction(3)) == 4
    assert policy.consumed(None) == 2
    assert policy.violates(policy.consumed(Fraction(9)))


def test_the_oracle_rejects_counters_exceeded_across_the_pool() -> None:
    problem = _problem(
        _device("dev-0", consumes=(("mem", 3),)),
        _device("dev-1", consumes=(("mem", 3),)),
        counters=(("mem", 5),),
    )
    claims = (_claim("a", count=2),)
    assert violations(problem, claims, "node-1", Committed(), [{"r0": (D0, D1)}])


MODELS = _problem(
    _device("dev-0", attributes=(("model", ("string", "a")),)),
    _device("dev-1", attributes=(("model", ("string", "b")),)),
    _device("dev-2", taints=(Taint("maint", "x", "NoSchedule"),)),
)
D2 = (GPU, "pool-0", "dev-2")


def test_the_oracle_rejects_a_device_its_request_selector_refuses() -> None:
    claim = _claim("a", selectors=(("string_eq", GPU, "model", "a"),))
    assert violations(MODELS, (claim,), "node-1", Committed(), [{"r0": (D0,)}]) == []
    assert violations(MODELS, (claim,), "node-1", Committed(), [{"r0": (D1,)}])


def test_the_oracle_rejects_devices_that_break_a_match_attribute_constraint() -> None:
    match = Constraint(distinct=False, attribute=f"{GPU}/model", requests=())
    claim = _claim("a", count=2, constraints=(match,))
    assert violations(MODELS, (claim,), "node-1", Committed(), [{"r0": (D0, D1)}])
    distinct = Constraint(distinct=True, attribute=f"{GPU}/model", requests=())
    claim = _claim("a", count=2, constraints=(distinct,))
    assert violations(MODELS, (claim,), "node-1", Committed(), [{"r0": (D0, D1)}]) == []


def test_the_oracle_rejects_an_untolerated_taint() -> None:
    assert violations(MODELS, (_claim("a"),), "node-1", Committed(), [{"r0": (D2,)}])


def test_the_oracle_requires_all_mode_to_take_every_usable_matching_device() -> None:
    problem = _problem(_device("dev-0"), _device("dev-1"))
    claims = (_claim("a", count=0, all_mode=True),)
    assert violations(problem, claims, "node-1", Committed(), [{"r0": (D0, D1)}]) == []
    assert violations(problem, claims, "node-1", Committed(), [{"r0": (D0,)}])


@settings(SETTINGS, max_examples=100)
@given(problems(), st.randoms(use_true_random=False))
def test_a_device_order_changes_which_devices_are_tried_first_never_whether_claims_fit(
    problem: Problem, rng: Random
) -> None:
    scenario = commit_prior(problem)
    plain = allocate_pending(scenario)
    ranks: dict[object, float] = {}

    def order(key: object) -> float:
        return ranks.setdefault(key, rng.random())

    cluster = cluster_of(scenario.documents())
    ordered = cluster.allocate(node=problem.node, gates=problem.gates, device_order=order)
    assert (plain is None) == (ordered is None)
    if ordered is not None:
        found = answer_problems(problem, problem.pending, problem.node, scenario.committed, ordered)
        # Candidate order is upstream's first-fit order, which a device order replaces.
        assert [f for f in found if "candidate order" not in f] == []
