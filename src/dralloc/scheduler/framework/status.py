"""Plugin outcomes: what happens next for a pod (spec/scheduler.md section 3).

A plugin returns a `Status`; the framework stamps the plugin's name on rejections so the
"why pending" message and the queue's requeue decisions know who rejected the pod.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class Code(IntEnum):
    SUCCESS = 0
    ERROR = 1
    UNSCHEDULABLE = 2  # a rejection preemption may fix
    UNSCHEDULABLE_AND_UNRESOLVABLE = 3  # a rejection preemption cannot fix
    WAIT = 4  # Permit only
    SKIP = 5  # PreFilter, PreScore, Bind: the matching later step is skipped
    PENDING = 6  # rejected while waiting on an external actor


_REJECTIONS = frozenset({Code.UNSCHEDULABLE, Code.UNSCHEDULABLE_AND_UNRESOLVABLE, Code.PENDING})


@dataclass(frozen=True)
class Status:
    """An outcome with its reasons; `plugin` is stamped by the framework.

    >>> Status.unschedulable("Insufficient cpu").message
    'Insufficient cpu'
    """

    code: Code = Code.SUCCESS
    reasons: tuple[str, ...] = ()
    plugin: str = ""

    @classmethod
    def unschedulable(cls, *reasons: str) -> Status:
        return cls(Code.UNSCHEDULABLE, reasons)

    @classmethod
    def unresolvable(cls, *reasons: str) -> Status:
        return cls(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, reasons)

    @classmethod
    def error(cls, message: str) -> Status:
        return cls(Code.ERROR, (message,))

    @classmethod
    def skip(cls) -> Status:
        # One shared value: PreFilter and PreScore of most plugins SKIP for most pods.
        return _SKIP

    @property
    def is_success(self) -> bool:
        return self.code == Code.SUCCESS

    @property
    def is_rejected(self) -> bool:
        return self.code in _REJECTIONS

    @property
    def message(self) -> str:
        return ", ".join(self.reasons)

    def stamped(self, plugin: str) -> Status:
        # Called on every rejection of every node: the constructor, not `replace`.
        return self if self.plugin == plugin else Status(self.code, self.reasons, plugin)


SUCCESS = Status()
_SKIP = Status(Code.SKIP)
