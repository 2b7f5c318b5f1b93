"""Shared inputs and helpers for the CLI tests: a small two-node cluster as YAML text, a way
to write files into a test's tmp_path, and `invoke`, which runs `dralloc` in-process through
typer's CliRunner (stdout and stderr kept apart) and checks that no traceback escaped.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import yaml
from click.testing import Result
from typer.testing import CliRunner

from dralloc.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "examples" / "quickstart.yaml"

# Two nodes, listed out of name order; node-a has one A100, node-b two H100s.
CLUSTER = """\
apiVersion: v1
kind: Node
metadata:
  name: node-b
  labels: {zone: b}
---
apiVersion: v1
kind: Node
metadata:
  name: node-a
  labels: {zone: a}
---
apiVersion: resource.k8s.io/v1
kind: DeviceClass
metadata:
  name: gpu
spec:
  selectors:
  - cel:
      expression: device.driver == "gpu.example.com"
---
apiVersion: resource.k8s.io/v1
kind: ResourceSlice
metadata:
  name: node-a-gpu
spec:
  driver: gpu.example.com
  nodeName: node-a
  pool: {name: node-a, generation: 1, resourceSliceCount: 1}
  devices:
  - name: gpu-0
    attributes:
      model: {string: a100}
    capacity:
      memory: {value: 40Gi}
---
apiVersion: resource.k8s.io/v1
kind: ResourceSlice
metadata:
  name: node-b-gpu
spec:
  driver: gpu.example.com
  nodeName: node-b
  pool: {name: node-b, generation: 1, resourceSliceCount: 1}
  devices:
  - name: gpu-0
    attributes:
      model: {string: h100}
    capacity:
      memory: {value: 80Gi}
  - name: gpu-1
    attributes:
      model: {string: h100}
    capacity:
      memory: {value: 80Gi}
"""

# A pool whose two slices both publish gpu-9 is invalid (spec 6.3): a per-node failure,
# "unschedulable on this node", never an error of the whole command.
INVALID_POOL = """\
apiVersion: resource.k8s.io/v1
kind: ResourceSlice
metadata: {name: dup-1}
spec:
  driver: gpu.example.com
  nodeName: node-a
  pool: {name: dup, generation: 1, resourceSliceCount: 2}
  devices:
  - name: gpu-9
---
apiVersion: resource.k8s.io/v1
kind: ResourceSlice
metadata: {name: dup-2}
spec:
  driver: gpu.example.com
  nodeName: node-a
  pool: {name: dup, generation: 1, resourceSliceCount: 2}
  devices:
  - name: gpu-9
"""


def claim(name: str, count: int = 1, *, selector: str = "", device_class: str = "gpu") -> str:
    """A pending ResourceClaim in namespace default with one request `gpus`."""
    selectors = f"\n        selectors:\n        - cel:\n            expression: '{selector}'"
    return (
        textwrap.dedent(
            f"""\
        apiVersion: resource.k8s.io/v1
        kind: ResourceClaim
        metadata:
          name: {name}
          namespace: default
        spec:
          devices:
            requests:
            - name: gpus
              exactly:
                deviceClassName: {device_class}
                count: {count}"""
        )
        + (selectors if selector else "")
        + "\n"
    )


def documents(*parts: str) -> str:
    return "---\n".join(p if p.endswith("\n") else p + "\n" for p in parts)


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def invoke(*args: str, stdin: str | None = None) -> Result:
    """Run `dralloc ARGS...` in-process; the command must end through its exit code."""
    result = CliRunner().invoke(app, list(args), input=stdin)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"uncaught {result.exception!r}"
    )
    assert "Traceback" not in result.stdout
    assert "Traceback" not in result.stderr
    return result


def stderr_lines(result: Result) -> list[str]:
    return result.stderr.splitlines()


def output_list(result: Result, output: str = "yaml") -> dict[str, Any]:
    """The `kind: List` document `dralloc allocate` printed."""
    document = yaml.safe_load(result.stdout)
    assert isinstance(document, dict)
    assert document["apiVersion"] == "v1"
    assert document["kind"] == "List"
    return document


def devices_of(item: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(request, driver, pool, device) of every result of one output claim."""
    results = item["status"]["allocation"]["devices"]["results"]
    return [(r["request"], r["driver"], r["pool"], r["device"]) for r in results]
