"""The non-DRA Kubernetes CEL libraries this package provides as Python functions.

Owns:

- the cel-go strings extension: `charAt`, `indexOf`, `lastIndexOf`, `lowerAscii`,
  `upperAscii`, `replace`, `split`, `substring`, `trim`, `join`, `reverse`, `strings.quote`
  (string logic reused from the library's `cel.stdlib`, behind receiver type checks, since
  `add_stdlib_to_context` would register raising functions and functions k8s lacks);
- the Kubernetes list library: `isSorted`, `sum`, `min`, `max`, `indexOf`, `lastIndexOf`,
  and `includes` (DRAListTypeAttributes, KEP-5491);
- from the cel-go lists extension: `slice`, `flatten`, `distinct`, `sort`, `lists.range`
  (not `sortBy`, a macro the library cannot add);
- the sets extension: `sets.contains`, `sets.equivalent`, `sets.intersects`;
- the Kubernetes regex library (`find`, `findAll`), the global form `matches(s, re)`, and
  `bool(string)`.

Element equality follows CEL, not Python: `true != 1`, `1 == 1.0`. Functions may raise
(`EvalError` or any exception); `library.py` wraps them so nothing raises into the library.
Pure computation, no I/O.

Known differences: `find`/`findAll`/global `matches` use Python `re`, not RE2 (the member
`s.matches(re)` is the library's native Rust regex); `sort`/`isSorted`/`min`/`max` use Python
ordering, so mixed-type lists that cel-go rejects may order here.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from dralloc.cel.binding import stdlib
from dralloc.cel.values import EvalError

__all__ = [
    "INCLUDES_MAX_ELEMENTS",
    "LISTS_RANGE_MAX",
    "cel_equal",
    "entries",
    "merge_maps",
    "pairs_to_map",
    "size_in_code_points",
]

INCLUDES_MAX_ELEMENTS = 48
"""`includes()` refuses longer lists (spec/dra-v1.md section 5.3)."""

LISTS_RANGE_MAX = 1_000_000
"""`lists.range(n)` beyond this would exceed the 1,000,000 runtime cost limit on its own."""

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


def _no_overload() -> EvalError:
    return EvalError("no such overload")


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise _no_overload()
    return value


def _int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise _no_overload()
    return value


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise _no_overload()
    return value


def cel_equal(a: Any, b: Any) -> bool:
    """CEL heterogeneous equality: bools never equal numbers; numbers compare by value."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(cel_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(cel_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, dict)) or isinstance(b, (list, dict)):
        return False
    return bool(a == b)


def _contains(items: list[Any], wanted: Any) -> bool:
    return any(cel_equal(item, wanted) for item in items)


# ---------------------------------------------------------------------------------- strings


def char_at(s: Any, index: Any) -> str:
    return stdlib.char_at(_str(s), _int(index))


def index_of(target: Any, item: Any, *offset: Any) -> int:
    """Strings: `s.indexOf(sub[, offset])`; lists (k8s list library): `l.indexOf(x)`."""
    if isinstance(target, list):
        if offset:
            raise _no_overload()
        return next((i for i, x in enumerate(target) if cel_equal(x, item)), -1)
    return stdlib.index_of(_str(target), _str(item), *(_int(o) for o in offset))


def last_index_of(target: Any, item: Any, *offset: Any) -> int:
    if isinstance(target, list):
        if offset:
            raise _no_overload()
        for i in range(len(target) - 1, -1, -1):
            if cel_equal(target[i], item):
                return i
        return -1
    return stdlib.last_index_of(_str(target), _str(item), *(_int(o) for o in offset))


def size_in_code_points(value: Any) -> int:
    """`size()` as cel-go counts: a string's code points (the library counts its UTF-8
    bytes), bytes, list items and map entries as themselves."""
    if isinstance(value, (str, bytes, list, dict)):
        return len(value)
    raise EvalError("no such overload")


def entries(value: Any) -> list[list[Any]]:
    """The [index, item] pairs of a list or the [key, value] pairs of a map, which the
    two-variable comprehensions range over (`source.py`)."""
    if isinstance(value, list):
        return [[index, item] for index, item in enumerate(value)]
    if isinstance(value, dict):
        return [[key, item] for key, item in value.items()]
    raise EvalError("no such overload")


def pairs_to_map(pairs: Any) -> dict[Any, Any]:
    """`transformMap`'s result: its first variable to the transform's value."""
    return {key: value for key, value in pairs}


