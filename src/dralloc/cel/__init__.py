"""The Kubernetes DRA CEL environment for device selectors (spec/dra-v1.md section 5).

A thin wrapper over the Rust-backed `common-expression-language` library that supplies what
it lacks: the quantity and semver libraries, the strings/lists/sets extensions, `cel.bind`,
empty maps for unknown attribute domains, a compile-time name check, bool results, and
runtime errors that are raised as `CelRuntimeError` without anything printed to stderr.
The semantic gaps that remain are listed in `dralloc.cel.environment`.

Typical use (the allocator): one `CelEnvironment` per `Features`, one `CelDevice` per device,
`env.compile(expr).evaluate(device)` per (selector, device) pair:

>>> from dralloc.api.resource import Device, DeviceAttribute
>>> from dralloc.features import Features
>>> env = CelEnvironment(Features())
>>> gpu = CelDevice.build(
...     "gpu.example.com", Device(name="g0", attributes={"model": DeviceAttribute(string="A")}),
...     Features())
>>> env.compile('device.attributes["gpu.example.com"].model == "A"').evaluate(gpu)
True
"""

from dralloc.cel.cost import MAX_SELECTOR_COST
from dralloc.cel.device import CelDevice
from dralloc.cel.environment import (
    MAX_EXPRESSION_BYTES,
    TOO_COSTLY,
    CelEnvironment,
    CompiledSelector,
)
from dralloc.cel.errors import CelCompileError, CelRuntimeError
from dralloc.cel.runtime_cost import COST_LIMIT_EXCEEDED, CostCounting
from dralloc.cel.validation import all_gates_on, selector_problems

__all__ = [
    "COST_LIMIT_EXCEEDED",
    "MAX_EXPRESSION_BYTES",
    "MAX_SELECTOR_COST",
    "TOO_COSTLY",
    "CelCompileError",
    "CelDevice",
    "CelEnvironment",
    "CelRuntimeError",
    "CompiledSelector",
    "CostCounting",
    "all_gates_on",
    "selector_problems",
]
