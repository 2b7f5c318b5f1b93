"""Errors that reach users, and how they are told apart.

The hierarchy::

    DrallocError                 base of every error dralloc means to show a user
    ├── InputError               the input is wrong: a file, an object or a field (exit 2).
    │                            Carries every problem found at once, each naming file,
    │                            object and field path.
    ├── NotFoundError            a named object (claim, node, class) does not exist
    ├── DiscoveryError           NVML could not be read, or reports a GPU or MIG layout
    │                            the catalog does not know (dralloc.devices.nvml)
    ├── ConflictError            an object changed underneath an update
    └── InternalError            a bug in dralloc ("internal error, please report")

Allocation outcomes are not errors of this hierarchy: "no fit" is a normal answer and the
allocator's own failures (a CEL runtime error, giving up) are `AllocationError` and
`AllocationGaveUp` in `dralloc.allocator`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


class DrallocError(Exception):
    """Base of every error dralloc shows to a user without a traceback."""


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with the input: where it is and what is wrong.

    `file` is the path as the user gave it (or "<stdin>"), `obj` the object as
    `Kind namespace/name`, `field` a JSON-path-like location (`spec.devices.requests[1].name`).
    """

    file: str
    obj: str
    field: str
    message: str

    def __str__(self) -> str:
        where = ": ".join(part for part in (self.file, self.obj, self.field) if part)
        return f"{where}: {self.message}" if where else self.message


def _natural_key(problem: Problem) -> tuple[object, ...]:
    """Sort numbers by value ("line 99" before "line 100", "[2]" before "[10]")."""
    return tuple(
        tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text))
        for text in (problem.file, problem.obj, problem.field, problem.message)
    )


class InputError(DrallocError):
    """The input is invalid. Lists every problem found, sorted by file and path."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=_natural_key)
        super().__init__("\n".join(str(p) for p in self.problems))


class NotFoundError(DrallocError):
    """A named object does not exist (for example `--claim NAME` names no claim)."""


class ConflictError(DrallocError):
    """An update raced with another writer (a resourceVersion mismatch)."""


class InternalError(DrallocError):
    """A bug in dralloc: an invariant the code relies on does not hold."""
