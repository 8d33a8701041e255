"""Assigning a whole file of units (CSV in, CSV out)."""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import TextIO

import polars as pl

from abkit.assignment.config import ExperimentConfig
from abkit.assignment.hashing import SEPARATOR
from abkit.assignment.ids import normalise_id_expr
from abkit.text.checks import csv_error_reason

UNIT_COLUMNS = ("advocate_id", "case_id")
_REPLACEMENT_CHARACTER = "\ufffd"  # what the lossy UTF-8 read leaves for invalid bytes


def assign_csv(config: ExperimentConfig, units_file: Path, out: Path | None) -> int:
    """Read a CSV with ``advocate_id`` and ``case_id`` columns, write it back with an ``arm`` column.

    Ids are normalised as everywhere else (trimmed of surrounding whitespace,
    :mod:`abkit.assignment.ids`), so a unit gets the arm the service gives it. The rows are
    written back as read; other columns pass through; an existing ``arm`` column is replaced.
    Blank lines are not rows (as in ``abkit ingest``): skipped, and not counted in row numbers.

    Polars reads the file; only when it fails or leaves an id or the last column null (a blank
    line, a row short of fields, an empty field) does the csv module read it again to tell
    which, so a file without empty ids or last fields costs no second pass.

    Args:
        config: the experiment to assign under.
        units_file: the input CSV (header line first).
        out: where to write the CSV; standard output when None.

    Returns:
        The number of units assigned.

    Raises:
        FileNotFoundError: ``units_file`` does not exist.
        ValueError: not a readable CSV, a column is missing or repeated, a row has the wrong
            number of fields or is not CSV, or an id is empty, not valid UTF-8 or holds ``\\x1f``
            (naming the first such data row, 1 = first after the header).
    """
    if not units_file.is_file():
        raise FileNotFoundError(f"{units_file}: no such file")
    try:
        units = pl.read_csv(units_file, infer_schema=False, encoding="utf8-lossy")
    except pl.exceptions.PolarsError as error:  # e.g. a row with more fields than the header
        _check_rows(units_file)  # names the row, if a row is at fault
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(f"{units_file}: not a readable CSV ({first_line})") from None
    repeated = _repeated_columns(units_file)
    if repeated:  # polars would rename them (name_duplicated_0), so the output would not be the input
        raise ValueError(f"{units_file}: repeated column(s) {', '.join(repeated)}")
    missing = [name for name in UNIT_COLUMNS if name not in units.columns]
    if missing:
        raise ValueError(f"{units_file}: missing column(s) {', '.join(missing)}")
    if any(units[name].null_count() for name in (*UNIT_COLUMNS, units.columns[-1])):
        # Polars reads a blank line as a row of nulls and fills a short row's missing fields (the
        # last column's at least) with nulls; the csv module tells them from empty fields.
        header, blank_lines = _check_rows(units_file)
        if blank_lines:
            units = _read_without_blank_lines(units_file, header)
    for name in UNIT_COLUMNS:
        _check_ids(units_file, name, units[name])
    arms = config.assign_many(units["advocate_id"].to_list(), units["case_id"].to_list())
    result = units.with_columns(pl.Series("arm", arms, dtype=pl.String))
    result.write_csv(sys.stdout if out is None else out)
    return result.height


def _repeated_columns(units_file: Path) -> list[str]:
    with _open(units_file) as handle:
        header = next(csv.reader(handle), [])
    return sorted({name for name in header if header.count(name) > 1})


def _open(units_file: Path) -> TextIO:
    # utf-8-sig: a byte-order mark from a spreadsheet export is not part of the first name.
    return units_file.open(encoding="utf-8-sig", errors="replace", newline="")


def _check_rows(units_file: Path) -> tuple[list[str], bool]:
    """The header, and whether the file has blank lines, after checking every row's number of fields.

    Raises:
        ValueError: no header, or (naming it) a row of the wrong number of fields or one that
            is not CSV (a quote never closed, text after a closing quote).
    """
    with _open(units_file) as handle:
        reader = csv.reader(handle, strict=True)
        try:
            header = next(reader, None)
        except csv.Error as error:
            raise ValueError(f"{units_file}: the header line is not CSV ({csv_error_reason(error, 'row')})") from None
        try:
            widths = set(map(len, reader))
        except csv.Error:
            widths = None  # found again below, with its row
    if not header:
        raise ValueError(f"{units_file}: not a readable CSV (no header line)")
    if widths is None or not widths <= {len(header), 0}:  # 0: a blank line
        raise ValueError(f"{units_file}: {_first_bad_row(units_file, len(header))}")
    return header, 0 in widths


def _first_bad_row(units_file: Path, width: int) -> str:
    """Where and why the first row is not a row of ``width`` fields (1 = the first after the header)."""
    with _open(units_file) as handle:
        reader = csv.reader(handle, strict=True)
        next(reader)
        row = 0
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                return "the file changed while it was read"
            except csv.Error as error:
                return f"row {row + 1}: unreadable CSV: {csv_error_reason(error, 'row')}"
            if fields:  # a blank line is not a row
                row += 1
                if len(fields) != width:
                    return f"row {row}: expected {width} fields, found {len(fields)}"


def _read_without_blank_lines(units_file: Path, header: list[str]) -> pl.DataFrame:
    """The file as polars reads it (empty fields null), without its blank lines (which polars
    reads as rows of nulls). Only for files that have blank lines: slower than polars."""
    with _open(units_file) as handle:
        reader = csv.reader(handle, strict=True)
        next(reader)
        rows = [fields for fields in reader if fields]
    columns = zip(*rows, strict=True) if rows else ((),) * len(header)
    return pl.DataFrame(
        {name: [value or None for value in column] for name, column in zip(header, columns, strict=True)},
        schema=dict.fromkeys(header, pl.String),
    )


def _check_ids(units_file: Path, name: str, ids: pl.Series) -> None:
    trimmed = ids.to_frame().select(normalise_id_expr(pl.col(name))).to_series()
    problems = (
        (trimmed.is_null() | (trimmed == ""), f"{name} is empty"),
        (ids.str.contains(_REPLACEMENT_CHARACTER, literal=True), f"{name} is not valid UTF-8"),
        (ids.str.contains(SEPARATOR, literal=True), f"{name} contains the unit separator \\x1f"),
    )
    for bad, message in problems:
        positions = bad.fill_null(True).arg_true()
        if positions.len():
            raise ValueError(f"{units_file}: row {positions[0] + 1}: {message}")
