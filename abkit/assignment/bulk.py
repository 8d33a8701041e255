"""Assigning a whole file of units (CSV in, CSV out)."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import polars as pl

from abkit.assignment.config import ExperimentConfig
from abkit.assignment.hashing import SEPARATOR
from abkit.assignment.ids import normalise_id_expr

UNIT_COLUMNS = ("advocate_id", "case_id")
_REPLACEMENT_CHARACTER = "\ufffd"  # what the lossy UTF-8 read leaves for invalid bytes


def assign_csv(config: ExperimentConfig, units_file: Path, out: Path | None) -> int:
    """Read a CSV with ``advocate_id`` and ``case_id`` columns, write it back with an ``arm`` column.

    Ids are normalised as everywhere else (trimmed of surrounding whitespace,
    :mod:`abkit.assignment.ids`), so a unit gets the arm the service gives it. The rows are
    written back as read; other columns pass through; an existing ``arm`` column is replaced.

    Args:
        config: the experiment to assign under.
        units_file: the input CSV (header line first).
        out: where to write the CSV; standard output when None.

    Returns:
        The number of units assigned.

    Raises:
        FileNotFoundError: ``units_file`` does not exist.
        ValueError: not a readable CSV, a column is missing or repeated, or an id is empty, not valid
            UTF-8 or holds ``\\x1f`` (naming the first such data row, 1 = first after the header).
    """
    if not units_file.is_file():
        raise FileNotFoundError(f"{units_file}: no such file")
    try:
        units = pl.read_csv(units_file, infer_schema=False, encoding="utf8-lossy")
    except pl.exceptions.PolarsError as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(f"{units_file}: not a readable CSV ({first_line})") from None
    repeated = _repeated_columns(units_file)
    if repeated:  # polars would rename them (name_duplicated_0), so the output would not be the input
        raise ValueError(f"{units_file}: repeated column(s) {', '.join(repeated)}")
    missing = [name for name in UNIT_COLUMNS if name not in units.columns]
    if missing:
        raise ValueError(f"{units_file}: missing column(s) {', '.join(missing)}")
    for name in UNIT_COLUMNS:
        _check_ids(units_file, name, units[name])
    arms = config.assign_many(units["advocate_id"].to_list(), units["case_id"].to_list())
    result = units.with_columns(pl.Series("arm", arms, dtype=pl.String))
    result.write_csv(sys.stdout if out is None else out)
    return result.height


def _repeated_columns(units_file: Path) -> list[str]:
    with units_file.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
        header = next(csv.reader(handle), [])
    return sorted({name for name in header if header.count(name) > 1})


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
