"""What one call costs while a selector runs: cel-go's actual cost of a function call.

cel-go's interpreter (interpreter/runtimecost.go `costCall`) asks, in this order, the
function trackers a library registered (ext/lists.go and ext/sets.go, by overload), the
environment's estimator (k8s.io/apiserver pkg/cel/library/cost.go `CallCost`), and then its
own default: a traversal of the first string for `startsWith`/`endsWith`, the list's size for
`in`, the smaller operand for `==`, `!=` and string orderings, both strings for string and
bytes `+`, string times regex for member `matches` and `contains`, and 1 for every other call
(conversions, `size`, arithmetic, comparisons of scalars, the global `matches`, `includes`).
`call_cost` gives that figure for a call by name, form and the actual values; sizes are
cel-go's `actualSize` (a string's code points, a list's items, a map's entries, 1 for any
other value, Quantity, Semver, IP and CIDR included) and k8s' `traversalCost`. Pure
computation on values as `runtime_cost.py` holds them. Also the limit's error and
`CostCounting`, when an environment counts at all.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Any, Final

from dralloc.cel.values import CIDR_TAG, IP_TAG, QUANTITY_TAG, SEMVER_TAG

__all__ = [
    "COST_LIMIT_EXCEEDED",
    "RESULT_SIZED",
    "TAGS",
    "CostCounting",
    "CostLimitExceeded",
    "actual_size",
    "call_cost",
    "is_tagged",
    "traversal_cost",
]

TAGS: Final = (QUANTITY_TAG, SEMVER_TAG, IP_TAG, CIDR_TAG)
_STRING_TRAVERSAL: Final = 0.1
_REGEX_LENGTH: Final = 0.25
_CALL: Final = 1
_LIST_CREATE: Final = 10

# k8s.io/apiserver library/cost.go: a traversal of the first argument.
_TRAVERSE_FIRST: Final = frozenset({"lowerAscii", "upperAscii", "substring", "trim"})
_PARSE_FIRST: Final = frozenset(
    {"quantity", "isQuantity", "semver", "isSemver", "cidr", "isIP", "isCIDR"}
)
_TRAVERSAL: Final = frozenset({"isSorted", "sum", "max", "min", "indexOf", "lastIndexOf"})
# cel-go ext/lists.go trackers: the result's (or input's) size, plus a call and a list.
_LIST_OUTPUT: Final = frozenset({"slice", "lists.range"})
_SELF_COMPARE: Final = frozenset({"distinct", "sort"})
_SETS_FACTOR: Final = {"sets.contains": 1.0, "sets.intersects": 1.0, "sets.equivalent": 2.0}
_STRING_ORDERINGS: Final = frozenset({"<", "<=", ">", ">="})
RESULT_SIZED: Final = frozenset({"join", "slice", "reverse", "lists.range"})
"""The calls whose cost depends on their result (the others' is known from the arguments)."""
_BY_OVERLOAD: Final = _STRING_ORDERINGS | {"+", "in", "sort"}


COST_LIMIT_EXCEEDED: Final = "operation cancelled: actual cost limit exceeded"
"""cel-go's error for an evaluation stopped at the runtime cost limit."""


class CostCounting(StrEnum):
    """When a `CelEnvironment` counts a selector's runtime cost.

    `near_limit` (the default): only for a selector whose static estimate (`cost.py`)
    reaches half the limit, or that calls a function the estimate charges nominally
    (`sort`, `distinct`, `slice`, `flatten`, `reverse`, `strings.quote`). Any other selector
    stays under the limit on a device within resource.k8s.io's sizes: its actual cost is at
    most its estimate plus a little (at most 1.25 times it on the recorded rows, 1.33 on
    1,800 random selectors: a node or two the estimate leaves out), and the half leaves
    room for that. `always`: every selector (the plain path with the count beside
    it, for tests that the shortcut changes no answer). `off`: never, as dralloc did before
    counting.
    """

    OFF = "off"
    NEAR_LIMIT = "near-limit"
    ALWAYS = "always"


class CostLimitExceeded(Exception):
    """The evaluation passed the limit; `cost` is the count when it did, as cel-go reports."""

    def __init__(self, cost: int) -> None:
        super().__init__(COST_LIMIT_EXCEEDED)
        self.cost = cost


def is_tagged(value: object) -> bool:
    return isinstance(value, str) and value.startswith(TAGS)


def actual_size(value: object) -> int:
    """cel-go's `actualSize`: a Sizer's size, 1 for anything else."""
    if isinstance(value, str):
        return 1 if is_tagged(value) else len(value)
    if isinstance(value, bytes | list | dict):
        return len(value)
    return 1


def traversal_cost(value: object) -> int:
    """k8s.io/apiserver library/cost.go `traversalCost` (truncated, not rounded up)."""
    if isinstance(value, str) and not is_tagged(value):
        return int(float(len(value)) * _STRING_TRAVERSAL)
    if isinstance(value, bytes):
        return int(float(len(value)) * _STRING_TRAVERSAL)
    if isinstance(value, list):
        return sum(traversal_cost(item) for item in value)
    if isinstance(value, dict):
        return sum(traversal_cost(k) + traversal_cost(v) for k, v in value.items())
    return 1


def _traverse(size: int, factor: float = _STRING_TRAVERSAL) -> int:
    return math.ceil(float(size) * factor)


def _regex(text: object, pattern: object) -> int:
    return _traverse(1 + actual_size(text)) * _traverse(actual_size(pattern), _REGEX_LENGTH)


def _is_text(value: object) -> bool:
    return (isinstance(value, str) and not is_tagged(value)) or isinstance(value, bytes)


def call_cost(
    function: str, member: bool, args: list[Any], result: Any, *, resolved: bool = True
) -> int:
    """The actual cost of one call: `function` as written (`sets.contains`, an operator
    `==`, `+`, `in`...), `member` for the receiver form, `args` with the receiver first,
    `result` the call's value. Error arguments count as size 1, as cel-go's do.

    `resolved` False when the type checker could not pick one overload (operands of unknown
    type: an attribute value `+` an attribute value, `x in` a value of unknown type, an IP
    given as an attribute value, `sort` of a list of unknown items): cel-go's tracker then
    knows no overload ID, and the costs chosen by one (string `+`, string orderings, `in` a
    list, `sort`, the string form of `containsIP`/`containsCIDR`) fall back to its default
    of 1 or to their other part."""
    first = args[0] if args else None
    if not resolved and function in _BY_OVERLOAD:
        return _CALL
    if function in ("==", "!="):
        if function == "==" and is_tagged(first):
            return _CALL  # k8s: Quantity, Semver, IP and CIDR equality is nominal
        return _traverse(min(actual_size(first), actual_size(args[1])))
    if function in _STRING_ORDERINGS:
        if _is_text(first) and _is_text(args[1]):
            return _traverse(min(actual_size(first), actual_size(args[1])))
        return _CALL
    if function == "+":
        if _is_text(first) and _is_text(args[1]):
            return _traverse(actual_size(first) + actual_size(args[1]))
        return _CALL
    if function == "in":
        return actual_size(args[1]) if isinstance(args[1], list) else _CALL
    if not member and function == "matches":
        return _CALL  # the global overload ("matches") has no traversal cost in cel-go
    if not member and function in ("string", "bytes") and len(args) == 1:
        # bytes_to_string, string_to_bytes: a traversal, when the checker chose them.
        text = _is_text(first) and not isinstance(first, bool)
        return _traverse(actual_size(first)) if resolved and text else _CALL
    return _library_cost(function, args, result, resolved)


def _library_cost(function: str, args: list[Any], result: Any, resolved: bool) -> int:
    first = args[0] if args else None
    if function in ("startsWith", "endsWith", "strings.quote"):
        return _traverse(actual_size(first))
    if function == "contains" and len(args) == 2:
        return _traverse(actual_size(first)) * _traverse(actual_size(args[1]))
    if function in ("matches", "find", "findAll") and len(args) == 2:
        return _regex(first, args[1])
    if function in _TRAVERSE_FIRST or function in _PARSE_FIRST:
        return _traverse(actual_size(first))
    if function in ("replace", "split"):
        return _traverse(actual_size(first), 2 * _STRING_TRAVERSAL)
    if function == "join":
        return _traverse(actual_size(result), 2 * _STRING_TRAVERSAL)
    if function == "ip":
        is_cidr = isinstance(first, str) and first.startswith(CIDR_TAG)
        return _CALL if is_cidr else _traverse(actual_size(first))
    if function == "ip.isCanonical":
        return _traverse(actual_size(first), 2 * _STRING_TRAVERSAL)
    if function in ("containsIP", "containsCIDR") and len(args) == 2:
        own = actual_size(first)
        cost = _traverse(own + own)
        if function == "containsCIDR":
            cost += _traverse(own) + 1
        if resolved and isinstance(args[1], str) and not is_tagged(args[1]):
            cost += _traverse(actual_size(args[1]))
        return cost
    if function in _TRAVERSAL:
        return traversal_cost(first)
    if function == "lists.range" and isinstance(first, int) and not isinstance(first, bool):
        # The list's size, known before it is built (dralloc's library refuses a range past
        # the limit rather than build it).
        return max(first, 0) + _CALL + _LIST_CREATE
    if function in _LIST_OUTPUT or (function == "reverse" and isinstance(first, list)):
        return actual_size(result) + _CALL + _LIST_CREATE
    if function == "flatten":
        depth = float(args[1]) if len(args) == 2 and isinstance(args[1], int) else 1.0
        return int(depth * float(actual_size(first))) + _CALL + _LIST_CREATE
    if function in _SELF_COMPARE and isinstance(first, list):
        size = len(first)
        factor = 2.0
        if size and isinstance(first[0], str | bytes) and not is_tagged(first[0]):
            factor += _STRING_TRAVERSAL
        return int(float(size * size) * factor) + _CALL + _LIST_CREATE
    if function in _SETS_FACTOR and len(args) == 2:
        product = actual_size(first) * actual_size(args[1])
        return _CALL + int(float(product) * _SETS_FACTOR[function])
    return _CALL
