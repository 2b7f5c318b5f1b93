"""Fixtures for the CEL tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from cel_testing import ALL_ON, DRIVER, Evaluate, build_upstream_program, make_device

from dralloc.api.resource import Device
from dralloc.cel import CelDevice, CelEnvironment
from dralloc.features import Features


@pytest.fixture
def evaluate() -> Evaluate:
    """evaluate(expression, device=None, features=ALL_ON) -> bool, raising Cel*Error."""
    environments: dict[tuple[tuple[str, bool], ...], CelEnvironment] = {}

    def run(expression: str, device: Device | None = None, features: Features = ALL_ON) -> bool:
        key = tuple(sorted(features.gates.items()))
        env = environments.setdefault(key, CelEnvironment(features))
        device = device if device is not None else make_device()
        cel_device = CelDevice.build(DRIVER, device, features)
        return env.compile(expression).evaluate(cel_device)

    return run


@pytest.fixture(scope="session")
def upstream_eval(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/cel/upstream_eval built once per session (upstream's `DeviceMatches`)."""
    return build_upstream_program("upstream_eval", tmp_path_factory.mktemp("upstream_eval"))
