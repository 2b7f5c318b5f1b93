"""Hashes that name controller-made objects: a Deployment's `pod-template-hash` and a
StatefulSet's (or LeaderWorkerSet's) controller revision.

Pure computation, no I/O.

Departure from upstream, on purpose: kube-controller-manager hashes a Go value dump of the
pod template (`DeepHashObject`: every field of the Go struct, defaulted ones included, in Go's
printing format), which cannot be reproduced bit for bit from the fields dralloc models. dralloc
hashes a canonical JSON of the modelled template instead (keys sorted, empty fields left out).
Everything around the hash is upstream's: 32-bit FNV-1a for the pod-template-hash with the
collision count appended as 8 little-endian bytes, 32-bit FNV-1 over the revision data with the
collision count appended in decimal for controller revisions, and the decimal value of the hash
re-encoded with `SafeEncodeString` (each digit mapped into the 27-letter alphabet of generated
names). So the names have upstream's shape (`web-7c5ddbdf54`), are stable for one template, and
change when the template changes, but differ from the ones a real cluster would pick.
"""

from __future__ import annotations

from typing import Any

import msgspec

from dralloc.api.quantity import Quantity
from dralloc.api.workloads import PodTemplateSpec

# k8s.io/apimachinery util/rand: no vowels (no words), no look-alike digits or letters.
ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"

_FNV32_OFFSET = 0x811C9DC5
_FNV32_PRIME = 0x01000193
_MASK32 = 0xFFFFFFFF


def fnv1a_32(data: bytes, state: int = _FNV32_OFFSET) -> int:
    """32-bit FNV-1a of `data`, continuing from `state` (Go's `hash/fnv.New32a`).

    >>> hex(fnv1a_32(b"a"))
    '0xe40c292c'
    """
    for byte in data:
        state = ((state ^ byte) * _FNV32_PRIME) & _MASK32
    return state


def fnv1_32(data: bytes, state: int = _FNV32_OFFSET) -> int:
    """32-bit FNV-1 of `data` (Go's `hash/fnv.New32`): multiply first, then xor.

    >>> hex(fnv1_32(b"a"))
    '0x50c5d7e'
    """
    for byte in data:
        state = ((state * _FNV32_PRIME) & _MASK32) ^ byte
    return state


def safe_encode(text: str) -> str:
    """Upstream's `rand.SafeEncodeString`: each character `c` becomes
    `ALPHANUMS[ord(c) % 27]`, so a hash never spells a word.

    >>> safe_encode("1234")
    '5678'
    """
    return "".join(ALPHANUMS[ord(char) % len(ALPHANUMS)] for char in text)


def _enc_hook(value: Any) -> Any:
    if isinstance(value, Quantity):
        return str(value)
    raise NotImplementedError(f"cannot encode {type(value).__name__}")


def canonical_json(obj: Any) -> bytes:
    """`obj` as JSON with every key sorted and empty fields left out: equal objects, equal bytes."""
    return msgspec.json.encode(obj, enc_hook=_enc_hook, order="sorted")


def pod_template_hash(template: PodTemplateSpec, collision_count: int | None = None) -> str:
    """The `pod-template-hash` a Deployment gives the ReplicaSet of `template`
    (upstream's `controller.ComputeHash`, over canonical JSON; see the module docstring).

    >>> pod_template_hash(PodTemplateSpec()) == pod_template_hash(PodTemplateSpec())
    True
    >>> pod_template_hash(PodTemplateSpec()) != pod_template_hash(PodTemplateSpec(), 1)
    True
    """
    state = fnv1a_32(canonical_json(template))
    if collision_count is not None:
        state = fnv1a_32((collision_count & _MASK32).to_bytes(8, "little"), state)
    return safe_encode(str(state))


def revision_hash(data: bytes, collision_count: int | None = None) -> str:
    """The hash part of a ControllerRevision's name (upstream's `HashControllerRevision`)."""
    state = fnv1_32(data)
    if collision_count is not None:
        state = fnv1_32(str(collision_count).encode(), state)
    return safe_encode(str(state))


def stateful_set_revision_name(
    name: str, template: PodTemplateSpec, collision_count: int | None = None
) -> str:
    """The name of a StatefulSet's current ControllerRevision, which its pods carry in the
    `controller-revision-hash` label: `<sts>-<hash>`, the hash taken over the patch upstream
    stores (`{"spec": {"template": {..., "$patch": "replace"}}}`).
    """
    template_json = msgspec.json.decode(canonical_json(template))
    template_json["$patch"] = "replace"
    patch = msgspec.json.encode({"spec": {"template": template_json}}, order="sorted")
    # ControllerRevisionName keeps at most 223 characters of the prefix.
    return f"{name[:223]}-{revision_hash(patch, collision_count)}"
