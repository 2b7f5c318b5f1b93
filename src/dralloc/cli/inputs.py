"""Turning loaded files into what a command works on: nodes, classes, slices and claims.

Owns the cross-object checks a command needs (duplicate objects, a second PriorityClass marked
as the global default, the node named by `--node`,
CEL selectors that do not compile, NVIDIA opaque configs the driver would refuse) and reports
them as one InputError, and the reading options every command shares (kubectl's `-R` and
`--validate`, objects set aside named with `-v`).

With `--kubeconfig`, the input is a live cluster's objects (`dralloc.kube.readcluster`) with the
files' objects over them: a file's object replaces the cluster's object of the same kind,
namespace and name. The cluster's objects are not checked again (the API server validated
them); the files' objects are, as without a cluster.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dralloc.api.core import Node, Pod, PriorityClass
from dralloc.api.io import FieldValidation, LoadedObject, ReadNotes, SetAside, read_files
from dralloc.api.meta import is_stored
from dralloc.api.objects import ObjectSet
from dralloc.api.resource import ResourceClaim
from dralloc.api.validation import second_global_defaults
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
    # With --kubeconfig: the file name the cluster's objects carry (`cluster:<server>`).
    cluster_source: str = ""

    def is_from_cluster(self, loaded: LoadedObject) -> bool:
        return bool(self.cluster_source) and loaded.file == self.cluster_source

    def cluster_pending_pods(self) -> list[LoadedObject]:
        """The cluster's pods that are not bound yet (none without --kubeconfig)."""
        return [
            o
            for o in self.objects
            if self.is_from_cluster(o) and isinstance(o.obj, Pod) and not o.obj.spec.node_name
        ]

    def without(self, dropped: Sequence[LoadedObject]) -> ClusterInput:
        """The same input less some of its objects."""
        gone = {id(o) for o in dropped}
        kept = ClusterInput(
            set_aside=self.set_aside,
            warnings=self.warnings,
            namespace_labels=self.namespace_labels,
            cluster_source=self.cluster_source,
        )
        for loaded in self.objects:
            if id(loaded) not in gone:
                kept.objects.append(loaded)
                kept.add(loaded)
        return kept


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
    _check_and_add(cluster, objects, problems)
    return cluster


def _identity(loaded: LoadedObject) -> tuple[str, str, str, str]:
    """What makes two objects the same: API group, kind, namespace and name (Kubernetes',
    Volcano's and KAI's PodGroups are different kinds that share a name)."""
    meta = loaded.obj.metadata
    group = str(loaded.raw.get("apiVersion", "")).rpartition("/")[0]
    return (group, loaded.kind, meta.namespace, meta.name)


def _check_and_add(
    cluster: ClusterInput, objects: Sequence[LoadedObject], problems: list[Problem]
) -> None:
    """Check the files' objects (duplicates, CEL selectors, opaque configs) and add them to
    `cluster`; one InputError with every problem."""
    seen: dict[tuple[str, str, str, str], LoadedObject] = {}
    env = CelEnvironment(all_gates_on())
    for loaded in objects:
        meta = loaded.obj.metadata
        identity = _identity(loaded)
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
    problems.extend(_global_default_problems(cluster, objects))
    if problems:
        raise InputError(problems)


def _global_default_problems(
    cluster: ClusterInput, objects: Sequence[LoadedObject]
) -> list[Problem]:
    """The Priority admission plugin's "only one default can exist", for the classes being
    created: the files' classes in input order, after the classes a server already stored
    (the live cluster's, and exported ones with a uid or creationTimestamp: a race between
    two creations can have left two defaults there, and they stand)."""
    stored_defaults = [
        o.obj.metadata.name
        for o in cluster.objects
        if isinstance(o.obj, PriorityClass)
        and o.obj.global_default
        and (cluster.is_from_cluster(o) or is_stored(o.obj.metadata))
    ]
    created = {id(o.obj): o for o in objects}
    classes = [
        o.obj for o in objects if isinstance(o.obj, PriorityClass) and not is_stored(o.obj.metadata)
    ]
    refused = second_global_defaults(classes, stored_defaults[0] if stored_defaults else None)
    return [
        Problem(created[id(c)].file, created[id(c)].ref, "globalDefault", f"Forbidden: {why}")
        for c, why in refused
    ]


def read_live_cluster(
    kubeconfig: str,
    context: str | None,
    paths: Sequence[str],
    *,
    recursive: bool = False,
    validation: FieldValidation = FieldValidation.strict,
) -> ClusterInput:
    """A live cluster's objects with the files' objects over them (module docstring).

    Raises InputError (a kubeconfig that cannot be used, invalid files) and
    `dralloc.kube.readcluster.ClusterUnreadable` (the server cannot be read)."""
    # The API client (lightkube, httpx) is loaded only by the commands that talk to a server.
    from dralloc.kube.readcluster import read_cluster_once

    notes = ReadNotes()
    files, problems = read_files(paths, recursive=recursive, validation=validation, notes=notes)
    if problems:
        raise InputError(problems)
    read = read_cluster_once(Path(kubeconfig), context)
    replaced = {_identity(o) for o in files}
    live = [o for o in read.objects if _identity(o) not in replaced]
    cluster = ClusterInput(
        set_aside=notes.set_aside,
        warnings=notes.warnings,
        namespace_labels={**read.namespace_labels, **notes.namespace_labels},
        cluster_source=read.source,
    )
    cluster.warnings.extend(read.warnings)
    for loaded in _usable_bound_pods(live, cluster.warnings):
        cluster.objects.append(loaded)
        cluster.add(loaded)
    cluster.objects.extend(files)
    _check_and_add(cluster, files, [])
    return cluster


def _usable_bound_pods(
    objects: Sequence[LoadedObject], warnings: list[Problem]
) -> list[LoadedObject]:
    """The cluster's objects less the bound pods dralloc cannot place (their node is gone, a
    claim of theirs is missing or not allocated): a moment of a live cluster, which the
    offline checks would take for an input contradicting itself. Each one left out is a
    warning."""
    # `dralloc allocate` and `explain --claim` read files through this module without the
    # scheduler (tests/cli/test_cli_startup.py): only a live read loads it.
    from dralloc.scheduler.admission import running_pod_problems

    nodes = {o.obj.metadata.name for o in objects if isinstance(o.obj, Node)}
    claims = {
        f"{o.obj.metadata.namespace}/{o.obj.metadata.name}": o.obj
        for o in objects
        if isinstance(o.obj, ResourceClaim)
    }
    kept = []
    for loaded in objects:
        pod = loaded.obj
        if isinstance(pod, Pod) and pod.spec.node_name:
            found = running_pod_problems(loaded, pod, claims, nodes)
            if found:
                first = found[0]
                warnings.append(
                    Problem(
                        first.file,
                        first.obj,
                        first.field,
                        f"{first.message}; the bound pod is left out",
                    )
                )
                continue
        kept.append(loaded)
    return kept


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
