"""CEL type names as cel-go prints them, and the few facts read off one: what the type
inference (`checker.py`) and the cost estimate (`cost.py`) both say of a value's type.

A type is its name (`int`, `list(string)`, `map(string, map(string, any))`,
`kubernetes.Quantity`); `dyn` and `any` are the unknown types. The `device` variable's
fields are declared here once, as resource.k8s.io's DRA environment declares them
(k8s.io/dynamic-resource-allocation cel/compile.go). Pure computation on strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

__all__ = [
    "ATTRIBUTE",
    "DEVICE_FIELD_TYPES",
    "DEVICE_TYPE",
    "QUANTITY",
    "SEMVER",
    "is_list",
    "is_map",
    "known",
    "list_item_type",
    "map_parts",
]

DEVICE_TYPE: Final = "kubernetes.DRADevice"
QUANTITY: Final = "kubernetes.Quantity"
SEMVER: Final = "kubernetes.Semver"
ATTRIBUTE: Final = "any"
"""An attribute value's declared type (with DRAListTypeAttributes it may also be a list)."""

DEVICE_FIELD_TYPES: Final[Mapping[str, str]] = {
    "driver": "string",
    "allowMultipleAllocations": "bool",
    "attributes": f"map(string, map(string, {ATTRIBUTE}))",
    "capacity": f"map(string, map(string, {QUANTITY}))",
}


def known(type_name: str | None) -> str | None:
    """`type_name`, or None for the unknown types `dyn` and `any`."""
    return None if type_name in ("dyn", "any") else type_name


def is_list(type_name: str | None) -> bool:
    return type_name is not None and type_name.startswith("list(")


def is_map(type_name: str | None) -> bool:
    return type_name is not None and type_name.startswith("map(")


def list_item_type(type_name: str | None) -> str | None:
    """The item type of `list(T)`; `dyn` for `dyn` (cel-go indexes it as a list of dyn)."""
    if type_name and type_name.startswith("list(") and type_name.endswith(")"):
        return type_name[5:-1]
    return "dyn" if type_name == "dyn" else None


def map_parts(type_name: str | None) -> tuple[str | None, str | None]:
    """(key type, value type) of `map(K, V)` (V may itself be a map); `dyn` for `dyn`."""
    if type_name == "dyn":
        return "dyn", "dyn"
    if not (type_name and type_name.startswith("map(") and type_name.endswith(")")):
        return None, None
    inner = type_name[4:-1]
    key, comma, value = inner.partition(",")
    if "(" not in key:  # a scalar key, as every map type's but a malformed one
        return (key.strip(), value.strip()) if comma else (None, None)
    depth = 0
    for index, char in enumerate(inner):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            return inner[:index].strip(), inner[index + 1 :].strip()
    return None, None
