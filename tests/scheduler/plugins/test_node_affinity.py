"""NodeAffinity: nodeSelector, required and preferred node affinity, addedAffinity (spec 4.7)."""

from __future__ import annotations

from typing import Any

import pytest
from schedkit import name_pin, node, pod, required, requirement, term

from dralloc.api.core import NodeAffinity as NodeAffinitySpec
from dralloc.api.core import NodeSelector
from dralloc.errors import InputError
from dralloc.scheduler.framework import SUCCESS, Code, CycleState, NodeInfo, PodInfo, Status
from dralloc.scheduler.plugins.nodeaffinity import (
    NodeAffinity,
    NodeAffinityArgs,
    PreferredSchedulingTerm,
)

POD_REASON = "node(s) didn't match Pod's node affinity/selector"
ENFORCED_REASON = "node(s) didn't match scheduler-enforced node affinity"
GPU_NODE = node("gpu-1", labels={"gpu": "a100", "zone": "z1", "gpus": "8"})
SKIP = Status.skip()
NOT_RUN = None


def _added(
    required_terms: list[Any] | None = None, preferred: list[Any] | None = None
) -> NodeAffinityArgs:
    raw: dict[str, Any] = {}
    if required_terms is not None:
        raw["requiredDuringSchedulingIgnoredDuringExecution"] = {
            "nodeSelectorTerms": required_terms
        }
    if preferred is not None:
        raw["preferredDuringSchedulingIgnoredDuringExecution"] = preferred
    return NodeAffinityArgs.from_dict({"addedAffinity": raw})


GPU_TERM = {"matchExpressions": [{"key": "gpu", "operator": "Exists"}]}
CPU_TERM = {"matchExpressions": [{"key": "gpu", "operator": "DoesNotExist"}]}


@pytest.mark.parametrize(
    ("args", "the_pod", "pre_filter", "filter_status"),
    [
        pytest.param(None, pod(), (None, SKIP), NOT_RUN, id="nothing-to-do"),
        pytest.param(
            None, pod(node_selector={"gpu": "a100"}), (None, SUCCESS), SUCCESS, id="selector"
        ),
        pytest.param(
            None,
            pod(node_selector={"gpu": "a100", "zone": "z2"}),
            (None, SUCCESS),
            Status.unresolvable(POD_REASON),
            id="selector-one-pair-differs",
        ),
        pytest.param(
            None,
            pod(affinity=required(name_pin("gpu-1"))),
            (frozenset({"gpu-1"}), SUCCESS),
            SUCCESS,
            id="name-pin",
        ),
        pytest.param(
            None,
            pod(affinity=required(name_pin("a"), name_pin("gpu-1"))),
            (frozenset({"a", "gpu-1"}), SUCCESS),
            SUCCESS,
            id="name-pins-union",
        ),
        pytest.param(
            None,
            pod(
                affinity=required(
                    term(
                        fields=[
                            requirement("metadata.name", "In", "a", "b"),
                            requirement("metadata.name", "In", "b", "c"),
                        ]
                    )
                )
            ),
            # Two values make the field requirement invalid, so the term matches nothing.
            (frozenset({"b"}), SUCCESS),
            Status.unresolvable(POD_REASON),
            id="name-pins-intersect-in-a-term",
        ),
        pytest.param(
            None,
            pod(affinity=required(name_pin("a"), term(requirement("gpu", "Exists")))),
            (None, SUCCESS),
            SUCCESS,
            id="a-term-without-pin-admits-all",
        ),
        pytest.param(
            None,
            pod(
                affinity=required(
                    term(
                        fields=[
                            requirement("metadata.name", "In", "a"),
                            requirement("metadata.name", "In", "b"),
                        ]
                    )
                )
            ),
            (None, Status.unresolvable("pod affinity terms conflict")),
            NOT_RUN,
            id="conflicting-pins",
        ),
        pytest.param(
            None,
            pod(affinity=required()),
            (None, SUCCESS),
            Status.unresolvable(POD_REASON),
            id="no-terms",
        ),
        pytest.param(
            None,
            pod(affinity=required(term())),
            (None, SUCCESS),
            Status.unresolvable(POD_REASON),
            id="empty-term",
        ),
        pytest.param(
            _added([GPU_TERM]), pod(), (None, SUCCESS), SUCCESS, id="added-affinity-matches"
        ),
        pytest.param(
            _added([CPU_TERM]),
            pod(),
            (None, SUCCESS),
            Status.unresolvable(ENFORCED_REASON),
            id="added-affinity-rejects",
        ),
        pytest.param(
            _added(preferred=[{"weight": 1, "preference": GPU_TERM}]),
            pod(),
            (None, SKIP),
            NOT_RUN,
            id="added-preferred-only",
        ),
    ],
)
def test_pre_filter_and_filter_statuses(
    args: NodeAffinityArgs | None,
    the_pod: PodInfo,
    pre_filter: tuple[frozenset[str] | None, Status],
    filter_status: Status | None,
) -> None:
    plugin = NodeAffinity(args)
    state = CycleState()
    result, status = plugin.pre_filter(state, the_pod, [GPU_NODE])
    assert (result.node_names if result else None, status) == pre_filter
    if filter_status is not None:
        assert plugin.filter(state, the_pod, GPU_NODE) == filter_status


