"""The shapes of an autoscaled replay (spec/autoscaling.md §3): which of a `kind: Autoscaling`
file's shapes the replay's pods can use, as the trace-node descriptions the replay's measures
and costs count with. Pure validation over the config and the catalog; no state.

A shape's GPUs must be fractional (`sharing: fractional`: the replay's pods claim
`gpu-fractional.dralloc.io`) and of one of the trace's GPU models; every shape that is not,
and a mode the replay does not drive, is reported at once (InputError naming the field).
"""

from __future__ import annotations

from dralloc.api.resource import ResourceSlice
from dralloc.autoscaling.config import KIND, AutoscalingConfig, Mode
from dralloc.devices.catalog import Catalog
from dralloc.errors import InputError, Problem
from dralloc.sim.traces.model import GpuModels, TraceNode

__all__ = ["WIRED_MODES", "fleet_shapes"]

WIRED_MODES = (Mode.STATIC, Mode.CLUSTER_AUTOSCALER, Mode.KARPENTER)


def fleet_shapes(
    config: AutoscalingConfig, catalog: Catalog, models: GpuModels
) -> dict[str, TraceNode]:
    """Per shape, the trace-node description of its nodes (CPU, memory, GPUs, the trace's
    model code); InputError naming every shape the replay's pods could not use."""
    templates = config.templates(catalog)
    by_product = {model.product_name: code for code, model in sorted(models.by_code.items())}
    problems: list[Problem] = []
    shapes: dict[str, TraceNode] = {}
    obj = f"{KIND} {config.name}" if config.name else KIND
    for index, (name, template) in enumerate(templates.items()):
        at = config.shapes[name].path or f"shapes[{index}]"
        products, fractional = _gpus_of(template.slices)
        if not products:
            problems.append(Problem(config.file, obj, f"{at}.shape", "publishes no GPU"))
            continue
        if not fractional:
            problems.append(
                Problem(
                    config.file,
                    obj,
                    f"{at}.sharing",
                    "the replay's pods claim gpu-fractional.dralloc.io: set sharing: fractional",
                )
            )
        code = by_product.get(sorted(products)[0])
        if code is None:
            known = ", ".join(sorted(by_product)) or "none"
            problems.append(
                Problem(
                    config.file,
                    obj,
                    f"{at}.shape",
                    f"GPU {sorted(products)[0]} is not one of the trace's models ({known})",
                )
            )
            continue
        allocatable = template.node.status.allocatable
        cpu = allocatable.get("cpu")
        memory = allocatable.get("memory")
        shapes[name] = TraceNode(
            name,
            round(cpu.as_approximate_float() * 1000) if cpu is not None else 0,
            memory.ceil_int() >> 20 if memory is not None else 0,
            template.accelerator_count(),
            code,
        )
    if config.mode not in WIRED_MODES:
        problems.append(
            Problem(
                config.file,
                obj,
                "mode",
                f"{config.mode} is not wired into the replay yet (static, cluster-autoscaler, "
                "karpenter; the oracle is their predictor: predictor: {forecaster: oracle})",
            )
        )
    if problems:
        raise InputError(problems)
    return shapes


def _gpus_of(slices: tuple[ResourceSlice, ...]) -> tuple[set[str], bool]:
    products: set[str] = set()
    fractional = False
    for each in slices:
        for device in each.spec.devices:
            kind = device.attributes.get("type")
            if kind is None or kind.string != "gpu":
                continue
            product = device.attributes.get("productName")
            if product is not None and product.string:
                products.add(product.string)
            fractional = fractional or "cores" in device.capacity
    return products, fractional
