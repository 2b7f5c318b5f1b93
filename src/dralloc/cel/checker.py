"""Static result types of selector expressions: enough of cel-go's type checker to refuse, at
compile time, an expression whose result can never be a bool.

Upstream (k8s.io/dynamic-resource-allocation cel/compile.go, `CompileCELExpression`) type
checks every selector and refuses one whose checked output type is not `bool`, the unknown
type `any` (an attribute value), or, with DRAListTypeAttributes, `dyn`:
"must evaluate to bool or the unknown type, not int". The Rust library has no checker, so
this module infers the result type by walking the expression's tree (`syntax.parse`, the
parser the cost estimate's walk shares).

The inference only ever answers with a type it is sure of. Anything it does not model (an
attribute value, a comprehension variable, an overloaded function whose result depends on its
argument types, mixed operand types, a construct the parser does not know) is `None`,
"unknown", and an unknown result is accepted: a selector upstream accepts is never refused
here. Type names are spelled as cel-go prints them (`int`, `list(string)`,
`map(string, int)`, `kubernetes.Quantity`).

Pure computation on the tree; no I/O, no library calls.
"""

from __future__ import annotations

from collections.abc import Mapping

from dralloc.cel.source import TWO_VARIABLE_ONLY, Token
from dralloc.cel.syntax import (
    Arithmetic,
    Bind,
    Call,
    Comprehension,
    Conditional,
    Ident,
    Index,
    ListLiteral,
    Literal,
    Logical,
    MapLiteral,
    NotModelled,
    Relations,
    Select,
    TreeWalk,
    Unary,
    namespace_of,
    parse,
)
from dralloc.cel.type_names import (
    DEVICE_FIELD_TYPES,
    DEVICE_TYPE,
    is_list,
    known,
    list_item_type,
    map_parts,
)

__all__ = ["CelTypeError", "NoMatchingOverload", "infer_result_type"]

CelType = str | None
"""A CEL type name as cel-go prints it, or None when not known statically."""

_NUMERIC = frozenset({"int", "uint", "double"})


class CelTypeError(Exception):
    """A type error cel-go's checker reports at compile time, in its words (for example
    "expected type 'bool' but found 'int'" for `1 && true`, or for the second item of
    `[1, 2.5]`: the Kubernetes environment wants literal lists and maps of one type)."""


class NoMatchingOverload(CelTypeError):
    """An operator applied to operand types it has no overload for, as cel-go's checker says
    it: "found no matching overload for '_+_' applied to '(int, double)'"."""

    def __init__(self, operator: str, operand_types: tuple[str, ...]) -> None:
        super().__init__(
            f"found no matching overload for '{operator}' applied to '({', '.join(operand_types)})'"
        )


# Scalar types whose operator overloads are modelled exactly (cel-go's standard library):
# arithmetic needs two operands of one type (no implicit numeric conversion), `%` only on
# integers, `+` also on strings and bytes; `==` and `!=` need one type, `<` and friends one
# type or two numbers; `!`, `&&`, `||` and a condition need bools, `-x` an int or a double;
# the two branches of a conditional need one type (null included). Only types known for sure
# are ever reported; other types (lists, maps, timestamps, objects) almost never.
_SCALARS = frozenset({"bool", "int", "uint", "double", "string", "bytes"})
_OPERATOR_NAMES = {
    "+": "_+_",
    "-": "_-_",
    "*": "_*_",
    "/": "_/_",
    "%": "_%_",
    "==": "_==_",
    "!=": "_!=_",
    "<": "_<_",
    "<=": "_<=_",
    ">": "_>_",
    ">=": "_>=_",
}
# Types with no ordering (`quantity("1") < quantity("2")` has no overload: use compareTo).
_UNORDERED = frozenset({"kubernetes.Quantity", "kubernetes.Semver", "net.IP", "net.CIDR"})
# Identifiers that name a type: as values they are of type `type(<name>)`.
_TYPE_VALUES = frozenset({"bool", "int", "uint", "double", "string", "bytes", "null_type"})


def infer_result_type(
    tokens: list[Token],
    results: Mapping[str, str],
    bound: frozenset[str] | set[str],
    size_arguments: dict[int, CelType] | None = None,
) -> CelType:
    """The static type of the whole expression, or None when it cannot be known for sure.

    `results` maps function names (qualified for namespaced globals: `sets.contains`) to the
    result type every overload of that function has; `bound` holds the names comprehension
    macros and `cel.bind` introduce (typed where their scope is followed, else unknown).
    Raises CelTypeError (NoMatchingOverload for operators) for a type error it is sure of.
    `size_arguments`, when given, receives the type of the argument (or receiver) of each
    `size` call the walk reached, by the token index of the name `size`.
    """
    tree = parse(tokens)
    if tree is None:
        return None
    inference = _Inference(results, bound)
    if size_arguments is not None:
        inference.size_arguments = size_arguments
    try:
        return inference.walk(tree)
    except NotModelled:
        return None


