"""The runtime cost of a selector on one device, counted as cel-go counts it.

Kubernetes evaluates a device selector with a runtime cost limit (k8s.io/dynamic-resource-
allocation cel/compile.go: `cel.CostLimit(resourceapi.CELSelectorExpressionMaxCost)`,
1,000,000) and stops an evaluation past it with "operation cancelled: actual cost limit
exceeded", which the allocator reports as that selector's runtime error. The Rust library
counts nothing while it runs, so `RuntimeCostCounter` walks the selector's tree
(`syntax.parse`) itself, computing each node's value as the library would and adding what
cel-go's cost tracker (interpreter/runtimecost.go) adds for it, with the plan cel-go makes
under Kubernetes' `OptOptimize`:

- a variable or a field or constant index on it costs 1 each (an attribute: `device`
  then `.attributes`, `["dom"]`, `.model` is 4); a computed index costs its key plus 1; a
  qualified value that is not a variable (`f(x).a`, `[1, 2][i]`) costs it, plus 1, plus its
  qualifiers; a literal costs 0, and so do a list or map of constants and a type conversion
  of a constant (folded when the program is planned), and `x in [constants]` (a set lookup);
- a list built at run time costs 10 plus its items, a map 30; each call costs its
  arguments plus `runtime_cost_model.call_cost`; `&&`, `||` and `?:` cost only the operands
  they evaluate, left to right, stopping where the answer is known; a branch of `?:` or a
  computed index key that is itself a variable or a qualified variable is resolved without
  its own 1 (cel-go reads the attribute directly, watching only its qualifiers);
  `has(a.b)` costs 1 plus the qualifiers of `a`;
- a macro costs its range, then per element cel-go's expansion: `all` 2 for its loop
  condition and 1 plus the predicate for its step, stopping after a false; `exists` 3 and
  1 plus the predicate, stopping after a true; `exists_one` the predicate plus 2 when it
  holds; `map` 12 plus the transform (with a filter: the filter, plus 12 plus the transform
  when it holds); `filter` the predicate plus 13 when it holds; then 1 for the result (2
  for `exists_one`); the two-variable forms as their kin (`transformList` as `map`), and
  `transformMap` 3 plus the transform, `transformMapEntry` 2 plus it; `cel.bind` its body,
  and its init once, when the body first reads the variable (cel-go's lazy binding).

Values are computed by the library itself, one operation at a time (`LibraryCalls`: each
operator and function call is compiled once, `_0 + _1`, `_0.contains(_1)`, and run with the
operands as variables), so a value never differs from the plain evaluation's; errors are
values, as cel-go's are, and `&&`, `||` and the macros absorb them as cel-go does. Map
iteration follows the device's order, where cel-go follows Go's map order (random): a
selector that stops early inside a loop over a map may cost a little more or less upstream
from one evaluation to the next.

Not modelled (`NotModelled`, and the caller then evaluates without a limit, as before):
optional values (`x.?f`, `x[?k]`, `first`, `last`, `optional.*`), a qualifier applied to a
`?:` value, `uint` values (held as ints by the library). Pure computation over the tree and
the library; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from dralloc.cel.binding import cel
from dralloc.cel.library import STRING_OF_NETWORK
from dralloc.cel.runtime_cost_model import (
    COST_LIMIT_EXCEEDED,
    RESULT_SIZED,
    CostCounting,
    CostLimitExceeded,
    call_cost,
)
from dralloc.cel.runtime_plan import (
    TYPE_CONVERSIONS,
    TYPE_NAMES,
    StaticTypes,
    arithmetic_type,
    element_type,
    is_attribute,
    is_constant,
    is_constant_primitive_list,
    is_namespaced,
    is_resolved,
    qualifier_run,
)
from dralloc.cel.runtime_values import (
    FIXED_VARIABLES,
    MACROS,
    NOT_NATIVE,
    TWO_VARIABLE_ONLY,
    DomainMap,
    ErrorValue,
    LibraryCalls,
    TypeValue,
    accumulate,
    combine,
    is_count,
    native_binary,
    plain,
    size_of,
)
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
    NotModelled,
    Relations,
    Select,
    Unary,
    member_steps,
)
from dralloc.cel.type_names import DEVICE_TYPE, list_item_type, map_parts
from dralloc.cel.values import CIDR_TAG, IP_TAG, cel_type_name

__all__ = [
    "COST_LIMIT_EXCEEDED",
    "CostCounting",
    "CostLimitExceeded",
    "LibraryCalls",
    "RuntimeCostCounter",
]

_OPTIONAL_FUNCTIONS: Final = frozenset(
    {"first", "last", "hasValue", "value", "orValue", "or", "optional"}
)
_ATTRIBUTE_MAPS: Final = ("attributes", "capacity")


@dataclass(slots=True)
class _Pending:
    """A `cel.bind` variable not read yet: cel-go evaluates the init on the first read
    (and only then charges it), in the scopes the bind sees (`depth` of them)."""

    init: Expr
    depth: int


class RuntimeCostCounter:
    """Counts one selector's runtime cost on a device, stopping past `limit`.

    >>> from dralloc.cel.source import tokenize
    >>> from dralloc.cel.syntax import parse
    >>> tree = parse(tokenize('device.driver == "gpu.example.com"'))
    >>> counter = RuntimeCostCounter(tree, LibraryCalls(), limit=1_000_000)
    >>> counter.count({"driver": "gpu.example.com", "attributes": {}, "capacity": {}})
    4
    """

    def __init__(self, tree: Expr, calls: LibraryCalls, limit: int) -> None:
        self._tree = tree
        self._calls = calls
        self._limit = limit
        self._literals: dict[str, Any] = {}
        # Static types by node (lexical, so the same for every device).
        self._cost = 0
        self._scopes: list[dict[str, Any]] = []
        self._types = StaticTypes()
        self.order_dependent = False
        """Whether the last count stopped a loop over a map of several entries early, ended
        one in an error or passed the limit inside one: the figure (or the error) then
        depends on the map's order, which in cel-go is Go's (random)."""

    def count(self, device: dict[str, Any]) -> int:
        """The cost of evaluating the selector on `device` (the `device` variable as
        `CelDevice` builds it). Raises CostLimitExceeded past the limit, NotModelled for a
        construct this walk does not model."""
        variable = dict(device)
        for name in _ATTRIBUTE_MAPS:
            variable[name] = DomainMap(device.get(name) or {})
        self._cost = 0
        self.order_dependent = False
        self._scopes = [{"device": variable}]
        self._types.scopes = [{"device": DEVICE_TYPE}]
        self._eval(self._tree)
        return self._cost

    # ------------------------------------------------------------------------ charging

    def _charge(self, amount: int) -> None:
        self._cost += amount
        if self._cost > self._limit:
            raise CostLimitExceeded(self._cost)

    def _lookup(self, name: str) -> tuple[bool, Any]:
        for scope in reversed(self._scopes):
            if name in scope:
                value = scope[name]
                if isinstance(value, _Pending):
                    value = self._resolve_pending(value)
                    scope[name] = value
                return True, value
        return False, None

    def _resolve_pending(self, pending: _Pending) -> Any:
        scopes, types = self._scopes, self._types.scopes
        self._scopes, self._types.scopes = scopes[: pending.depth], types[: pending.depth]
        try:
            return self._eval(pending.init)
        finally:
            self._scopes, self._types.scopes = scopes, types

    # ---------------------------------------------------------------------- evaluation

    def _eval(self, node: Expr, observed: bool = True) -> Any:
        """The node's value; `observed` False for an attribute that cel-go resolves directly
        (a `?:` branch, a computed index key), which it charges without the attribute's 1."""
        if isinstance(node, Literal):
            return self._literal(node)
        if isinstance(node, Ident):
            return self._ident(node.name, observed)
        if isinstance(node, Select | Index | Comprehension) or (
            isinstance(node, Call) and node.target is not None and not is_namespaced(node)
        ):
            return self._member(node, observed)
        if isinstance(node, Call):
            return self._global_call(node)
        if isinstance(node, Logical):
            return self._logical(node)
        if isinstance(node, Relations | Arithmetic):
            return self._binary_chain(node)
        if isinstance(node, Unary):
            return self._unary(node)
        if isinstance(node, Conditional):
            return self._conditional(node)
        if isinstance(node, ListLiteral):
            return self._list(node)
        if isinstance(node, MapLiteral):
            return self._map(node)
        return self._bind(node)

    def _literal(self, node: Literal) -> Any:
        # By text: the selector's own literals (and their negations), so bounded by it.
        key = node.text
        if key not in self._literals:
            try:
                self._literals[key] = cel.compile(key).execute({})
            except Exception as exc:
                raise NotModelled(key) from exc
        return self._literals[key]

    def _ident(self, name: str, observed: bool) -> Any:
        found, value = self._lookup(name)
        if not found:
            if name in TYPE_NAMES:
                return TypeValue(name)  # a type constant, planned as a constant
            raise NotModelled(name)
        if observed:
            self._charge(1)
        return value

    def _member(self, node: Expr, observed: bool) -> Any:
        root, steps = member_steps(node)
        start = 0
        if (
            isinstance(root, Ident)
            and steps
            and isinstance(steps[0], Call)
            and is_namespaced(steps[0])
        ):
            value = self._global_call(steps[0])  # `lists.range(3).size()`
            start = 1
        elif isinstance(root, Ident):
            # An attribute: the variable and its qualifiers.
            value = self._lookup_variable(root.name)
            run = qualifier_run(steps, 0)
            value = self._qualify(value, steps[:run])
            if observed or run < len(steps):
                self._charge(1)
            start = run
        elif isinstance(root, Conditional) and steps and isinstance(steps[0], Select | Index):
            raise NotModelled("a qualifier on a conditional value")
        else:
            value = self._eval(root)
        while start < len(steps):
            step = steps[start]
            if isinstance(step, Select | Index):
                run = qualifier_run(steps, start)
                # A relative attribute: the value before it, its 1, its qualifiers.
                value = self._qualify(value, steps[start:run])
                if observed or run < len(steps):
                    self._charge(1)
                start = run
                continue
            if isinstance(step, Comprehension):
                value = self._comprehension(step, value)
            else:
                assert isinstance(step, Call)
                value = self._method(step, value)
            start += 1
        return value

    def _lookup_variable(self, name: str) -> Any:
        found, value = self._lookup(name)
        if not found:
            raise NotModelled(name)
        return value

    def _qualify(self, value: Any, qualifiers: list[Any]) -> Any:
        for qualifier in qualifiers:
            if qualifier.optional:
                raise NotModelled("optional selection")
            if isinstance(qualifier, Select):
                key: Any = qualifier.field
            elif isinstance(qualifier.key, Literal):
                key = self._literal(qualifier.key)
            else:
                key = self._eval(qualifier.key, observed=not is_attribute(qualifier.key))
            self._charge(1)
            if isinstance(value, ErrorValue):
                return value
            value = self._select(value, key)
            if isinstance(value, ErrorValue):
                return value
        return value

    def _select(self, value: Any, key: Any) -> Any:
        if isinstance(key, ErrorValue):
            return key
        if isinstance(value, dict) and isinstance(key, str):
            if isinstance(value, DomainMap) or key in value:
                return value[key]
            return ErrorValue(f"no such key: {key}")
        return self._calls.run("_0[_1]", [value, plain(key)])

    def _global_call(self, node: Call) -> Any:
        name = node.function
        if is_namespaced(node):
            assert isinstance(node.target, Ident)
            name = f"{node.target.name}.{name}"
        if name == "has":
            return self._has(node)
        if name.split(".")[0] in _OPTIONAL_FUNCTIONS:
            raise NotModelled(name)
        if name in TYPE_CONVERSIONS and len(node.arguments) == 1 and is_constant(node.arguments[0]):
            return self._convert(name, self._eval(node.arguments[0]))  # folded when planned
        args = [self._eval(argument) for argument in node.arguments]
        resolved = True
        if name in ("string", "bytes") and len(node.arguments) == 1:
            # bytes_to_string and string_to_bytes traverse their argument, when the checker
            # chose them: for an argument known to be bytes (a string).
            resolved = self._types.of(node.arguments[0]) == (
                "bytes" if name == "string" else "string"
            )
        return self._apply(name, False, args, resolved)

    def _method(self, node: Call, target: Any) -> Any:
        if node.function in _OPTIONAL_FUNCTIONS:
            raise NotModelled(node.function)
        args = [target, *(self._eval(argument) for argument in node.arguments)]
        resolved = True
        if node.function in ("containsIP", "containsCIDR") and node.arguments:
            # The string overload is chosen only for an argument known to be a string.
            resolved = self._types.of(node.arguments[0]) == "string"
        elif node.function == "sort" and node.target is not None:
            # cel-go's sort tracker is bound to an overload per element type.
            item = list_item_type(self._types.of(node.target))
            resolved = item not in (None, "dyn", "any")
        return self._apply(node.function, True, args, resolved)

    def _apply(self, name: str, member: bool, args: list[Any], resolved: bool = True) -> Any:
        if (
            name not in RESULT_SIZED
            and self._cost + call_cost(name, member, args, None, resolved=resolved) > self._limit
        ):
            # Past the limit whatever the call returns: stop before computing it (cel-go
            # computes, then stops; the answer is the same).
            raise CostLimitExceeded(
                self._cost + call_cost(name, member, args, None, resolved=resolved)
            )
        if name == "size" and len(args) == 1:
            result = size_of(args[0])
        elif name == "lists.range" and is_count(args):
            result = list(range(args[0]))  # as the library builds it, without converting
        elif name in ("type", "string", "dyn") and len(args) == 1:
            result = self._convert(name, args[0])
        else:
            operands = ", ".join(f"_{i}" for i in range(len(args)))
            if member:
                rest = ", ".join(f"_{i}" for i in range(1, len(args)))
                form = f"_0.{name}({rest})"
            else:
                form = f"{name}({operands})"
            result = self._calls.run(form, [plain(arg) for arg in args])
        self._charge(call_cost(name, member, args, result, resolved=resolved))
        return result

    def _convert(self, name: str, value: Any) -> Any:
        if isinstance(value, ErrorValue):
            return value
        if name == "type":
            return TypeValue(cel_type_name(value))
        if name == "dyn":
            return value
        if name == "string" and isinstance(value, str) and value.startswith((IP_TAG, CIDR_TAG)):
            name = STRING_OF_NETWORK  # as `environment.py` rewrites it
        return self._calls.run(f"{name}(_0)", [plain(value)])

    def _has(self, node: Call) -> Any:
        if len(node.arguments) != 1 or not isinstance(node.arguments[0], Select):
            raise NotModelled("has")
        selection = node.arguments[0]
        root, steps = member_steps(selection.operand)
        if not isinstance(root, Ident) or any(not isinstance(s, Select | Index) for s in steps):
            raise NotModelled("has")
        value = self._qualify(self._lookup_variable(root.name), list(steps))
        self._charge(1)
        if isinstance(value, ErrorValue):
            return value
        if isinstance(value, dict):
            return isinstance(value, DomainMap) or selection.field in value
        return ErrorValue("invalid type for field selection.")

    def _logical(self, node: Logical) -> Any:
        decisive = node.operator == "||"
        error: Any = None
        for operand in node.operands:
            value = self._eval(operand)
            if value is decisive:
                return decisive
            if value is not (not decisive) and error is None:
                error = value if isinstance(value, ErrorValue) else ErrorValue("no such overload")
        return error if error is not None else (not decisive)

    def _binary_chain(self, node: Relations | Arithmetic) -> Any:
        value = self._eval(node.first)
        left_type = self._types.of(node.first)
        for operator, operand in node.rest:
            right_type = self._types.of(operand)
            resolved = is_resolved(operator, left_type, right_type)
            left_type = arithmetic_type(left_type, right_type) if operator == "+" else "dyn"
            if operator == "in" and is_constant_primitive_list(operand):
                # cel-go's OptOptimize plans `x in [constants]` as a set lookup: no call.
                right = self._eval(operand)
                value = self._calls.run("_0 in _1", [plain(value), right])
                continue
            right = self._eval(operand)
            result = native_binary(operator, value, right)
            if result is NOT_NATIVE:
                result = self._calls.run(f"_0 {operator} _1", [plain(value), plain(right)])
            self._charge(call_cost(operator, False, [value, right], result, resolved=resolved))
            value = result
        return value

    def _unary(self, node: Unary) -> Any:
        # cel-go's parser drops pairs of `!` and of `-` (`!!x` is `x`), and folds one `-`
        # into a number literal (as `-9223372036854775808` must be).
        count = node.count % 2
        operand = node.operand
        if count and node.operator == "-" and node.before_number and isinstance(operand, Literal):
            return self._literal(Literal(operand.type_name, f"-{operand.text}"))
        value = self._eval(operand)
        for _ in range(count):
            value = self._calls.run(f"{node.operator}_0", [plain(value)])
            self._charge(1)
        return value

    def _conditional(self, node: Conditional) -> Any:
        condition = self._eval(node.condition)
        if condition is True:
            branch = node.when_true
        elif condition is False:
            branch = node.when_false
        else:
            return (
                condition if isinstance(condition, ErrorValue) else ErrorValue("no such overload")
            )
        return self._eval(branch, observed=not is_attribute(branch))

    def _list(self, node: ListLiteral) -> list[Any] | ErrorValue:
        items = [self._eval(item) for item in node.items]
        if not is_constant(node):
            self._charge(10)
        for item in items:
            if isinstance(item, ErrorValue):
                return item
        return items

    def _map(self, node: MapLiteral) -> Any:
        entries = [(self._eval(key), self._eval(value)) for key, value in node.entries]
        if not is_constant(node):
            self._charge(30)
        for pair in entries:
            for part in pair:
                if isinstance(part, ErrorValue):
                    return part
        try:
            return {key: value for key, value in entries}
        except TypeError:
            return ErrorValue("unsupported key type")

    def _bind(self, node: Bind) -> Any:
        self._types.scopes.append({node.variable: self._types.of(node.init)})
        self._scopes.append({node.variable: _Pending(node.init, len(self._scopes))})
        try:
            return self._eval(node.body)
        finally:
            self._scopes.pop()
            self._types.scopes.pop()

    def _comprehension(self, node: Comprehension, target: Any) -> Any:
        macro = MACROS.get(node.macro)
        two = len(node.variables) == 2
        fixed = node.macro in FIXED_VARIABLES
        if macro is None or (fixed and two != (node.macro in TWO_VARIABLE_ONLY)):
            raise NotModelled(node.macro)
        if isinstance(target, ErrorValue):
            return target
        variables = node.variables
        target_type = self._types.of(node.target)
        # Each element's bindings: one variable takes a list's items or a map's keys; two
        # take a list's (index, item) or a map's (key, value) pairs.
        if isinstance(target, dict):
            ordered = len(target) > 1
            pairs = list(target.items())
            key_type, value_type = map_parts(target_type)
        elif isinstance(target, list):
            ordered = False
            pairs = list(enumerate(target))
            key_type, value_type = "int", list_item_type(target_type)
        else:
            return ErrorValue(f"got '{cel_type_name(target)}', expected iterable type")
        if len(variables) == 1:
            first = 0 if isinstance(target, dict) else 1
            elements = [{variables[0]: pair[first]} for pair in pairs]
            types = {variables[0]: element_type(target_type)}
        else:
            elements = [dict(zip(variables, pair, strict=True)) for pair in pairs]
            types = {variables[0]: key_type or "dyn", variables[1]: value_type or "dyn"}
        self._types.scopes.append(types)
        self._scopes.append({})
        try:
            result = self._fold(macro, variables, node.arguments, elements)
            # Over a map of several entries, `all` that finds a false and `exists` that finds
            # a true stop at a point Go's map order (random) decides upstream; so does which
            # error an erring loop over such a map reports.
            decided = macro in ("all", "exists") and result is (macro == "exists")
            if ordered and (decided or isinstance(result, ErrorValue)):
                self.order_dependent = True
        except CostLimitExceeded:
            # And the count at which the limit is passed inside such a loop.
            self.order_dependent = self.order_dependent or ordered
            raise
        finally:
            self._scopes.pop()
            self._types.scopes.pop()
        for _ in range(2 if macro == "exists_one" else 1):
            self._charge(1)  # __result__ (== 1)
        return result

    def _fold(
        self,
        macro: str,
        variables: tuple[str, ...],
        arguments: tuple[Expr, ...],
        elements: list[dict[str, Any]],
    ) -> Any:
        """The macro's result, charging each step of cel-go's expansion as its tracker
        does (`all` and `exists` stop once their answer is known)."""
        scope = self._scopes[-1]
        if macro in ("all", "exists"):
            accumulator: Any = macro == "all"
            for element in elements:
                # The loop condition, @not_strictly_false(__result__) (`!__result__` for
                # exists), charged step by step as cel-go's tracker sees it.
                for _ in range(2 if macro == "all" else 3):
                    self._charge(1)
                if accumulator is (macro == "exists"):
                    return accumulator
                scope.update(element)
                self._charge(1)
                accumulator = combine(macro, accumulator, self._eval(arguments[0]))
            return accumulator
        if macro == "exists_one":
            count: Any = 0
            for element in elements:
                scope.update(element)
                holds = self._eval(arguments[0])
                if isinstance(holds, ErrorValue):
                    count = holds if not isinstance(count, ErrorValue) else count
                elif holds is True:
                    self._charge(1)  # __result__ + 1
                    self._charge(1)
                    if not isinstance(count, ErrorValue):
                        count += 1
            return count if isinstance(count, ErrorValue) else count == 1
        result: Any = {} if macro in ("transformMap", "transformMapEntry") else []
        for element in elements:
            scope.update(element)
            if macro == "filter" or len(arguments) == 2:
                holds = self._eval(arguments[0])
                if holds is not True:
                    if holds is not False and not isinstance(result, ErrorValue):
                        result = (
                            holds
                            if isinstance(holds, ErrorValue)
                            else ErrorValue("no such overload")
                        )
                    continue
            self._charge(1)  # __result__
            if macro == "filter":
                self._charge(1)
                produced = element[variables[0]]
            else:
                if macro == "transformMap":
                    self._charge(1)  # the key variable
                produced = self._eval(arguments[-1])
            if macro in ("map", "filter"):
                self._charge(10)  # [item]
            self._charge(1)  # + or cel.@mapInsert
            result = accumulate(macro, result, element[variables[0]], produced)
        return result
