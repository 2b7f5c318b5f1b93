"""What cel-go's planner and checker make of a selector's tree, for `runtime_cost.py`.

The runtime cost depends on the program cel-go plans, not only on the values: a list or map of
constants and a type conversion of a constant are constants (`OptOptimize`), a variable and
its qualifiers are one attribute, and a call whose operand types the checker cannot tell
carries no overload ID, which changes what some calls cost. Owns those facts
(`is_constant`, `is_attribute`, `is_resolved`...) and `StaticTypes`, the type each node has
for the checker (`dyn` where it cannot tell), remembered per node: the types are lexical, so
they are the same for every device. Pure computation on the tree.
"""

from __future__ import annotations

from typing import Any, Final

from dralloc.cel.library import RESULT_TYPES
from dralloc.cel.source import NAMESPACES
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
    member_steps,
)
from dralloc.cel.type_names import (
    DEVICE_FIELD_TYPES,
    DEVICE_TYPE,
    is_list,
    is_map,
    list_item_type,
    map_parts,
)

__all__ = [
    "TYPE_CONVERSIONS",
    "TYPE_NAMES",
    "StaticTypes",
    "arithmetic_type",
    "element_type",
    "is_attribute",
    "is_constant",
    "is_constant_primitive_list",
    "is_namespaced",
    "is_resolved",
    "qualifier_run",
]

TYPE_CONVERSIONS: Final = frozenset(
    {"bool", "bytes", "double", "duration", "dyn", "int", "string", "timestamp", "type", "uint"}
)
TYPE_NAMES: Final = frozenset(
    {"int", "uint", "double", "bool", "string", "bytes", "list", "map", "null_type", "type"}
)


class StaticTypes:
    """The checker's type of each node, with the types of the names in scope (`scopes`,
    innermost last: comprehension and `cel.bind` variables), which the walk pushes and pops."""

    def __init__(self) -> None:
        self.scopes: list[dict[str, str]] = [{"device": DEVICE_TYPE}]
        self._memo: dict[int, str] = {}

    def of(self, node: Expr) -> str:
        """The node's type as cel-go's checker sees it (`dyn` where it cannot tell), which
        decides whether a call's overload is known (`call_cost`'s `resolved`)."""
        key = id(node)
        found = self._memo.get(key)
        if found is None:
            found = self._infer(node)
            self._memo[key] = found
        return found

    def _of_name(self, name: str) -> str:
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        return "type" if name in TYPE_NAMES else "dyn"

    def _infer(self, node: Expr) -> str:
        if isinstance(node, Literal):
            return node.type_name
        if isinstance(node, Ident):
            return self._of_name(node.name)
        if isinstance(node, Select):
            operand = self.of(node.operand)
            if operand == DEVICE_TYPE:
                return DEVICE_FIELD_TYPES.get(node.field, "dyn")
            return map_parts(operand)[1] or "dyn"
        if isinstance(node, Index):
            operand = self.of(node.operand)
            return list_item_type(operand) or map_parts(operand)[1] or "dyn"
        if isinstance(node, Call):
            name = node.function
            if is_namespaced(node):
                assert isinstance(node.target, Ident)
                name = f"{node.target.name}.{name}"
            return RESULT_TYPES.get(name, "dyn")
        if isinstance(node, Comprehension):
            if node.macro in ("all", "exists", "exists_one", "existsOne"):
                return "bool"
            return "list(dyn)"
        if isinstance(node, Bind):
            return "dyn"
        if isinstance(node, Unary):
            return "bool" if node.operator == "!" else self.of(node.operand)
        if isinstance(node, Logical | Relations):
            return "bool"
        if isinstance(node, Arithmetic):
            result = self.of(node.first)
            for _, term in node.rest:
                result = arithmetic_type(result, self.of(term))
            return result
        if isinstance(node, Conditional):
            when_true = self.of(node.when_true)
            return when_true if when_true == self.of(node.when_false) else "dyn"
        if isinstance(node, ListLiteral):
            items = {self.of(item) for item in node.items}
            return f"list({items.pop()})" if len(items) == 1 else "list(dyn)"
        keys = {self.of(k) for k, _ in node.entries}
        values = {self.of(v) for _, v in node.entries}
        key = keys.pop() if len(keys) == 1 else "dyn"
        return f"map({key}, {values.pop() if len(values) == 1 else 'dyn'})"


def arithmetic_type(left: str, right: str) -> str:
    if left == right:
        return left
    for text in ("string", "bytes"):
        if text in (left, right) and {left, right} <= {text, "dyn", "any"}:
            return text
    if is_list(left) or is_list(right):
        return left if is_list(left) else right
    return "dyn"


def is_resolved(operator: str, left: str, right: str) -> bool:
    """Whether cel-go's checker picks one overload of the operator for these operand types
    (the costs that depend on it: string `+` and orderings, `in` a list)."""
    if operator == "in":
        return is_list(right)
    if operator == "+" or operator in ("<", "<=", ">", ">="):
        unknown = {"dyn", "any"}
        return left not in unknown or right not in unknown
    return True


def element_type(range_type: str) -> str:
    if is_list(range_type):
        return list_item_type(range_type) or "dyn"
    if is_map(range_type):
        return map_parts(range_type)[0] or "dyn"
    return "dyn"


def qualifier_run(steps: list[Any], start: int) -> int:
    end = start
    while end < len(steps) and isinstance(steps[end], Select | Index):
        end += 1
    return end


def is_namespaced(node: Call) -> bool:
    return isinstance(node.target, Ident) and node.target.name in NAMESPACES


def is_attribute(node: Expr) -> bool:
    """Whether cel-go plans the node as an attribute (a variable, qualified or not)."""
    if isinstance(node, Ident):
        return True
    if isinstance(node, Select | Index):
        root, steps = member_steps(node)
        return isinstance(root, Ident) and all(isinstance(s, Select | Index) for s in steps)
    return False


def is_constant(node: Expr) -> bool:
    """Whether cel-go's OptOptimize plans the node as a constant."""
    if isinstance(node, Literal):
        return True
    if isinstance(node, Unary):
        if node.count % 2 == 0:
            return is_constant(node.operand)
        return node.operator == "-" and node.before_number and isinstance(node.operand, Literal)
    if isinstance(node, ListLiteral):
        return all(is_constant(item) for item in node.items)
    if isinstance(node, MapLiteral):
        return all(is_constant(k) and is_constant(v) for k, v in node.entries)
    if isinstance(node, Call):
        return (
            node.target is None
            and node.function in TYPE_CONVERSIONS
            and len(node.arguments) == 1
            and is_constant(node.arguments[0])
        )
    return False


def is_constant_primitive_list(node: Expr) -> bool:
    if not isinstance(node, ListLiteral) or not is_constant(node):
        return False
    return all(
        (isinstance(item, Literal) and item.type_name != "bytes")
        or (isinstance(item, Unary) and is_constant(item))
        for item in node.items
    )
