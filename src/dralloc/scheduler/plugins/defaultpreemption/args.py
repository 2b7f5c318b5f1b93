"""`DefaultPreemptionArgs`: how many candidate nodes preemption's dry run looks for."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from dralloc.errors import InputError, Problem
from dralloc.scheduler.plugins.helper import ArgsReader

ARGS_PATH = "DefaultPreemptionArgs"
_PERCENTAGE = "minCandidateNodesPercentage"
_ABSOLUTE = "minCandidateNodesAbsolute"


@dataclass(frozen=True)
class DefaultPreemptionArgs:
    """Args of `DefaultPreemption` (spec/scheduler.md sections 5.2 and 7).

    The dry run stops once it has at least one candidate that violates no budget and, in all,
    `max(potential nodes * min_candidate_nodes_percentage // 100, min_candidate_nodes_absolute)`
    candidates (at most every potential node).

    `min_candidate_nodes_percentage` (percent of the potential nodes, 0..100, default 10) and
    `min_candidate_nodes_absolute` (nodes, >= 0, default 100): upstream's trade-off between
    finding the best node to preempt on and the cost of the dry run in a large cluster. They
    may not both be 0 (no candidate would ever be wanted).

    >>> DefaultPreemptionArgs.from_dict({"minCandidateNodesAbsolute": 5})
    DefaultPreemptionArgs(min_candidate_nodes_percentage=10, min_candidate_nodes_absolute=5)
    """

    min_candidate_nodes_percentage: int = 10
    min_candidate_nodes_absolute: int = 100

    def problems(self, path: str = ARGS_PATH) -> list[Problem]:
        percentage = self.min_candidate_nodes_percentage
        absolute = self.min_candidate_nodes_absolute
        where_percentage, where_absolute = f"{path}.{_PERCENTAGE}", f"{path}.{_ABSOLUTE}"
        found = []
        if not 0 <= percentage <= 100:
            found.append(Problem("", "", where_percentage, f"must be in 0..100, got {percentage}"))
        if absolute < 0:
            found.append(Problem("", "", where_absolute, f"must be >= 0, got {absolute}"))
        if percentage == 0 and absolute == 0:
            found.append(Problem("", "", where_percentage, f"must not be 0 while {_ABSOLUTE} is 0"))
            found.append(Problem("", "", where_absolute, f"must not be 0 while {_PERCENTAGE} is 0"))
        return found

    @classmethod
    def from_dict(
        cls, raw: Mapping[str, object] | None, path: str = ARGS_PATH
    ) -> DefaultPreemptionArgs:
        """Read and validate wire args (camelCase); InputError lists every problem."""
        reader = ArgsReader(path)
        fields = reader.mapping(raw, path, known=(_PERCENTAGE, _ABSOLUTE))
        values: dict[str, int] = {}
        for key in (_PERCENTAGE, _ABSOLUTE):
            if fields.get(key) is None:
                continue
            value = reader.integer(fields[key], f"{path}.{key}")
            if value is not None:
                values[key] = value
        defaults = cls()
        args = cls(
            values.get(_PERCENTAGE, defaults.min_candidate_nodes_percentage),
            values.get(_ABSOLUTE, defaults.min_candidate_nodes_absolute),
        )
        if not reader.problems:
            reader.problems.extend(args.problems(path))
        reader.fail_if_any()
        return args


def checked(args: DefaultPreemptionArgs) -> DefaultPreemptionArgs:
    """`args` when valid, else InputError (for args built in code rather than read)."""
    problems = args.problems()
    if problems:
        raise InputError(problems)
    return args
