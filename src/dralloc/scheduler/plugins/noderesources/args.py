"""Args of `NodeResourcesFit` and `NodeResourcesBalancedAllocation`, with upstream's
defaults (`SetDefaults_NodeResourcesFitArgs`, `..._BalancedAllocationArgs`) and validation
(`ValidateNodeResourcesFitArgs`, `..._BalancedAllocationArgs`), kubescheduler.config.k8s.io/v1.

Defaulting happens while reading wire args: a missing `scoringStrategy` is LeastAllocated over
cpu and memory, an empty `resources` list is cpu and memory, and a weight of 0 (or none) is 1.
Args built in code are validated as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from dralloc.errors import InputError, Problem
from dralloc.scheduler.plugins.helper import ArgsReader, is_qualified_name
from dralloc.scheduler.plugins.helper.args import show

FIT_ARGS_PATH = "NodeResourcesFitArgs"
BALANCED_ARGS_PATH = "NodeResourcesBalancedAllocationArgs"
MAX_CUSTOM_PRIORITY_SCORE = 10  # a shape point's score is 0..10, scaled by 10 when scoring


class ScoringStrategyType(StrEnum):
    LEAST_ALLOCATED = "LeastAllocated"
    MOST_ALLOCATED = "MostAllocated"
    REQUESTED_TO_CAPACITY_RATIO = "RequestedToCapacityRatio"


@dataclass(frozen=True)
class ResourceSpec:
    """A resource a scorer looks at. `weight` is 1..100 for NodeResourcesFit (its share of
    the weighted mean) and must be 1 for NodeResourcesBalancedAllocation (unused there)."""

    name: str
    weight: int = 1


DEFAULT_RESOURCES = (ResourceSpec("cpu", 1), ResourceSpec("memory", 1))


@dataclass(frozen=True)
class UtilizationShapePoint:
    """A point of the RequestedToCapacityRatio shape: `utilization` 0..100 (percent of
    allocatable requested), `score` 0..10."""

    utilization: int
    score: int


@dataclass(frozen=True)
class RequestedToCapacityRatioParam:
    """The shape: at least one point, utilizations strictly increasing."""

    shape: tuple[UtilizationShapePoint, ...]


@dataclass(frozen=True)
class ScoringStrategy:
    type: ScoringStrategyType = ScoringStrategyType.LEAST_ALLOCATED
    resources: tuple[ResourceSpec, ...] = DEFAULT_RESOURCES
    requested_to_capacity_ratio: RequestedToCapacityRatioParam | None = None


def _weight_problems(resources: tuple[ResourceSpec, ...], path: str) -> list[Problem]:
    return [
        Problem("", "", f"{path}[{i}].weight", f"must be in 1..100, got {spec.weight}")
        for i, spec in enumerate(resources)
        if not 0 < spec.weight <= 100
    ]


def _shape_problems(shape: tuple[UtilizationShapePoint, ...], path: str) -> list[Problem]:
    if not shape:
        return [Problem("", "", path, "at least one point must be specified")]
    problems = []
    for i in range(1, len(shape)):
        if shape[i - 1].utilization >= shape[i].utilization:
            problems.append(
                Problem(
                    "",
                    "",
                    f"{path}[{i}].utilization",
                    "utilizations must be strictly increasing, got "
                    f"{shape[i].utilization} after {shape[i - 1].utilization}",
                )
            )
            break
    for i, point in enumerate(shape):
        if not 0 <= point.utilization <= 100:
            problems.append(
                Problem(
                    "",
                    "",
                    f"{path}[{i}].utilization",
                    f"must be in 0..100, got {point.utilization}",
                )
            )
        if not 0 <= point.score <= MAX_CUSTOM_PRIORITY_SCORE:
            problems.append(
                Problem(
                    "",
                    "",
                    f"{path}[{i}].score",
                    f"must be in 0..{MAX_CUSTOM_PRIORITY_SCORE}, got {point.score}",
                )
            )
    return problems


@dataclass(frozen=True)
class NodeResourcesFitArgs:
    """Args of `NodeResourcesFit`.

    * `ignored_resources`: extended resources (`vendor/name`) Filter does not check, for
      resources an extender or another plugin accounts for. Default none.
    * `ignored_resource_groups`: the same by domain (`nvidia.com` ignores every
      `nvidia.com/...` resource). Default none.
    * `scoring_strategy`: how Score ranks feasible nodes; default LeastAllocated over cpu and
      memory, weight 1 each. GPUs take part in scoring only when listed here.

    >>> args = NodeResourcesFitArgs.from_dict({"scoringStrategy": {"type": "MostAllocated",
    ...     "resources": [{"name": "nvidia.com/gpu", "weight": 5}]}})
    >>> args.scoring_strategy.resources
    (ResourceSpec(name='nvidia.com/gpu', weight=5),)
    """

    ignored_resources: tuple[str, ...] = ()
    ignored_resource_groups: tuple[str, ...] = ()
    scoring_strategy: ScoringStrategy = ScoringStrategy()

    def problems(self, path: str = FIT_ARGS_PATH) -> list[Problem]:
        problems = []
        for i, name in enumerate(self.ignored_resources):
            problem = is_qualified_name(name)
            if problem is not None:
                problems.append(Problem("", "", f"{path}.ignoredResources[{i}]", problem))
        for i, group in enumerate(self.ignored_resource_groups):
            where = f"{path}.ignoredResourceGroups[{i}]"
            if "/" in group:
                problems.append(Problem("", "", where, f"must not contain '/', got {show(group)}"))
            else:
                problem = is_qualified_name(group)
                if problem is not None:
                    problems.append(Problem("", "", where, problem))
        strategy = self.scoring_strategy
        strategy_path = f"{path}.scoringStrategy"
        problems.extend(_weight_problems(strategy.resources, f"{strategy_path}.resources"))
        ratio = strategy.requested_to_capacity_ratio
        ratio_path = f"{strategy_path}.requestedToCapacityRatio"
        if ratio is not None:
            problems.extend(_shape_problems(ratio.shape, f"{ratio_path}.shape"))
        elif strategy.type == ScoringStrategyType.REQUESTED_TO_CAPACITY_RATIO:
            # Upstream dereferences the missing shape and crashes; say what is missing.
            problems.append(
                Problem("", "", ratio_path, "required when type is RequestedToCapacityRatio")
            )
        return problems

    @classmethod
    def from_dict(
        cls, raw: Mapping[str, object] | None, path: str = FIT_ARGS_PATH
    ) -> NodeResourcesFitArgs:
        """Read, default and validate wire args (camelCase); InputError lists every problem."""
        reader = ArgsReader(path)
        fields = reader.mapping(
            raw, path, known=("ignoredResources", "ignoredResourceGroups", "scoringStrategy")
        )
        ignored = reader.strings(fields.get("ignoredResources"), f"{path}.ignoredResources")
        groups = reader.strings(
            fields.get("ignoredResourceGroups"), f"{path}.ignoredResourceGroups"
        )
        strategy = ScoringStrategy()
        if "scoringStrategy" in fields and fields["scoringStrategy"] is not None:
            strategy = _read_strategy(reader, fields["scoringStrategy"], f"{path}.scoringStrategy")
        args = cls(ignored, groups, strategy)
        reader.problems.extend(args.problems(path))
        reader.fail_if_any()
        return args


def _read_resources(reader: ArgsReader, raw: object, path: str) -> tuple[ResourceSpec, ...]:
    specs = []
    for i, item in enumerate(reader.items(raw, path)):
        where = f"{path}[{i}]"
        fields = reader.mapping(item, where, known=("name", "weight"))
        name = reader.string(fields.get("name"), f"{where}.name")
        weight = reader.integer(fields.get("weight", 0), f"{where}.weight")
        if name is not None and weight is not None:
            specs.append(ResourceSpec(name, weight or 1))  # 0 or unset defaults to 1
    return tuple(specs) or DEFAULT_RESOURCES


def _read_strategy(reader: ArgsReader, raw: object, path: str) -> ScoringStrategy:
    fields = reader.mapping(raw, path, known=("type", "resources", "requestedToCapacityRatio"))
    kind = fields.get("type")
    allowed = [t.value for t in ScoringStrategyType]
    strategy_type = ScoringStrategyType.LEAST_ALLOCATED
    if isinstance(kind, str) and kind in allowed:
        strategy_type = ScoringStrategyType(kind)
    elif kind is None:
        reader.report(f"{path}.type", f"required, one of {', '.join(allowed)}")
    else:
        reader.report(f"{path}.type", f"must be one of {', '.join(allowed)}, got {show(kind)}")
    resources = _read_resources(reader, fields.get("resources"), f"{path}.resources")
    ratio: RequestedToCapacityRatioParam | None = None
    ratio_raw = fields.get("requestedToCapacityRatio")
    if ratio_raw is not None:
        ratio_path = f"{path}.requestedToCapacityRatio"
        ratio_fields = reader.mapping(ratio_raw, ratio_path, known=("shape",))
        points = []
        shape_path = f"{ratio_path}.shape"
        for i, item in enumerate(reader.items(ratio_fields.get("shape"), shape_path)):
            where = f"{shape_path}[{i}]"
            point = reader.mapping(item, where, known=("utilization", "score"))
            utilization = reader.integer(point.get("utilization", 0), f"{where}.utilization")
            score = reader.integer(point.get("score", 0), f"{where}.score")
            if utilization is not None and score is not None:
                points.append(UtilizationShapePoint(utilization, score))
        ratio = RequestedToCapacityRatioParam(tuple(points))
    return ScoringStrategy(strategy_type, resources, ratio)


@dataclass(frozen=True)
class NodeResourcesBalancedAllocationArgs:
    """Args of `NodeResourcesBalancedAllocation`: `resources` whose requested fractions
    should be balanced (default cpu and memory; each weight must be 1, no duplicates).

    >>> raw = {"resources": [{"name": "gpu", "weight": 2}]}
    >>> try:
    ...     NodeResourcesBalancedAllocationArgs.from_dict(raw)
    ... except InputError as error:
    ...     print(error)
    NodeResourcesBalancedAllocationArgs.resources[0].weight: must be 1, got 2
    """

    resources: tuple[ResourceSpec, ...] = DEFAULT_RESOURCES

    def problems(self, path: str = BALANCED_ARGS_PATH) -> list[Problem]:
        problems = []
        seen: set[str] = set()
        for i, spec in enumerate(self.resources):
            where = f"{path}.resources[{i}]"
            if spec.name in seen:
                problems.append(
                    Problem("", "", f"{where}.name", f"duplicate resource {show(spec.name)}")
                )
            seen.add(spec.name)
            if spec.weight != 1:
                problems.append(Problem("", "", f"{where}.weight", f"must be 1, got {spec.weight}"))
        return problems

    @classmethod
    def from_dict(
        cls, raw: Mapping[str, object] | None, path: str = BALANCED_ARGS_PATH
    ) -> NodeResourcesBalancedAllocationArgs:
        """Read, default and validate wire args (camelCase); InputError lists every problem."""
        reader = ArgsReader(path)
        fields = reader.mapping(raw, path, known=("resources",))
        args = cls(_read_resources(reader, fields.get("resources"), f"{path}.resources"))
        reader.problems.extend(args.problems(path))
        reader.fail_if_any()
        return args


def checked_problems(problems: list[Problem]) -> None:
    """Raise InputError when args built in code have problems."""
    if problems:
        raise InputError(problems)
