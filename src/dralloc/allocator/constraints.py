"""Claim constraints across devices: matchAttribute and distinctAttribute (spec 6.10).

Pure computation, no I/O. A checker is offered each device chosen for an applicable request:
`accepts` says whether the device may join the devices held so far, `hold` records it and
`remove` undoes the last one (the search backtracks in LIFO order). The search asks every
applicable checker before it holds a device in any, so a refusal needs no rollback. The
answer depends only on the devices currently held, so backtracking is exact: this deliberately
avoids upstream's quirks 4 and 5 (distinctness is truly pairwise, and a list intersection is
restored on backtrack).
"""

from __future__ import annotations

from dralloc.allocator.inventory import UNSUPPORTED, AttributeValue, DeviceEntry


def _as_set(value: AttributeValue) -> tuple[str, frozenset[object]]:
    kind, raw = value
    if isinstance(raw, frozenset):
        return kind, raw
    return kind, frozenset((raw,))


class ConstraintChecker:
    """One claim constraint. `requests` empty means every request of the claim."""

    __slots__ = ("attribute", "distinct", "held", "index", "list_types", "requests")

    def __init__(
        self,
        index: int,
        attribute: str,
        *,
        distinct: bool,
        requests: list[str],
        list_types: bool,
    ) -> None:
        self.index = index
        self.attribute = attribute
        self.distinct = distinct
        self.requests = frozenset(requests)
        self.list_types = list_types
        self.held: list[AttributeValue] = []

    @property
    def kind_name(self) -> str:
        return "distinctAttribute" if self.distinct else "matchAttribute"

    def applies(self, request: str, full_name: str) -> bool:
        """Does this constraint check devices of `request` (or of subrequest `full_name`)?"""
        return not self.requests or request in self.requests or full_name in self.requests

    def accepts(self, entry: DeviceEntry) -> bool:
        value = entry.attribute(self.attribute)
        if value is None or value is UNSUPPORTED or value[0] == "unsupported":
            return False
        if not self.held:
            return True
        if self.list_types:
            kind, values = _as_set(value)
            if self.distinct:
                for other in self.held:
                    other_kind, other_values = _as_set(other)
                    if other_kind == kind and values & other_values:
                        return False
                return True
            common = values
            for other in self.held:
                other_kind, other_values = _as_set(other)
                if other_kind != kind:
                    return False
                common = common & other_values
                if not common:
                    return False
            return True
        if self.distinct:
            return value not in self.held
        return value == self.held[0]

    def group_keys(self, entry: DeviceEntry) -> tuple[object, ...]:
        """What `entry` brings to this constraint, for reasoning about many devices at once:
        devices pass a matchAttribute together only if one key is common to all of them,
        and a distinctAttribute only if no key occurs twice. A scalar value is one key; with
        list-type attributes each element is a key, tagged with the value's type. Empty for
        a device that `accepts` always refuses (the attribute is missing or unreadable)."""
        value = entry.attribute(self.attribute)
        if value is None or value is UNSUPPORTED or value[0] == "unsupported":
            return ()
        if not self.list_types:
            return (value,)
        kind, values = _as_set(value)
        return tuple((kind, element) for element in values)

    def hold(self, entry: DeviceEntry) -> None:
        """Record a device that `accepts` said yes to."""
        value = entry.attribute(self.attribute)
        assert value is not None
        self.held.append(value)

    def remove(self) -> None:
        self.held.pop()

    def reset(self) -> None:
        self.held.clear()
