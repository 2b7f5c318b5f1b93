"""The page every report shares: the document around the charts, one plotly.js beside it, the
summary table's markup, the charts' common layout, and the provenance footer's place.

* **One shared script.** A report loads `plotly.min.js` from its own folder
  (`<script src="plotly.min.js">`), written once by `write_plotly_js` from the plotly package
  (no network, so the report still opens offline, the file URL and all). The report itself is
  then some hundred kB instead of ~4.9 MB with the library embedded, and several reports in one
  folder share the script. A partial bundle (only the scatter, bar, box and heatmap traces)
  would be smaller still, but needs a JavaScript build step; the shared file needs none.
* **Narrow screens.** A viewport meta tag; the body never wider than the screen; tables scroll
  sideways inside their own box; charts take the page's width (`responsive`), put their legend
  under the plot and carry their titles in the page (a long plotly title is clipped on a phone).
* **Print.** The same page, printed by `sim.export` for PDF and PNG: a chart, its heading and
  its note are one block that a page break never splits (`break-inside: avoid`), and no
  heading ends a page (`break-after: avoid`).

Pure string building, except `write_page` and `write_plotly_js`, which write through a
temporary file renamed into place.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

import plotly.graph_objects as go
import plotly.offline

from dralloc.sim.styles import policy_style

__all__ = [
    "PLOTLY_FILE",
    "REPORT_FILE",
    "figure_html",
    "money",
    "padded_range",
    "section_html",
    "swatch",
    "table_html",
    "translucent",
    "write_page",
    "write_plotly_js",
]

PLOTLY_FILE = "plotly.min.js"
REPORT_FILE = "report.html"

_CSS = """
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1a1a1a;
 margin:0 auto;padding:12px 16px;max-width:1100px;line-height:1.45;overflow-wrap:anywhere}
h1{font-size:1.5em;margin:.4em 0}h2{font-size:1.25em;margin:1.4em 0 .4em;
 border-bottom:1px solid #ddd}h3{font-size:1.02em;margin:1.2em 0 .2em}
.answer{background:#f4f7fb;border-left:4px solid #0072B2;padding:8px 14px;margin:12px 0}
.headline{font-size:1.1em;margin:.3em 0 .6em}
.scroll{overflow-x:auto;max-width:100%}
table.summary{border-collapse:collapse;margin:.4em 0;font-variant-numeric:tabular-nums}
table.summary td,table.summary th{border:1px solid #ccc;padding:3px 8px;text-align:right;
 white-space:nowrap}
table.summary th{background:#eef1f5;font-weight:600;white-space:normal;overflow-wrap:normal;
 min-width:3.5em}
table.summary td:first-child,table.summary th:first-child{text-align:left}
table.summary tr.best td{font-weight:600}
.swatch{display:inline-block;width:1.6em;height:0;border-top-width:3px;vertical-align:middle;
 margin-right:.4em}
.note{color:#555;font-size:.9em}
.chart{width:100%;min-height:360px;break-inside:avoid;page-break-inside:avoid}
.figure{break-inside:avoid;page-break-inside:avoid}
h2,h3{break-after:avoid;page-break-after:avoid}
.plotly-graph-div{max-width:100%}
footer.provenance{margin-top:2.5em;font-size:.85em;color:#444}
footer dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:0}
footer dt{font-weight:600}footer dd{margin:0;min-width:0}footer ul{margin:0;padding-left:1.1em}
code{font-size:.95em;word-break:break-all}
@media (max-width:900px){table.summary{font-size:.78em}
 table.summary td,table.summary th{padding:2px 4px}}
@media (max-width:600px){body{padding:8px}h1{font-size:1.25em}.chart{min-height:300px}}
@media print{body{max-width:none}.answer{break-inside:avoid}}
"""


def money(usd: float) -> str:
    """USD for a sentence or a cell: $1,234 or $12.34 below $100."""
    return f"${usd:,.0f}" if abs(usd) >= 100 else f"${usd:,.2f}"


def swatch(label: str) -> str:
    """The policy's name after a short line in its colour and dash (for tables)."""
    style = policy_style(label)
    border = {"solid": "solid", "dot": "dotted"}.get(style.dash, "dashed")
    return (
        f"<span class='swatch' style='border-top-style:{border};border-color:{style.color}'>"
        f"</span>{html.escape(label)}"
    )


def padded_range(values: Sequence[float], *, floor: float | None = None) -> list[float]:
    """An axis range around `values` with 8% room (at least 0.5) each side, not below `floor`."""
    low, high = min(values), max(values)
    room = max(0.08 * (high - low), 0.5)
    start = low - room
    return [max(start, floor) if floor is not None else start, high + room]


def translucent(color: str) -> str:
    red, green, blue = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red},{green},{blue},0.18)"


def write_plotly_js(directory: Path) -> Path:
    """`plotly.min.js` from the installed plotly package into `directory`."""
    return _write(directory / PLOTLY_FILE, plotly.offline.get_plotlyjs())


def figure_html(figure: go.Figure, title: str, *, height: int = 420, note: str = "") -> str:
    """A chart under its own heading (escaped), laid out for any width: the legend below the
    plot, small margins, the page's font."""
    figure.update_layout(
        template="plotly_white",
        height=height,
        autosize=True,
        margin={"l": 56, "r": 16, "t": 16, "b": 40},
        legend={"orientation": "h", "yanchor": "top", "y": -0.16, "x": 0},
        font={"family": "system-ui, sans-serif", "size": 13},
        title=None,
    )
    chart = figure.to_html(
        full_html=False,
        include_plotlyjs=False,
        default_width="100%",
        default_height=f"{height}px",
        config={"responsive": True, "displaylogo": False},
    )
    caption = f"<p class='note'>{note}</p>" if note else ""
    # One block, so that printing never leaves the heading at a page's foot and the chart
    # on the next page.
    return (
        f"<div class='figure'><h3>{html.escape(title, quote=False)}</h3>"
        f"<div class='chart'>{chart}</div>{caption}</div>"
    )


def table_html(
    headers: Sequence[str], rows: Sequence[Sequence[str]], *, best: int | None = None
) -> str:
    """A summary table in a box that scrolls sideways on a narrow screen. Cells are HTML (the
    caller escapes); headers are text. Row `best` is set in bold."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        f"<tr{' class=best' if index == best else ''}>"
        + "".join(f"<td>{cell}</td>" for cell in row)
        + "</tr>"
        for index, row in enumerate(rows)
    )
    return f"<div class='scroll'><table class='summary'><tr>{head}</tr>{body}</table></div>"


def section_html(title: str, parts: Sequence[str]) -> str:
    return f"<section><h2>{html.escape(title, quote=False)}</h2>{''.join(parts)}</section>"


def write_page(path: Path, title: str, answer: str, parts: Sequence[str], footer: str) -> Path:
    """The report at `path`: the title, the answer box, the evidence, the footer."""
    document = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style>"
        f"<script src='{PLOTLY_FILE}'></script></head><body>"
        f"<h1>{html.escape(title)}</h1><section class='answer'>{answer}</section>"
        + "".join(parts)
        + footer
        + "</body></html>"
    )
    return _write(path, document)


def _write(path: Path, text: str) -> Path:
    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_text(text, encoding="utf-8")
        partial.replace(path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return path
