"""Reading a trace's CSV text: the loaders' shared reader, which checks every row and collects
each problem at its file, `line N` (1-based, the header is line 1) and column, and reading a
file as text with its problems as an `InputError`. Reading a file is the only I/O."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

from dralloc.errors import InputError, Problem

__all__ = ["CsvRows", "read_text"]

_INT_RE: Final = re.compile(r"-?[0-9]+")


class CsvRows:
    """Reads one CSV text and collects the problems found, each at its file and line (the
    trace loaders' shared reader; `header_problems` says what is wrong with a header)."""

    def __init__(self, text: str, file: str) -> None:
        self.file = file
        self.text = text
        self.problems: list[Problem] = []

    def problem(self, line: int, column: str, message: str) -> None:
        self.problems.append(Problem(self.file, f"line {line}", column, message))

    def read(self, schemas: Sequence[tuple[str, ...]]) -> Iterator[tuple[int, tuple[str, ...]]]:
        """Yield `(line, row)` for every data row whose header is one of `schemas`.

        `line` is where the row starts (a quoted field may span lines). Blank lines and rows
        with the wrong number of fields are reported here and not yielded.
        """
        reader = csv.reader(io.StringIO(self.text, newline=""), strict=True)
        expected = " or ".join(",".join(s) for s in schemas)
        end = 0  # last line read so far
        header: tuple[str, ...] | None = None
        try:
            for raw in reader:
                line, end = end + 1, reader.line_num
                row = tuple(raw)
                if header is None:
                    if row not in schemas:
                        self.header_problems(row, schemas, expected)
                        return
                    header = row
                elif not row:
                    self.problem(line, "", "blank line: every line after the header is a row")
                elif len(row) < len(header):
                    self.problem(
                        line,
                        header[len(row)],
                        f"missing: the row ends after {len(row)} of {len(header)} fields",
                    )
                elif len(row) > len(header):
                    self.problem(
                        line, "", f"the row has {len(row)} fields, the header {len(header)}"
                    )
                else:
                    yield line, row
        except csv.Error as exc:
            self.problem(end + 1, "", f"not valid CSV: {exc}")
        if header is None and not self.problems:
            self.problem(1, "", f"the file is empty, expected the header {expected}")

    def header_problems(
        self, row: tuple[str, ...], schemas: Sequence[tuple[str, ...]], expected: str
    ) -> None:
        """Report a header that is none of `schemas` (on line 1)."""
        column, message = _header_mismatch(row, schemas)
        self.problem(1, column, f"{message}; the header must be {expected}")

    def integer(self, line: int, column: str, value: str, *, minimum: int = 0) -> int | None:
        """`value` as an integer ≥ `minimum`, or None after reporting why it is not."""
        if value.isascii() and value.isdigit():  # the fast path: every cell of the real trace
            number = int(value)
            if number >= minimum:
                return number
        if not _INT_RE.fullmatch(value):
            what = "empty" if not value else f"not a whole number: {value!r}"
            self.problem(line, column, f"{what}, expected a whole number ≥ {minimum}")
            return None
        number = int(value)
        if number < minimum:
            self.problem(line, column, f"must be ≥ {minimum}, got {number}")
            return None
        return number

    def raise_problems(self) -> None:
        if self.problems:
            raise InputError(self.problems)


def _header_mismatch(row: tuple[str, ...], schemas: Sequence[tuple[str, ...]]) -> tuple[str, str]:
    """The first column where `row` departs from the schema it is closest to, and what is wrong."""
    schema = next((s for s in schemas if len(s) == len(row)), schemas[0])
    if not row:
        return schema[0], "header line is empty"
    for got, want in zip(row, schema, strict=False):
        if got != want:
            return want, f"header has {got!r} where {want!r} belongs"
    if len(row) < len(schema):
        return schema[len(row)], "header ends early"
    return "", f"header has extra columns {','.join(row[len(schema) :])!r}"


def read_text(path: Path) -> str:
    """The text of `path`. InputError if it cannot be read or is not UTF-8."""
    try:
        # utf-8-sig: a byte-order mark (a CSV saved by a spreadsheet) is not part of the header.
        return path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InputError([Problem(str(path), "", "", f"cannot read: {exc.strerror}")]) from exc
    except UnicodeDecodeError as exc:
        message = f"not UTF-8 text (byte {exc.start})"
        raise InputError([Problem(str(path), "", "", message)]) from exc
