"""Bulk ``INSERT ... ON CONFLICT DO NOTHING`` of validated rows, fast on every backend.

SQLAlchemy's per-row parameter processing costs more than SQLite's own insert, so rows go
to the driver directly: one compiled statement, ``executemany`` over tuples in chunks,
with values already in the driver's native types (SQLite datetimes formatted exactly as
SQLAlchemy's ``DateTime`` stores them). DuckDB's ``executemany`` runs row by row, so there
the chunk is handed over as an Arrow table and inserted with one ``INSERT ... SELECT``.

The number of new rows comes from the driver's row count (ids that already exist are
skipped by ``ON CONFLICT`` and not counted), so no id lookup is needed. A backend without
``ON CONFLICT`` falls back to looking up existing ids first.
"""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl
from sqlalchemy import Connection, DateTime, Table, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite

INSERT_CHUNK = 50_000  # rows per executemany: bounded memory for the driver's parameter list
_ID_LOOKUP_CHUNK = 5_000
# SQLAlchemy's SQLite DATETIME storage format ("2026-01-01 10:00:00.000000").
_SQLITE_DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S%.6f"
_ON_CONFLICT_DIALECTS = ("sqlite", "postgresql", "duckdb")


def insert_new_rows(conn: Connection, table: Table, id_column: str, frame: pl.DataFrame) -> int:
    """Insert the rows of ``frame`` whose id is not stored yet; return how many were new.

    Args:
        conn: a connection inside the caller's transaction (all chunks commit together).
        table: the target table; ``frame`` holds a subset of its columns, named alike.
        id_column: the primary key; ``frame`` must not repeat an id.
        frame: typed rows (strings, floats, naive UTC datetimes).
    """
    if frame.height == 0:
        return 0
    dialect = conn.dialect.name
    if dialect not in _ON_CONFLICT_DIALECTS:
        return _insert_after_lookup(conn, table, id_column, frame)
    if dialect == "duckdb":
        return _insert_duckdb(conn, table, frame)
    statement = _on_conflict_do_nothing(table, dialect)
    compiled = statement.compile(dialect=conn.dialect, column_keys=list(frame.columns))
    driver_frame = _to_driver_types(frame, table, dialect)
    inserted = 0
    for chunk in _chunks(driver_frame):
        if compiled.positional:
            order = compiled.positiontup or []
            parameters: list = list(chunk.select(order).iter_rows())
        else:
            parameters = list(chunk.iter_rows(named=True))
        result = conn.exec_driver_sql(str(compiled), parameters)
        # sqlite3 and psycopg 3 both sum the row count over executemany; rows skipped by
        # ON CONFLICT DO NOTHING are not counted.
        inserted += max(result.rowcount, 0)
    return inserted


def _chunks(frame: pl.DataFrame) -> Iterator[pl.DataFrame]:
    for start in range(0, frame.height, INSERT_CHUNK):
        yield frame.slice(start, INSERT_CHUNK)


def _on_conflict_do_nothing(table: Table, dialect: str):
    if dialect == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    return postgresql.insert(table).on_conflict_do_nothing()


def _to_driver_types(frame: pl.DataFrame, table: Table, dialect: str) -> pl.DataFrame:
    if dialect != "sqlite":
        return frame  # psycopg takes Python datetimes, floats and strings as they are
    conversions = [
        pl.col(name).dt.strftime(_SQLITE_DATETIME_FORMAT)
        for name in frame.columns
        if isinstance(table.c[name].type, DateTime) and frame.schema[name] == pl.Datetime
    ]
    return frame.with_columns(conversions) if conversions else frame


def _insert_duckdb(conn: Connection, table: Table, frame: pl.DataFrame) -> int:
    # executemany is row by row on DuckDB; a registered Arrow table inserts in one statement.
    driver = conn.connection.driver_connection
    view = f"__abkit_insert_{table.name}"
    names = ", ".join(f'"{name}"' for name in frame.columns)
    before = _count(conn, table)
    driver.register(view, frame.to_arrow())  # type: ignore[union-attr]
    try:
        driver.execute(  # type: ignore[union-attr]
            f'INSERT INTO "{table.name}" ({names}) SELECT {names} FROM "{view}" ON CONFLICT DO NOTHING'
        )
    finally:
        driver.unregister(view)  # type: ignore[union-attr]
    # DuckDB reports no reliable row count for INSERT ... ON CONFLICT, so count the table.
    return _count(conn, table) - before


def _count(conn: Connection, table: Table) -> int:
    return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _insert_after_lookup(conn: Connection, table: Table, id_column: str, frame: pl.DataFrame) -> int:
    column = table.c[id_column]
    ids = frame[id_column].to_list()
    existing: set[str] = set()
    for start in range(0, len(ids), _ID_LOOKUP_CHUNK):
        existing.update(conn.execute(select(column).where(column.in_(ids[start : start + _ID_LOOKUP_CHUNK]))).scalars())
    new_rows = frame.filter(~pl.col(id_column).is_in(list(existing))) if existing else frame
    for chunk in _chunks(new_rows):
        conn.execute(insert(table), chunk.to_dicts())
    return new_rows.height
