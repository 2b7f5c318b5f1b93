"""Headless Chromium for the browser tests, driven by Playwright with the machine's own
browser (never a downloaded one).

The browser is Debian's `chromium` (`/usr/bin/chromium`) or the executable named by
`DRALLOC_CHROMIUM`. Where it (or the `playwright` package) is absent the tests are skipped,
saying why, unless `DRALLOC_REQUIRE_BROWSER=1` (CI sets it): then they fail.

    with launch_browser() as browser:
        page = open_page(browser, "file:///tmp/report.html", width=390, height=844)
        assert not page.errors

`open_page` records console errors and uncaught page errors on `PageProbe.errors` from the
first byte on, so a test sees every error the page raised while loading.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Error, Page

DEFAULT_CHROMIUM = "/usr/bin/chromium"
DESKTOP = (1280, 800)
PHONE = (390, 844)


def is_browser_required() -> bool:
    return os.environ.get("DRALLOC_REQUIRE_BROWSER", "") == "1"


def chromium_path() -> str | None:
    """The Chromium to drive, None when there is none."""
    wanted = os.environ.get("DRALLOC_CHROMIUM") or DEFAULT_CHROMIUM
    found = shutil.which(wanted)
    return found


def _unavailable(why: str) -> None:
    if is_browser_required():
        pytest.fail(f"{why} and DRALLOC_REQUIRE_BROWSER=1", pytrace=False)
    pytest.skip(why)


@contextmanager
def launch_browser() -> Iterator[Browser]:
    """One headless Chromium for a module or a session (skipped or failed when absent)."""
    path = chromium_path()
    if path is None:
        wanted = os.environ.get("DRALLOC_CHROMIUM") or DEFAULT_CHROMIUM
        _unavailable(f"no Chromium at {wanted} (install Debian's chromium or set DRALLOC_CHROMIUM)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (it is in the dev group)")
    assert path is not None
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class PageProbe:
    """A page and what went wrong on it."""

    page: Page
    errors: list[str] = field(default_factory=list)

    def has_horizontal_overflow(self) -> bool:
        width = self.page.evaluate(
            "() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
        )
        viewport = self.page.evaluate("() => window.innerWidth")
        return int(width) > int(viewport) + 1

    def screenshot(self, directory: Path, name: str) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


def open_page(
    browser: Browser, url: str, *, width: int = DESKTOP[0], height: int = DESKTOP[1]
) -> PageProbe:
    """A fresh context at the viewport given, the page loaded (`load` event) and its errors
    recorded from the start."""
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    probe = PageProbe(page)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            probe.errors.append(f"console: {message.text}")

    def on_page_error(error: Error) -> None:
        probe.errors.append(f"page error: {error}")

    page.on("console", on_console)
    page.on("pageerror", on_page_error)
    page.goto(url, wait_until="load")
    return probe


def artifacts_dir(tmp_path: Path, name: str) -> Path:
    """Where a test's screenshots go: `$DRALLOC_ARTIFACTS/<name>` when set (CI keeps that
    folder), else the test's own tmp folder."""
    root = os.environ.get("DRALLOC_ARTIFACTS")
    directory = Path(root) / name if root else tmp_path / "artifacts"
    directory.mkdir(parents=True, exist_ok=True)
    return directory
