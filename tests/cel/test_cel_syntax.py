"""dralloc.cel.syntax: the one parser whose tree the type inference and the cost estimate walk."""

from __future__ import annotations

import pytest

from dralloc.cel.checker import CelTypeError, infer_result_type
from dralloc.cel.cost import estimate_cost
from dralloc.cel.library import RESULT_TYPES
from dralloc.cel.source import analyze, tokenize
from dralloc.cel.syntax import (
    Arithmetic,
    Bind,
    Call,
    Comprehension,
    Conditional,
    Expr,
    Ident,
    Index,
    ListLiteral,
    Literal,
    Logical,
    MapLiteral,
    Relations,
    Select,
    Unary,
    namespace_of,
    parse,
)


def _tree(expression: str) -> Expr | None:
    return parse(tokenize(expression))


def _int(text: str) -> Literal:
    return Literal("int", text)


def test_operators_bind_by_precedence_and_one_level_is_one_flat_chain() -> None:
    a, b, c, d = (Ident(name) for name in "abcd")
    assert _tree("a || b && c || d") == Logical("||", (a, Logical("&&", (b, c)), d))
    assert _tree("1 + 2 * 3 - 4") == Arithmetic(
        _int("1"), (("+", Arithmetic(_int("2"), (("*", _int("3")),))), ("-", _int("4")))
    )
    assert _tree("a < b == c in d") == Relations(a, (("<", b), ("==", c), ("in", d)))
    assert _tree("a ? b : c ? d : a") == Conditional(a, b, Conditional(c, d, a))
    assert _tree("(a || b) && c") == Logical("&&", (Logical("||", (a, b)), c))


def test_members_indexes_and_calls_keep_their_order_and_name_positions() -> None:
    device = Ident("device")
    assert _tree('device.attributes["dom"].model') == Select(
        Index(Select(device, "attributes"), Literal("string", '"dom"')), "model"
    )
    tree = _tree("sets.contains([1], [1]) && size(device.driver) > 0")
    assert isinstance(tree, Logical)
    contains, relation = tree.operands
    assert isinstance(contains, Call) and namespace_of(contains.target) == "sets"
    assert contains.arguments == (ListLiteral((_int("1"),)), ListLiteral((_int("1"),)))
    assert isinstance(relation, Relations)
    assert relation.first == Call("size", None, (Select(device, "driver"),), 13)
    assert _tree("device.driver.lowerAscii()") == Call(
        "lowerAscii", Select(device, "driver"), (), 4
    )


def test_macros_and_bind_name_their_variables() -> None:
    items, x, i, v = Ident("items"), Ident("x"), Ident("i"), Ident("v")
    assert _tree("items.all(x, x > 0)") == Comprehension(
        "all", items, ("x",), (Relations(x, ((">", _int("0")),)),)
    )
    assert _tree("items.exists(i, v, v > i)") == Comprehension(
        "exists", items, ("i", "v"), (Relations(v, ((">", i),)),)
    )
    # `map`'s three-argument form filters, then transforms: one variable.
    tree = _tree("items.map(x, x > 0, x * 2)")
    assert isinstance(tree, Comprehension) and tree.variables == ("x",)
    assert len(tree.arguments) == 2
    assert _tree("cel.bind(a, 1, a + 1)") == Bind(
        "a", _int("1"), Arithmetic(Ident("a"), (("+", _int("1")),))
    )


def test_unary_runs_and_literals_are_read_as_cel_go_reads_them() -> None:
    assert _tree("!!x") == Unary("!", 2, Ident("x"), before_number=False)
    assert _tree("-1") == Unary("-", 1, _int("1"), before_number=True)
    assert _tree("!-1") == Unary("!", 1, Unary("-", 1, _int("1"), True), False)
    assert [_tree(text) for text in ("2u", "0x1F", "1e3", ".5", 'b"x"', "r'x'", "null")] == [
        Literal("uint", "2u"),
        Literal("int", "0x1F"),
        Literal("double", "1e3"),
        Literal("double", ".5"),
        Literal("bytes", 'b"x"'),
        Literal("string", "r'x'"),
        Literal("null_type", "null"),
    ]
    assert _tree("[1, 2,]") == ListLiteral((_int("1"), _int("2")))
    assert _tree('{"a": 1}') == MapLiteral(((Literal("string", '"a"'), _int("1")),))


@pytest.mark.parametrize(
    "expression",
    ["", "Foo{a: 1}", "a.1", "(1", "1 2", "a. 5", "x.all(1, true)", "[1 2]"],
)
def test_a_construct_not_modelled_is_no_tree(expression: str) -> None:
    assert _tree(expression) is None


def test_optional_steps_are_selections_and_indexes_marked_optional() -> None:
    assert _tree("device.?x") == Select(Ident("device"), "x", optional=True)
    assert _tree('a[?"k"].b') == Select(Index(Ident("a"), Literal("string", '"k"'), True), "b")
    assert _tree("a[?]") is None


def test_long_chains_are_walked_without_recursing_per_operand_or_step() -> None:
    expression = " || ".join(['device.driver == "a"'] * 3000)
    tokens = tokenize(expression)
    tree = parse(tokens)
    assert isinstance(tree, Logical) and len(tree.operands) == 3000
    assert infer_result_type(tokens, RESULT_TYPES, analyze(tokens).bound) == "bool"
    # Each comparison costs 3 (the selection, the field, a tenth of the smaller string).
    assert estimate_cost(tokens, RESULT_TYPES, list_type_attributes=False) == 3 * 3000
    # 3,000 member steps fit in a selector's 10 KiB, and the library parses them.
    steps = 'device.attributes["d"]' + ".a[0]" * 1500 + ".lowerAscii()"
    tokens = tokenize(f'{steps} == "x"')
    assert infer_result_type(tokens, RESULT_TYPES, set()) == "bool"
    assert estimate_cost(tokens, RESULT_TYPES, list_type_attributes=False) > 1500  # 1 an index


def test_both_walks_see_what_cel_go_parses() -> None:
    """`.2` is a double literal; `--x` is `x` (cel-go drops pairs), so `has()` accepts it."""
    with pytest.raises(CelTypeError, match="expected type 'int' but found 'double'"):
        infer_result_type(tokenize("[1, .2].all(x, true)"), RESULT_TYPES, {"x"})

    def cost(expression: str) -> int:
        return estimate_cost(tokenize(expression), RESULT_TYPES, list_type_attributes=False)

    plain = cost('has(device.attributes["d"].s)')
    assert plain > 0
    assert cost('has(--device.attributes["d"].s)') == plain
