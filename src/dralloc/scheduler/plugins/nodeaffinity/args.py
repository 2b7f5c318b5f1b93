"""`NodeAffinityArgs`: the scheduler-enforced affinity every pod of a profile gets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import msgspec

from dralloc.api.core import NodeAffinity
from dralloc.errors import InputError, Problem
from dralloc.scheduler.plugins.helper import ArgsReader
from dralloc.scheduler.plugins.helper.nodeselector import (
    Fault,
    compile_preferred,
    compile_selector,
)

ARGS_PATH = "NodeAffinityArgs"
_REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
_PREFERRED = "preferredDuringSchedulingIgnoredDuringExecution"


def added_affinity_faults(added: NodeAffinity, path: str) -> list[Fault]:
    """Every requirement of `added` that does not parse; `path` leads to `addedAffinity`."""
    faults: list[Fault] = []
    required = added.required_during_scheduling_ignored_during_execution
    if required is not None:
        faults.extend(compile_selector(required, f"{path}.{_REQUIRED}").faults)
    preferred = added.preferred_during_scheduling_ignored_during_execution
    if preferred:
        faults.extend(compile_preferred(preferred, f"{path}.{_PREFERRED}")[1])
    return faults


@dataclass(frozen=True)
class NodeAffinityArgs:
    """Args of `NodeAffinity`.

    `added_affinity` (default None): ANDed with every pod's required node affinity, and its
    preferred terms add to every pod's score; a way to keep a profile's pods on some nodes
    without editing the pods. Its requirements must all parse.

    >>> term = {"matchExpressions": [{"key": "gpu", "operator": "Exists"}]}
    >>> required = {"nodeSelectorTerms": [term]}
    >>> args = NodeAffinityArgs.from_dict(
    ...     {"addedAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": required}}
    ... )
    >>> args.added_affinity is not None
    True
    """

    added_affinity: NodeAffinity | None = None

    def problems(self, path: str = ARGS_PATH) -> list[Problem]:
        if self.added_affinity is None:
            return []
        faults = added_affinity_faults(self.added_affinity, f"{path}.addedAffinity")
        return [Problem("", "", where, message) for where, message in faults]

    @classmethod
    def from_dict(cls, raw: Mapping[str, object] | None, path: str = ARGS_PATH) -> NodeAffinityArgs:
        """Read and validate wire args (camelCase); InputError lists every problem."""
        reader = ArgsReader(path)
        fields = reader.mapping(raw, path, known=("addedAffinity",))
        added_raw = fields.get("addedAffinity")
        added: NodeAffinity | None = None
        if added_raw is not None:
            added_path = f"{path}.addedAffinity"
            before = len(reader.problems)
            reader.mapping(added_raw, added_path, known=(_REQUIRED, _PREFERRED))
            if len(reader.problems) > before:
                reader.fail_if_any()
            try:
                added = msgspec.convert(added_raw, NodeAffinity)
            except msgspec.ValidationError as error:
                message, _, where = str(error).partition(" - at `$")
                reader.report(f"{added_path}{where.rstrip('`')}", message)
        args = cls(added)
        if not reader.problems:
            reader.problems.extend(args.problems(path))
        reader.fail_if_any()
        return args


def checked(args: NodeAffinityArgs) -> NodeAffinityArgs:
    """`args` when valid, else InputError (for args built in code rather than read)."""
    problems = args.problems()
    if problems:
        raise InputError(problems)
    return args
