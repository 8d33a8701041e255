"""The report's aggregates on Apache Spark: the same SQL statements, run by ``spark.sql`` on the cluster.

:class:`SparkSource` is a :class:`~abkit.report.sql_source.SqlSource` whose engine is a Spark
session (abkit/report/spark_dialect.py): every figure family is one Spark SQL statement that
returns a few grouped rows, and the maths stays in :mod:`abkit.stats` on this machine.

The event tables become temporary views of the session, with every column cast to the event
store's type (timestamps to ``TIMESTAMP_NTZ``, naive UTC), from one of:

* a directory or URI of exports: locally the naming of an export directory
  (``selections.parquet``, ``selections/*.parquet``, ``selections.csv``...; see files_source.py),
  on a cluster file system (``s3a://``, ``gs://``, ``abfss://``, ``hdfs://``, ``dbfs:/``) one
  Parquet folder per table: ``<location>/selections/``, ``<location>/predictions/``...;
* a catalog database (``abkit``, ``main.abkit`` on Unity Catalog) holding tables named
  ``selections``, ``predictions``, ``cases`` and optionally the registry tables (Delta, Hive or
  Iceberg tables alike).

A table that is absent is an empty view with the store's columns, as for exports.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine
from sqlalchemy.dialects import registry

from abkit.events.schema import metadata
from abkit.report.files_source import EVENT_TABLES, REQUIRED_COLUMNS, find_files, view_columns
from abkit.report.spark_dialect import DIALECT_NAME, Connection
from abkit.report.sql_source import SqlSource

registry.register(DIALECT_NAME, "abkit.report.spark_dialect", "SparkDialect")

_SPARK_TYPES = {str: "STRING", float: "DOUBLE", int: "BIGINT"}
# Values of --spark that mean "the session this process already has or spark-submit configured".
ACTIVE = "active"
# Shuffle partitions of a local-mode session: Spark's default (200) is for clusters, and tiny
# tasks dominate a report's few aggregates on one machine (adaptive execution coalesces above this).
LOCAL_SHUFFLE_PARTITIONS = 8


def spark_session(
    master: str = ACTIVE, *, app_name: str = "abkit-report", config: dict[str, str] | None = None
) -> tuple[Any, bool]:
    """A Spark session for ``master`` and whether this call started it (then the caller stops it).

    Args:
        master: ``local[N]``, ``spark://host:7077``, ``yarn``, ``k8s://...``; ``sc://host:15002`` for
            Spark Connect (Databricks Connect, a Spark Connect server); or ``active`` for the session
            this process already has (a notebook, ``spark-submit``'s configuration).
        app_name: the application's name in the cluster's UI.
        config: more Spark settings for a session this call starts (e.g. ``spark.sql.warehouse.dir``).

    Raises:
        ModuleNotFoundError: pyspark is not installed (``pip install pyspark``; Java 17+ for local mode).
    """
    try:
        from pyspark.sql import SparkSession
    except ModuleNotFoundError:
        raise ModuleNotFoundError("spark: pyspark is not installed (pip install 'pyspark>=3.5')") from None
    if master.startswith("sc://"):
        return SparkSession.builder.remote(master).appName(app_name).getOrCreate(), False
    active = SparkSession.getActiveSession()
    if master == ACTIVE and active is not None:
        return active, False
    builder = SparkSession.builder.appName(app_name)
    if master != ACTIVE:
        builder = builder.master(master)
    if master.startswith("local"):
        builder = (
            builder.config("spark.sql.shuffle.partitions", str(LOCAL_SHUFFLE_PARTITIONS))
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
        )
    for key, value in (config or {}).items():  # the caller's settings win
        builder = builder.config(key, value)
    # getOrCreate hands back a session this process already has (whatever the master): not ours to stop.
    return builder.getOrCreate(), active is None


def _is_catalog(tables: str) -> bool:
    """A database name (``abkit``, ``main.abkit``) rather than a path or a URI."""
    return "/" not in tables and ":" not in tables and not Path(tables).exists()


def _read(session: Any, tables: str, name: str) -> tuple[Any, str] | None:
    """The DataFrame of one table and where it came from, or None when the table is absent."""
    if _is_catalog(tables):
        qualified = f"{tables}.{name}"
        return (session.table(qualified), qualified) if session.catalog.tableExists(qualified) else None
    if "://" not in tables and not tables.startswith("dbfs:"):
        files = find_files(Path(tables), name)
        if not files:
            return None
        paths = [str(path) for path in files]
        if files[0].suffix == ".csv":
            # Every field as text, cast below: no type guessing (ids like 007 stay text).
            return session.read.option("header", "true").csv(paths), paths[0]
        return session.read.parquet(*paths), paths[0]
    location = f"{tables.rstrip('/')}/{name}"
    try:
        frame = session.read.parquet(location)
        frame.schema  # noqa: B018 - resolves the path now: a missing folder raises here
    except Exception as error:
        if "PATH_NOT_FOUND" in str(error) or "Path does not exist" in str(error):
            return None
        raise
    return frame, location


def _cast(name: str, kind: type, file_type: str | None) -> str:
    column = f"`{name}`"
    if kind is not str and kind is not float and kind is not int:  # a timestamp
        if file_type is None:
            return f"CAST(NULL AS TIMESTAMP_NTZ) AS {column}"
        if file_type == "timestamp_ntz":
            return column
        if file_type in ("timestamp", "date"):
            # An instant (or a date) to the UTC wall clock: the session's zone is UTC.
            return f"CAST({column} AS TIMESTAMP_NTZ) AS {column}"
        # Text: an offset, when given, is honoured; without one the time is taken as UTC.
        return f"CAST(CAST({column} AS TIMESTAMP) AS TIMESTAMP_NTZ) AS {column}"
    if file_type is None:
        return f"CAST(NULL AS {_SPARK_TYPES[kind]}) AS {column}"
    return f"CAST({column} AS {_SPARK_TYPES[kind]}) AS {column}"


def create_views(session: Any, tables: str) -> None:
    """Register the event and registry tables at ``tables`` as temporary views of ``session``.

    Raises:
        FileNotFoundError: none of selections, predictions and cases is there.
        ValueError: a table lacks a column the report reads (the message names where and which).
    """
    # Casts between TIMESTAMP (an instant) and TIMESTAMP_NTZ use the session's zone.
    session.conf.set("spark.sql.session.timeZone", "UTC")
    found = {name: _read(session, tables, name) for name in REQUIRED_COLUMNS}
    if not any(found[name] for name in EVENT_TABLES):
        raise FileNotFoundError(f"spark: {tables} holds no selections, predictions or cases table")
    for name, read in found.items():
        if read is None:
            casts = [_cast(col.name, col.type.python_type, None) for col in metadata.tables[name].c]
            session.sql(f"SELECT {', '.join(casts)} WHERE false").createOrReplaceTempView(name)
            continue
        frame, where = read
        present = {field.name: field.dataType.simpleString() for field in frame.schema.fields}
        casts = [_cast(*column) for column in view_columns(name, present, where)]
        frame.selectExpr(*casts).createOrReplaceTempView(name)


def spark_engine(session: Any) -> Engine:
    """A SQLAlchemy engine whose connections run statements on ``session`` (see spark_dialect.py)."""
    return create_engine(f"{DIALECT_NAME}://", creator=lambda: Connection(session))


class SparkSource(SqlSource):
    """:class:`~abkit.report.groups.StatsSource` on Spark SQL over the event tables at ``tables``.

    Args:
        tables: a directory or URI of exports, or a catalog database (see the module docstring).
        master: where to run (see :func:`spark_session`); ignored when ``session`` is given.
        session: an existing Spark session to use (left running on :meth:`close`).
        workers: how many family queries Spark runs at once (default as :class:`SqlSource`).
    """

    def __init__(self, tables: str | os.PathLike[str], *, master: str = ACTIVE, session: Any = None, workers=None):
        started = False
        if session is None:
            session, started = spark_session(master)
        self.session = session
        self._stop_session = started
        try:
            create_views(session, str(tables))
            super().__init__(spark_engine(session), workers=workers)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Dispose of the engine, and stop the session when this source started it."""
        engine = getattr(self, "engine", None)
        if engine is not None:
            engine.dispose()
        if self._stop_session:
            self.session.stop()
            self._stop_session = False
