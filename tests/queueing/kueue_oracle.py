"""Kueue v0.17.0's own cache and flavor assigner as an oracle (`kueue-oracle`, built from
tools/kueueoracle by tools/build.sh into `$DRALLOC_K8S_HOME/bin`).

Owns finding the binary and the conversation with it: one process, one JSON scenario per line
in, one JSON answer per line out. Without the binary the tests using it skip with "run
tools/build.sh"; with DRALLOC_REQUIRE_K8S=1 they fail instead, as the other upstream-oracle
tests do.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

K8S_HOME_ENV = "DRALLOC_K8S_HOME"
REQUIRE_ENV = "DRALLOC_REQUIRE_K8S"


def _home() -> Path:
    configured = os.environ.get(K8S_HOME_ENV)
    return Path(configured) if configured else Path.home() / ".cache" / "dralloc" / "k8s-v1.36.3"


def binary() -> Path | None:
    """The built oracle, or None when tools/build.sh has not built it."""
    path = _home() / "bin" / "kueue-oracle"
    return path if os.access(path, os.X_OK) else None


def is_required() -> bool:
    return os.environ.get(REQUIRE_ENV) == "1"


class KueueOracle:
    """One running oracle; `ask(scenario)` returns its JSON answer."""

    def __init__(self, binary: Path) -> None:
        self._process = subprocess.Popen(
            [str(binary)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def ask(self, scenario: dict[str, Any]) -> dict[str, Any]:
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(json.dumps(scenario) + "\n")
        self._process.stdin.flush()
        answer: dict[str, Any] = json.loads(self._process.stdout.readline())
        return answer

    def close(self) -> None:
        for stream in (self._process.stdin, self._process.stdout):
            if stream is not None:
                stream.close()
        self._process.wait(timeout=10)