def merge_maps(maps: Any) -> dict[Any, Any]:
    """`transformMapEntry`'s result: the union of the maps its transform returns; a key
    given twice is an error, in cel-go's words."""
    merged: dict[Any, Any] = {}
    for entry in maps:
        if not isinstance(entry, dict):
            raise EvalError("no such overload")
        for key, value in entry.items():
            if key in merged:
                raise EvalError(f"insert failed: key {key} already exists")
            merged[key] = value
    return merged


def lower_ascii(s: Any) -> str:
    return stdlib.lower_ascii(_str(s))


def upper_ascii(s: Any) -> str:
    return stdlib.upper_ascii(_str(s))


def replace(s: Any, old: Any, new: Any, *limit: Any) -> str:
    return stdlib.replace(_str(s), _str(old), _str(new), *(_int(n) for n in limit))


def split(s: Any, sep: Any, *limit: Any) -> list[str]:
    return stdlib.split(_str(s), _str(sep), *(_int(n) for n in limit))


def substring(s: Any, start: Any, *end: Any) -> str:
    return stdlib.substring(_str(s), _int(start), *(_int(e) for e in end))


def trim(s: Any) -> str:
    return stdlib.trim(_str(s))


def join(items: Any, sep: Any = "") -> str:
    return _str(sep).join([_str(item) for item in _list(items)])


def reverse(value: Any) -> Any:
    if isinstance(value, (str, list)):
        return value[::-1]
    raise _no_overload()


def quote(s: Any) -> str:
    return stdlib.quote(_str(s))


# ------------------------------------------------------------------------------------ lists


def is_sorted(items: Any) -> bool:
    values = _list(items)
    return all(not values[i] > values[i + 1] for i in range(len(values) - 1))


def sum_(items: Any) -> Any:
    values = _list(items)
    if not values:
        return 0
    if all(isinstance(v, timedelta) for v in values):
        return sum(values, timedelta())
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        total = sum(values)
        if not _INT64_MIN <= total <= _INT64_MAX:
            raise EvalError("integer overflow")
        return total
    if all(isinstance(v, float) for v in values):
        return sum(values)
    raise _no_overload()


def min_(items: Any) -> Any:
    values = _list(items)
    if not values:
        raise EvalError("min called on empty list")
    return min(values)


def max_(items: Any) -> Any:
    values = _list(items)
    if not values:
        raise EvalError("max called on empty list")
    return max(values)


def includes(target: Any, item: Any) -> bool:
    """True if list `target` contains `item`, or scalar `target` equals it (KEP-5491)."""
    if isinstance(target, list):
        if len(target) > INCLUDES_MAX_ELEMENTS:
            raise EvalError(
                f"includes: list has {len(target)} elements, more than {INCLUDES_MAX_ELEMENTS}"
            )
        return _contains(target, item)
    return cel_equal(target, item)


def slice_(items: Any, start: Any, end: Any) -> list[Any]:
    return stdlib.slice_(_list(items), _int(start), _int(end))


def flatten(items: Any, *depth: Any) -> list[Any]:
    return stdlib.flatten(_list(items), *(_int(d) for d in depth))


def distinct(items: Any) -> list[Any]:
    result: list[Any] = []
    for item in _list(items):
        if not _contains(result, item):
            result.append(item)
    return result


def sort(items: Any) -> list[Any]:
    return sorted(_list(items))


def lists_range(n: Any) -> list[int]:
    count = _int(n)
    if count > LISTS_RANGE_MAX:
        raise EvalError("operation cancelled: actual cost limit exceeded")
    return list(range(count))


# ------------------------------------------------------------------------------------- sets


def sets_contains(container: Any, sub: Any) -> bool:
    items = _list(container)
    return all(_contains(items, x) for x in _list(sub))


def sets_equivalent(a: Any, b: Any) -> bool:
    left, right = _list(a), _list(b)
    return all(_contains(right, x) for x in left) and all(_contains(left, x) for x in right)


def sets_intersects(a: Any, b: Any) -> bool:
    right = _list(b)
    return any(_contains(right, x) for x in _list(a))


# ------------------------------------------------------------------------------------ regex


def matches(s: Any, pattern: Any) -> bool:
    return re.search(_str(pattern), _str(s)) is not None


def find(s: Any, pattern: Any) -> str:
    match = re.search(_str(pattern), _str(s))
    return match.group(0) if match else ""


def find_all(s: Any, pattern: Any, *limit: Any) -> list[str]:
    n = _int(limit[0]) if limit else -1
    if n == 0:
        return []
    found = [m.group(0) for m in re.finditer(_str(pattern), _str(s))]
    return found if n < 0 else found[:n]


# ------------------------------------------------------------------------------ conversions


def bool_(value: Any) -> bool:
    return stdlib.bool_(value)
