"""`ChangeJournal`: the names of nodes in the order they changed, bounded.

Nodes kept together (a scheduler cache's, a snapshot's) share one journal: every change to a
node appends its name (`NodeInfo.mark_changed`). A reader remembers a position (`len`), and
later asks `since(position)` for the names appended after it, so it looks only at the nodes
that changed instead of at every node.

The journal keeps at most `limit` names: past it, the older half is dropped. Positions are
absolute (they count every name ever appended), so a reader that fell behind what is kept
gets None from `since` and must treat every node as possibly changed (a full scan, which
each reader already has for its first look). Memory stays bounded whatever the run's length.
"""

from __future__ import annotations

DEFAULT_LIMIT = 1 << 16


class ChangeJournal:
    """Node names in change order; `len` is the absolute position after the last one."""

    __slots__ = ("_dropped", "_limit", "_names")

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        if limit < 2:
            raise ValueError(f"limit must be at least 2, got {limit}")
        self._names: list[str] = []
        self._dropped = 0  # names dropped from the front
        self._limit = limit

    def append(self, name: str) -> None:
        names = self._names
        names.append(name)
        if len(names) > self._limit:
            half = len(names) // 2
            del names[:half]
            self._dropped += half

    def __len__(self) -> int:
        return self._dropped + len(self._names)

    def since(self, position: int) -> list[str] | None:
        """The names appended after absolute `position`, oldest first; None when some of them
        were dropped (the caller must look at every node)."""
        start = position - self._dropped
        if start < 0:
            return None
        return self._names[start:]
