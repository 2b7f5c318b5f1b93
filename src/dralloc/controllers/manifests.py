"""The workload controllers over loaded manifests: what `dralloc schedule` (and a later live
mode's start-up) runs before scheduling.

`expand_controllers` takes the objects read from files, runs `workloads.expand_workloads` over
their Deployments, ReplicaSets, StatefulSets, Jobs, JobSets and LeaderWorkerSets (the input's
pods count toward their replicas), and returns the created pods as loaded objects: defaulted as
the API server defaults a created pod, with `spec.hostname` and `spec.subdomain` where the
controller sets them, each attributed to the file and document of its top-level workload so
that problems and output name where it came from. Names and UIDs come from a generator seeded
with `base`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from dralloc.api.core import Pod
from dralloc.api.defaults import apply_defaults
from dralloc.api.io import WORKLOAD_TYPES, LoadedObject, kube_dict
from dralloc.controllers.workloads import WorkloadExpansion, expand_workloads
from dralloc.errors import Problem

__all__ = ["ControllerPods", "expand_controllers"]


@dataclass(frozen=True)
class ControllerPods:
    """The pods the workload controllers made, as loaded objects (each attributed to the
    file and document of its top-level workload), and what the controllers reported."""

    expansion: WorkloadExpansion
    created: list[LoadedObject]
    problems: list[Problem]


def expand_controllers(objects: Sequence[LoadedObject], base: int) -> ControllerPods:
    """Run the workload controllers over the input's Deployments, ReplicaSets, StatefulSets,
    Jobs, JobSets and LeaderWorkerSets: their pods, defaulted as the API server defaults a
    created pod, with `spec.hostname` and `spec.subdomain` where the controller sets them."""
    workloads = [o for o in objects if isinstance(o.obj, WORKLOAD_TYPES)]
    pods = [o.obj for o in objects if isinstance(o.obj, Pod)]
    expansion = expand_workloads(
        [w.obj for w in workloads],  # type: ignore[misc]
        random.Random(f"workloads/{base}"),
        pods,
    )
    by_ref = {f"{w.kind} {w.obj.metadata.namespace}/{w.obj.metadata.name}": w for w in workloads}
    created = []
    for made in expansion.pods:
        source = by_ref.get(str(made.top))
        pod = made.pod
        apply_defaults(pod)
        raw = kube_dict(pod)
        spec = raw.setdefault("spec", {})
        if made.hostname:
            spec["hostname"] = made.hostname
        if made.subdomain:
            spec["subdomain"] = made.subdomain
        file = source.file if source is not None else ""
        document = source.document if source is not None else 0
        created.append(LoadedObject(file, document, raw, pod))
    problems = []
    for problem in expansion.problems:
        source = by_ref.get(problem.obj)
        problems.append(
            Problem(
                source.file if source else problem.file, problem.obj, problem.field, problem.message
            )
        )
    return ControllerPods(expansion, created, problems)