def _element(list_type: CelType) -> CelType:
    return known(list_item_type(list_type))


def _map_key(map_type: CelType) -> CelType:
    return known(map_parts(map_type)[0])


def _map_value(map_type: CelType) -> CelType:
    return known(map_parts(map_type)[1])


def _shown(type_name: str) -> str:
    """A type as cel-go prints it in an overload error (`null`, not `null_type`)."""
    return "null" if type_name == "null_type" else type_name


def _compare(operator: str, left: CelType, right: CelType) -> None:
    """Raise NoMatchingOverload for a comparison cel-go has no overload for."""
    if left is None or right is None:
        return
    equality = operator in ("==", "!=")
    numbers = left in _NUMERIC and right in _NUMERIC
    scalars_differ = left in _SCALARS and right in _SCALARS and left != right
    known = _UNORDERED | _SCALARS
    unordered = (left in _UNORDERED or right in _UNORDERED) and left in known and right in known
    # Kubernetes' object types equal only themselves (`ip("1.2.3.4") == "1.2.3.4"` has no
    # overload).
    objects_differ = unordered and left != right
    if (
        (scalars_differ and (equality or not numbers))
        or (unordered and not equality)
        or (objects_differ)
    ):
        raise NoMatchingOverload(_OPERATOR_NAMES[operator], (left, right))


def _same_as_first(items: list[CelType]) -> None:
    """Kubernetes' environment wants the items of a literal list (or the keys, or the values,
    of a literal map) to be of one type: cel-go reports the first item that is not."""
    first, last = items[0], items[-1]
    if first in _SCALARS and last in _SCALARS and first != last:
        raise CelTypeError(f"expected type '{first}' but found '{last}'")


def _arithmetic(operator: str, left: CelType, right: CelType) -> CelType:
    left, right = (None if t == "dyn" else t for t in (left, right))
    if left is None or right is None:
        # With one operand of unknown type (an attribute), the other one's type picks the
        # only overload that can apply: `x + 1` is an int, `x + "a"` a string.
        known = right if left is None else left
        if known in _NUMERIC and (operator != "%" or known != "double"):
            return known
        if operator == "+" and known in ("string", "bytes"):
            return known
        return None
    if left == right and left in _NUMERIC and not (operator == "%" and left == "double"):
        return left
    if left == right and operator == "+" and (left in ("string", "bytes") or is_list(left)):
        return left
    if left in _SCALARS and right in _SCALARS:
        raise NoMatchingOverload(_OPERATOR_NAMES[operator], (left, right))
    if operator == "+" and is_list(left) and is_list(right):
        items = (_element(left), _element(right))
        if items[0] in _SCALARS and items[1] in _SCALARS:  # differing, as left != right
            raise NoMatchingOverload("_+_", (left, right))
    return None


def _join(types: list[CelType]) -> CelType:
    """One type for the items of a literal list or map: their common type, else `dyn`."""
    if types and all(t is not None and t == types[0] for t in types):
        return types[0]
    return "dyn"


