"""Turning loaded files into what a command works on: nodes, classes, slices and claims.

Owns the cross-object checks a command needs (duplicate objects, the node named by `--node`,
CEL selectors that do not compile, NVIDIA opaque configs the driver would refuse) and reports
them as one InputError.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dralloc.api.io import LoadedObject, read_files
from dralloc.api.objects import ObjectSet
from dralloc.cel.environment import CelEnvironment
from dralloc.cel.validation import all_gates_on, selector_problems
from dralloc.devices.nvidia_config import object_config_problems
from dralloc.errors import InputError, Problem


@dataclass
class ClusterInput(ObjectSet):
    """The objects of the input files, plus every loaded object in input order."""

    objects: list[LoadedObject] = field(default_factory=list)


def read_cluster(paths: list[str]) -> ClusterInput:
    objects, problems = read_files(paths)
    cluster = ClusterInput(objects=objects)
    seen: dict[tuple[str, str, str], LoadedObject] = {}
    env = CelEnvironment(all_gates_on())
    for loaded in objects:
        meta = loaded.obj.metadata
        identity = (loaded.kind, meta.namespace, meta.name)
        if meta.name and identity in seen:
            first = seen[identity]
            problems.append(
                Problem(
                    loaded.file,
                    loaded.ref,
                    "metadata.name",
                    f"duplicate object (first defined in {first.file}, document {first.document})",
                )
            )
            continue
        seen[identity] = loaded
        for path, message in selector_problems(loaded.obj, env):
            problems.append(Problem(loaded.file, loaded.ref, path, message))
        for path, message in object_config_problems(loaded.obj):
            problems.append(Problem(loaded.file, loaded.ref, path, message))
        cluster.add(loaded)
    if problems:
        raise InputError(problems)
    return cluster
