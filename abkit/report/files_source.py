"""Exported event files (Parquet or CSV) read in place by DuckDB, so the report runs its own SQL on them.

A directory holds one file, folder or set of files per table, named after the table:
``selections.parquet`` (or ``selections.csv``, ``selections/*.parquet``, ``selections-*.parquet``),
``predictions.*``, ``cases.*`` and optionally ``experiments.*``, ``experiment_phases.*`` and
``model_versions.*``. Columns are the event-store columns (abkit/events/schema.py).

Each table becomes a view of an in-memory DuckDB database over ``read_parquet``/``read_csv`` of
its files, with every column cast to the store's type; an absent table is an empty view with
the same columns. :class:`FilesSource` is then a :class:`~abkit.report.sql_source.SqlSource` on
that database: the same statements as on any event store, one definition of each aggregate.
DuckDB streams the files and keeps only the grouped results in memory.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, create_engine, event

from abkit.events import columns as c
from abkit.events.engine import require_duckdb
from abkit.events.schema import metadata
from abkit.report.sql_source import SqlSource

_PATTERNS = ("{t}.parquet", "{t}.csv", "{t}/*.parquet", "{t}/*.csv", "{t}-*.parquet", "{t}-*.csv")

# Columns a table's files must have. The event tables need every column; the registry tables only
# those the report reads (other columns of theirs are NULL when the files lack them).
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "selections": c.SELECTION_COLUMNS,
    "predictions": c.PREDICTION_COLUMNS,
    "cases": c.CASE_COLUMNS,
    "experiments": ("name", "arms_json"),
    "experiment_phases": ("experiment", "phase", "arms_json", "started_at"),
    "model_versions": (c.MODEL_VERSION, "released_at"),
}
EVENT_TABLES = ("selections", "predictions", "cases")

_SQL_TYPES = {str: "VARCHAR", float: "DOUBLE", int: "BIGINT", datetime: "TIMESTAMP"}


def find_files(directory: Path, table: str) -> list[Path]:
    """The files of one table in an export directory (first naming pattern that matches)."""
    for pattern in _PATTERNS:
        found = sorted(directory.glob(pattern.format(t=table)))
        if found:
            return found
    return []


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def view_columns(name: str, present: dict[str, str], where: str) -> list[tuple[str, type, str | None]]:
    """The columns of the view of table ``name``: (column, its Python type in the store, its type in
    the files or None when the files lack it), in the store's order.

    Raises:
        ValueError: the files (``where``) lack a column the report reads.
    """
    missing = [col for col in REQUIRED_COLUMNS[name] if col not in present]
    if missing:
        raise ValueError(f"{where}: missing columns {missing} for table {name}")
    return [(col.name, col.type.python_type, present.get(col.name)) for col in metadata.tables[name].c]


def _scan(files: list[Path]) -> str:
    listed = "[" + ", ".join(_quote(str(path)) for path in files) + "]"
    if files[0].suffix == ".parquet":
        return f"read_parquet({listed}, union_by_name = true)"
    # Every CSV field is read as text and cast below: no type guessing (ids like 007 stay text).
    return f"read_csv({listed}, header = true, all_varchar = true, union_by_name = true)"


def _cast(name: str, kind: type, file_type: str | None) -> str:
    column = _identifier(name)
    sql_type = _SQL_TYPES[kind]
    if file_type is None:
        return f"CAST(NULL AS {sql_type}) AS {column}"
    if sql_type != "TIMESTAMP":
        return f"CAST({column} AS {sql_type}) AS {column}"
    if file_type.startswith("TIMESTAMP"):
        # Stored timestamps are naive UTC; with the session in UTC an aware one is converted, not relabelled.
        return f"CAST({column} AS TIMESTAMP) AS {column}"
    # Text (CSV): an offset, when given, is honoured; without one the time is taken as UTC.
    return f"CAST(CAST({column} AS TIMESTAMPTZ) AS TIMESTAMP) AS {column}"


def _view_sql(conn, directory: Path, name: str) -> str:
    """``CREATE VIEW`` of one table over its files, or of an empty relation with its columns."""
    files = find_files(directory, name)
    if not files:
        empty = ", ".join(_cast(col.name, col.type.python_type, None) for col in metadata.tables[name].c)
        return f"CREATE VIEW {name} AS SELECT {empty} WHERE false"
    scan = _scan(files)
    described = conn.exec_driver_sql(f"DESCRIBE SELECT * FROM {scan}").all()
    columns = view_columns(name, {row[0]: str(row[1]) for row in described}, str(files[0]))
    selected = ", ".join(_cast(*column) for column in columns)
    return f"CREATE VIEW {name} AS SELECT {selected} FROM {scan}"


def _utc_session(dbapi_connection, _record) -> None:
    # Casts between TIMESTAMPTZ and TIMESTAMP use the session's zone: UTC, whatever the machine's.
    dbapi_connection.execute("SET TimeZone = 'UTC'")


def files_engine(directory: str | Path) -> Engine:
    """An in-memory DuckDB engine whose tables are views over the export directory's files.

    Raises:
        FileNotFoundError: the directory does not exist or holds no selections, predictions or cases.
        ValueError: a table's files lack a column the report reads (the message names file and columns).
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"events: no directory at {directory}")
    if not any(find_files(directory, table) for table in EVENT_TABLES):
        raise FileNotFoundError(f"events: {directory} holds no selections.parquet/.csv, predictions.* or cases.* files")
    # A named in-memory database: every pooled connection of this engine sees the same views, so
    # the report's queries run side by side (SqlSource's workers); it goes when the pool is disposed.
    require_duckdb()
    engine = create_engine(f"duckdb:///:memory:abkit_files_{uuid.uuid4().hex}")
    event.listen(engine, "connect", _utc_session)
    try:
        with engine.begin() as conn:
            for name in REQUIRED_COLUMNS:
                conn.exec_driver_sql(_view_sql(conn, directory, name))
    except BaseException:
        engine.dispose()
        raise
    return engine


class FilesSource(SqlSource):
    """:class:`~abkit.report.groups.StatsSource` over a directory of exported event files.

    Raises:
        FileNotFoundError: the directory does not exist or holds no selections, predictions or cases.
        ValueError: a table's files lack a column the report reads.
    """

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        super().__init__(files_engine(self.directory))

    def close(self) -> None:
        """Drop the in-memory database (the files are only read)."""
        self.engine.dispose()
