"""A chunk of rows read from a file, and what every reader shares to make one."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from abkit.events.store import UnreadableRow


@dataclass(frozen=True)
class Chunk:
    """Consecutive rows of one file.

    Attributes:
        frame: the parsed rows, one column per wanted column present in the file (in JSON Lines,
            every wanted column: a record without the key has null there).
        row_numbers: each parsed row's place in the file (line number of CSV and JSON Lines
            records, 1-based row index in Parquet).
        raw: each parsed row's text, rendered on demand (kept only for rejected rows).
        unreadable: rows that could not be parsed into fields, or (JSON) hold an id of the wrong type.
        other_keys: keys of the chunk's JSON records that are not wanted columns (not stored).
    """

    frame: pl.DataFrame
    row_numbers: list[int]
    raw: Sequence[str]
    unreadable: list[UnreadableRow]
    other_keys: frozenset[str] = frozenset()

    @property
    def rows_read(self) -> int:
        return self.frame.height + len(self.unreadable)


def open_text(path: Path) -> io.TextIOWrapper:
    # errors="replace": bad bytes become U+FFFD, which validation refuses row by row.
    return path.open("r", encoding="utf-8", errors="replace", newline="")


def string_frame(wanted: Sequence[str], columns: dict[str, list[str | None]]) -> pl.DataFrame:
    return pl.DataFrame({name: columns[name] for name in wanted}, schema=dict.fromkeys(wanted, pl.String))
