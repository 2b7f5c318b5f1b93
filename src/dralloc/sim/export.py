"""`--format pdf|png`: the HTML report printed by a headless Chromium, for a manager who wants
an attachment.

Playwright for Python (the optional extra `export`: `pip install 'dralloc[export]'`) drives
the machine's own Chromium: `$DRALLOC_CHROMIUM` if set, else `/usr/bin/chromium`, else
`chromium` or `chromium-browser` on the PATH. No browser is ever downloaded. `find_chromium`
runs before the first simulation, so a missing browser or package is an InputError (exit 2)
naming what to install, not a failure after an hour of runs.

The page is laid out at an A4 page's width (794 CSS px) before the charts draw, so the charts
fit the paper; `export` waits until every chart has drawn its SVG.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from dralloc.errors import InputError, Problem

__all__ = ["CHROMIUM_ENV", "FORMATS", "export", "find_chromium"]

FORMATS = ("html", "pdf", "png")
CHROMIUM_ENV = "DRALLOC_CHROMIUM"
_DEBIAN_CHROMIUM = "/usr/bin/chromium"
_A4_WIDTH_PX = 794  # 210 mm at 96 CSS px per inch
_RENDER_TIMEOUT_MS = 60_000


def find_chromium() -> str:
    """The Chromium to drive. InputError naming what to install when there is none, or when
    the playwright package is missing."""
    where = "--format"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        message = (
            "PDF and PNG export need the Python package playwright: "
            "pip install 'dralloc[export]' (no browser download needed)"
        )
        raise InputError([Problem("", where, "", message)]) from None
    chosen = os.environ.get(CHROMIUM_ENV)
    if chosen:
        if Path(chosen).is_file() and os.access(chosen, os.X_OK):
            return chosen
        message = f"${CHROMIUM_ENV}={chosen} is not an executable file"
        raise InputError([Problem("", where, "", message)])
    for candidate in (_DEBIAN_CHROMIUM, shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    message = (
        "PDF and PNG export need a Chromium: install Debian's package (apt-get install "
        f"chromium) or set {CHROMIUM_ENV} to a Chromium or Chrome binary"
    )
    raise InputError([Problem("", where, "", message)])


def export(report: Path, target: Path, fmt: str, chromium: str) -> Path:
    """Print `report` (an HTML file) to `target` as `fmt` (`pdf` or `png`) with `chromium`."""
    from playwright.sync_api import sync_playwright

    if fmt not in ("pdf", "png"):
        raise ValueError(f"cannot export to {fmt!r}")
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=chromium, headless=True)
        try:
            page = browser.new_page(viewport={"width": _A4_WIDTH_PX, "height": 1123})
            page.goto(report.resolve().as_uri())
            page.wait_for_function(
                "() => [...document.querySelectorAll('.plotly-graph-div')]"
                ".every(d => d.querySelector('svg.main-svg'))",
                timeout=_RENDER_TIMEOUT_MS,
            )
            if fmt == "pdf":
                page.emulate_media(media="screen")  # the colours and layout the reader saw
                page.pdf(path=str(target), format="A4", print_background=True)
            else:
                page.screenshot(path=str(target), full_page=True)
        finally:
            browser.close()
    return target
