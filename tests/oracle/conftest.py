"""Fixtures for the differential tests against upstream's allocator (`dra-oracle`).

Tests that need the oracle carry the `k8s` marker, like the tests in tests/k8s/: without
`$DRALLOC_K8S_HOME/bin/dra-oracle` they are skipped with "run tools/build.sh", or fail when
DRALLOC_REQUIRE_K8S=1 (as in CI when Go is present).

Fixtures:
  oracle  (session)  one running dra-oracle for the session (for each xdist worker); every
                     case of the session goes through it, one line each way
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from oracle import ORACLE, Oracle, is_k8s_required, is_oracle_built, k8s_home


def pytest_runtest_setup(item: pytest.Item) -> None:
    if not any(item.iter_markers("k8s")) or is_oracle_built():
        return
    where = k8s_home() / "bin"
    if is_k8s_required():
        pytest.fail(
            f"{ORACLE} not in {where} and DRALLOC_REQUIRE_K8S=1: run tools/build.sh",
            pytrace=False,
        )
    pytest.skip(f"run tools/build.sh ({ORACLE} not in {where})")


@pytest.fixture(scope="session")
def oracle() -> Iterator[Oracle]:
    running = Oracle.start()
    try:
        yield running
    finally:
        running.close()
