"""Each package's `__all__` lists its public names, and every listed name exists."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = [
    "dralloc.api",
    "dralloc.cel",
    "dralloc.allocator",
    "dralloc.devices",
    "dralloc.testing",
    "dralloc.scheduler.framework",
    "dralloc.scheduler.queue",
    "dralloc.scheduler.plugins.dynamicresources",
    "dralloc.scheduler.plugins.gpushare",
    "dralloc.sim.fgd",
    "dralloc.sim.traces",
    "dralloc.sim.replay",
    "dralloc.controllers",
    "dralloc.controllers.workloads",
    "dralloc.kube",
    "dralloc.autoscaling",
    "dralloc.dashboard",
    "dralloc.autoscaling.prediction",
    "dralloc.kube.nodesim",
    "dralloc.kube.controllers",
    "dralloc.queueing",
    "dralloc.scheduler.gangs",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_every_public_name_of_a_package_is_importable(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported, f"{name} has no __all__"
    missing = [n for n in exported if not hasattr(module, n)]
    assert missing == []
    assert len(exported) == len(set(exported)), "no name listed twice"


def test_the_allocator_package_exports_its_entry_points() -> None:
    from dralloc import allocator

    for name in ("Allocator", "Inventory", "AllocatedState", "explain", "AllocationError"):
        assert name in allocator.__all__
