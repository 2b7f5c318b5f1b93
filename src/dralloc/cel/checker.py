"""Static result types of selector expressions: enough of cel-go's type checker to refuse, at
compile time, an expression whose result can never be a bool.

Upstream (k8s.io/dynamic-resource-allocation cel/compile.go, `CompileCELExpression`) type
checks every selector and refuses one whose checked output type is not `bool`, the unknown
type `any` (an attribute value), or, with DRAListTypeAttributes, `dyn`:
"must evaluate to bool or the unknown type, not int". The Rust library has no checker, so
this module infers the result type from the tokens of `source.tokenize` with a small
precedence-climbing parser over CEL's grammar.

The inference only ever answers with a type it is sure of. Anything it does not model (an
attribute value, a comprehension variable, an overloaded function whose result depends on its
argument types, mixed operand types, a construct the parser does not know) is `None`,
"unknown", and an unknown result is accepted: a selector upstream accepts is never refused
here. Type names are spelled as cel-go prints them (`int`, `list(string)`,
`map(string, int)`, `kubernetes.Quantity`).

Pure computation on tokens; no I/O, no library calls.
"""

from __future__ import annotations

from collections.abc import Mapping

from dralloc.cel.source import (
    COMPREHENSION_MACROS,
    NAMESPACES,
    TWO_VARIABLE_ONLY,
    Token,
    TokenKind,
)

__all__ = ["DEVICE_TYPE", "CelTypeError", "NoMatchingOverload", "infer_result_type"]

CelType = str | None
"""A CEL type name as cel-go prints it, or None when not known statically."""

DEVICE_TYPE = "kubernetes.DRADevice"
QUANTITY = "kubernetes.Quantity"
_ATTRIBUTES = "map(string, map(string, any))"
_DEVICE_FIELDS: Mapping[str, str] = {
    "driver": "string",
    "allowMultipleAllocations": "bool",
    "attributes": _ATTRIBUTES,
    "capacity": f"map(string, map(string, {QUANTITY}))",
}
_NUMERIC = frozenset({"int", "uint", "double"})
_RELATIONS = frozenset({"==", "!=", "<", "<=", ">", ">=", "in"})


class _GiveUp(Exception):
    """The parser met something it does not model: the result type is unknown."""


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
_UNORDERED = frozenset({"kubernetes.Quantity", "kubernetes.Semver"})
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
    parser = _Parser(tokens, results, bound)
    if size_arguments is not None:
        parser.size_arguments = size_arguments
    try:
        result = parser.expression()
    except (_GiveUp, IndexError):
        return None
    return result if parser.at_end() else None


def _element(list_type: CelType) -> CelType:
    if list_type is not None and list_type.startswith("list(") and list_type.endswith(")"):
        inner = list_type[5:-1]
        return None if inner in ("dyn", "any") else inner
    return None


def _is_list(type_name: CelType) -> bool:
    return type_name is not None and type_name.startswith("list(")


def _map_key(map_type: CelType) -> CelType:
    """The key type of a `map(K, V)` type name (keys are never maps or lists)."""
    if map_type is None or not (map_type.startswith("map(") and map_type.endswith(")")):
        return None
    key = map_type[4:].split(",", 1)[0].strip()
    return None if key in ("dyn", "any") else key


def _map_value(map_type: CelType) -> CelType:
    """The value type of a `map(K, V)` type name (V may itself be a map)."""
    if map_type is None or not (map_type.startswith("map(") and map_type.endswith(")")):
        return None
    depth = 0
    inner = map_type[4:-1]
    for index, char in enumerate(inner):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            value = inner[index + 1 :].strip()
            return None if value in ("dyn", "any") else value
    return None


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
    if (scalars_differ and (equality or not numbers)) or (unordered and not equality):
        raise NoMatchingOverload(_OPERATOR_NAMES[operator], (left, right))


def _same_as_first(items: list[CelType]) -> None:
    """Kubernetes' environment wants the items of a literal list (or the keys, or the values,
    of a literal map) to be of one type: cel-go reports the first item that is not."""
    first, last = items[0], items[-1]
    if first in _SCALARS and last in _SCALARS and first != last:
        raise CelTypeError(f"expected type '{first}' but found '{last}'")


def _join(types: list[CelType]) -> CelType:
    """One type for the items of a literal list or map: their common type, else `dyn`."""
    if types and all(t is not None and t == types[0] for t in types):
        return types[0]
    return "dyn"


