"""Allocation failures that are not "no fit" (spec/dra-v1.md 6.11).

`AllocationError`: the allocation cannot be attempted or aborted with an error (an unknown
class, a CEL compile or runtime error, `All` hitting an incomplete pool, ...). Fatal for the
whole scheduling attempt, on every node.
`NodeFailure`: a per-node problem (invalid pools were encountered and nothing fit).
`AllocationGaveUp`: the time limit passed before the search finished; distinct from "no fit".
"""

from __future__ import annotations


class AllocationError(Exception):
    """The allocator failed with an error; the message is upstream's wording."""


class NodeFailure(AllocationError):
    """No allocation on this node, and invalid pools were encountered on the way."""


class AllocationGaveUp(AllocationError):
    """The search ran out of time (upstream: "timed out trying to allocate devices")."""
