"""cel-go's semantics the library lacks: errors absorbed in `exists()`/`all()` and `size()` of
a string in code points. Every expected value below is what Kubernetes 1.36.3 answers: the
expressions were evaluated by k8s.io/dynamic-resource-allocation@v0.36.3 cel
`CompileCELExpression(...).DeviceMatches` on the device `DEVICE` describes (cel-go v0.26.0:
parser/macro.go `makeQuantifier` folds `__result__ || p` / `__result__ && p`, whose operators
absorb an error when the other side decides; `size` of a string counts code points,
cel-spec "size")."""

from __future__ import annotations

import pytest
from cel_testing import ALL_ON, DRIVER, Evaluate, make_device

from dralloc.cel import CelDevice, CelEnvironment, CelRuntimeError
from dralloc.cel.absorption import AbsorbingEvaluation
from dralloc.cel.binding import cel
from dralloc.cel.library import FUNCTIONS, SIZE_IN_CODE_POINTS

DEVICE = make_device(attributes={"a": 0, "b": 1, "s": "é"})
ATTRS = f'device.attributes["{DRIVER}"]'


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("[0, 1].exists(x, 1/x == 1)", True),
        ("[0, 1].all(x, 1/x == 2)", False),
        (
            f'{ATTRS}.exists(k, k != "s" && 1 / {ATTRS}[k] == 1)',
            True,
        ),
        ("[[0], [1]].exists(l, l.all(x, 1/x == 1))", True),
        ("[0, 1].exists(x, 1/x == 1) && [1, 0].all(x, 1/x == 5)", False),
        ("[1, 2].exists(x, x == 1 || 1/0 == 1)", True),
        (
            f'cel.bind(d, {ATTRS}, d.exists(k, k != "s" && [0, 1].exists(y, 1/y == d[k])))',
            True,
        ),
    ],
)
def test_an_element_that_decides_absorbs_another_elements_error(
    evaluate: Evaluate, expression: str, expected: bool
) -> None:
    assert evaluate(expression, DEVICE) is expected


@pytest.mark.parametrize(
    "expression",
    [
        "[0, 1].all(x, 1/x == 1)",  # no element decides: the error stays
        "[0, 2].exists(x, 1/x == 1)",
        "[0, 1].exists_one(x, 1/x == 1)",  # exists_one, map and filter absorb nothing
        "[0, 1].map(x, [x].exists(y, 1/y == 1)).exists(z, z)",
    ],
)
def test_an_error_no_element_absorbs_is_the_result(evaluate: Evaluate, expression: str) -> None:
    with pytest.raises(CelRuntimeError, match=r"^division by zero$"):
        evaluate(expression, DEVICE)


def test_the_second_evaluation_runs_only_for_exists_and_all() -> None:
    """Selectors without them keep the library's program alone (nothing to absorb)."""
    assert AbsorbingEvaluation.of("[1].map(x, x)[0] == 1") is None
    rewritten = "[[1]].map(d, d.exists(x, d.all(y, y == x)))[0]"
    fallback = AbsorbingEvaluation.of(rewritten)
    assert fallback is not None
    # The variables in scope travel with each call; the inner predicate is compiled first.
    assert fallback.text == ('[[1]].map(d, d.dralloc_exists({"device": device, "d": d}, 1))[0]')


def test_the_second_evaluation_agrees_with_the_first_where_nothing_fails(
    evaluate: Evaluate,
) -> None:
    env = CelEnvironment(ALL_ON)
    device = CelDevice.build(DRIVER, DEVICE, ALL_ON)
    for expression in (
        "[1, 2].exists(x, x == 2)",
        "[1, 2].all(x, x > 1)",
        f'device.attributes["{DRIVER}"].all(k, k.size() == 1)',
        f'device.attributes["{DRIVER}"].exists(k, k == "z")',
    ):
        fallback = AbsorbingEvaluation.of(env.compile(expression)._program.source)
        assert fallback is not None
        assert fallback.evaluate(device.context()) is evaluate(expression, DEVICE), expression


@pytest.mark.parametrize(
    "expression",
    [
        'size("é") == 1',
        '"é".size() == 1',
        f'size(device.attributes["{DRIVER}"].s) == 1',
        f'device.attributes["{DRIVER}"].s.size() == 1',
        'size(b"\\xc3\\xa9") == 2',
        'cel.bind(x, "éé", x.size() == 2)',
        '[["é"]].all(l, l.size() == 1 && l[0].size() == 1)',
        f'device.attributes["{DRIVER}"].size() == 3',
    ],
)
def test_size_of_a_string_counts_code_points(evaluate: Evaluate, expression: str) -> None:
    assert evaluate(expression, DEVICE)


def test_size_of_a_list_or_map_known_to_the_checker_stays_the_librarys() -> None:
    """The library's `size` is kept where the checker knows the argument is a list, a map or
    bytes (it counts those as cel-go does, without a conversion to Python); everything
    else goes through the code-point count."""
    env = CelEnvironment(ALL_ON)
    kept = {
        "size([1, 2]) == 2": "size([1, 2]) == 2",
        'device.attributes["x"].size() == 0': "size",
        '"a".size() == 1': "dralloc_size",
        'device.attributes["x"].y.size() == 0': "dralloc_size",
    }
    for expression, call in kept.items():
        assert call in env.compile(expression)._program.source, expression
    # Where both apply (lists, maps, bytes, ASCII strings) the two counts are equal.
    for value in (["é", 2], {"é": 1}, [], b"\xc3\xa9", "abc"):
        native = cel.compile("size(v)").execute(cel.Context(variables={"v": value}))
        assert FUNCTIONS[SIZE_IN_CODE_POINTS](value) == native, value