class _Parser:
    def __init__(
        self, tokens: list[Token], results: Mapping[str, str], bound: frozenset[str] | set[str]
    ) -> None:
        self.tokens = tokens
        self.pos = 0
        self.results = results
        self.bound = bound
        self.size_arguments: dict[int, CelType] = {}
        # Variables of the enclosing comprehensions and `cel.bind`s, innermost last.
        self.scopes: list[dict[str, CelType]] = []

    # --------------------------------------------------------------------------- tokens

    def at_end(self) -> bool:
        return self.pos >= len(self.tokens)

    def peek(self, offset: int = 0) -> str:
        index = self.pos + offset
        return self.tokens[index].text if index < len(self.tokens) else ""

    def take(self) -> Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def expect(self, text: str) -> None:
        if self.peek() != text:
            raise _GiveUp(text)
        self.pos += 1

    # ---------------------------------------------------------------------------- grammar

    def expression(self) -> CelType:
        condition = self.logical("||")
        if self.peek() != "?":
            return condition
        self.pos += 1
        when_true = self.logical("||")
        self.expect(":")
        when_false = self.expression()
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

    def logical(self, operator: str) -> CelType:
        operand = self.logical("&&") if operator == "||" else self.relation()
        while self.peek() == operator:
            self.pos += 1
            right = self.logical("&&") if operator == "||" else self.relation()
            for side in (operand, right):
                if side in _SCALARS and side != "bool":
                    raise CelTypeError(f"expected type 'bool' but found '{side}'")
            operand = "bool"
        return operand

    def relation(self) -> CelType:
        operand = self.addition()
        while self.peek() in _RELATIONS:
            operator = self.take().text
            right = self.addition()
            if operator != "in":
                _compare(operator, operand, right)
            operand = "bool"
        return operand

    def addition(self) -> CelType:
        operand = self.multiplication()
        while self.peek() in ("+", "-"):
            operator = self.take().text
            right = self.multiplication()
            operand = self._arithmetic(operator, operand, right)
        return operand

    def multiplication(self) -> CelType:
        operand = self.unary()
        while self.peek() in ("*", "/", "%"):
            operator = self.take().text
            right = self.unary()
            operand = self._arithmetic(operator, operand, right)
        return operand

    @staticmethod
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
        if left == right and operator == "+" and (left in ("string", "bytes") or _is_list(left)):
            return left
        if left in _SCALARS and right in _SCALARS:
            raise NoMatchingOverload(_OPERATOR_NAMES[operator], (left, right))
        if operator == "+" and _is_list(left) and _is_list(right):
            items = (_element(left), _element(right))
            if items[0] in _SCALARS and items[1] in _SCALARS:  # differing, as left != right
                raise NoMatchingOverload("_+_", (left, right))
        return None

    def unary(self) -> CelType:
        if self.peek() == "!":
            self.pos += 1
            operand = self.unary()
            if operand in _SCALARS and operand != "bool":
                raise NoMatchingOverload("!_", (operand,))
            return "bool"
        if self.peek() == "-":
            self.pos += 1
            operand = self.unary()
            if operand in _SCALARS and operand not in ("int", "double"):
                raise NoMatchingOverload("-_", (operand,))
            return operand if operand in ("int", "double") else None
        return self.member()

    def member(self) -> CelType:
        value, name = self.primary()
        while True:
            if self.peek() == ".":
                self.pos += 1
                token = self.take()
                if token.kind is not TokenKind.IDENT:
                    raise _GiveUp(token.text)  # `.?field` and other forms not modelled
                if self.peek() == "(":
                    qualified = f"{name}.{token.text}" if name in NAMESPACES else None
                    if qualified == "cel.bind":
                        value = self.bind()
                    elif token.text in COMPREHENSION_MACROS:
                        value = self.comprehension(token.text, receiver=value)
                    elif qualified is not None and qualified in self.results:
                        value = self.call(qualified, receiver=None)
                    else:
                        value = self.call(token.text, receiver=value)
                else:
                    value = self.select(value, name, token.text)
                name = None
            elif self.peek() == "[":
                self.pos += 1
                self.expression()
                self.expect("]")
                value = self.index(value)
                name = None
            else:
                return value

    def select(self, value: CelType, name: str | None, field: str) -> CelType:
        if name == "device" and "device" not in self.bound:
            if field not in _DEVICE_FIELDS:
                raise _GiveUp(field)
            return _DEVICE_FIELDS[field]
        return _map_value(value)

    @staticmethod
    def index(value: CelType) -> CelType:
        if _is_list(value):
            return _element(value)
        return _map_value(value)

    def arguments(self) -> list[CelType]:
        self.expect("(")
        types: list[CelType] = []
        while self.peek() != ")":
            types.append(self.expression())
            if self.peek() == ",":
                self.pos += 1
            elif self.peek() != ")":
                raise _GiveUp(self.peek())
        self.pos += 1
        return types

    def call(self, name: str, receiver: CelType) -> CelType:
        name_index = self.pos - 1
        arguments = self.arguments()
        if name == "size":
            self.size_arguments[name_index] = receiver if arguments == [] else arguments[0]
        if name in ("max", "min", "sum") and _is_list(receiver):
            return _element(receiver)  # the lists library: a list's own element type
        return self.results.get(name)

    def variable(self) -> str:
        """The variable a macro or `cel.bind` introduces (its first argument) and its comma."""
        self.expect("(")
        token = self.take()
        if token.kind is not TokenKind.IDENT:
            raise _GiveUp(token.text)
        self.expect(",")
        return token.text

    def bind(self) -> CelType:
        """`cel.bind(name, init, body)`: the body's type, with `name` of the init's type."""
        name = self.variable()
        init = self.expression()
        self.expect(",")
        self.scopes.append({name: init})
        body = self.expression()
        self.scopes.pop()
        self.expect(")")
        return body

    def comprehension(self, macro: str, receiver: CelType) -> CelType:
        """`all`, `exists`, `exists_one` are bool; `map` a list of its last argument's type,
        `filter` a list of the range's elements (a map ranges over its keys). The
        two-variable forms bind an index or key and a value of types left unknown, and only
        their quantifiers' result (bool) is known."""
        if self._is_two_variable(macro):
            self.pos += 1
            first = self.take().text
            self.expect(",")
            second = self.take().text
            self.scopes.append({first: None, second: None})
            while self.peek() == ",":
                self.pos += 1
                self.expression()
            self.scopes.pop()
            self.expect(")")
            return "bool" if macro in ("all", "exists", "exists_one", "existsOne") else None
        name = self.variable()
        element = _element(receiver) if _is_list(receiver) else _map_key(receiver)
        self.scopes.append({name: element})
        arguments = [self.expression()]
        while self.peek() == ",":
            self.pos += 1
            arguments.append(self.expression())
        self.scopes.pop()
        self.expect(")")
        if macro == "map":
            return f"list({arguments[-1] or 'dyn'})"
        if macro == "filter":
            return f"list({element or 'dyn'})"
        return "bool"

    def _is_two_variable(self, macro: str) -> bool:
        """Whether the call at `(` starts a two-variable form: always for `transformList` and
        the like, for `all`, `exists` and `exists_one` when a name and a comma follow the
        first variable's comma (their one-variable forms have a single body)."""
        if macro in TWO_VARIABLE_ONLY:
            return True
        if macro in ("map", "filter"):
            return False
        tokens = self.tokens
        at = self.pos
        return (
            at + 4 < len(tokens)
            and tokens[at + 2].text == ","
            and tokens[at + 3].kind is TokenKind.IDENT
            and tokens[at + 4].text == ","
        )

    def primary(self) -> tuple[CelType, str | None]:
        """The type of a primary expression and, for a bare identifier, its name."""
        token = self.take()
        text = token.text
        if token.kind is TokenKind.NUMBER:
            if text[-1] in "uU":
                return "uint", None
            if not text.lower().startswith("0x") and ("." in text or "e" in text.lower()):
                return "double", None
            return "int", None
        if token.kind is TokenKind.STRING:
            return ("bytes" if text[:2].lower() in ("b'", 'b"', "br", "rb") else "string"), None
        if token.kind is TokenKind.IDENT:
            if text in ("true", "false"):
                return "bool", None
            if text == "null":
                return "null_type", None
            if self.peek() == "(":
                return self.call(text, receiver=None), None
            for scope in reversed(self.scopes):
                if text in scope:
                    return scope[text], None
            if text in self.bound or text.startswith("`"):
                return None, text
            if text == "device":
                return DEVICE_TYPE, text
            if text in NAMESPACES:
                return None, text
            if text in _TYPE_VALUES:
                return f"type({text})", None
            return None, text  # a name the checks already refused
        if text == "(":
            inner = self.expression()
            self.expect(")")
            return inner, None
        if text == "[":
            items: list[CelType] = []
            while self.peek() != "]":
                items.append(self.expression())
                _same_as_first(items)
                if self.peek() == ",":
                    self.pos += 1
                elif self.peek() != "]":
                    raise _GiveUp(self.peek())
            self.pos += 1
            return f"list({_join(items)})", None
        if text == "{":
            keys: list[CelType] = []
            values: list[CelType] = []
            while self.peek() != "}":
                keys.append(self.expression())
                _same_as_first(keys)
                self.expect(":")
                values.append(self.expression())
                _same_as_first(values)
                if self.peek() == ",":
                    self.pos += 1
                elif self.peek() != "}":
                    raise _GiveUp(self.peek())
            self.pos += 1
            return f"map({_join(keys)}, {_join(values)})", None
        raise _GiveUp(text)