def _matches(*terms: Any, labels: dict[str, str] | None = None, name: str = "n") -> bool:
    plugin = NodeAffinity()
    the_pod = pod(affinity=required(*terms))
    return plugin.filter(CycleState(), the_pod, node(name, labels=labels)).is_success


@pytest.mark.parametrize(
    ("operator", "values", "label", "expected"),
    [
        ("In", ["a", "b"], "b", True),
        ("In", ["a", "b"], "c", False),
        ("In", ["a"], None, False),
        ("NotIn", ["a"], "b", True),
        ("NotIn", ["a"], None, True),
        ("NotIn", ["a"], "a", False),
        ("Exists", [], "", True),
        ("Exists", [], None, False),
        ("DoesNotExist", [], None, True),
        ("DoesNotExist", [], "x", False),
        ("Gt", ["4"], "8", True),
        ("Gt", ["8"], "8", False),
        ("Lt", ["8"], "4", True),
        ("Lt", ["8"], "+4", True),
        ("Gt", ["4"], "eight", False),
        ("Gt", ["4"], None, False),
        # Invalid requirements make the term match nothing (upstream's lazy parse errors).
        ("In", [], "a", False),
        ("NotIn", [], "a", False),
        ("Exists", ["a"], "a", False),
        ("Gt", ["4", "5"], "8", False),
        ("Gt", ["four"], "8", False),
        ("Lt", ["-5"], "-9", False),  # "-5" is not a valid label value
        ("Like", ["a"], "a", False),
    ],
)
def test_match_expression_operators(
    operator: str, values: list[str], label: str | None, expected: bool
) -> None:
    labels = {} if label is None else {"k": label}
    assert _matches(term(requirement("k", operator, *values)), labels=labels) is expected


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ([requirement("metadata.name", "In", "n")], True),
        ([requirement("metadata.name", "In", "m")], False),
        ([requirement("metadata.name", "NotIn", "m")], True),
        ([requirement("metadata.name", "NotIn", "n")], False),
        ([requirement("metadata.name", "In", "n", "m")], False),  # exactly one value allowed
        ([requirement("metadata.name", "Exists")], False),
        ([requirement("metadata.labels", "In", "n")], False),
    ],
)
def test_match_fields_support_only_metadata_name_with_in_and_not_in(
    fields: list[Any], expected: bool
) -> None:
    assert _matches(term(fields=fields), name="n") is expected


