"""Assigning a whole file of units (CSV in, CSV out)."""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl

from abkit.assignment.config import ExperimentConfig


def assign_csv(config: ExperimentConfig, units_file: Path, out: Path | None) -> int:
    """Read ``advocate_id,case_id`` rows, write them back with an ``arm`` column.

    Raises:
        ValueError: the file lacks a column or has an empty id, naming the row.
    """
    if not units_file.is_file():
        raise FileNotFoundError(f"{units_file}: no such file")
    try:
        units = pl.read_csv(units_file, infer_schema=False, encoding="utf8-lossy")
    except pl.exceptions.PolarsError as error:
        raise ValueError(f"{units_file}: not a readable CSV ({error})") from None
    missing = {"advocate_id", "case_id"} - set(units.columns)
    if missing:
        raise ValueError(f"{units_file}: missing column(s) {sorted(missing)}")
    advocates, cases = units["advocate_id"].to_list(), units["case_id"].to_list()
    for row, (advocate, case) in enumerate(zip(advocates, cases, strict=True), start=2):
        if not advocate or not case:
            raise ValueError(f"{units_file}: line {row}: empty advocate_id or case_id")
    arms = config.assign_many(advocates, cases)
    result = units.with_columns(pl.Series("arm", arms, dtype=pl.String))
    if out is None:
        result.write_csv(sys.stdout)
    else:
        result.write_csv(out)
    return result.height
