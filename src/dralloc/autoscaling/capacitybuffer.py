"""CapacityBuffer (`autoscaling.x-k8s.io/v1beta1`, short name `cb`) as typed values, and its
chunks as virtual pods (spec/autoscaling.md §8).

Owns the model, the number of chunks a buffer holds and the chunks' virtual pods; the
autoscaler places them (`clusterautoscaler.py`), reading manifests is `objects.py`'s. No I/O.
Behaviour read in kubernetes/autoscaler `apis/capacitybuffer/autoscaling.x-k8s.io/v1beta1/
types.go`:

* `provisioningStrategy` defaults to `buffer.x-k8s.io/active-capacity`, the only strategy the
  autoscaler acts on (a buffer of another strategy holds no chunks here);
* exactly one of `podTemplateRef` and `scalableRef`; a `podTemplateRef` buffer needs
  `replicas` or `limits` (the CRD's CEL rules);
* chunks = max(`replicas`, ⌈`percentage` x target replicas / 100⌉, at least 1 when the
  percentage is positive), then capped by `limits` over one chunk's container requests; with
  neither `replicas` nor `percentage`, as many chunks as `limits` hold;
* a `scalableRef` buffer takes its chunk's shape from the target's pod template (the replay
  passes it, with the target's replica count) and is not `Ready` before the target exists.

Each chunk is a virtual pod `capacity-buffer-<buffer>-<i>` with in-memory claims from its
template's ResourceClaimTemplates, owned (controller reference) by the buffer: movable by a
scale-down like any replicated pod, never bound to a node.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import msgspec

from dralloc.api.meta import OwnerReference
from dralloc.api.quantity import Quantity
from dralloc.api.resource import ResourceClaimTemplate
from dralloc.api.workloads import PodTemplateSpec
from dralloc.autoscaling.virtualpods import VirtualPod, materialize

API_VERSION = "autoscaling.x-k8s.io/v1beta1"
KIND = "CapacityBuffer"
ACTIVE_CAPACITY = "buffer.x-k8s.io/active-capacity"
# The CRD's `spec` fields; a `buffers[]` entry of the Autoscaling file takes them too.
SPEC_FIELDS = (
    "provisioningStrategy",
    "podTemplateRef",
    "scalableRef",
    "replicas",
    "percentage",
    "limits",
)


@dataclass(frozen=True)
class ScalableTarget:
    """`spec.scalableRef`: an object with a scale subresource (`apiGroup` "" is core)."""

    api_group: str
    kind: str
    name: str


@dataclass(frozen=True)
class CapacityBuffer:
    """A CapacityBuffer (see the module docstring). `template` is the referenced
    PodTemplate's pod template (None for a `scalableRef` buffer: the target's is used)."""

    namespace: str
    name: str
    provisioning_strategy: str = ACTIVE_CAPACITY
    template_name: str | None = None
    template: PodTemplateSpec | None = None
    scalable_ref: ScalableTarget | None = None
    replicas: int | None = None
    percentage: int | None = None
    limits: Mapping[str, Quantity] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class BufferStatus:
    """What the buffer controller would write: `replicas` chunks, `Ready` and why not."""

    replicas: int
    ready: bool
    reason: str = ""


def _chunk_requests(template: PodTemplateSpec) -> dict[str, int]:
    """One chunk's container requests in nano-units, by resource."""
    totals: dict[str, int] = {}
    for container in template.spec.containers:
        for name, amount in container.resources.requests.items():
            totals[name] = totals.get(name, 0) + amount.nano
    return totals


def buffer_status(
    buffer: CapacityBuffer,
    target_template: PodTemplateSpec | None = None,
    target_replicas: int | None = None,
) -> BufferStatus:
    """How many chunks `buffer` holds (see the module docstring). For a `scalableRef`
    buffer, `target_template` and `target_replicas` describe the target (None: it has no
    pod yet)."""
    if buffer.provisioning_strategy != ACTIVE_CAPACITY:
        return BufferStatus(0, False, f"provisioning strategy {buffer.provisioning_strategy}")
    template = buffer.template if buffer.scalable_ref is None else target_template
    if template is None:
        return BufferStatus(0, False, "no pod template: the target has no pod yet")
    wanted: int | None = None
    if buffer.replicas is not None:
        wanted = buffer.replicas
    if buffer.percentage is not None and buffer.scalable_ref is not None:
        share = math.ceil(buffer.percentage * (target_replicas or 0) / 100)
        if buffer.percentage > 0:
            share = max(share, 1)
        wanted = share if wanted is None else max(wanted, share)
    room: int | None = None
    requests = _chunk_requests(template)
    for resource, limit in buffer.limits.items():
        per_chunk = requests.get(resource, 0)
        if per_chunk > 0:
            fits = limit.nano // per_chunk
            room = fits if room is None else min(room, fits)
    if wanted is None:
        wanted = room if room is not None else 0
    elif room is not None:
        wanted = min(wanted, room)
    return BufferStatus(wanted, True)


def buffer_pods(
    buffer: CapacityBuffer,
    chunks: int,
    claim_templates: Mapping[str, ResourceClaimTemplate],
    template: PodTemplateSpec | None = None,
) -> list[VirtualPod]:
    """The buffer's `chunks` virtual pods (`template` overrides the buffer's own, for a
    `scalableRef` buffer)."""
    shape = template or buffer.template
    if shape is None:
        return []
    owner = OwnerReference(
        api_version=API_VERSION, kind=KIND, name=buffer.name, uid=buffer.key, controller=True
    )
    pods: list[VirtualPod] = []
    for index in range(chunks):
        made = materialize(
            shape, buffer.namespace, f"capacity-buffer-{buffer.name}-{index}", claim_templates
        )
        metadata = msgspec.structs.replace(made.pod.metadata, owner_references=[owner])
        pods.append(VirtualPod(msgspec.structs.replace(made.pod, metadata=metadata), made.claims))
    return pods
