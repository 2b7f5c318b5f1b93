"""Object metadata shared by every kind (metav1.ObjectMeta, OwnerReference) and the label
selector every kind writes the same way (metav1.LabelSelector). `is_stored` tells an object
exported from an API server (what the server set on it at creation) from one to be created.

Pure data, no I/O. Field names are snake_case in Python and camelCase on the wire.
"""

from __future__ import annotations

from typing import Any

import msgspec


class Base(msgspec.Struct, rename="camel", omit_defaults=True, kw_only=True):
    """Base of every wire struct: camelCase on the wire, empty fields omitted on output."""


class OwnerReference(Base):
    api_version: str = ""
    kind: str = ""
    name: str = ""
    uid: str = ""
    controller: bool | None = None
    block_owner_deletion: bool | None = None


class ObjectMeta(Base):
    name: str = ""
    generate_name: str = ""
    namespace: str = ""
    uid: str = ""
    resource_version: str = ""
    generation: int = 0
    creation_timestamp: str | None = None
    deletion_timestamp: str | None = None
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    annotations: dict[str, str] = msgspec.field(default_factory=dict)
    owner_references: list[OwnerReference] = msgspec.field(default_factory=list)
    finalizers: list[str] = msgspec.field(default_factory=list)
    managed_fields: list[Any] = msgspec.field(default_factory=list)


def is_stored(meta: ObjectMeta) -> bool:
    """Whether the object carries what only the API server sets when it stores an object (a
    uid, a creation timestamp, a resource version): it was created, and admitted, already.
    Admission plugins run on create only, so such an object is kept as the server kept it."""
    return bool(meta.uid or meta.creation_timestamp or meta.resource_version)


class LabelSelectorRequirement(Base):
    """metav1.LabelSelectorRequirement: `operator` is In, NotIn, Exists or DoesNotExist."""

    key: str
    operator: str
    values: list[str] = msgspec.field(default_factory=list)


class LabelSelector(Base):
    """metav1.LabelSelector: every `matchLabels` pair and every expression must hold."""

    match_labels: dict[str, str] = msgspec.field(default_factory=dict)
    match_expressions: list[LabelSelectorRequirement] = msgspec.field(default_factory=list)


def object_ref(kind: str, meta: ObjectMeta) -> str:
    """`Kind namespace/name` (or `Kind name` for cluster-scoped objects), as errors print it."""
    if meta.namespace:
        return f"{kind} {meta.namespace}/{meta.name}"
    return f"{kind} {meta.name}"
