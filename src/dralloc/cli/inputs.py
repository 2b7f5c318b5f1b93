"""Turning loaded files into what a command works on: nodes, classes, slices and claims.

Owns the cross-object checks a command needs (duplicate objects, the node named by `--node`,
CEL selectors that do not compile, NVIDIA opaque configs the driver would refuse) and reports
them as one InputError, and the reading options every command shares (kubectl's `-R` and
`--validate`, objects set aside named with `-v`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dralloc.api.io import FieldValidation, LoadedObject, ReadNotes, SetAside, read_files
from dralloc.api.objects import ObjectSet
from dralloc.cel.environment import CelEnvironment
from dralloc.cel.validation import all_gates_on, selector_problems
from dralloc.devices.nvidia_config import object_config_problems
from dralloc.errors import InputError, Problem


@dataclass
class ClusterInput(ObjectSet):
    """The objects of the input files, plus every loaded object in input order."""

    objects: list[LoadedObject] = field(default_factory=list)
    set_aside: list[SetAside] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    # The labels of the Namespaces read (set aside otherwise), by name.
    namespace_labels: dict[str, dict[str, str]] = field(default_factory=dict)


def read_cluster(
    paths: list[str],
    *,
    recursive: bool = False,
    validation: FieldValidation = FieldValidation.strict,
) -> ClusterInput:
    notes = ReadNotes()
    objects, problems = read_files(paths, recursive=recursive, validation=validation, notes=notes)
    cluster = ClusterInput(
        objects=objects,
        set_aside=notes.set_aside,
        warnings=notes.warnings,
        namespace_labels=notes.namespace_labels,
    )
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


def node_problems(cluster: ClusterInput, node: str) -> list[Problem]:
    """`--node NAME` must name a node the input defines (a Node object, or a ResourceSlice's
    `nodeName` when the input has no Node objects); otherwise the answer "0/1 nodes fit" would
    be about a node that does not exist."""
    if node in cluster.node_names():
        return []
    known = cluster.node_names()
    listed = ", ".join(known[:10]) + (f", ... ({len(known)} in all)" if len(known) > 10 else "")
    hint = f" (nodes: {listed})" if known else " (the input defines no nodes)"
    return [Problem("", "", "--node", f"node {node!r} is not in the input{hint}")]
