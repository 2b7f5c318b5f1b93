"""Reading Kueue documents: from the raw documents `dralloc.api.io` sets aside to typed,
validated objects, gathered with the Kubernetes objects queueing needs.

Owns: `decode_document` (one raw `kueue.x-k8s.io` document -> object + problems), the
`QueueInput` bundle (Kueue objects plus PriorityClasses, DeviceClasses, ResourceSlices and
ResourceClaimTemplates, Namespaces' labels) and `read_queue_files` (files -> bundle, raising
one `InputError` with every problem: file, object, field). No other I/O than reading the
files named; nothing is kept between calls.

Why a second parse of a file's text: `ReadNotes.set_aside` records that a custom resource was
read (file, document index, kind, name) but not its body; `read_queue_files` parses the text
of a file that held Kueue documents once more (the file is read once) and picks those
documents by index. A `raw` field on `SetAside` would make that second parse unnecessary.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from dralloc.api import io as api_io
from dralloc.api.core import Node, Pod, PriorityClass
from dralloc.api.io import LoadedObject, ReadNotes
from dralloc.api.meta import object_ref
from dralloc.api.quantity import Quantity, parse_quantity
from dralloc.api.resource import DeviceClass, ResourceClaimTemplate, ResourceSlice
from dralloc.api.workloads import Deployment, Job, JobSet, LeaderWorkerSet, StatefulSet
from dralloc.errors import InputError, Problem
from dralloc.queueing.jobs import (
    QUEUE_NAME_LABEL,
    job_topology_problems,
    queue_name_of,
    workload_for_job,
    workload_for_jobset,
)
from dralloc.queueing.objects import (
    GROUP,
    KINDS,
    ClusterQueue,
    Cohort,
    LocalQueue,
    QueueObject,
    ResourceFlavor,
    Workload,
    WorkloadPriorityClass,
    convert_to_v1beta2,
    served_versions,
)
from dralloc.queueing.topology import Topology
from dralloc.queueing.validation import validate


def _dec_hook(kind: type, value: Any) -> Any:
    if kind is Quantity:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValueError(f"quantity must be a string or a number, got {type(value).__name__}")
        return parse_quantity(value)
    raise NotImplementedError(f"cannot decode {kind}")


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def is_queue_document(raw: Any) -> bool:
    """A document of Kueue's API group whose kind dralloc reads."""
    if not isinstance(raw, dict):
        return False
    api_version = raw.get("apiVersion")
    return (
        isinstance(api_version, str)
        and api_version.rpartition("/")[0] == GROUP
        and raw.get("kind") in KINDS
    )


def decode_document(
    raw: dict[str, Any], file: str, document: int
) -> tuple[QueueObject | None, list[Problem]]:
    """One `kueue.x-k8s.io` document, converted to v1beta2, decoded and validated as
    Kueue's webhooks would. Returns (None, problems) when it cannot be decoded."""
    kind = str(raw.get("kind", ""))
    api_version = str(raw.get("apiVersion", ""))
    metadata = raw.get("metadata") if isinstance(raw.get("metadata"), dict) else {}
    assert isinstance(metadata, dict)
    name = str(metadata.get("name") or f"(document {document})")
    namespace = str(metadata.get("namespace") or "")
    label = f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"
    if api_version not in served_versions(kind):
        return None, [
            Problem(
                file,
                label,
                "apiVersion",
                f"unsupported apiVersion {api_version!r} for {kind} (expected one of: "
                f"{', '.join(served_versions(kind))})",
            )
        ]
    cls = KINDS[kind]
    converted = _without_nulls(convert_to_v1beta2(raw))
    try:
        obj: QueueObject = msgspec.convert(converted, cls, dec_hook=_dec_hook, str_keys=True)
    except msgspec.ValidationError as err:
        text = str(err)
        message, _, path = text.partition(" - at `$")
        return None, [Problem(file, label, path.rstrip("`").lstrip("."), message)]
    ref = object_ref(kind, obj.metadata)
    return obj, [Problem(file, ref, path, message) for path, message in validate(obj)]


