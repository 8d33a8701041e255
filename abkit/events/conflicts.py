"""Telling a conflicting event from a true duplicate: the same id, different content.

Writing the same event twice changes nothing (a true duplicate). An event whose id is stored
already but whose content differs (a client that reused a ``selection_id`` for another
selection, two exports that disagree) is a *conflict*: the first event stays as it is, never
overwritten, and the second is counted apart and filed in ``rejects`` with the fields that
differ, so it is neither lost nor silently taken for a retry.

The event's timestamp (``created_at`` / ``closed_at``) is not compared: the service stamps it
on receipt when a client leaves it out, so a retry of one selection carries another time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl
from sqlalchemy import Connection, Table, select

from abkit.events.columns import ID_COLUMN_BY_KIND, EventKind
from abkit.events.validate import TIME_FIELDS

ROW = "__row__"  # the position of a row in its batch (validate_batch's column)
_LOOKUP_CHUNK = 5_000  # ids per IN (...) list
_STORED = "__stored__"


@dataclass(frozen=True)
class Conflict:
    """A valid event whose id is stored with other content; it was not written.

    Attributes:
        row: its 0-based position in the batch given to the store.
        event_id: the id it shares with the stored event.
        fields: the columns whose values differ, in table order.
    """

    row: int
    event_id: str
    fields: tuple[str, ...]

    @property
    def reason(self) -> str:
        return f"conflicts with the stored event of this id (differs in {', '.join(self.fields)}); not written"


def compared_columns(kind: EventKind, columns: Sequence[str]) -> list[str]:
    """The columns whose values make two events of one id the same event."""
    skip = {ROW, ID_COLUMN_BY_KIND[kind], *TIME_FIELDS[kind]}
    return [name for name in columns if name not in skip]


def find_conflicts(conn: Connection, table: Table, kind: EventKind, valid: pl.DataFrame) -> list[Conflict]:
    """The rows of ``valid`` whose content differs from the stored event of their id.

    Call it after inserting ``valid`` in the same transaction: every id then has a stored
    row, either an earlier event's or the first of this batch's, so one comparison finds
    conflicts with earlier writes and between repeats within the batch alike.

    Args:
        conn: the connection of the write's transaction.
        table: the event table.
        kind: its event kind.
        valid: validated, typed rows with the ``__row__`` column.
    """
    id_column = ID_COLUMN_BY_KIND[kind]
    compared = compared_columns(kind, valid.columns)
    ids = valid[id_column].unique().to_list()
    records: list[Any] = []
    for start in range(0, len(ids), _LOOKUP_CHUNK):
        chunk = ids[start : start + _LOOKUP_CHUNK]
        statement = select(*(table.c[name] for name in (id_column, *compared))).where(table.c[id_column].in_(chunk))
        records.extend(
            tuple(row) for row in conn.execute(statement)
        )  # tuples: early polars 1.x cannot read SQLAlchemy Rows
    schema = {name: valid.schema[name] for name in (id_column, *compared)}
    stored = pl.DataFrame(records, schema=schema, orient="row").rename({n: f"{n}{_STORED}" for n in compared})
    joined = valid.join(stored, on=id_column, how="inner")
    differs = [~pl.col(name).eq_missing(pl.col(f"{name}{_STORED}")) for name in compared]
    if not differs:
        return []
    flagged = joined.with_columns(
        pl.concat_list([pl.when(d).then(pl.lit(name)) for name, d in zip(compared, differs, strict=True)])
        .list.drop_nulls()
        .alias("__fields__")
    ).filter(pl.col("__fields__").list.len() > 0)
    return [
        Conflict(int(row), str(event_id), tuple(fields))
        for row, event_id, fields in flagged.select(ROW, id_column, "__fields__").sort(ROW).iter_rows()
    ]
