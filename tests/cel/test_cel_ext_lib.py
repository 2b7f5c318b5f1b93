"""Strings extension, Kubernetes list library, lists extension, sets, regex and bool()."""

from __future__ import annotations

import pytest
from cel_testing import Evaluate

from dralloc.cel import CelRuntimeError
from dralloc.cel.ext_lib import cel_equal


@pytest.mark.parametrize(
    "expression",
    [
        '"HeLLo".lowerAscii() == "hello"',
        '"HeLLo".upperAscii() == "HELLO"',
        '"abc".charAt(1) == "b" && "abc".charAt(3) == ""',
        '"hello".indexOf("l") == 2 && "hello".indexOf("l", 3) == 3 && "a".indexOf("z") == -1',
        '"hello".lastIndexOf("l") == 3 && "hello".lastIndexOf("l", 2) == 2',
        '"a-b-c".replace("-", "+") == "a+b+c" && "a-b-c".replace("-", "+", 1) == "a+b-c"',
        '"a,b,c".split(",") == ["a", "b", "c"] && "a,b,c".split(",", 2) == ["a", "b,c"]',
        '"hello".substring(1) == "ello" && "hello".substring(1, 3) == "el"',
        '"  x ".trim() == "x"',
        '["a", "b"].join() == "ab" && ["a", "b"].join("-") == "a-b"',
        '"abc".reverse() == "cba"',
        'strings.quote("a\\"b") == "\\"a\\\\\\"b\\""',
        '"abc".contains("b") && "abc".startsWith("a") && "abc".endsWith("c")',
        '"abc".matches("^a.c$") && matches("abc", "b") && !matches("abc", "^b")',
    ],
)
def test_strings_extension(evaluate: Evaluate, expression: str) -> None:
    assert evaluate(expression)


def test_string_function_on_a_non_string_is_no_such_overload(evaluate: Evaluate) -> None:
    with pytest.raises(CelRuntimeError, match=r"^no such overload$"):
        evaluate("[1].lowerAscii() == []")


def test_substring_out_of_range_is_a_runtime_error(evaluate: Evaluate) -> None:
    with pytest.raises(CelRuntimeError, match=r"^substring: .*out of range"):
        evaluate('"abc".substring(2, 9) == ""')


@pytest.mark.parametrize(
    "expression",
    [
        "[1, 2, 3].isSorted() && ![2, 1].isSorted() && [].isSorted()",
        '["a", "b"].isSorted()',
        "[1, 2, 3].sum() == 6 && [].sum() == 0 && [0.5, 0.25].sum() == 0.75",
        "[3, 1, 2].min() == 1 && [3, 1, 2].max() == 3",
        '["b", "a"].min() == "a"',
        "[1, 2, 1].indexOf(1) == 0 && [1, 2, 1].lastIndexOf(1) == 2",
        "[1, 2].indexOf(3) == -1 && [1, 2].lastIndexOf(3) == -1",
        "[dyn(true), 1].indexOf(1) == 1",
    ],
)
def test_kubernetes_list_library(evaluate: Evaluate, expression: str) -> None:
    assert evaluate(expression)


def test_min_of_an_empty_list_is_a_runtime_error(evaluate: Evaluate) -> None:
    with pytest.raises(CelRuntimeError, match=r"^min called on empty list$"):
        evaluate("[].min() == 0")
    with pytest.raises(CelRuntimeError, match=r"^max called on empty list$"):
        evaluate("[].max() == 0")


def test_sum_beyond_int64_is_an_overflow(evaluate: Evaluate) -> None:
    with pytest.raises(CelRuntimeError, match=r"^integer overflow$"):
        evaluate("[9223372036854775807, 1].sum() == 0")


@pytest.mark.parametrize(
    "expression",
    [
        "[1, 2, 3, 4].slice(1, 3) == [2, 3]",
        "[[1], [2, [3]]].flatten() == [1, 2, [3]] && [[1], [2, [3]]].flatten(2) == [1, 2, 3]",
        "[1, 2, 1, dyn(true)].distinct() == [1, 2, dyn(true)]",
        "[1, 2].reverse() == [2, 1]",
        "[3, 1, 2].sort() == [1, 2, 3]",
        "lists.range(3) == [0, 1, 2]",
    ],
)
def test_lists_extension(evaluate: Evaluate, expression: str) -> None:
    assert evaluate(expression)


def test_lists_range_beyond_the_cost_limit_is_refused(evaluate: Evaluate) -> None:
    with pytest.raises(CelRuntimeError, match=r"cost limit exceeded"):
        evaluate("lists.range(2000000).size() > 0")


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("sets.contains([1, 2, 3], [3, 1])", True),
        ("sets.contains([1, 2], [4])", False),
        ("sets.contains([1], [])", True),
        ("sets.contains([1], [true])", False),
        ("sets.contains([1], [1.0])", True),
        ("sets.equivalent([1, 2, 2], [2, 1])", True),
        ("sets.equivalent([1], [1, 2])", False),
        ("sets.intersects([1, 2], [2, 3])", True),
        ("sets.intersects([1], [])", False),
    ],
)
def test_sets_extension(evaluate: Evaluate, expression: str, expected: bool) -> None:
    assert evaluate(expression) is expected


def test_regex_find_and_find_all(evaluate: Evaluate) -> None:
    assert evaluate('"abc 123".find("[0-9]+") == "123" && "abc".find("[0-9]") == ""')
    assert evaluate('"a1b2c3".findAll("[0-9]") == ["1", "2", "3"]')
    assert evaluate('"a1b2c3".findAll("[0-9]", 2) == ["1", "2"]')


def test_bool_conversion(evaluate: Evaluate) -> None:
    assert evaluate('bool("true") && !bool("false") && bool(true)')
    with pytest.raises(CelRuntimeError, match=r"cannot convert"):
        evaluate('bool("yes")')


def test_cel_equality_keeps_bools_and_numbers_apart() -> None:
    assert not cel_equal(True, 1)
    assert cel_equal(1, 1.0)
    assert cel_equal([1, {"a": 2}], [1.0, {"a": 2}])
    assert not cel_equal([1], {"a": 1})
    assert not cel_equal("1", 1)
