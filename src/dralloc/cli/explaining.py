"""How `dralloc explain` prints what it found: claims device by device, pods node by node.

Owns the tables and the choice of view. A request's devices are summarised by default,
grouped by verdict, detail and device model (16 DGX nodes with dynamic MIG are a few rows per
node, not 3,000 lines); `--all` gives a row per device and `-o wide` adds each device's model.
Tables are drawn by rich on a terminal (cells wrap, names are never cut) and printed as plain
aligned columns in a pipe. Imported when `explain` runs, never for `--help`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

from dralloc.cli.tables import Column, TextTable, is_terminal

if TYPE_CHECKING:
    from dralloc.allocator import ClaimExplanation
    from dralloc.allocator.explain import RequestExplanation
    from dralloc.cli.inputs import ClusterInput
    from dralloc.cli.podexplain import PodReport

__all__ = [
    "PROGRESS_AFTER_NODES",
    "ExplainView",
    "device_models",
    "explanation_json",
    "print_explanation",
    "print_pod_report",
    "with_progress",
]

# Attributes that name a device's model, most specific first (drivers publish them
# unqualified, in their own domain); a MIG device adds its profile.
MODEL_ATTRIBUTES = ("productName", "model", "type")
# Device names shown per summary row before "... (N devices)".
NAMES_PER_ROW = 4


# Explaining more nodes than this shows a progress bar on stderr (a terminal only): a "no fit"
# over a fleet visits every node.
PROGRESS_AFTER_NODES = 16
_T = TypeVar("_T")


def with_progress(items: Sequence[_T], description: str) -> Iterator[_T]:
    """`items`, with a progress bar on stderr while they are worked through, when stderr is a
    terminal and there are more than PROGRESS_AFTER_NODES of them; plain iteration otherwise."""
    if len(items) <= PROGRESS_AFTER_NODES or not is_terminal(sys.stderr):
        yield from items
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    columns = (description, BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(description, total=len(items))
        for item in items:
            yield item
            progress.advance(task)


class ExplainView(StrEnum):
    """How much of an explanation a table shows."""

    summary = "summary"  # devices grouped by verdict, detail and model
    devices = "devices"  # a row per device
    wide = "wide"  # a row per device, with its model


def device_models(cluster: ClusterInput) -> dict[str, str]:
    """`driver/pool/device` -> a model label (`NVIDIA H100 80GB HBM3`, `... MIG 1g.10gb`)."""
    models: dict[str, str] = {}
    for slice_ in cluster.slices:
        spec = slice_.spec
        for device in spec.devices:
            label = ""
            for name in MODEL_ATTRIBUTES:
                found = device.attributes.get(name) or device.attributes.get(
                    f"{spec.driver}/{name}"
                )
                if found is not None and found.string:
                    label = found.string
                    break
            profile = device.attributes.get("profile")
            if profile is not None and profile.string:
                label = f"{label} MIG {profile.string}".strip()
            models[f"{spec.driver}/{spec.pool.name}/{device.name}"] = label
    return models


def explanation_json(result: ClaimExplanation) -> dict[str, Any]:
    """Every verdict of one claim on one node, as data (`-o json`)."""
    from dralloc.api.io import to_builtins

    return {
        "claim": result.claim,
        "node": result.node,
        "fits": result.fits,
        "message": result.message,
        "error": result.error or None,
        "pools": [vars(p) for p in result.pools],
        "requests": [
            {
                "name": r.name,
                "deviceClassName": r.device_class,
                "needed": r.needed,
                "fitting": r.fitting,
                "devices": [vars(d) for d in r.devices],
            }
            for r in result.requests
        ],
        "allocation": to_builtins(result.allocation) if result.allocation else None,
    }


def _request_title(request: RequestExplanation) -> str:
    return (
        f"request {request.name} (class {request.device_class}, needs {request.needed}, "
        f"{request.fitting} fit)"
    )


def request_table(
    request: RequestExplanation, models: dict[str, str], view: ExplainView
) -> TextTable:
    """One request's devices: grouped (summary) or one row each."""
    title = _request_title(request)
    if view is not ExplainView.summary:
        columns = [Column("DEVICE"), Column("VERDICT"), Column("DETAIL")]
        if view is ExplainView.wide:
            columns.append(Column("MODEL"))
        table = TextTable(columns, title=title, title_left=True)
        for device in request.devices:
            colour = "green" if device.verdict == "fits" else "red"
            cells = [device.device, device.verdict, device.detail]
            if view is ExplainView.wide:
                cells.append(models.get(device.device, ""))
            table.add_row(*cells, styles={1: colour})
        if not request.devices:
            table.add_row("(no devices on this node)", *([""] * (len(columns) - 1)))
        return table
    groups: dict[tuple[str, str, str], list[str]] = {}
    for device in request.devices:
        key = (device.verdict, device.detail, models.get(device.device, ""))
        groups.setdefault(key, []).append(device.device.rpartition("/")[2])
    table = TextTable(
        [Column("VERDICT"), Column("DETAIL"), Column("MODEL"), Column("DEVICES")],
        title=title,
        title_left=True,
    )
    for (verdict, detail, model), names in groups.items():
        shown = ", ".join(names[:NAMES_PER_ROW])
        if len(names) > NAMES_PER_ROW:
            shown += f", ... ({len(names)} devices)"
        colour = "green" if verdict == "fits" else "red"
        table.add_row(verdict, detail, model, shown, styles={0: colour})
    if not request.devices:
        table.add_row("", "", "", "(no devices on this node)")
    return table


def print_explanation(
    result: ClaimExplanation, models: dict[str, str], view: ExplainView = ExplainView.summary
) -> None:
    """The verdict line, pools that are not complete, and a table per request."""
    heading = f"claim {result.claim} on node {result.node}: {result.message}"
    pools = [
        f"  pool {pool.pool} is {pool.state} {pool.detail}".rstrip()
        for pool in result.pools
        if pool.state != "complete"
    ]
    if is_terminal():
        from rich.console import Console
        from rich.markup import escape

        style = "green" if result.fits else ("red" if result.error else "yellow")
        console = Console(highlight=False, soft_wrap=True)
        console.print(
            f"[bold]claim {escape(result.claim)}[/bold] on node [bold]{escape(result.node)}"
            f"[/bold]: [{style}]{escape(result.message)}[/{style}]"
        )
        for line in pools:
            console.print(escape(line))
    else:
        sys.stdout.write("".join(line + "\n" for line in [heading, *pools]))
    for request in result.requests:
        request_table(request, models, view).print(soft_wrap=True)


def print_pod_report(report: PodReport, models: dict[str, str], view: ExplainView) -> None:
    """The headline, a table of every node with every plugin that rejects it, then each claim
    of the pod (summarised per node; every device with --all or -o wide)."""
    from dralloc.cli.podexplain import node_rows, pod_report_lines

    lines = pod_report_lines(report, all_nodes=view is not ExplainView.summary)
    sys.stdout.write(lines[0] + "\n")
    rows = node_rows(report)
    if rows:
        table = TextTable([Column("NODE"), Column("VERDICT"), Column("REASONS")])
        for node, verdict, reasons in rows:
            colour = "green" if verdict == "fits" else "red"
            table.add_row(node, verdict, reasons, styles={1: colour})
        table.print(soft_wrap=True)
    sys.stdout.write("".join(line + "\n" for line in lines[1:]))
    if view is not ExplainView.summary:
        for claim in report.claims:
            for result in claim.explanations:
                print_explanation(result, models, view)
