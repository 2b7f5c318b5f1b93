"""Kueue v0.17.0's own cache and flavor assigner as an oracle (tests/queueing/kueueoracle).

Owns building the oracle (`go build`, into dralloc's k8s cache directory, rebuilt when its
sources change) and the conversation with it: one process, one JSON scenario per line in, one
JSON answer per line out. Without Go the tests using it skip; with DRALLOC_REQUIRE_K8S=1 they
fail instead, as the other upstream-oracle tests do.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

SOURCE = Path(__file__).resolve().parent / "kueueoracle"
K8S_HOME_ENV = "DRALLOC_K8S_HOME"
REQUIRE_ENV = "DRALLOC_REQUIRE_K8S"


def _home() -> Path:
    configured = os.environ.get(K8S_HOME_ENV)
    return Path(configured) if configured else Path.home() / ".cache" / "dralloc" / "k8s-v1.36.3"


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for name in ("go.mod", "go.sum", "main.go"):
        digest.update((SOURCE / name).read_bytes())
    return digest.hexdigest()[:16]


def build() -> Path | None:
    """The oracle binary, built if needed; None when Go is not installed."""
    target = _home() / "bin" / f"kueue-oracle-{_fingerprint()}"
    if os.access(target, os.X_OK):
        return target
    go = shutil.which("go")
    if go is None:
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "GOTOOLCHAIN": "local",
        "GOFLAGS": "-mod=mod -buildvcs=false",
        "CGO_ENABLED": "0",
    }
    tmp = target.with_suffix(f".tmp{os.getpid()}")  # xdist workers may build at once
    subprocess.run(
        [go, "build", "-trimpath", "-o", str(tmp), "."],
        cwd=SOURCE,
        env=env,
        check=True,
        timeout=900,
    )
    tmp.rename(target)
    return target


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
