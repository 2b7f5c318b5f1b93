"""The simulator's reports in a real browser: tiny FGD and replay reports, written by
`dralloc simulate`, load with no console error, every plotly chart drew its SVG, and the page
fits a phone's width (390 px) without scrolling sideways. Screenshots at desktop and phone
widths are kept as artifacts."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from browserkit import DESKTOP, PHONE, open_page
from typer.testing import CliRunner

from dralloc.cli.main import app

if TYPE_CHECKING:
    from playwright.sync_api import Browser

NODES = "sn,cpu_milli,memory_mib,gpu,model\nn-0,32000,131072,2,T4\nn-1,64000,262144,8,G2\n"
POD_HEADER = (
    "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,"
    "creation_time,deletion_time,scheduled_time\n"
)
SHAPES = [(4000, 1, 500, ""), (8000, 1, 1000, ""), (2000, 0, 0, ""), (6000, 2, 1000, "G2")]
SMALL_SYNTHETIC = "synthetic:pods=40,nodes=2,rate=0.05,median=600"


def _simulate(args: list[str]) -> None:
    result = CliRunner().invoke(app, ["simulate", *args])
    assert result.exit_code == 0, result.stderr


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("reports")
    traces = root / "openb"
    traces.mkdir()
    (traces / "openb_node_list_gpu_node.csv").write_text(NODES)
    rows = [
        f"p-{i:03d},{cpu},4096,{gpus},{milli},{spec},LS,Running,0,10,0"
        for i, (cpu, gpus, milli, spec) in enumerate(SHAPES * 3)
    ]
    (traces / "openb_pod_list_default.csv").write_text(POD_HEADER + "\n".join(rows) + "\n")
    fgd, replay = root / "fgd", root / "replay"
    policies = ["--policy", "fgd,bestfit", "--seeds", "1"]
    _simulate(["--trace-dir", str(traces), *policies, "--out", str(fgd)])
    _simulate(["--mode", "replay", "--trace", SMALL_SYNTHETIC, *policies, "--out", str(replay)])
    return {"fgd": fgd / "report.html", "replay": replay / "report.html"}


MODES = ["fgd", "replay"]


@pytest.mark.parametrize("mode", MODES)
def test_report_loads_without_errors_and_every_chart_draws(
    browser: Browser, reports: dict[str, Path], artifacts: Path, mode: str
) -> None:
    probe = open_page(browser, reports[mode].as_uri(), width=DESKTOP[0], height=DESKTOP[1])
    page = probe.page
    charts = page.locator(".plotly-graph-div")
    assert charts.count() >= 1
    # plotly draws asynchronously after `load`: wait until every chart has its SVG.
    page.wait_for_function(
        "() => [...document.querySelectorAll('.plotly-graph-div')]"
        ".every(d => d.querySelector('svg.main-svg'))",
        timeout=15000,
    )
    for index in range(charts.count()):
        assert charts.nth(index).locator("svg.main-svg").count() >= 1, index
    assert probe.errors == []
    probe.screenshot(artifacts, f"{mode}-report-desktop")
    page.context.close()


@pytest.mark.parametrize("mode", MODES)
def test_report_fits_a_phone_screen(
    browser: Browser, reports: dict[str, Path], artifacts: Path, mode: str
) -> None:
    probe = open_page(browser, reports[mode].as_uri(), width=PHONE[0], height=PHONE[1])
    page = probe.page
    page.wait_for_function(
        "() => [...document.querySelectorAll('.plotly-graph-div')]"
        ".every(d => d.querySelector('svg.main-svg'))",
        timeout=15000,
    )
    probe.screenshot(artifacts, f"{mode}-report-phone")
    overflows = probe.has_horizontal_overflow()
    # The answer comes first: the summary table starts within the first screen.
    summary_top = page.evaluate(
        "() => document.querySelector('table.summary')?.getBoundingClientRect().top ?? -1"
    )
    page.context.close()
    assert probe.errors == []
    assert not overflows, "the page is wider than the 390 px screen"
    assert 0 <= summary_top < PHONE[1], summary_top
    assert (reports[mode].parent / "plotly.min.js").is_file(), "the shared script beside it"


A4 = (794, 1123)  # CSS px at 96 per inch, as `sim.export` lays the page out


@pytest.mark.parametrize("mode", MODES)
def test_printed_report_keeps_each_chart_with_its_heading(
    browser: Browser, reports: dict[str, Path], artifacts: Path, mode: str
) -> None:
    probe = open_page(browser, reports[mode].as_uri(), width=A4[0], height=A4[1])
    page = probe.page
    page.wait_for_function(
        "() => [...document.querySelectorAll('.plotly-graph-div')]"
        ".every(d => d.querySelector('svg.main-svg'))",
        timeout=15000,
    )
    # Each chart's heading, chart and note are one block a page break does not split, and
    # no heading may end a page.
    blocks = page.evaluate(
        """() => [...document.querySelectorAll('h3')].map(h => {
            const block = h.closest('.figure');
            return [
                block ? getComputedStyle(block).breakInside : 'no block',
                getComputedStyle(h).breakAfter,
                block ? block.querySelectorAll('.plotly-graph-div').length : 0,
            ];
        })"""
    )
    charts = page.locator(".plotly-graph-div").count()
    assert blocks and all(b == ["avoid", "avoid", 1] for b in blocks), blocks
    assert len(blocks) == charts  # every chart sits in such a block
    page.emulate_media(media="screen")  # as `sim.export` prints it
    pdf = page.pdf(format="A4", print_background=True)
    page.context.close()
    (artifacts / f"{mode}-report.pdf").write_bytes(pdf)
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    # At least one chart per page and no blank pages: at most a page per chart, the answer's
    # page and the provenance's.
    assert 1 <= pages <= charts + 2, (pages, charts)