# Kinds Kueue can queue (its LeaderWorkerSet, Deployment, StatefulSet and plain Pod
# integrations) that dralloc's admission does not model: left unmanaged they would be
# scheduled at once, as if no queue had been named, so a queue label on them is refused rather
# than ignored. A Pod counts only when it is pending and no controller owns it: pods already
# bound, or made by a Job, are what a dump of a Kueue-managed cluster holds.
UNQUEUED_KINDS = (LeaderWorkerSet, Deployment, StatefulSet)


def is_unqueued(obj: object) -> bool:
    """Whether `obj` asks for a LocalQueue through an integration admission does not model."""
    if isinstance(obj, Pod):
        owned = any(ref.controller for ref in obj.metadata.owner_references)
        return bool(queue_name_of(obj.metadata)) and not owned and not obj.spec.node_name
    return isinstance(obj, UNQUEUED_KINDS) and bool(queue_name_of(obj.metadata))


def unqueued_problem(file: str, obj: LeaderWorkerSet | Deployment | StatefulSet | Pod) -> Problem:
    """The input error for a queue label on a kind `dralloc queue` does not queue."""
    ref = object_ref(obj.kind, obj.metadata)
    where = "labels" if QUEUE_NAME_LABEL in obj.metadata.labels else "annotations"
    return Problem(
        file,
        ref,
        f"metadata.{where}[{QUEUE_NAME_LABEL}]",
        f"dralloc queue admits Jobs and JobSets only; Kueue's {obj.kind} integration is not "
        f"modelled (remove the label to schedule it without a queue, with dralloc schedule)",
    )


@dataclass
class QueueInput:
    """Everything admission reads, by name. LocalQueues and Workloads are keyed
    `namespace/name`, ResourceClaimTemplates `(namespace, name)`; `files` remembers where each
    Kueue object came from, for later cross-object errors."""

    flavors: dict[str, ResourceFlavor] = field(default_factory=dict)
    cluster_queues: dict[str, ClusterQueue] = field(default_factory=dict)
    cohorts: dict[str, Cohort] = field(default_factory=dict)
    local_queues: dict[str, LocalQueue] = field(default_factory=dict)
    workloads: dict[str, Workload] = field(default_factory=dict)
    workload_priority_classes: dict[str, WorkloadPriorityClass] = field(default_factory=dict)
    priority_classes: dict[str, PriorityClass] = field(default_factory=dict)
    device_classes: dict[str, DeviceClass] = field(default_factory=dict)
    slices: list[ResourceSlice] = field(default_factory=list)
    claim_templates: dict[tuple[str, str], ResourceClaimTemplate] = field(default_factory=dict)
    namespace_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    # batch/v1 Jobs and JobSets asking for a LocalQueue (`kueue.x-k8s.io/queue-name`): the
    # caller turns them into Workloads (`dralloc.queueing.jobs`).
    jobs: list[Job | JobSet] = field(default_factory=list)
    # Kueue Topologies (TAS); Nodes and the pods bound to them are the capacity TAS reads.
    topologies: dict[str, Topology] = field(default_factory=dict)
    nodes: list[Node] = field(default_factory=list)
    pods: list[Pod] = field(default_factory=list)
    # What `add_kube` refused (a queue label on a kind admission does not queue); reported,
    # and emptied, by the next `decode_documents` into this bundle.
    refused: list[Problem] = field(default_factory=list)

    def add(self, obj: QueueObject, file: str = "") -> None:
        meta = obj.metadata
        self.files[object_ref(obj.kind, meta)] = file
        if isinstance(obj, ResourceFlavor):
            self.flavors[meta.name] = obj
        elif isinstance(obj, ClusterQueue):
            self.cluster_queues[meta.name] = obj
        elif isinstance(obj, Cohort):
            self.cohorts[meta.name] = obj
        elif isinstance(obj, LocalQueue):
            self.local_queues[f"{meta.namespace}/{meta.name}"] = obj
        elif isinstance(obj, Workload):
            self.workloads[f"{meta.namespace}/{meta.name}"] = obj
        elif isinstance(obj, WorkloadPriorityClass):
            self.workload_priority_classes[meta.name] = obj
        elif isinstance(obj, Topology):
            self.topologies[meta.name] = obj

    def add_kube(self, loaded: LoadedObject) -> None:
        obj = loaded.obj
        if isinstance(obj, PriorityClass):
            self.priority_classes[obj.metadata.name] = obj
        elif isinstance(obj, DeviceClass):
            self.device_classes[obj.metadata.name] = obj
        elif isinstance(obj, ResourceSlice):
            self.slices.append(obj)
        elif isinstance(obj, ResourceClaimTemplate):
            key = (obj.metadata.namespace or "default", obj.metadata.name)
            self.claim_templates[key] = obj
        elif isinstance(obj, Job | JobSet) and obj.metadata.labels.get(QUEUE_NAME_LABEL):
            self.jobs.append(obj)
        elif isinstance(obj, (*UNQUEUED_KINDS, Pod)) and is_unqueued(obj):
            self.refused.append(unqueued_problem(loaded.file, obj))
            if isinstance(obj, Pod):
                self.pods.append(obj)
        elif isinstance(obj, Node):
            self.nodes.append(obj)
        elif isinstance(obj, Pod):
            self.pods.append(obj)

    def add_job_workloads(self) -> list[Workload]:
        """Create the Workload of every Job and JobSet that names a LocalQueue (as Kueue's
        integrations do) unless one with that name is already in the input; returns them."""
        made = []
        for job in self.jobs:
            wpcs, pcs = self.workload_priority_classes, self.priority_classes
            if isinstance(job, Job):
                wl = workload_for_job(job, wpcs, pcs)
            else:
                wl = workload_for_jobset(job, wpcs, pcs)
            key = f"{wl.metadata.namespace}/{wl.metadata.name}"
            if key not in self.workloads:
                self.workloads[key] = wl
                made.append(wl)
        return made

    def file_of(self, kind: str, name: str) -> str:
        return self.files.get(f"{kind} {name}", "")


