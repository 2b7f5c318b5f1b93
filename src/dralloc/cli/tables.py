"""Tables on stdout: drawn by rich on a terminal, plain aligned columns anywhere else.

Owns how `dralloc explain` and `dralloc simulate` print their tables. On a terminal a table is
a rich table (borders, colour, cells wrapped to the width), as it always was. When stdout is
a pipe or a file, the same table is plain text: an optional title line, a header line, one
line per row with columns separated by two spaces and aligned, an optional caption line; no
box characters, no colour, nothing wrapped or cut, so `grep`, `awk` and `column -t` work on
it. rich is imported only to draw on a terminal. No other I/O than writing the table.

    table = TextTable([Column("DEVICE"), Column("VERDICT")], title="request gpus")
    table.add_row("gpu.nvidia.com/node-0/gpu-0", "fits", styles={1: "green"})
    table.print()
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import IO, Literal

__all__ = ["Column", "TextTable", "is_terminal"]

# Between two columns in plain text: two spaces, as kubectl prints its tables.
GAP = "  "


def is_terminal(stream: IO[str] | None = None) -> bool:
    """Whether `stream` (default: stdout) is a terminal, where tables are drawn by rich."""
    stream = sys.stdout if stream is None else stream
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or unusual stream is no terminal
        return False


@dataclass(frozen=True)
class Column:
    """A column: its header, and `right` for numbers."""

    header: str
    justify: Literal["left", "right"] = "left"


@dataclass
class TextTable:
    """A table of plain strings; `styles` colour cells on a terminal only (rich style names)."""

    columns: list[Column]
    title: str | None = None
    caption: str | None = None
    rows: list[tuple[str, ...]] = field(default_factory=list)
    styles: list[dict[int, str]] = field(default_factory=list)
    title_left: bool = False
    """On a terminal, align the title on the left edge (rich centres it by default)."""

    def add_row(self, *cells: str, styles: dict[int, str] | None = None) -> None:
        """Append a row, one string per column; `styles` maps a column index to a style."""
        if len(cells) != len(self.columns):
            raise ValueError(f"{len(cells)} cells for {len(self.columns)} columns")
        self.rows.append(cells)
        self.styles.append(dict(styles or {}))

    def plain_lines(self) -> list[str]:
        """The table as plain text lines, trailing spaces removed."""
        widths = [len(column.header) for column in self.columns]
        for row in self.rows:
            widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=True)]
        lines = [self.title] if self.title else []
        for row in [tuple(c.header for c in self.columns), *self.rows]:
            cells = (
                cell.rjust(width) if column.justify == "right" else cell.ljust(width)
                for cell, width, column in zip(row, widths, self.columns, strict=True)
            )
            lines.append(GAP.join(cells).rstrip())
        if self.caption:
            lines.append(self.caption)
        return lines

    def print(
        self, stream: IO[str] | None = None, *, highlight: bool = False, soft_wrap: bool = False
    ) -> None:
        """Write the table to `stream` (default: stdout): rich on a terminal, else plain.
        `highlight` and `soft_wrap` are rich's Console options, for the terminal only."""
        stream = sys.stdout if stream is None else stream
        if not is_terminal(stream):
            stream.write("".join(line + "\n" for line in self.plain_lines()))
            return
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table

        table = Table(
            title=escape(self.title) if self.title else None,
            caption=escape(self.caption) if self.caption else None,
            title_justify="left" if self.title_left else "center",
        )
        for column in self.columns:
            # "fold": a long cell (a device or node name) wraps within its column, never cut.
            table.add_column(escape(column.header), justify=column.justify, overflow="fold")
        for row, styles in zip(self.rows, self.styles, strict=True):
            table.add_row(*(_styled(escape(cell), styles.get(i)) for i, cell in enumerate(row)))
        Console(file=stream, highlight=highlight, soft_wrap=soft_wrap).print(table)


def _styled(markup: str, style: str | None) -> str:
    return f"[{style}]{markup}[/{style}]" if style and markup else markup
