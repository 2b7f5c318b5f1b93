"""The dashboard over a simulation's final state (`dralloc dashboard --replay`) in a real
browser: a small synthetic replay stopped while busy draws its two nodes, the replay's
history as a curve, the note saying which moment it is, and a click on a pod left waiting
says why there is no scheduler answer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from browserkit import DESKTOP, open_page

from dralloc.cli.dashboard import price_book
from dralloc.cli.dashboard_replay import replay_dashboard
from dralloc.dashboard import DashboardServer, DashboardSettings
from dralloc.sim.campaign import RunSpec

if TYPE_CHECKING:
    from playwright.sync_api import Browser

SMALL = "synthetic:pods=40,nodes=2,rate=0.05,median=600"


@pytest.fixture(scope="module")
def replay_url() -> Iterator[str]:
    server = DashboardServer.bind(DashboardSettings("127.0.0.1:0"))
    spec = RunSpec(SMALL, "fgd", 1)
    explainer = replay_dashboard(spec, 400.0, price_book(None), server.published, now=0.0)
    server.set_explainer(explainer)
    server.start()
    try:
        yield server.url + "/"
    finally:
        server.stop()


def test_a_replayed_cluster_draws_its_nodes_history_and_waiting_pods(
    browser: Browser, replay_url: str, artifacts: Path
) -> None:
    probe = open_page(browser, replay_url, width=DESKTOP[0], height=DESKTOP[1])
    page = probe.page
    page.wait_for_selector("#fleet [data-node] [data-gpu]")
    nodes = page.eval_on_selector_all("#fleet [data-node]", "els => els.map(e => e.dataset.node)")
    assert len(nodes) == 2
    assert page.inner_text("#summary [data-metric='pending'] .value") == "8"
    assert "leaves it at 400 s on the trace's clock (--at)" in page.inner_text("#notes")
    page.wait_for_selector("#history svg polyline")
    assert page.locator("#history svg polyline").count() == 2
    assert "samples over" in (page.text_content("#history svg text:last-of-type") or "")
    first = page.locator("#pending li[data-pod]").first
    pod = first.get_attribute("data-pod")
    first.click()
    page.wait_for_selector("#explanation[data-state='done']")
    text = page.inner_text("#explanation")
    assert f"why {pod} waits" in text
    assert "waiting for a node when the replay ended at 400 s" in text
    assert probe.errors == []
    probe.screenshot(artifacts, "dashboard-replay")
    page.context.close()