def decode_documents(
    documents: Iterable[tuple[str, int, dict[str, Any]]], into: QueueInput | None = None
) -> tuple[QueueInput, list[Problem]]:
    """Decode `(file, document index, raw)` Kueue documents into a `QueueInput`."""
    bundle = into if into is not None else QueueInput()
    problems, bundle.refused = bundle.refused, []
    for file, index, raw in documents:
        obj, found = decode_document(raw, file, index)
        problems += found
        if obj is not None and not found:
            bundle.add(obj, file)
    return bundle, problems


def read_queue_files(paths: Sequence[str], *, recursive: bool = False) -> QueueInput:
    """Every object of the files (a directory: its manifests; `-`: stdin) that admission
    reads; raise one `InputError` listing every problem, Kubernetes' and Kueue's alike.

    Each file is read once: `dralloc.api.io` decodes the Kubernetes kinds and sets the custom
    resources aside with their documents; the Kueue documents among those are decoded here.
    """
    notes = ReadNotes()
    bundle = QueueInput()
    problems: list[Problem] = []
    for path in api_io.expand_paths(paths, recursive=recursive):
        name = api_io.STDIN_NAME if path == "-" else path
        try:
            text = (
                api_io.sys_stdin_text() if path == "-" else Path(path).read_text(encoding="utf-8")
            )
        except OSError as err:
            problems.append(Problem(name, "", "", f"cannot read file: {err.strerror or err}"))
            continue
        except UnicodeDecodeError:
            problems.append(Problem(name, "", "", "file is not UTF-8 text"))
            continue
        before = len(notes.set_aside)
        loaded, found = api_io.load_text(text, name, notes=notes)
        problems += found
        for item in loaded:
            bundle.add_kube(item)
            if isinstance(item.obj, Job | JobSet) and queue_name_of(item.obj.metadata):
                ref = object_ref(item.obj.kind, item.obj.metadata)
                problems += [
                    Problem(name, ref, path, message)
                    for path, message in job_topology_problems(item.obj)
                ]
        chosen = [
            (name, item.document, item.raw)
            for item in notes.set_aside[before:]
            if item.api_version.rpartition("/")[0] == GROUP and item.kind in KINDS
        ]
        _, found = decode_documents(chosen, bundle)
        problems += found
    bundle.namespace_labels.update(notes.namespace_labels)
    if problems:
        raise InputError(problems)
    return bundle
