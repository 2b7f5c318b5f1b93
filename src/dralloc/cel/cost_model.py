"""The units, tables and declared sizes of the selector cost estimate (`cost.py`).

cel-go's cost units (common/cost.go), the costs its checker and k8s.io/apiserver's library
estimator give the functions the DRA environment declares, the cost of one step of each
macro's expansion, the maxima resource.k8s.io declares for the `device` variable, and
cel-go's saturating arithmetic. Pure data and computation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from dralloc.cel.type_names import QUANTITY, SEMVER

__all__ = [
    "ADDRESS_BYTES",
    "CONSTANT_SIZE_EQUALITY",
    "DYNAMIC",
    "INIT_COST",
    "LIST_CREATE",
    "LIST_TRAVERSALS",
    "MAP_CREATE",
    "PARSE_FUNCTIONS",
    "REGEX_LENGTH",
    "RESULT_COST",
    "SCALAR_TYPES",
    "SELECT_AND_IDENT",
    "SETS_COST_FACTOR",
    "STEP_COST",
    "STRING_SIZED_RESULT",
    "STRING_TRAVERSAL",
    "UNIT_COST_FUNCTIONS",
    "UNKNOWN_SIZE",
    "UNSIZED_RESULT",
    "Decl",
    "add_costs",
    "by_factor",
    "declared_size",
    "device_decl",
    "multiply_costs",
]

UNKNOWN_SIZE: Final = 2**64 - 1
"""cel-go's unknown size and cost (math.MaxUint64)."""

# cel-go common/cost.go.
SELECT_AND_IDENT: Final = 1
LIST_CREATE: Final = 10
MAP_CREATE: Final = 30
STRING_TRAVERSAL: Final = 0.1
REGEX_LENGTH: Final = 0.25

SCALAR_TYPES: Final = frozenset(
    {"bool", "int", "uint", "double", "google.protobuf.Duration", "google.protobuf.Timestamp"}
)
DYNAMIC: Final = frozenset({"any", "dyn"})
CONSTANT_SIZE_EQUALITY: Final = frozenset({QUANTITY, SEMVER, "net.IP", "net.CIDR"})
# The library functions upstream charges 1 whatever their arguments (cel-go's default for
# the standard library, k8s.io/apiserver library/cost.go for the quantity and semver ones).
UNIT_COST_FUNCTIONS: Final = frozenset(
    [
        "size",
        "int",
        "uint",
        "double",
        "string",
        "bool",
        "type",
        "has",
        "timestamp",
        "duration",
        "sign",
        "asInteger",
        "isInteger",
        "asApproximateFloat",
        "isGreaterThan",
        "isLessThan",
        "compareTo",
        "add",
        "sub",
        "major",
        "minor",
        "patch",
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
        "charAt",
        # cel-go's optional values
        "hasValue",
        "value",
        "orValue",
        "or",
        "optional.of",
        "optional.ofNonZeroValue",
        "optional.none",
        "first",
        "last",
        # k8s.io/apiserver library/cost.go: IP and CIDR accessors are nominal
        "masked",
        "prefixLength",
        "family",
        "isUnspecified",
        "isLoopback",
        "isLinkLocalMulticast",
        "isLinkLocalUnicast",
        "isGlobalUnicast",
    ]
)
# Results no estimator sizes: a string's size is unknown to upstream (not declared anywhere).
UNSIZED_RESULT: Final = frozenset({"string", "charAt"})
# cel-go ext/sets.go: the factor on the product of both lists' sizes.
SETS_COST_FACTOR: Final = {"sets.contains": 1.0, "sets.intersects": 1.0, "sets.equivalent": 2.0}
STRING_SIZED_RESULT: Final = frozenset({"lowerAscii", "upperAscii", "trim", "substring"})
PARSE_FUNCTIONS: Final = frozenset(
    {"quantity", "isQuantity", "semver", "isSemver", "ip", "isIP", "cidr", "isCIDR"}
)
# The two byte lists an IP or CIDR comparison traverses (16 bytes for IPv6), k8s cost.go.
ADDRESS_BYTES: Final = 16
LIST_TRAVERSALS: Final = frozenset({"isSorted", "sum", "max", "min", "indexOf", "lastIndexOf"})
# Per-iteration cost of cel-go's macro expansions (parser/macro.go) beside the user's own
# expressions, and the cost of the accumulator's init and of the result.
STEP_COST: Final = {"all": 3, "exists": 4, "exists_one": 2, "map": 12, "filter": 13}
INIT_COST: Final = {
    "all": 0,
    "exists": 0,
    "exists_one": 0,
    "map": LIST_CREATE,
    "filter": LIST_CREATE,
}
RESULT_COST: Final = {"all": 1, "exists": 1, "exists_one": 2, "map": 1, "filter": 1}


# ------------------------------------------------------------------- the device's sizes


@dataclass(frozen=True, slots=True)
class Decl:
    """One node of the `device` variable's declared type: its maximum size, its map's key
    and value declarations, an object's fields."""

    max_elements: int
    key: Decl | None = None
    value: Decl | None = None
    fields: Mapping[str, Decl] | None = None


def device_decl(list_type_attributes: bool) -> Decl:
    """resource.k8s.io's limits as the DRA environment declares them (compile.go
    `newCompiler`): with DRAListTypeAttributes an attribute value may be a list of up to 48
    values, so its size is the larger of that and a value's 64 characters."""
    domain = Decl(63)
    ident = Decl(32)
    attribute = Decl(max(64, 48) if list_type_attributes else 64)
    inner_attributes = Decl(32, ident, attribute)
    inner_capacity = Decl(32, ident, Decl(0))
    return Decl(
        0,
        fields={
            "driver": Decl(63),
            "allowMultipleAllocations": Decl(1),
            "attributes": Decl(32, domain, inner_attributes),
            "capacity": Decl(32, domain, inner_capacity),
        },
    )


def declared_size(device: Decl, attribute: Decl, path: tuple[str, ...]) -> int | None:
    """The declared maximum size at `path` (`device`, then fields, `@keys`, `@values` and
    `@items`), or None where the declarations say nothing: upstream's size estimator."""
    if not path or path[0] != "device":
        return None
    node: Decl | None = device
    for name in path[1:]:
        if node is None:
            return None
        if name in ("@items", "@values"):
            node = node.value
        elif name == "@keys":
            node = node.key
        elif node.fields is not None and name in node.fields:
            node = node.fields[name]
        elif node.value is attribute:
            node = attribute  # any attribute name of an inner attributes map
        else:
            return None
    return None if node is None else node.max_elements


# ------------------------------------------------------------------------- arithmetic


def add_costs(*values: int) -> int:
    return min(sum(values), UNKNOWN_SIZE)


def multiply_costs(left: int, right: int) -> int:
    return min(left * right, UNKNOWN_SIZE)


def by_factor(value: int, factor: float) -> int:
    """cel-go's `multiplyByCostFactor`: in float64, rounded up, saturating."""
    product = float(value) * factor
    if product >= 2.0**64:
        return UNKNOWN_SIZE
    return math.ceil(product)
