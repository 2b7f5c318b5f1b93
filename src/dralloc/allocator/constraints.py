"""Claim constraints across devices: matchAttribute and distinctAttribute (spec 6.10).

Pure computation, no I/O. A checker is offered each device chosen for an applicable request:
`accepts` says whether the device may join the devices held so far, `hold` records it and
`remove` undoes the last one (the search backtracks in LIFO order). The search asks every
applicable checker before it holds a device in any, so a refusal needs no rollback.

distinctAttribute has two memories (spec 6.10 and 10, quirk 4). Kubernetes 1.36's, the
default, keeps one value per request (the base request's name; a subrequest counts as its
request): a second device of the same request replaces the first one's value, and removing a
device forgets its request's value, so with three or more devices in one request a value may
repeat. `pairwise=True` (`AllocatorOptions.pairwise_distinct_attribute`) remembers every
held device, so the devices' values are truly pairwise distinct. matchAttribute's answer
depends only on the devices currently held, so its backtracking is exact (a list
intersection is recomputed, avoiding quirk 5).
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

    __slots__ = (
        "attribute",
        "by_request",
        "distinct",
        "held",
        "index",
        "list_types",
        "pairwise",
        "requests",
    )

    def __init__(
        self,
        index: int,
        attribute: str,
        *,
        distinct: bool,
        requests: list[str],
        list_types: bool,
        pairwise: bool = True,
    ) -> None:
        self.index = index
        self.attribute = attribute
        self.distinct = distinct
        self.requests = frozenset(requests)
        self.list_types = list_types
        self.held: list[AttributeValue] = []
        # Upstream's distinctAttribute memory: the last value held per base request name.
        self.pairwise = pairwise or not distinct
        self.by_request: dict[str, AttributeValue] = {}

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
        others = self.held if self.pairwise else self.by_request.values()
        if self.list_types:
            kind, values = _as_set(value)
            if self.distinct:
                for other in others:
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
            return value not in others
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

    def hold(self, entry: DeviceEntry, request: str) -> None:
        """Record a device that `accepts` said yes to, chosen for base request `request`."""
        value = entry.attribute(self.attribute)
        assert value is not None
        self.held.append(value)
        if not self.pairwise:
            self.by_request[request] = value

    def remove(self, request: str) -> None:
        """Undo the last `hold`, of a device chosen for base request `request`."""
        self.held.pop()
        if not self.pairwise:
            self.by_request.pop(request, None)

    def reset(self) -> None:
        self.held.clear()
        self.by_request.clear()
