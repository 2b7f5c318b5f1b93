"""The two errors a CEL selector can produce (spec/dra-v1.md section 5.2).

`CelCompileError` means the expression is not valid in this environment (syntax, an unknown
function, variable or `device` field, an unsupported construct). `CelRuntimeError` means an
evaluation failed (a missing key, a bad argument, a non-bool result, a poisoned device); the
allocator aborts the whole allocation on it rather than treating it as "no match".
Both carry the bare message (e.g. "undeclared reference to 'x'", "no such key: model"); the
caller adds `class <c>: selector #<i>: CEL ... error: `.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["CelCompileError", "CelRuntimeError"]


class CelCompileError(Exception):
    """The expression does not compile. `problems` lists every problem found (at least one);
    `CelEnvironment.compile` makes the message all of them joined by "; "."""

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        self.problems = list(problems) or [message]
        super().__init__(message)


class CelRuntimeError(Exception):
    """Evaluating a compiled selector against a device failed."""