def test_terms_are_ored_and_expressions_anded() -> None:
    both = term(requirement("a", "Exists"), requirement("b", "Exists"))
    assert _matches(both, labels={"a": "1", "b": "2"})
    assert not _matches(both, labels={"a": "1"})
    assert _matches(
        term(requirement("a", "Exists")), term(requirement("b", "Exists")), labels={"b": ""}
    )
    # An invalid term or an empty term does not stop another term from matching.
    invalid = term(requirement("a", "In"))
    assert _matches(invalid, term(), term(requirement("b", "Exists")), labels={"a": "", "b": ""})


def test_node_selector_and_required_affinity_must_both_hold() -> None:
    plugin = NodeAffinity()
    the_pod = pod(
        node_selector={"zone": "z1"}, affinity=required(term(requirement("gpu", "In", "h100")))
    )
    assert plugin.filter(CycleState(), the_pod, GPU_NODE) == Status.unresolvable(POD_REASON)


def _preferred(weight: int, *expressions: Any) -> dict[str, Any]:
    return {
        "weight": weight,
        "preference": {
            "matchExpressions": [
                {"key": e.key, "operator": e.operator, "values": e.values} for e in expressions
            ]
        },
    }


def _score_all(
    plugin: NodeAffinity, the_pod: PodInfo, nodes: list[NodeInfo]
) -> tuple[Status, dict[str, int]]:
    state = CycleState()
    status = plugin.pre_score(state, the_pod, nodes)
    if not status.is_success:
        return status, {}
    scores = {}
    for info in nodes:
        value, score_status = plugin.score(state, the_pod, info)
        assert score_status == SUCCESS
        scores[info.name] = value
    assert plugin.normalize_scores(state, the_pod, scores) == SUCCESS
    return status, scores


NODES = [
    node("a100", labels={"gpu": "a100", "zone": "z1"}),
    node("t4", labels={"gpu": "t4", "zone": "z2"}),
    node("cpu", labels={"zone": "z1"}),
]


def test_score_sums_weights_of_matching_preferred_terms_then_scales_to_the_maximum() -> None:
    affinity = NodeAffinitySpec(
        preferred_during_scheduling_ignored_during_execution=[
            _preferred(30, requirement("gpu", "Exists")),
            _preferred(10, requirement("zone", "In", "z1")),
            PreferredSchedulingTerm(weight=20, preference=term(requirement("gpu", "In", "a100"))),
            _preferred(0, requirement("zone", "In", "z2")),  # weight 0 is ignored
        ]
    )
    status, scores = _score_all(NodeAffinity(), pod(affinity=affinity), NODES)
    assert status == SUCCESS
    # raw: a100 = 30+10+20 = 60, t4 = 30, cpu = 10; 100*s//60
    assert scores == {"a100": 100, "t4": 50, "cpu": 16}


def test_added_preferred_terms_add_to_every_pods_score() -> None:
    plugin = NodeAffinity(_added(preferred=[_preferred(5, requirement("zone", "In", "z2"))]))
    affinity = NodeAffinitySpec(
        preferred_during_scheduling_ignored_during_execution=[
            _preferred(15, requirement("gpu", "Exists"))
        ]
    )
    _, scores = _score_all(plugin, pod(affinity=affinity), NODES)
    # raw: a100 = 15, t4 = 15+5 = 20, cpu = 0
    assert scores == {"a100": 75, "t4": 100, "cpu": 0}
    _, scores = _score_all(plugin, pod(), NODES)
    assert scores == {"a100": 0, "t4": 100, "cpu": 0}


def test_pre_score_skips_without_preferred_terms_and_errors_on_invalid_ones() -> None:
    assert _score_all(NodeAffinity(), pod(), NODES)[0] == SKIP
    bad = NodeAffinitySpec(
        preferred_during_scheduling_ignored_during_execution=[
            _preferred(1, requirement("gpu", "Gt", "x")),
            {"weight": "heavy"},
        ]
    )
    status, _ = _score_all(NodeAffinity(), pod(affinity=bad), NODES)
    path = "spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution"
    assert status == Status.error(
        f'{path}[0].preference.matchExpressions[0].values[0]: must be an integer, got "x"; '
        f"{path}[1].weight: Expected `int`, got `str`"
    )


