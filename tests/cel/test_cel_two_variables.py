"""cel-go's two-variable comprehensions, part of Kubernetes' base CEL environment from 1.32
(k8s.io/apiserver cel/environment/base.go: `ext.TwoVarComprehensions()`), so of every DRA
selector at 1.36. Each expected value is what k8s.io/dynamic-resource-allocation@v0.36.3 cel
`CompileCELExpression(...).DeviceMatches` answers on `DEVICE` (cel-go v0.26.0,
ext/comprehensions.go; several cases are that file's own examples)."""

from __future__ import annotations

import pytest
from cel_testing import DRIVER, Evaluate, make_device

from dralloc.cel import CelCompileError, CelEnvironment, CelRuntimeError
from dralloc.features import Features

DEVICE = make_device(attributes={"a": 0, "b": 1, "s": "é"})


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("[1, 2, 3].all(i, v, i < v)", True),
        ("[1, 2, 3].exists(i, v, i == 2 && v == 3)", True),
        ("[1, 2, 1, 3, 1, 4].existsOne(i, v, i == 1 || v == 1)", False),
        ("[1, 1, 2, 2, 3, 3].existsOne(i, v, i == 2 && v == 2)", True),
        ('{"i": 0, "j": 1, "k": 2}.existsOne(i, v, i == "l" || v == 1)', True),
        ("[1, 1, 2, 2, 3, 3].exists_one(i, v, i == 2 && v == 2)", True),
        ("[1, 2, 3].transformList(i, v, i * v) == [0, 2, 6]", True),
        ("[1, 2, 3].transformList(i, v, i % 2 == 0, v * 10) == [10, 30]", True),
        ('{"greeting": "hello"}.transformMap(k, v, v + "!") == {"greeting": "hello!"}', True),
        ("[1, 2, 3].transformMap(i, v, i % 2 == 0, v * 2) == {0: 2, 2: 6}", True),
        ('{"greeting": "hello"}.transformMapEntry(k, v, {v: k}) == {"hello": "greeting"}', True),
        ("[1, 2, 3].transformMapEntry(i, v, {v: i}) == {1: 0, 2: 1, 3: 2}", True),
        (f'device.attributes["{DRIVER}"].all(k, v, k != "s" ? v >= 0 : true)', True),
        ('device.attributes.exists(d, attrs, attrs.exists(k, v, k == "a" && v == 0))', True),
        ("[0, 1].exists(i, v, 1 / v == 1)", True),  # the error of v == 0 is absorbed
        ("[1, 2].transformList(k, _, k) == [0, 1]", True),
        ("cel.bind(l, [3, 4], l.transformList(i, v, l[i] == v).all(b, b))", True),
        ("[[1, 2], [3]].all(i, l, l.all(j, v, v > i))", True),
    ],
)
def test_two_variable_comprehensions_answer_as_upstream(
    evaluate: Evaluate, expression: str, expected: bool
) -> None:
    assert evaluate(expression, DEVICE) is expected


def test_a_key_given_twice_to_transform_map_entry_is_an_error(evaluate: Evaluate) -> None:
    with pytest.raises(CelRuntimeError, match=r"^insert failed: key x already exists$"):
        evaluate('{"a": "x", "b": "x"}.transformMapEntry(k, v, {v: k}).size() == 1', DEVICE)


def test_one_name_for_both_variables_is_a_compile_error() -> None:
    env = CelEnvironment(Features(), stored=False)
    assert env.check("[1, 2].all(x, x, true)") == ["duplicate variable name: x"]


def test_the_internal_functions_of_the_rewrite_cannot_be_called() -> None:
    env = CelEnvironment(Features())
    with pytest.raises(CelCompileError, match="undeclared reference to 'dralloc_entries'"):
        env.compile("[1].dralloc_entries().size() == 1")
