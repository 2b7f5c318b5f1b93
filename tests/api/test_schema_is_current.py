"""The shipped field schema is what `tools/apischema` makes from the pinned Kubernetes API
modules: regenerated here with Go and compared byte for byte. Skipped, saying why, on a
machine without Go (a user's clone); CI has Go and runs it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "apischema"
SHIPPED = ROOT / "src" / "dralloc" / "api" / "data" / "apischema.json"

pytestmark = pytest.mark.skipif(
    shutil.which("go") is None, reason="needs Go to regenerate the schema (tools/apischema)"
)


def test_the_shipped_schema_is_what_the_generator_makes() -> None:
    made = subprocess.run(
        ["go", "run", "."],
        cwd=TOOL,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    assert made.stdout == SHIPPED.read_text(), (
        "src/dralloc/api/data/apischema.json is stale: run "
        "'cd tools/apischema && go run . > ../../src/dralloc/api/data/apischema.json'"
    )
