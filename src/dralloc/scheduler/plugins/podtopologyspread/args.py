"""`PodTopologySpreadArgs` (kubescheduler.config.k8s.io/v1), with upstream's defaulting
(`defaultingType: System` when unset) and validation (`ValidatePodTopologySpreadArgs`).

* `defaultingType: System` (the default): the constraints for pods that state none are
  kube-scheduler's built-in ones, hostname with maxSkew 3 and zone with maxSkew 5, both
  ScheduleAnyway; `defaultConstraints` must then be empty.
* `defaultingType: List`: `defaultConstraints` (possibly empty) are used instead. Each needs
  maxSkew > 0, a topologyKey, whenUnsatisfiable DoNotSchedule or ScheduleAnyway, and no
  labelSelector (the selector comes from the pod's owners); no two may share topologyKey and
  whenUnsatisfiable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

import msgspec

from dralloc.api.core import TopologySpreadConstraint
from dralloc.errors import InputError, Problem
from dralloc.scheduler.plugins.helper import ArgsReader, is_qualified_name
from dralloc.scheduler.plugins.helper.args import show

ARGS_PATH = "PodTopologySpreadArgs"
DO_NOT_SCHEDULE = "DoNotSchedule"
SCHEDULE_ANYWAY = "ScheduleAnyway"
LABEL_HOSTNAME = "kubernetes.io/hostname"
LABEL_ZONE = "topology.kubernetes.io/zone"


class DefaultingType(StrEnum):
    SYSTEM = "System"
    LIST = "List"


SYSTEM_DEFAULT_CONSTRAINTS = (
    TopologySpreadConstraint(
        max_skew=3, topology_key=LABEL_HOSTNAME, when_unsatisfiable=SCHEDULE_ANYWAY
    ),
    TopologySpreadConstraint(
        max_skew=5, topology_key=LABEL_ZONE, when_unsatisfiable=SCHEDULE_ANYWAY
    ),
)


@dataclass(frozen=True)
class PodTopologySpreadArgs:
    """Args of `PodTopologySpread`.

    `default_constraints` (default none): applied to a pod without
    `topologySpreadConstraints` when `defaulting_type` is List. `defaulting_type` (default
    System): System uses `SYSTEM_DEFAULT_CONSTRAINTS` instead.

    >>> PodTopologySpreadArgs.from_dict(None).defaulting_type
    <DefaultingType.SYSTEM: 'System'>
    """

    default_constraints: tuple[TopologySpreadConstraint, ...] = ()
    defaulting_type: DefaultingType = DefaultingType.SYSTEM

    def problems(self, path: str = ARGS_PATH) -> list[Problem]:
        found: list[tuple[str, str]] = []
        if self.defaulting_type == DefaultingType.SYSTEM and self.default_constraints:
            found.append(
                (
                    f"{path}.defaultingType",
                    'must be "List" when .defaultConstraints are not empty, got "System"',
                )
            )
        seen: set[tuple[str, str]] = set()
        for i, constraint in enumerate(self.default_constraints):
            where = f"{path}.defaultConstraints[{i}]"
            if constraint.max_skew <= 0:
                found.append(
                    (f"{where}.maxSkew", f"must be greater than zero, got {constraint.max_skew}")
                )
            if not constraint.topology_key:
                found.append((f"{where}.topologyKey", "required"))
            else:
                problem = is_qualified_name(constraint.topology_key)
                if problem is not None:
                    found.append((f"{where}.topologyKey", problem))
            if constraint.when_unsatisfiable not in (DO_NOT_SCHEDULE, SCHEDULE_ANYWAY):
                found.append(
                    (
                        f"{where}.whenUnsatisfiable",
                        f"must be one of {DO_NOT_SCHEDULE}, {SCHEDULE_ANYWAY}, got "
                        f"{show(constraint.when_unsatisfiable)}",
                    )
                )
            pair = (constraint.topology_key, constraint.when_unsatisfiable)
            if pair in seen:
                found.append(
                    (f"{where}", f"duplicate {{topologyKey, whenUnsatisfiable}} {show(list(pair))}")
                )
            seen.add(pair)
            if constraint.label_selector is not None:
                found.append(
                    (
                        f"{where}.labelSelector",
                        "must not be set: default constraints take the selector of the pod's "
                        "owners",
                    )
                )
        return [Problem("", "", where, message) for where, message in found]

    @property
    def constraints(self) -> tuple[TopologySpreadConstraint, ...]:
        """The default constraints in force."""
        if self.defaulting_type == DefaultingType.SYSTEM:
            return SYSTEM_DEFAULT_CONSTRAINTS
        return self.default_constraints

    @classmethod
    def from_dict(
        cls, raw: Mapping[str, object] | None, path: str = ARGS_PATH
    ) -> PodTopologySpreadArgs:
        """Read and validate wire args (camelCase); InputError lists every problem."""
        reader = ArgsReader(path)
        fields = reader.mapping(raw, path, known=("defaultConstraints", "defaultingType"))
        kind = DefaultingType.SYSTEM
        raw_kind = fields.get("defaultingType")
        if raw_kind is not None:
            text = reader.string(raw_kind, f"{path}.defaultingType")
            if text is not None:
                try:
                    kind = DefaultingType(text)
                except ValueError:
                    reader.report(
                        f"{path}.defaultingType",
                        f"must be one of System, List, got {show(text)}",
                    )
        constraints: list[TopologySpreadConstraint] = []
        for i, item in enumerate(
            reader.items(fields.get("defaultConstraints"), f"{path}.defaultConstraints")
        ):
            where = f"{path}.defaultConstraints[{i}]"
            try:
                constraints.append(msgspec.convert(item, TopologySpreadConstraint))
            except msgspec.ValidationError as error:
                message, _, at = str(error).partition(" - at `$")
                reader.report(f"{where}{at.rstrip('`')}", message)
        reader.fail_if_any()
        args = cls(tuple(constraints), kind)
        reader.problems.extend(args.problems(path))
        reader.fail_if_any()
        return args


def checked(args: PodTopologySpreadArgs) -> PodTopologySpreadArgs:
    """`args` when valid, else InputError (for args built in code rather than read)."""
    problems = args.problems()
    if problems:
        raise InputError(problems)
    return args
