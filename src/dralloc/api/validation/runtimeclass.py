"""API validation of node.k8s.io/v1 RuntimeClass, as upstream's `ValidateRuntimeClass`: a name,
a `handler` that is a DNS label, an overhead checked as container limits are, and scheduling
constraints whose node selector is labels and whose tolerations are a pod's, each at most
once (key, operator, value and effect).

Pure computation over a decoded object; problems go to the shared validator.
"""

from __future__ import annotations

import msgspec

from dralloc.api.core import RuntimeClass
from dralloc.api.validation.base import _Validator
from dralloc.api.validation.claims import container_resource, pod_toleration


def runtime_class(v: _Validator, obj: RuntimeClass) -> None:
    v.metadata(obj.metadata, namespaced=False)
    v.dns_label("handler", obj.handler)
    if obj.overhead is not None:
        for name, quantity in obj.overhead.pod_fixed.items():
            container_resource(v, f"overhead.limits[{name}]", name, quantity)
    scheduling = obj.scheduling
    if scheduling is None:
        return
    for key, value in scheduling.node_selector.items():
        # Upstream's ValidateLabels names the map itself, not the key.
        v.label_name("scheduling.nodeSelector", key)
        v.label_value("scheduling.nodeSelector", value)
    seen: set[tuple[str, str, str, str]] = set()
    for i, toleration in enumerate(scheduling.tolerations):
        path = f"scheduling.tolerations[{i}]"
        pod_toleration(v, path, toleration)
        identity = (toleration.key, toleration.operator, toleration.value, toleration.effect)
        if identity in seen:
            # The server prints a struct value as JSON.
            v.add(path, f"Duplicate value: {msgspec.json.encode(toleration).decode()}")
        seen.add(identity)
