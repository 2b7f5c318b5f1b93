"""Flavor assignment (spec/queueing.md 2.4, 2.5), re-expressing cases of Kueue's
flavorassigner_test.go: modes, borrowing levels, fungibility, taints and selectors."""

from __future__ import annotations

from typing import Any

import pytest

from dralloc.api.core import PodSpec, Toleration
from dralloc.queueing import FlavorResource, Mode, QueueState, assign_flavors
from dralloc.queueing.flavors import NoPreemption, Possibility, PreemptionOracle
from dralloc.queueing.quota import borrowing_level
from dralloc.queueing.reader import decode_documents
from dralloc.queueing.requests import PodSetRequests


def rf(
    name: str, labels: dict[str, str] | None = None, taints: list[Any] | None = None
) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if labels:
        spec["nodeLabels"] = labels
    if taints:
        spec["nodeTaints"] = taints
    return {
        "apiVersion": "kueue.x-k8s.io/v1beta2",
        "kind": "ResourceFlavor",
        "metadata": {"name": name},
        "spec": spec,
    }


def fq(name: str, **quotas: Any) -> dict[str, Any]:
    resources = []
    for res, value in quotas.items():
        entry: dict[str, Any] = {"name": res.replace("_", "/")}
        if isinstance(value, tuple):
            entry["nominalQuota"] = value[0]
            if value[1] is not None:
                entry["borrowingLimit"] = value[1]
            if len(value) > 2 and value[2] is not None:
                entry["lendingLimit"] = value[2]
        else:
            entry["nominalQuota"] = value
        resources.append(entry)
    return {"name": name, "resources": resources}


def cq(
    name: str,
    *groups: list[dict[str, Any]],
    cohort: str = "",
    fungibility: dict[str, str] | None = None,
) -> dict[str, Any]:
    rgs = [
        {"coveredResources": [r["name"] for r in g[0]["resources"]], "flavors": g} for g in groups
    ]
    spec: dict[str, Any] = {"namespaceSelector": {}, "resourceGroups": rgs}
    if cohort:
        spec["cohortName"] = cohort
    if fungibility:
        spec["flavorFungibility"] = fungibility
    return {
        "apiVersion": "kueue.x-k8s.io/v1beta2",
        "kind": "ClusterQueue",
        "metadata": {"name": name},
        "spec": spec,
    }


def build(*docs: dict[str, Any]) -> QueueState:
    inputs, problems = decode_documents(("t.yaml", i, d) for i, d in enumerate(docs, 1))
    assert problems == []
    return QueueState.build(inputs)


class FixedOracle:
    def __init__(self, possibility: Possibility, borrow: int = 0) -> None:
        self.possibility, self.borrow = possibility, borrow

    def simulate(self, cq: str, fr: FlavorResource, amount: int) -> tuple[Possibility, int]:
        return self.possibility, self.borrow


def assign(
    state: QueueState,
    requests: dict[str, int],
    *,
    cq_name: str = "cq",
    count: int = 1,
    usage: dict[FlavorResource, int] | None = None,
    pod: PodSpec | None = None,
    oracle: PreemptionOracle | None = None,
    extra: list[PodSetRequests] | None = None,
) -> Any:
    snapshot = state.snapshot()
    node = snapshot.node(cq_name)
    if usage:
        snapshot.add_usage(cq_name, usage)
    sets = [PodSetRequests("main", count, requests), *(extra or [])]
    return assign_flavors(
        state.cluster_queues[cq_name].view,
        node,
        state.flavors,
        [pod or PodSpec() for _ in sets],
        sets,
        oracle or NoPreemption(snapshot.cluster_queue_nodes()),
    )


def test_single_flavor_fits() -> None:
    state = build(rf("default"), cq("cq", [fq("default", cpu=1, memory="2Mi")]))
    a = assign(state, {"cpu": 1000, "memory": 1024 * 1024})
    assert a.mode() is Mode.fit
    assert {r: c.flavor for r, c in a.pod_sets[0].flavors.items()} == {
        "cpu": "default",
        "memory": "default",
    }
    assert a.usage == {
        FlavorResource("default", "cpu"): 1000,
        FlavorResource("default", "memory"): 1048576,
    }
    assert a.borrowing == 0


def test_multiple_flavors_fits_while_skipping_tainted_flavor() -> None:
    taint = [{"key": "instance", "value": "spot", "effect": "NoSchedule"}]
    state = build(
        rf("tainted", taints=taint), rf("two"), cq("cq", [fq("tainted", cpu=4), fq("two", cpu=4)])
    )
    a = assign(state, {"cpu": 3000})
    assert a.mode() is Mode.fit
    assert a.pod_sets[0].flavors["cpu"].flavor == "two"
    assert a.pod_sets[0].flavors["cpu"].tried_index == -1
    first = a.pod_sets[0].attempts[0]
    assert (first.flavor, first.matched) == ("tainted", False)
    assert first.reasons == ["untolerated taint {instance spot NoSchedule <nil>} in flavor tainted"]


