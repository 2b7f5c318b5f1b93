"""The offline dashboard in a real browser, over the small fleet of tests/dashboard/data
(static MIG on a tainted node, two time-sliced L4s one with a device taint, a dynamic-MIG H100,
a pod left pending, a ClusterQueue): it loads with no console error, draws the expected nodes,
devices and numbers, a click on the pending pod shows why it waits, and it fits a phone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from browserkit import DESKTOP, PHONE, PageProbe, open_page

from dralloc.cli.dashboard import offline_dashboard, price_book
from dralloc.cli.inputs import read_cluster
from dralloc.dashboard import DashboardServer, DashboardSettings
from dralloc.features import Features
from dralloc.scheduler.config import SchedulerConfiguration

if TYPE_CHECKING:
    from playwright.sync_api import Browser

DATA = Path(__file__).parents[1] / "dashboard" / "data"


@pytest.fixture(scope="module")
def dashboard_url() -> Iterator[str]:
    server = DashboardServer.bind(DashboardSettings("127.0.0.1:0"))
    _, explainer = offline_dashboard(
        read_cluster([str(DATA)]),
        SchedulerConfiguration(),
        Features(),
        prices=price_book(None),
        source="offline: tests/dashboard/data",
        published=server.published,
    )
    server.set_explainer(explainer)
    server.start()
    try:
        yield server.url + "/"
    finally:
        server.stop()


def _loaded(browser: Browser, url: str, size: tuple[int, int]) -> PageProbe:
    probe = open_page(browser, url, width=size[0], height=size[1])
    probe.page.wait_for_selector("[data-node='mig-00'] [data-gpu]")
    return probe


def test_the_fleet_draws_nodes_devices_and_numbers(
    browser: Browser, dashboard_url: str, artifacts: Path
) -> None:
    probe = _loaded(browser, dashboard_url, DESKTOP)
    page = probe.page
    assert page.locator("[data-node]").all_inner_texts() != []
    nodes = page.eval_on_selector_all("#fleet [data-node]", "els => els.map(e => e.dataset.node)")
    assert nodes == ["dyn-00", "l4-00", "mig-00"]
    assert page.locator("#fleet [data-gpu]").count() == 4
    metric = "#summary [data-metric='{}'] .value"
    assert page.inner_text(metric.format("gpus")) == "4"
    assert page.inner_text(metric.format("utilization")) == "25.0%"
    assert page.inner_text(metric.format("pending")) == "1"
    assert page.inner_text(metric.format("cost")) == "$23.40"
    # Static MIG: three instances on their slices, none taken; the node's taint is marked.
    static = page.locator("[data-gpu='mig-00/gpu-0'] .seg[data-device]")
    assert static.count() == 3 and page.locator("[data-gpu='mig-00/gpu-0'] .seg.used").count() == 0
    assert page.locator("[data-gpu='mig-00/gpu-0'] .seg.empty").count() == 2  # slices 6 and 7
    assert "taint maintenance" in page.inner_text("[data-node='mig-00'] .node-name")
    # Dynamic MIG: the 3g.40gb instance drawn over the first four of eight slices.
    instance = page.locator("[data-gpu='dyn-00/gpu-0-counter-set'] .seg.used")
    assert instance.count() == 1
    assert page.locator("[data-gpu='dyn-00/gpu-0-counter-set'] .seg.slot").count() == 4
    bar = page.locator("[data-gpu='dyn-00/gpu-0-counter-set'] .bar").bounding_box()
    drawn = instance.bounding_box()
    assert bar is not None and drawn is not None
    assert drawn["x"] == pytest.approx(bar["x"], abs=1)
    assert drawn["width"] / bar["width"] == pytest.approx(0.5, abs=0.03)
    # A time-sliced L4: two shares and the free rest; the other L4 is tainted.
    assert page.locator("[data-gpu='l4-00/gpu-0'] .seg.used").count() == 2
    assert page.locator("[data-gpu='l4-00/gpu-0'] .seg:not(.used)").count() == 1
    assert "tainted" in (page.get_attribute("[data-gpu='l4-00/gpu-1']", "class") or "")
    # The ClusterQueue's usage against its quota.
    assert page.is_visible("#queues-section")
    assert "6 / 8" in page.inner_text("[data-queue='team-a']")
    # A device's claim and pod on click.
    page.click("[data-gpu='dyn-00/gpu-0-counter-set'] .seg.used")
    detail = page.inner_text("#device-detail")
    assert "default/finetune" in detail and "gpu-0-mig-3g40gb" in detail
    assert page.locator("#history svg polyline").count() == 2
    # One sample so far: said so, and drawn from the left edge of the chart.
    assert page.text_content("#history svg text:last-of-type") == "1 sample"
    first_x = page.get_attribute("#history svg polyline", "points") or ""
    assert first_x.startswith("34.0,")
    # The catalog's short name on every tile, the product name on hover.
    titles = page.eval_on_selector_all(
        "#fleet [data-gpu] .title .model", "els => els.map(e => e.textContent)"
    )
    assert sorted(set(titles)) == ["h100-80gb-sxm", "l4"]
    assert page.get_attribute("[data-gpu='l4-00/gpu-0'] .title .model", "title") == "NVIDIA L4"
    assert page.locator("#notes li").count() == 0
    assert probe.errors == []
    probe.screenshot(artifacts, "dashboard-offline-desktop")
    page.context.close()


def test_clicking_the_pending_pod_shows_why_it_waits(
    browser: Browser, dashboard_url: str, artifacts: Path
) -> None:
    probe = _loaded(browser, dashboard_url, DESKTOP)
    page = probe.page
    page.click("#pending li[data-pod='default/trainer']")
    page.wait_for_selector("#explanation[data-state='done']")
    text = page.inner_text("#explanation")
    assert "why default/trainer waits" in text
    assert (
        "0/3 nodes are available: 1 node(s) had untolerated taint(s), 2 cannot allocate all claims."
        in text
    )
    rows = page.eval_on_selector_all(
        "#explanation tr[data-node]", "rows => rows.map(r => r.dataset.node)"
    )
    assert rows == ["dyn-00", "l4-00", "mig-00"]
    assert "TaintToleration" in page.inner_text("#explanation tr[data-node='mig-00']")
    assert "claim default/trainer-gpus-" in text and "template whole-h100x2" in text
    # The summary once; the message only for what it adds (preemption did not help).
    assert text.count("1 node(s) had untolerated taint(s)") == 1
    assert page.inner_text("#explanation .message").startswith("still not schedulable, preemption:")
    assert probe.errors == []
    probe.screenshot(artifacts, "dashboard-offline-explained")
    page.context.close()


def test_the_dashboard_fits_a_phone(browser: Browser, dashboard_url: str, artifacts: Path) -> None:
    probe = _loaded(browser, dashboard_url, PHONE)
    page = probe.page
    page.click("#pending li[data-pod='default/trainer']")
    page.wait_for_selector("#explanation[data-state='done']")
    probe.screenshot(artifacts, "dashboard-offline-phone")
    assert not probe.has_horizontal_overflow()
    assert probe.errors == []
    page.context.close()
