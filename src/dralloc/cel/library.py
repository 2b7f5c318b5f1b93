"""The function table of the DRA CEL environment: what exists, in which call form, and how
the Python implementations are handed to the Rust library.

Owns:

- `DECLARATIONS`: every function and macro an expression may call, native to the library or
  implemented here, with its call form (member `x.f()`, global `f(x)` or both), the argument
  counts it accepts and the feature gate that introduced it. The environment's checker
  rejects any call not declared here at compile time, the way cel-go's type checker would.
- `FUNCTIONS`: the Python implementations, keyed as the library looks them up, each wrapped
  so that it never raises (see `values.error_value`): an exception raised into the library
  would be printed to fd 2 by the library.
- The receiver-type dispatch of `compareTo`, `isGreaterThan` and `isLessThan` (quantity or
  semver), and of `indexOf`/`lastIndexOf` (string or list).

Pure data and computation, no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from dralloc.cel import ext_lib, network_lib, quantity_lib, semver_lib
from dralloc.cel.source import ENTRIES_FUNCTION, MERGE_MAPS_FUNCTION, PAIRS_TO_MAP_FUNCTION
from dralloc.cel.values import QUANTITY_TAG, SEMVER_TAG, EvalError, cel_literal, error_value

__all__ = [
    "DECLARATIONS",
    "FUNCTIONS",
    "GATE_LIST_TYPE_ATTRIBUTES",
    "INTERNAL_FUNCTIONS",
    "NETWORK_CONSTRUCTORS",
    "RESULT_TYPES",
    "SIZE_IN_CODE_POINTS",
    "STRING_OF_NETWORK",
    "UNSUPPORTED",
    "Declaration",
    "fold_constant_call",
]

GATE_LIST_TYPE_ATTRIBUTES: Final = "DRAListTypeAttributes"


@dataclass(frozen=True, slots=True)
class Declaration:
    """How a function may be called.

    `member`: True for `x.f(...)` only, False for `f(...)` only, None for both. `arities`: the
    accepted argument counts *including* the receiver of a member call; None means the
    library checks. `gate`: the feature gate that introduced it (new expressions need it on;
    stored ones, which the allocator compiles, may call it whatever the gate). `result`: the
    type every overload returns, as cel-go names it (`bool`, `int`, `kubernetes.Quantity`),
    for the checker's result-type inference (`checker.py`); None when it depends on the
    arguments.
    """

    member: bool | None
    arities: frozenset[int] | None
    gate: str | None = None
    result: str | None = None


def _decl(
    member: bool | None, *arities: int, gate: str | None = None, result: str | None = None
) -> Declaration:
    return Declaration(member, frozenset(arities) if arities else None, gate, result)


_MEMBER = True
_GLOBAL = False
_BOTH = None

# Native to the Rust library (cel-spec standard definitions and macros; the two-variable
# comprehensions are rewritten into them). Not provided, though k8s has them: `UNSUPPORTED`,
# and the `.?`/`[?` optional syntax (the parser rejects it).
_NATIVE: Final[dict[str, Declaration]] = {
    "has": _decl(_GLOBAL, 1, result="bool"),
    "all": _decl(_MEMBER, 3, 4, result="bool"),
    "exists": _decl(_MEMBER, 3, 4, result="bool"),
    "exists_one": _decl(_MEMBER, 3, 4, result="bool"),
    # cel-go's two-variable comprehensions (ext.TwoVarComprehensions), rewritten into the
    # one-variable macros by `source.py`.
    "existsOne": _decl(_MEMBER, 4, result="bool"),
    "transformList": _decl(_MEMBER, 4, 5),
    "transformMap": _decl(_MEMBER, 4, 5),
    "transformMapEntry": _decl(_MEMBER, 4, 5),
    "map": _decl(_MEMBER, 3, 4, 5),
    "filter": _decl(_MEMBER, 3, 4),
    "cel.bind": _decl(_GLOBAL, 3),
    "size": _decl(_BOTH, 1, result="int"),
    "contains": _decl(_MEMBER, 2, result="bool"),
    "startsWith": _decl(_MEMBER, 2, result="bool"),
    "endsWith": _decl(_MEMBER, 2, result="bool"),
    "int": _decl(_GLOBAL, 1, result="int"),
    "uint": _decl(_GLOBAL, 1, result="uint"),
    "double": _decl(_GLOBAL, 1, result="double"),
    "string": _decl(_GLOBAL, 1, result="string"),
    "bytes": _decl(_GLOBAL, 1, result="bytes"),
    "dyn": _decl(_GLOBAL, 1, result="dyn"),
    "type": _decl(_GLOBAL, 1),
    "timestamp": _decl(_GLOBAL, 1, result="google.protobuf.Timestamp"),
    "duration": _decl(_GLOBAL, 1, result="google.protobuf.Duration"),
    "optional.of": _decl(_GLOBAL, 1),
    "optional.ofNonZeroValue": _decl(_GLOBAL, 1),
    "optional.none": _decl(_GLOBAL, 0),
    "hasValue": _decl(_MEMBER, 1, result="bool"),
    "value": _decl(_MEMBER, 1),
    "orValue": _decl(_MEMBER, 2),
    "or": _decl(_MEMBER, 2),
    **{
        getter: _decl(_MEMBER, 1, 2, result="int")
        for getter in (
            "getFullYear",
            "getMonth",
            "getDate",
            "getDayOfMonth",
            "getDayOfWeek",
            "getDayOfYear",
            "getHours",
            "getMinutes",
            "getSeconds",
            "getMilliseconds",
        )
    },
}


# ------------------------------------------------------------------------ receiver dispatch
#
# compareTo and friends are the hot path of capacity and version selectors, so they are
# written never to raise and are registered without the generic wrapper's extra frames.

_TAG_LEN: Final = len(QUANTITY_TAG)


def _compare_to(left: Any, right: Any) -> Any:
    """`compareTo` for Quantity or Semver receivers: -1, 0, 1 or an error value."""
    try:
        if isinstance(left, str) and isinstance(right, str):
            if left.startswith(QUANTITY_TAG) and right.startswith(QUANTITY_TAG):
                a = int(left[_TAG_LEN:])
                b = int(right[_TAG_LEN:])
                return (a > b) - (a < b)
            if left.startswith(SEMVER_TAG):
                return semver_lib.compare(left, right)
        return error_value("no such overload")
    except EvalError as exc:
        return error_value(str(exc))
    except Exception as exc:
        return error_value(f"compareTo: {exc}")


def _is_greater_than(left: Any, right: Any) -> Any:
    result = _compare_to(left, right)
    return result == 1 if isinstance(result, int) else result


def _is_less_than(left: Any, right: Any) -> Any:
    result = _compare_to(left, right)
    return result == -1 if isinstance(result, int) else result


_NEVER_RAISING: Final[dict[str, Callable[..., Any]]] = {
    "compareTo": _compare_to,
    "isGreaterThan": _is_greater_than,
    "isLessThan": _is_less_than,
}


# Implemented here: (implementation, declaration).
_PYTHON: Final[dict[str, tuple[Callable[..., Any], Declaration]]] = {
    # quantity library
    "quantity": (quantity_lib.quantity, _decl(_GLOBAL, 1, result="kubernetes.Quantity")),
    "isQuantity": (quantity_lib.is_quantity_string, _decl(_GLOBAL, 1, result="bool")),
    # Upstream declares `sign` as a global overload; both forms are accepted here.
    "sign": (quantity_lib.sign, _decl(_BOTH, 1, result="int")),
    "isInteger": (quantity_lib.is_integer, _decl(_MEMBER, 1, result="bool")),
    "asInteger": (quantity_lib.as_integer, _decl(_MEMBER, 1, result="int")),
    "asApproximateFloat": (quantity_lib.as_approximate_float, _decl(_MEMBER, 1, result="double")),
    "add": (quantity_lib.add, _decl(_MEMBER, 2, result="kubernetes.Quantity")),
    "sub": (quantity_lib.sub, _decl(_MEMBER, 2, result="kubernetes.Quantity")),
    # quantity and semver
    "compareTo": (_compare_to, _decl(_MEMBER, 2, result="int")),
    "isGreaterThan": (_is_greater_than, _decl(_MEMBER, 2, result="bool")),
    "isLessThan": (_is_less_than, _decl(_MEMBER, 2, result="bool")),
    # semver library v1
    "semver": (semver_lib.semver_value, _decl(_GLOBAL, 1, 2, result="kubernetes.Semver")),
    "isSemver": (semver_lib.is_semver_string, _decl(_GLOBAL, 1, 2, result="bool")),
    "major": (semver_lib.major, _decl(_MEMBER, 1, result="int")),
    "minor": (semver_lib.minor, _decl(_MEMBER, 1, result="int")),
    "patch": (semver_lib.patch, _decl(_MEMBER, 1, result="int")),
    # strings extension
    "charAt": (ext_lib.char_at, _decl(_MEMBER, 2, result="string")),
    "indexOf": (ext_lib.index_of, _decl(_MEMBER, 2, 3, result="int")),
    "lastIndexOf": (ext_lib.last_index_of, _decl(_MEMBER, 2, 3, result="int")),
    "lowerAscii": (ext_lib.lower_ascii, _decl(_MEMBER, 1, result="string")),
    "upperAscii": (ext_lib.upper_ascii, _decl(_MEMBER, 1, result="string")),
    "replace": (ext_lib.replace, _decl(_MEMBER, 3, 4, result="string")),
    "split": (ext_lib.split, _decl(_MEMBER, 2, 3, result="list(string)")),
    "substring": (ext_lib.substring, _decl(_MEMBER, 2, 3, result="string")),
    "trim": (ext_lib.trim, _decl(_MEMBER, 1, result="string")),
    "join": (ext_lib.join, _decl(_MEMBER, 1, 2, result="string")),
    "reverse": (ext_lib.reverse, _decl(_MEMBER, 1)),
    "strings.quote": (ext_lib.quote, _decl(_GLOBAL, 1, result="string")),
    # Kubernetes list library (+ includes, KEP-5491)
    "isSorted": (ext_lib.is_sorted, _decl(_MEMBER, 1, result="bool")),
    "sum": (ext_lib.sum_, _decl(_MEMBER, 1)),
    "min": (ext_lib.min_, _decl(_MEMBER, 1)),
    "max": (ext_lib.max_, _decl(_MEMBER, 1)),
    "includes": (
        ext_lib.includes,
        _decl(_MEMBER, 2, gate=GATE_LIST_TYPE_ATTRIBUTES, result="bool"),
    ),
    # cel-go lists extension
    "slice": (ext_lib.slice_, _decl(_MEMBER, 3)),
    "flatten": (ext_lib.flatten, _decl(_MEMBER, 1, 2)),
    "distinct": (ext_lib.distinct, _decl(_MEMBER, 1)),
    "sort": (ext_lib.sort, _decl(_MEMBER, 1)),
    "lists.range": (ext_lib.lists_range, _decl(_GLOBAL, 1, result="list(int)")),
    # sets extension
    "sets.contains": (ext_lib.sets_contains, _decl(_GLOBAL, 2, result="bool")),
    "sets.equivalent": (ext_lib.sets_equivalent, _decl(_GLOBAL, 2, result="bool")),
    "sets.intersects": (ext_lib.sets_intersects, _decl(_GLOBAL, 2, result="bool")),
    # `s.matches(re)` is native; the library lacks the global form `matches(s, re)`, and a
    # Python function of that name is only consulted for it.
    "matches": (ext_lib.matches, _decl(_BOTH, 2, result="bool")),
    # regex library
    "find": (ext_lib.find, _decl(_MEMBER, 2, result="string")),
    "findAll": (ext_lib.find_all, _decl(_MEMBER, 2, 3, result="list(string)")),
    # cel-go `bool()` conversion, missing from the Rust library
    "bool": (ext_lib.bool_, _decl(_GLOBAL, 1, result="bool")),
    # Kubernetes IP library; `ip` is also the CIDR member `c.ip()`
    "ip": (network_lib.ip, _decl(_BOTH, 1, result="net.IP")),
    "isIP": (network_lib.is_ip, _decl(_GLOBAL, 1, result="bool")),
    "ip.isCanonical": (network_lib.is_canonical, _decl(_GLOBAL, 1, result="bool")),
    "family": (network_lib.family, _decl(_MEMBER, 1, result="int")),
    "isUnspecified": (network_lib.is_unspecified, _decl(_MEMBER, 1, result="bool")),
    "isLoopback": (network_lib.is_loopback, _decl(_MEMBER, 1, result="bool")),
    "isLinkLocalMulticast": (
        network_lib.is_link_local_multicast,
        _decl(_MEMBER, 1, result="bool"),
    ),
    "isLinkLocalUnicast": (network_lib.is_link_local_unicast, _decl(_MEMBER, 1, result="bool")),
    "isGlobalUnicast": (network_lib.is_global_unicast, _decl(_MEMBER, 1, result="bool")),
    # Kubernetes CIDR library
    "cidr": (network_lib.cidr, _decl(_GLOBAL, 1, result="net.CIDR")),
    "isCIDR": (network_lib.is_cidr, _decl(_GLOBAL, 1, result="bool")),
    "containsIP": (network_lib.contains_ip, _decl(_MEMBER, 2, result="bool")),
    "containsCIDR": (network_lib.contains_cidr, _decl(_MEMBER, 2, result="bool")),
    "masked": (network_lib.masked, _decl(_MEMBER, 1, result="net.CIDR")),
    "prefixLength": (network_lib.prefix_length, _decl(_MEMBER, 1, result="int")),
}


# Functions of Kubernetes 1.36's DRA environment this engine lacks, by the library they
# belong to (k8s.io/apiserver cel/environment base.go enables them for every selector): a
# call says so rather than "undeclared reference".
UNSUPPORTED: Final[Mapping[str, str]] = MappingProxyType(
    {
        **dict.fromkeys(
            [
                "url",
                "getScheme",
                "getHost",
                "getHostname",
                "getPort",
                "getEscapedPath",
                "getQuery",
                "isURL",
            ],
            "Kubernetes' URL library",
        ),
        "format": "cel-go's strings.format",
        "validate": "Kubernetes' format library",
        "sortBy": "cel-go's lists extension",
    }
)


def _never_raising(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """`function`, made to return an error value instead of raising (see module docstring)."""

    def call(*args: Any) -> Any:
        try:
            return function(*args)
        except EvalError as exc:
            return error_value(str(exc))
        except Exception as exc:
            # Anything else (TypeError for a wrong argument, IndexError, re.error, ...) is
            # still a CEL runtime error, and must not reach the library either.
            return error_value(f"{name}: {exc}")

    call.__name__ = call.__qualname__ = f"cel_{name.replace('.', '_')}"
    return call


DECLARATIONS: Final[Mapping[str, Declaration]] = MappingProxyType(
    {**_NATIVE, **{name: decl for name, (_, decl) in _PYTHON.items()}}
)

RESULT_TYPES: Final[Mapping[str, str]] = MappingProxyType(
    {name: decl.result for name, decl in DECLARATIONS.items() if decl.result is not None}
)
"""Functions whose every overload returns one type, by name, for `checker.py`."""

STRING_OF_NETWORK: Final = "dralloc_string"
"""The internal function `string()` calls become in expressions that make IPs or CIDRs (the
library's own `string` would show their tags); `environment.py` rewrites to it."""

NETWORK_CONSTRUCTORS: Final = frozenset({"ip", "cidr", "masked"})
"""The calls that make an IP or a CIDR value: an expression without them holds none."""

SIZE_IN_CODE_POINTS: Final = "dralloc_size"
"""The internal function `size()` calls become when their argument may be a string (the
library's own `size` counts a string's UTF-8 bytes): not declared, so no user expression can
name it; `environment.py` rewrites to it."""

INTERNAL_FUNCTIONS: Final = frozenset(
    {
        SIZE_IN_CODE_POINTS,
        STRING_OF_NETWORK,
        ENTRIES_FUNCTION,
        PAIRS_TO_MAP_FUNCTION,
        MERGE_MAPS_FUNCTION,
    }
)
"""Functions only the rewrites call (`environment.py`, `source.py`): in `FUNCTIONS`, never
in `DECLARATIONS`."""

FUNCTIONS: Final[Mapping[str, Callable[..., Any]]] = MappingProxyType(
    {
        **{
            name: _NEVER_RAISING.get(name) or _never_raising(name, function)
            for name, (function, _) in _PYTHON.items()
        },
        SIZE_IN_CODE_POINTS: _never_raising("size", ext_lib.size_in_code_points),
        STRING_OF_NETWORK: _never_raising("string", network_lib.to_string),
        ENTRIES_FUNCTION: _never_raising("entries", ext_lib.entries),
        PAIRS_TO_MAP_FUNCTION: _never_raising("transformMap", ext_lib.pairs_to_map),
        MERGE_MAPS_FUNCTION: _never_raising("transformMapEntry", ext_lib.merge_maps),
    }
)


# Pure global functions worth evaluating at compile time when all arguments are literals.
_FOLDABLE: Final[Mapping[str, Callable[..., Any]]] = MappingProxyType(
    {
        "quantity": quantity_lib.quantity,
        "isQuantity": quantity_lib.is_quantity_string,
        "semver": semver_lib.semver_value,
        "isSemver": semver_lib.is_semver_string,
        "ip": network_lib.ip,
        "isIP": network_lib.is_ip,
        "cidr": network_lib.cidr,
        "isCIDR": network_lib.is_cidr,
    }
)


def fold_constant_call(name: str, args: tuple[str | bool, ...]) -> str | None:
    """The CEL literal for `name(*args)` when it can be computed now and succeeds; None
    otherwise, so a failing call still fails lazily at run time (and `|| true` absorbs it)."""
    function = _FOLDABLE.get(name)
    if function is None:
        return None
    try:
        value = function(*args)
    except Exception:
        return None
    return cel_literal(value)