def test_a_toleration_lets_the_pod_set_take_the_tainted_flavor() -> None:
    taint = [{"key": "instance", "value": "spot", "effect": "NoSchedule"}]
    state = build(rf("tainted", taints=taint), cq("cq", [fq("tainted", cpu=4)]))
    toleration = Toleration(key="instance", operator="Equal", value="spot", effect="NoSchedule")
    pod = PodSpec(tolerations=[toleration])
    assert assign(state, {"cpu": 1000}, pod=pod).mode() is Mode.fit


def test_multiple_flavors_fits_a_node_selector_only_on_the_keys_flavors_use() -> None:
    state = build(
        rf("one", {"type": "one"}),
        rf("two", {"type": "two"}),
        cq("cq", [fq("one", cpu=4), fq("two", cpu=4)]),
    )
    # `unrelated` is no flavor's label key: ignored, as Kueue's flavorSelector does.
    pod = PodSpec(node_selector={"type": "two", "unrelated": "x"})
    a = assign(state, {"cpu": 1000}, pod=pod)
    assert a.pod_sets[0].flavors["cpu"].flavor == "two"
    assert a.pod_sets[0].attempts[0].reasons == ["flavor one doesn't match node affinity"]


def test_single_flavor_used_resources_does_not_fit_and_says_how_much_more() -> None:
    state = build(rf("default"), cq("cq", [fq("default", cpu=4)]))
    a = assign(state, {"cpu": 2000}, usage={FlavorResource("default", "cpu"): 3000})
    # Within nominal, so preemption is simulated; with no candidates the mode is Preempt.
    assert a.mode() is Mode.preempt
    assert a.message() == (
        "couldn't assign flavors to pod set main: insufficient unused quota for cpu in "
        "flavor default, 1 more needed"
    )


def test_resource_not_listed_in_cluster_queue_is_no_fit() -> None:
    state = build(rf("default"), cq("cq", [fq("default", cpu=4)]))
    a = assign(state, {"cpu": 1000, "example.com/gpu": 1})
    assert a.mode() is Mode.no_fit
    assert a.message() == (
        "couldn't assign flavors to pod set main: "
        "resource example.com/gpu unavailable in ClusterQueue"
    )


def test_zero_request_of_a_resource_not_in_the_queue_succeeds() -> None:
    state = build(rf("default"), cq("cq", [fq("default", cpu=4)]))
    assert assign(state, {"cpu": 1000, "example.com/gpu": 0}).mode() is Mode.fit


def test_num_pods_fit_and_do_not_fit_when_the_queue_covers_pods() -> None:
    state = build(rf("default"), cq("cq", [fq("default", cpu=20, pods=3)]))
    assert assign(state, {"cpu": 1000}, count=3).mode() is Mode.fit
    a = assign(state, {"cpu": 1000}, count=4)
    assert a.mode() is Mode.no_fit
    assert "current podset request (4) > maximum capacity (3)" in a.message()


def test_preempt_before_try_next_flavor_when_when_can_preempt_is_may_stop_search() -> None:
    fung = {"whenCanBorrow": "MayStopSearch", "whenCanPreempt": "MayStopSearch"}
    state = build(
        rf("one"),
        rf("two"),
        cq("cq", [fq("one", pods=10, cpu=10), fq("two", pods=10, cpu=10)], fungibility=fung),
    )
    a = assign(
        state,
        {"cpu": 9000},
        usage={FlavorResource("one", "cpu"): 2000},
        oracle=FixedOracle(Possibility.preempt),
    )
    assert a.mode() is Mode.preempt
    choice = a.pod_sets[0].flavors
    assert (choice["cpu"].flavor, choice["cpu"].mode, choice["cpu"].tried_index) == (
        "one",
        Mode.preempt,
        0,
    )
    assert (choice["pods"].flavor, choice["pods"].mode) == ("one", Mode.fit)
    assert a.usage == {FlavorResource("one", "cpu"): 9000, FlavorResource("one", "pods"): 1}


def test_preempt_try_next_flavor_by_default_finds_a_fit_on_the_second() -> None:
    state = build(
        rf("one"), rf("two"), cq("cq", [fq("one", pods=10, cpu=10), fq("two", pods=10, cpu=10)])
    )
    a = assign(
        state,
        {"cpu": 9000},
        usage={FlavorResource("one", "cpu"): 2000},
        oracle=FixedOracle(Possibility.preempt),
    )
    assert a.mode() is Mode.fit
    assert a.pod_sets[0].flavors["cpu"].flavor == "two"


def _borrow_case(fung: dict[str, str]) -> Any:
    state = build(
        rf("one"),
        rf("two"),
        cq(
            "cq",
            [fq("one", pods=10, cpu=(10, 1)), fq("two", pods=10, cpu=1)],
            cohort="co",
            fungibility=fung,
        ),
        cq("other", [fq("one", cpu=1)], cohort="co"),
    )
    return assign(state, {"cpu": 9000}, usage={FlavorResource("one", "cpu"): 2000})


