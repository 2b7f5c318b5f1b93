"""The dashboard's small fleet (data/), scheduled offline once per session; `root_logging`
for tests that run `dralloc scheduler`, which sends the process's logs to stderr."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dralloc.cli.dashboard import offline_dashboard, price_book
from dralloc.cli.inputs import read_cluster
from dralloc.dashboard import Published
from dralloc.dashboard.server import Explainer
from dralloc.features import Features
from dralloc.scheduler.config import SchedulerConfiguration

DATA = Path(__file__).parent / "data"
NOW = 1_800_000_000.0


@pytest.fixture(scope="session")
def offline() -> tuple[Published, Explainer]:
    cluster = read_cluster([str(DATA)])
    return offline_dashboard(
        cluster,
        SchedulerConfiguration(),
        Features(),
        prices=price_book(None),
        source="offline: data",
        now=NOW,
    )


@pytest.fixture(scope="session")
def fleet(offline: tuple[Published, Explainer]) -> dict[str, Any]:
    _, document = offline[0].latest()
    assert document is not None
    return document


@pytest.fixture
def root_logging() -> Iterator[None]:
    """`dralloc scheduler` sends the process's logs to stderr (kube/logs.py): restored after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
