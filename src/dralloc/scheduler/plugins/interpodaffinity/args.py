"""`InterPodAffinityArgs` (kubescheduler.config.k8s.io/v1), with upstream's defaults and
validation (`ValidateInterPodAffinityArgs`).

* `hardPodAffinityWeight` (default 1, 0..100): how much an existing pod's *required* affinity
  term that the incoming pod satisfies adds to the score of the nodes in its domain (0: not
  at all).
* `ignorePreferredTermsOfExistingPods` (default false): when the incoming pod has no
  preferred terms of its own, skip scoring instead of weighing existing pods' terms.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from dralloc.errors import InputError, Problem
from dralloc.scheduler.plugins.helper import ArgsReader
from dralloc.scheduler.plugins.helper.args import show

ARGS_PATH = "InterPodAffinityArgs"
MAX_HARD_POD_AFFINITY_WEIGHT = 100


@dataclass(frozen=True)
class InterPodAffinityArgs:
    """Args of `InterPodAffinity`.

    >>> InterPodAffinityArgs.from_dict({"hardPodAffinityWeight": 5}).hard_pod_affinity_weight
    5
    """

    hard_pod_affinity_weight: int = 1
    ignore_preferred_terms_of_existing_pods: bool = False

    def problems(self, path: str = ARGS_PATH) -> list[Problem]:
        weight = self.hard_pod_affinity_weight
        if not 0 <= weight <= MAX_HARD_POD_AFFINITY_WEIGHT:
            return [
                Problem(
                    "",
                    "",
                    f"{path}.hardPodAffinityWeight",
                    f"not in valid range [0, {MAX_HARD_POD_AFFINITY_WEIGHT}], got {weight}",
                )
            ]
        return []

    @classmethod
    def from_dict(
        cls, raw: Mapping[str, object] | None, path: str = ARGS_PATH
    ) -> InterPodAffinityArgs:
        """Read and validate wire args (camelCase); InputError lists every problem."""
        reader = ArgsReader(path)
        fields = reader.mapping(
            raw, path, known=("hardPodAffinityWeight", "ignorePreferredTermsOfExistingPods")
        )
        weight = 1
        if fields.get("hardPodAffinityWeight") is not None:
            read = reader.integer(fields["hardPodAffinityWeight"], f"{path}.hardPodAffinityWeight")
            weight = read if read is not None else weight
        ignore = fields.get("ignorePreferredTermsOfExistingPods", False)
        if ignore is None:
            ignore = False
        if not isinstance(ignore, bool):
            reader.report(
                f"{path}.ignorePreferredTermsOfExistingPods",
                f"must be a boolean, got {show(ignore)}",
            )
            ignore = False
        reader.fail_if_any()
        args = cls(weight, ignore)
        reader.problems.extend(args.problems(path))
        reader.fail_if_any()
        return args


def checked(args: InterPodAffinityArgs) -> InterPodAffinityArgs:
    """`args` when valid, else InputError (for args built in code rather than read)."""
    problems = args.problems()
    if problems:
        raise InputError(problems)
    return args