def test_borrow_try_next_flavor_takes_the_first_when_the_second_cannot_hold_it() -> None:
    a = _borrow_case({"whenCanBorrow": "TryNextFlavor", "whenCanPreempt": "TryNextFlavor"})
    assert a.mode() is Mode.fit
    assert a.borrowing == 1
    assert a.pod_sets[0].flavors["cpu"].flavor == "one"
    assert a.pod_sets[0].flavors["cpu"].tried_index == -1
    second = a.pod_sets[0].attempts[1]
    assert second.reasons == [
        "insufficient quota for cpu in flavor two, previously considered podsets requests (0) "
        "+ current podset request (9) > maximum capacity (1)"
    ]


def test_borrow_try_next_flavor_prefers_a_second_flavor_that_fits_without_borrowing() -> None:
    state = build(
        rf("one"),
        rf("two"),
        cq(
            "cq",
            [fq("one", pods=10, cpu=(10, 1)), fq("two", pods=10, cpu=10)],
            cohort="co",
            fungibility={"whenCanBorrow": "TryNextFlavor", "whenCanPreempt": "TryNextFlavor"},
        ),
        cq("other", [fq("one", cpu=1)], cohort="co"),
    )
    a = assign(state, {"cpu": 9000}, usage={FlavorResource("one", "cpu"): 2000})
    assert (a.mode(), a.borrowing, a.pod_sets[0].flavors["cpu"].flavor) == (Mode.fit, 0, "two")


def test_borrow_before_try_next_flavor_under_may_stop_search() -> None:
    a = _borrow_case({"whenCanBorrow": "MayStopSearch", "whenCanPreempt": "TryNextFlavor"})
    assert (a.mode(), a.borrowing, a.pod_sets[0].flavors["cpu"].flavor) == (Mode.fit, 1, "one")
    assert a.pod_sets[0].flavors["cpu"].tried_index == 0


def test_not_enough_space_to_borrow_is_no_fit_without_preemption_simulation() -> None:
    state = build(
        rf("one"),
        cq("cq", [fq("one", cpu=1)], cohort="co"),
        cq("other", [fq("one", cpu=10)], cohort="co"),
    )
    # Past nominal and no subtree smaller than the root covers it: NoFit, WaitingForQuota.
    a = assign(state, {"cpu": 2000}, usage={FlavorResource("one", "cpu"): 0}, cq_name="cq")
    assert a.mode() is Mode.fit  # borrows 1 from `other`
    snapshot_usage = {FlavorResource("one", "cpu"): 10000}
    b = assign(state, {"cpu": 2000}, usage=snapshot_usage)
    assert b.mode() is Mode.no_fit
    assert "insufficient unused quota for cpu in flavor one, 1 more needed" in b.message()


def test_each_pod_set_adds_to_what_earlier_pod_sets_took_of_the_same_flavor() -> None:
    state = build(rf("one"), rf("two"), cq("cq", [fq("one", cpu=4), fq("two", cpu=10)]))
    a = assign(state, {"cpu": 3000}, extra=[PodSetRequests("workers", 1, {"cpu": 3000})])
    assert a.mode() is Mode.fit
    assert [ps.flavors["cpu"].flavor for ps in a.pod_sets] == ["one", "two"]


@pytest.mark.parametrize(
    ("preference", "expected"),
    [("BorrowingOverPreemption", "two"), ("PreemptionOverBorrowing", "one")],
)
def test_preference_decides_between_preempting_and_borrowing(
    preference: str, expected: str
) -> None:
    fung = {
        "whenCanBorrow": "TryNextFlavor",
        "whenCanPreempt": "TryNextFlavor",
        "preference": preference,
    }
    state = build(
        rf("one"),
        rf("two"),
        cq("cq", [fq("one", cpu=4), fq("two", cpu=1)], cohort="co", fungibility=fung),
        cq("other", [fq("two", cpu=10)], cohort="co"),
    )
    # one: within nominal but used (preemption, no borrowing); two: fits by borrowing.
    a = assign(
        state,
        {"cpu": 3000},
        usage={FlavorResource("one", "cpu"): 2000},
        oracle=FixedOracle(Possibility.preempt),
    )
    assert a.pod_sets[0].flavors["cpu"].flavor == expected


def test_borrowing_level_is_the_height_of_the_smallest_subtree_that_covers_the_demand() -> None:
    docs = [
        rf("f"),
        {
            "apiVersion": "kueue.x-k8s.io/v1beta2",
            "kind": "Cohort",
            "metadata": {"name": "root"},
            "spec": {},
        },
        {
            "apiVersion": "kueue.x-k8s.io/v1beta2",
            "kind": "Cohort",
            "metadata": {"name": "left"},
            "spec": {"parentName": "root"},
        },
        cq("a", [fq("f", cpu=2)], cohort="left"),
        cq("b", [fq("f", cpu=2)], cohort="left"),
        cq("c", [fq("f", cpu=4)], cohort="root"),
    ]
    state = build(*docs)
    node = state.cluster_queues["a"].node
    fr = FlavorResource("f", "cpu")
    assert borrowing_level(node, fr, 2000) == (0, True)
    assert borrowing_level(node, fr, 4000) == (1, True)  # `left` holds it
    assert borrowing_level(node, fr, 7000) == (2, False)  # only the root does
