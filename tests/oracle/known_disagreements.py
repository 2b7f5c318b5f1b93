"""The known classes of disagreement between dralloc and upstream's allocator, as predicates.

Each class has a name, the case files in tests/data/oracle/ that show it, and a predicate that
recognises it from the case and the two answers alone. The hypothesis test sets aside exactly
the outcomes a predicate recognises (and nothing else); the corpus test keeps one shrunk case
per class as a strict xfail, so the day dralloc changes, the mark must go.

No class is known today. The last ones were fixed on dralloc's side, and their cases are now
agreement cases of the corpus (`seed-*.json`): distinctAttribute's memory of one value per
request (now the default; the pairwise check is `AllocatorOptions.pairwise_distinct_attribute`),
a selector's error at a later claim (the same memory, one claim on), tolerations copied into
results with DRADeviceTaints off, and `device.allowMultipleAllocations` compiled with
DRAConsumableCapacity off (upstream's stored-expressions environment declares it).

A new class gets a constant, a predicate that recognises it and nothing else, a docstring
entry here saying which side is to change and why, and one shrunk case whose `class` names it.
"""

from __future__ import annotations

from collections.abc import Callable

from oracle import Outcome

PREDICATES: dict[str, Callable[[Outcome], bool]] = {}


def classify(outcome: Outcome) -> str | None:
    """The known class a disagreement belongs to, or None for a new one."""
    if outcome.agrees:
        return None
    for name, predicate in PREDICATES.items():
        if predicate(outcome):
            return name
    return None
