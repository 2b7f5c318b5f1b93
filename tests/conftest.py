"""What every test shares: the process's root logger is given back as the test found it.

`dralloc scheduler` sends the process's logs to stderr (`kube/logs.py` replaces the root
logger's handlers and sets its level), as a command should for the process it owns. Run in
process by a test, it would leave behind a handler bound to that test's captured stderr,
closed once the test ends, and a later test on the same worker that logs would print
"--- Logging error ---" into its own output.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _root_logger_restored() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
