"""Builders shared by the CEL tests (a uniquely named module, imported by the test files;
`conftest.py` holds only the fixture)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dralloc.api.quantity import Quantity
from dralloc.api.resource import Device, DeviceAttribute, DeviceCapacity
from dralloc.cel import CelCompileError, CelDevice, CelEnvironment, CelRuntimeError
from dralloc.features import Features

DRIVER = "gpu.example.com"

ALL_ON = Features().with_gates(DRAListTypeAttributes=True, DRAConsumableCapacity=True)


def make_device(
    attributes: dict[str, Any] | None = None,
    capacity: dict[str, str] | None = None,
    **fields: Any,
) -> Device:
    """A Device whose attributes are given as plain values (int, bool, str) or as
    DeviceAttribute, and whose capacities are quantity strings."""
    attrs: dict[str, DeviceAttribute] = {}
    for name, value in (attributes or {}).items():
        if isinstance(value, DeviceAttribute):
            attrs[name] = value
        elif isinstance(value, bool):
            attrs[name] = DeviceAttribute(bool_value=value)
        elif isinstance(value, int):
            attrs[name] = DeviceAttribute(int_value=value)
        else:
            attrs[name] = DeviceAttribute(string=value)
    caps = {name: DeviceCapacity(value=Quantity.parse(v)) for name, v in (capacity or {}).items()}
    return Device(name="dev-0", attributes=attrs, capacity=caps, **fields)


Evaluate = Callable[..., bool]


def build_upstream_program(program: str, work: Path) -> Path:
    """Builds the Go program tests/cel/<program> in `work` with tools/draoracle's module
    versions (offline, from the module cache tools/build.sh filled) and returns the binary;
    skips (fails with DRALLOC_REQUIRE_K8S=1) where Go or the modules are missing."""
    here = Path(__file__).resolve().parent
    modules = here.parents[1] / "tools" / "draoracle"
    go = shutil.which("go") or (
        "/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None
    )
    if go is None or not (modules / "go.sum").exists():
        message = "Go or tools/draoracle's modules are missing: run tools/build.sh"
        if os.environ.get("DRALLOC_REQUIRE_K8S") == "1":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    for name in ("go.mod", "go.sum"):
        shutil.copy(modules / name, work / name)
    shutil.copy(here / program / "main.go", work / "main.go")
    go_mod = work / "go.mod"
    lines = go_mod.read_text().splitlines()
    go_mod.write_text("\n".join([f"module {program.replace('_', '')}", *lines[1:]]) + "\n")
    env = {**os.environ, "GOFLAGS": "-mod=mod", "GOPROXY": "off", "GOWORK": "off"}
    subprocess.run([go, "build", "-o", program, "."], cwd=work, env=env, check=True)
    return work / program


def upstream_answers(table: Path) -> list[tuple[str, str]]:
    """The (expression, answer) rows of a table recorded from upstream's `DeviceMatches`
    (tab-separated; `#` lines are comments)."""
    rows = []
    for line in table.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#") and line.strip():
            expression, answer = line.split("\t")
            rows.append((expression, answer))
    return rows


def answer(env: CelEnvironment, device: CelDevice, expression: str) -> str:
    """dralloc's answer in the tables' words: `true`/`false`, `COMPILE ...` or `ERR ...`."""
    try:
        return str(env.compile(expression).evaluate(device)).lower()
    except CelCompileError as exc:
        return f"COMPILE {exc}"
    except CelRuntimeError as exc:
        return f"ERR {exc}"