class _Inference(TreeWalk[CelType]):
    """The walk: the type of each node of the tree, innermost first, in source order."""

    def __init__(self, results: Mapping[str, str], bound: frozenset[str] | set[str]) -> None:
        self.results = results
        self.bound = bound
        self.size_arguments: dict[int, CelType] = {}
        # Variables of the enclosing comprehensions and `cel.bind`s, innermost last.
        self.scopes: list[dict[str, CelType]] = []

    def literal(self, node: Literal) -> CelType:
        return node.type_name

    def is_variable(self, name: str) -> bool:
        return any(name in scope for scope in self.scopes)

    def ident(self, name: str) -> CelType:
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        if name in self.bound or name.startswith("`"):
            return None
        if name == "device":
            return DEVICE_TYPE
        if name in _TYPE_VALUES:
            return f"type({name})"
        return None  # a namespace, or a name the checks already refused

    def conditional(self, node: Conditional) -> CelType:
        condition = self.walk(node.condition)
        when_true = self.walk(node.when_true)
        when_false = self.walk(node.when_false)
        branches = _SCALARS | {"null_type"}
        if (
            condition in _SCALARS
            and when_true in branches
            and when_false in branches
            and (condition != "bool" or when_true != when_false)
        ):
            shown = tuple(_shown(t) for t in (condition, when_true, when_false))
            raise NoMatchingOverload("_?_:_", shown)
        return when_true if when_true == when_false else None

    def logical(self, node: Logical) -> CelType:
        operand = self.walk(node.operands[0])
        for right_node in node.operands[1:]:
            right = self.walk(right_node)
            for side in (operand, right):
                if side in _SCALARS and side != "bool":
                    raise CelTypeError(f"expected type 'bool' but found '{side}'")
            operand = "bool"
        return operand

    def relations(self, node: Relations) -> CelType:
        operand = self.walk(node.first)
        for operator, right_node in node.rest:
            right = self.walk(right_node)
            if operator != "in":
                _compare(operator, operand, right)
            operand = "bool"
        return operand

    def arithmetic(self, node: Arithmetic) -> CelType:
        operand = self.walk(node.first)
        for operator, right_node in node.rest:
            operand = _arithmetic(operator, operand, self.walk(right_node))
        return operand

    def unary(self, node: Unary) -> CelType:
        # A run of one operator types as the operator once: its result is its operand's.
        operand = self.walk(node.operand)
        if node.operator == "!":
            if operand in _SCALARS and operand != "bool":
                raise NoMatchingOverload("!_", (operand,))
            return "bool"
        if operand in _SCALARS and operand not in ("int", "double"):
            raise NoMatchingOverload("-_", (operand,))
        return operand if operand in ("int", "double") else None

    def select(self, node: Select, operand_type: CelType) -> CelType:
        if node.optional:
            return None  # an optional value (`x.?f`): not modelled
        operand = node.operand
        if (
            isinstance(operand, Ident)
            and operand.name == "device"
            and "device" not in self.bound
            and not self.is_variable("device")
        ):
            if node.field not in DEVICE_FIELD_TYPES:
                raise NotModelled(node.field)
            return DEVICE_FIELD_TYPES[node.field]
        return _map_value(operand_type)

    def index(self, node: Index, value: CelType) -> CelType:
        self.walk(node.key)
        if node.optional:
            return None  # an optional value (`x[?k]`): not modelled
        if is_list(value):
            return _element(value)
        return _map_value(value)

    def call(self, node: Call, receiver: CelType) -> CelType:
        """A global call, or a method call on a value of type `receiver`."""
        name = node.function
        namespace = namespace_of(node.target)
        if namespace is not None and not self.is_variable(namespace):
            qualified = f"{namespace}.{name}"
            if qualified in self.results:
                name, receiver = qualified, None
        arguments = [self.walk(argument) for argument in node.arguments]
        if name == "size":
            self.size_arguments[node.name_index] = receiver if not arguments else arguments[0]
        if name in ("max", "min", "sum") and is_list(receiver):
            return _element(receiver)  # the lists library: a list's own element type
        return self.results.get(name)

    def bind(self, node: Bind) -> CelType:
        """`cel.bind(name, init, body)`: the body's type, with `name` of the init's type."""
        init = self.walk(node.init)
        self.scopes.append({node.variable: init})
        body = self.walk(node.body)
        self.scopes.pop()
        return body

    def comprehension(self, node: Comprehension, receiver: CelType) -> CelType:
        """`all`, `exists`, `exists_one` are bool; `map` a list of its last argument's type,
        `filter` a list of the range's elements (a map ranges over its keys). The
        two-variable forms bind an index or key and a value of types left unknown, and only
        their quantifiers' result (bool) is known."""
        macro = node.macro
        if len(node.variables) == 2:
            self.scopes.append(dict.fromkeys(node.variables))
            for argument in node.arguments:
                self.walk(argument)
            self.scopes.pop()
            return "bool" if macro in ("all", "exists", "exists_one", "existsOne") else None
        if macro in TWO_VARIABLE_ONLY:
            raise NotModelled(macro)
        element = _element(receiver) if is_list(receiver) else _map_key(receiver)
        self.scopes.append({node.variables[0]: element})
        arguments = [self.walk(argument) for argument in node.arguments]
        self.scopes.pop()
        if macro == "map":
            return f"list({arguments[-1] or 'dyn'})"
        if macro == "filter":
            return f"list({element or 'dyn'})"
        return "bool"

    def list_literal(self, node: ListLiteral) -> CelType:
        items: list[CelType] = []
        for item in node.items:
            items.append(self.walk(item))
            _same_as_first(items)
        return f"list({_join(items)})"

    def map_literal(self, node: MapLiteral) -> CelType:
        keys: list[CelType] = []
        values: list[CelType] = []
        for key, value in node.entries:
            keys.append(self.walk(key))
            _same_as_first(keys)
            values.append(self.walk(value))
            _same_as_first(values)
        return f"map({_join(keys)}, {_join(values)})"