def test_filter_without_pre_filter_computes_the_required_affinity_itself() -> None:
    the_pod = pod(node_selector={"gpu": "t4"})
    assert (
        NodeAffinity().filter(CycleState(), the_pod, GPU_NODE).code
        == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
    )


def test_args_default_to_no_added_affinity() -> None:
    assert NodeAffinityArgs.from_dict(None) == NodeAffinityArgs()
    assert NodeAffinityArgs.from_dict({}) == NodeAffinityArgs()


@pytest.mark.parametrize(
    ("raw", "problems"),
    [
        ({"addedAfinity": {}}, ["NodeAffinityArgs.addedAfinity: unknown field"]),
        (
            {
                "addedAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {
                                "matchExpressions": [
                                    {"key": "gpu", "operator": "Like"},
                                    {"key": "", "operator": "Exists"},
                                ]
                            },
                            {
                                "matchFields": [
                                    {"key": "metadata.uid", "operator": "In", "values": ["x"]}
                                ]
                            },
                        ]
                    }
                }
            },
            [
                "NodeAffinityArgs.addedAffinity.requiredDuringSchedulingIgnoredDuringExecution"
                ".nodeSelectorTerms[0].matchExpressions[0].operator: must be one of In, NotIn, "
                'Exists, DoesNotExist, Gt, Lt, got "Like"',
                "NodeAffinityArgs.addedAffinity.requiredDuringSchedulingIgnoredDuringExecution"
                '.nodeSelectorTerms[0].matchExpressions[1].key: name part of "" must be at most '
                "63 alphanumeric characters, '-', '_' or '.', starting and ending with an "
                "alphanumeric character",
                "NodeAffinityArgs.addedAffinity.requiredDuringSchedulingIgnoredDuringExecution"
                ".nodeSelectorTerms[1].matchFields[0].key: "
                'must be metadata.name, got "metadata.uid"',
            ],
        ),
        (
            {
                "addedAffinity": {
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {
                            "weight": 1,
                            "preference": {"matchExpressions": [{"key": "a", "operator": "In"}]},
                        }
                    ]
                }
            },
            [
                "NodeAffinityArgs.addedAffinity.preferredDuringSchedulingIgnoredDuringExecution[0]"
                ".preference.matchExpressions[0].values: "
                "must not be empty for operators In and NotIn"
            ],
        ),
        (
            {"addedAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": []}},
            [
                "NodeAffinityArgs.addedAffinity.requiredDuringSchedulingIgnoredDuringExecution: "
                "Expected `object | null`, got `array`"
            ],
        ),
    ],
)
def test_invalid_args_name_every_problem_with_its_path(
    raw: dict[str, Any], problems: list[str]
) -> None:
    with pytest.raises(InputError) as caught:
        NodeAffinityArgs.from_dict(raw)
    assert [str(p) for p in caught.value.problems] == problems


def test_args_built_in_code_are_validated_too() -> None:
    bad = NodeAffinitySpec(
        required_during_scheduling_ignored_during_execution=NodeSelector(
            node_selector_terms=[term(requirement("gpu", "Gt"))]
        )
    )
    with pytest.raises(
        InputError, match="must have exactly one value for operators Gt and Lt, got 0"
    ):
        NodeAffinity(NodeAffinityArgs(bad))


def test_a_config_path_prefixes_problems() -> None:
    with pytest.raises(InputError) as caught:
        NodeAffinityArgs.from_dict({"x": 1}, "profiles[0].pluginConfig[3].args")
    assert str(caught.value) == "profiles[0].pluginConfig[3].args.x: unknown field"
