"""dralloc.cel.checker: the result type of an expression, known only where it is certain."""

from __future__ import annotations

import re

import pytest

from dralloc.cel.checker import CelTypeError, NoMatchingOverload, infer_result_type
from dralloc.cel.library import RESULT_TYPES
from dralloc.cel.source import analyze, tokenize


def _type(expression: str) -> str | None:
    tokens = tokenize(expression)
    return infer_result_type(tokens, RESULT_TYPES, analyze(tokens).bound)


@pytest.mark.parametrize(
    ("expression", "type_name"),
    [
        ("true", "bool"),
        ("0x1F", "int"),
        ("-1", "int"),
        ("1e3", "double"),
        ("2u", "uint"),
        ('r"a\\b"', "string"),
        ('b"x"', "bytes"),
        ("null", "null_type"),
        ("[]", "list(dyn)"),
        ("[[1]]", "list(list(int))"),
        ('{"a": [1]}', "map(string, list(int))"),
        ("device", "kubernetes.DRADevice"),
        ("device.driver", "string"),
        ("device.allowMultipleAllocations", "bool"),
        ('device.capacity["d"]["m"]', "kubernetes.Quantity"),
        ('device.capacity["d"].m.add(1)', "kubernetes.Quantity"),
        ('semver("1.0.0")', "kubernetes.Semver"),
        ('"a" + "b"', "string"),
        ("[1] + [2]", "list(int)"),
        ("7 % 2", "int"),
        ("(1)", "int"),
        ("!true", "bool"),
        ("1 < 2.5 || false", "bool"),
        ('device.attributes["d"].model + 1', "int"),
        ("dyn(1) + 1", "int"),
        ('[dyn(1), "a"]', "list(dyn)"),
        ("x in [1]", "bool"),
        ('"abc".split("b")[0]', "string"),
        ('{"a": 1}["a"]', "int"),
        ("lists.range(3).map(i, i * 2)", "list(int)"),
        ('sets.contains(["a"], ["a"])', "bool"),
        ('strings.quote("a")', "string"),
        ("dyn(1)", "dyn"),
        ("[1, 2].max()", "int"),
        ("int", "type(int)"),
        ("cel.bind(x, 1, x)", "int"),
        ('timestamp("2025-01-01T00:00:00Z").getHours()', "int"),
    ],
)
def test_a_certain_type_is_named_as_cel_go_names_it(expression: str, type_name: str) -> None:
    assert _type(expression) == type_name


@pytest.mark.parametrize(
    "expression",
    [
        'device.attributes["d"].model',  # an attribute value: the unknown type
        'device.attributes["d"]["model"]',
        'device.attributes["d"].model + device.attributes["d"].size',
        "dyn(1) + dyn(1)",
        "true ? 1 : [1]",
        "[dyn(1), 2.5].max()",  # a list of mixed elements: dyn
        '"ab".reverse()',  # a string or a list, by the receiver
        "type(1)",
        "optional.of(1)",
        "a.?b",  # not modelled by the parser
        "Msg{a: 1}",
        "1 +",
    ],
)
def test_anything_uncertain_is_unknown_so_never_refused(expression: str) -> None:
    assert _type(expression) is None


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("1 + 1.5", "found no matching overload for '_+_' applied to '(int, double)'"),
        ("1.5 % 2.5", "found no matching overload for '_%_' applied to '(double, double)'"),
        ('"a" - "b"', "found no matching overload for '_-_' applied to '(string, string)'"),
        ("[1].map(x, x * 2u)", "found no matching overload for '_*_' applied to '(int, uint)'"),
        (
            "true ? 1 : 'a'",
            "found no matching overload for '_?_:_' applied to '(bool, int, string)'",
        ),
        (
            "1 ? true : false",
            "found no matching overload for '_?_:_' applied to '(int, bool, bool)'",
        ),
        ("true ? 1 : null", "applied to '(bool, int, null)'"),
        ("!1", "found no matching overload for '!_' applied to '(int)'"),
        ("-1u", "found no matching overload for '-_' applied to '(uint)'"),
        ("1 == 1.0", "found no matching overload for '_==_' applied to '(int, double)'"),
        ('"a" < 1', "found no matching overload for '_<_' applied to '(string, int)'"),
        ('quantity("1") < quantity("2")', "'(kubernetes.Quantity, kubernetes.Quantity)'"),
        ('[1] + ["a"]', "applied to '(list(int), list(string))'"),
    ],
)
def test_an_operator_without_an_overload_for_its_scalar_operands_is_refused(
    expression: str, message: str
) -> None:
    with pytest.raises(NoMatchingOverload, match=re.escape(message)):
        _type(expression)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("1 && true", "expected type 'bool' but found 'int'"),
        ('true || "a"', "expected type 'bool' but found 'string'"),
        ('[1, "a"]', "expected type 'int' but found 'string'"),
        ("[1, 2.5].max()", "expected type 'int' but found 'double'"),
        ('{"a": 1, "b": "c"}', "expected type 'int' but found 'string'"),
    ],
)
def test_other_type_errors_are_refused_in_cel_go_words(expression: str, message: str) -> None:
    with pytest.raises(CelTypeError, match=re.escape(message)):
        _type(expression)
