"""Fixtures of the browser tests (browserkit.py says which browser and when they skip).

browser    (session)  one headless Chromium for the session (for each xdist worker)
artifacts  (function) the folder a test saves its screenshots in
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from browserkit import artifacts_dir, launch_browser

if TYPE_CHECKING:
    from playwright.sync_api import Browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with launch_browser() as launched:
        yield launched


@pytest.fixture
def artifacts(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    return artifacts_dir(tmp_path, request.node.name)
