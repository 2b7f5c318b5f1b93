"""core/v1 PodTemplate: a named, namespaced pod template, what a ProvisioningRequest's pod sets
and a CapacityBuffer's `podTemplateRef` name (spec/autoscaling.md §7.1, §8).

Only `metadata` and `template` are modelled (the object has no spec or status); `template` is
the `PodTemplateSpec` the workload kinds use. Besides the struct, the two steps the API server
takes on create that `dralloc.api.io` cannot take generically: validation as upstream's
ValidatePodTemplate (the object's metadata, then the template as the Pod it would make, its
problems at `template.` paths) and defaulting as SetObjectDefaults_PodTemplate (the template's
spec defaulted as a Pod's; the object lands in `default` without a namespace). No I/O.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

import msgspec

from dralloc.api.core import Pod
from dralloc.api.defaults import apply_defaults
from dralloc.api.meta import Base, ObjectMeta
from dralloc.api.validation import validate
from dralloc.api.validation.base import Problem
from dralloc.api.workloads import PodTemplateSpec

POD_TEMPLATE_API_VERSION: Final = "v1"
# The name the Pod a template is checked as carries: a valid one, so only the PodTemplate's
# own name is judged (a template's metadata.name is ignored upstream).
_CHECKED_POD_NAME: Final = "template"


class PodTemplate(Base):
    api_version: str = POD_TEMPLATE_API_VERSION
    kind: str = "PodTemplate"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    template: PodTemplateSpec = msgspec.field(default_factory=PodTemplateSpec)


def _as_pod(template: PodTemplate) -> Pod:
    """The Pod `template` makes; its spec is the template's own object, so defaulting it
    defaults the template."""
    made = template.template.metadata
    meta = ObjectMeta(
        name=_CHECKED_POD_NAME,
        namespace=template.metadata.namespace or "default",
        labels=dict(made.labels),
        annotations=dict(made.annotations),
    )
    return Pod(metadata=meta, spec=template.template.spec)


def pod_template_problems(template: PodTemplate) -> list[Problem]:
    """(field path, message) pairs: the object's metadata as any namespaced object's, then
    the template's labels, annotations and spec as a Pod's, at `template.` paths."""
    # A Pod with the object's metadata and no containers: only its metadata problems count.
    own = validate(Pod(metadata=template.metadata))
    problems = [(path, message) for path, message in own if path.startswith("metadata")]
    for path, message in validate(_as_pod(template)):
        if path.startswith(("metadata.labels", "metadata.annotations", "spec")):
            problems.append((f"template.{path}", message))
    return problems


def default_pod_template(template: PodTemplate, *, now: datetime | None = None) -> None:
    """Default `template` in place as the API server does on create."""
    if not template.metadata.namespace:
        template.metadata.namespace = "default"
    apply_defaults(_as_pod(template), now=now)
