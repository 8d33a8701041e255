"""Spark SQL as a SQLAlchemy dialect, over a DB-API shim that hands each statement to ``spark.sql``.

The report's statements are SQLAlchemy Core (abkit/report/queries.py); this module lets
:class:`~abkit.report.sql_source.SqlSource` run them on a Spark session unchanged:

* :class:`SparkDialect` compiles them in Spark SQL's spelling (backquoted identifiers; day,
  week and percentile constructs in abkit/report/dialects.py under the name ``spark``);
* the DB-API connection renders the bound values as Spark literals on the client (pyformat:
  SQLAlchemy escapes a literal ``%`` as ``%%``, so ``statement % literals`` is exact) and runs the
  text with ``spark.sql(...).collect()``: the few grouped rows come back, never an event row.

Timestamps are ``TIMESTAMP_NTZ`` (naive UTC, as the event store keeps them): a Python ``datetime``
is rendered as a ``TIMESTAMP_NTZ`` literal, and such columns come back as naive datetimes
whatever the driver's time zone. pyspark is imported by whoever makes the session, not here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.engine import default
from sqlalchemy.sql import compiler, sqltypes

DIALECT_NAME = "spark"


class Error(Exception):
    """DB-API base error: a Spark statement failed (the message is Spark's)."""


class DatabaseError(Error):
    pass


class OperationalError(DatabaseError):
    pass


class ProgrammingError(DatabaseError):
    pass


class InterfaceError(Error):
    pass


class Warning(Exception):  # noqa: A001 - the DB-API name
    pass


def spark_literal(value: Any) -> str:
    """A Python value as a Spark SQL literal.

    Raises:
        TypeError: a type the report's statements never bind.
    """
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        # A bare 12.5 is a DECIMAL in Spark SQL; the D suffix keeps it a double, bit for bit.
        return f"{value!r}D" if math.isfinite(value) else f"CAST('{value!r}' AS DOUBLE)"
    if isinstance(value, Decimal):
        return f"CAST('{value}' AS DECIMAL(38, 18))"
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            raise TypeError(f"spark: pass naive UTC datetimes, got {value!r}")
        return f"TIMESTAMP_NTZ '{value.isoformat(sep=' ')}'"
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    raise TypeError(f"spark: no literal for {type(value).__name__} {value!r}")


class Cursor:
    """DB-API cursor over a Spark session: ``execute`` collects the statement's (grouped) rows."""

    arraysize = 1

    def __init__(self, session: Any):
        self._session = session
        self._rows: list[tuple[Any, ...]] = []
        self.description: list[tuple[Any, ...]] | None = None
        self.rowcount = -1

    def execute(self, operation: str, parameters: Mapping[str, Any] | Sequence[Any] | None = None) -> None:
        if parameters:
            if not isinstance(parameters, Mapping):
                raise InterfaceError("spark: parameters must be named (pyformat)")
            operation = operation % {name: spark_literal(value) for name, value in parameters.items()}
        try:
            frame = self._session.sql(operation)
            rows = frame.collect()
        except Exception as error:  # py4j / Spark Connect raise their own classes
            raise DatabaseError(f"{error.__class__.__name__}: {error}") from error
        self.description = [(name, None, None, None, None, None, None) for name in frame.columns]
        self._rows = [tuple(row) for row in rows]
        self.rowcount = len(self._rows)

    def executemany(self, operation: str, seq_of_parameters: Sequence[Mapping[str, Any]]) -> None:
        for parameters in seq_of_parameters:
            self.execute(operation, parameters)

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._rows.pop(0) if self._rows else None

    def fetchmany(self, size: int | None = None) -> list[tuple[Any, ...]]:
        size = self.arraysize if size is None else size
        taken, self._rows = self._rows[:size], self._rows[size:]
        return taken

    def fetchall(self) -> list[tuple[Any, ...]]:
        taken, self._rows = self._rows, []
        return taken

    def close(self) -> None:
        self._rows = []


class Connection:
    """DB-API connection: a handle on a shared Spark session (closing it leaves the session running)."""

    def __init__(self, session: Any):
        self.session = session

    def cursor(self) -> Cursor:
        return Cursor(self.session)

    def commit(self) -> None:  # Spark SQL reads run outside transactions
        pass

    def rollback(self) -> None:
        pass

    def close(self) -> None:
        pass


class _DBAPI:
    """The module-like object SQLAlchemy asks for (paramstyle and exception classes)."""

    paramstyle = "pyformat"
    apilevel = "2.0"
    threadsafety = 2
    Error = Error
    Warning = Warning
    InterfaceError = InterfaceError
    DatabaseError = DatabaseError
    OperationalError = OperationalError
    ProgrammingError = ProgrammingError
    IntegrityError = DatabaseError
    DataError = DatabaseError
    InternalError = DatabaseError
    NotSupportedError = DatabaseError

    @staticmethod
    def connect(*_args: Any, **_kwargs: Any) -> Connection:
        raise InterfaceError("spark: create the engine with spark_engine(session), which supplies the session")


def _spark_literals(base: type) -> type:
    """``base`` whose literal rendering (``literal_binds``, reference SQL) is :func:`spark_literal`'s."""

    def literal_processor(self: Any, dialect: Any) -> Any:
        return spark_literal

    return type(f"Spark{base.__name__}", (base,), {"literal_processor": literal_processor})


class SparkIdentifierPreparer(compiler.IdentifierPreparer):
    def __init__(self, dialect: default.DefaultDialect):
        super().__init__(dialect, initial_quote="`", escape_quote="`")


class SparkDialect(default.DefaultDialect):
    """Compiles SQLAlchemy Core for Spark SQL; executes through :class:`Connection`."""

    name = DIALECT_NAME
    driver = "pyspark"
    preparer = SparkIdentifierPreparer  # type: ignore[assignment]
    supports_statement_cache = True
    supports_native_boolean = True
    supports_native_decimal = True
    default_paramstyle = "pyformat"
    # Statements compiled with literal values spell them as the DB-API does at run time.
    colspecs = {
        base: _spark_literals(base) for base in (sqltypes.Float, sqltypes.String, sqltypes.DateTime, sqltypes.Date)
    }

    @classmethod
    def import_dbapi(cls) -> Any:
        return _DBAPI

    def _get_default_schema_name(self, connection: Any) -> str:
        return "default"  # Spark's default database

    def do_rollback(self, dbapi_connection: Any) -> None:
        pass

    def do_commit(self, dbapi_connection: Any) -> None:
        pass

    def do_ping(self, dbapi_connection: Any) -> bool:
        return True

    def get_table_names(self, connection: Any, schema: str | None = None, **kw: Any) -> list[str]:
        """Tables and views of the current database, temporary views included (``SHOW TABLES``)."""
        statement = "SHOW TABLES" if schema is None else f"SHOW TABLES IN {self.identifier_preparer.quote(schema)}"
        return [row[1] for row in connection.exec_driver_sql(statement)]

    def get_view_names(self, connection: Any, schema: str | None = None, **kw: Any) -> list[str]:
        return []  # SHOW TABLES lists them with the tables

    def has_table(self, connection: Any, table_name: str, schema: str | None = None, **kw: Any) -> bool:
        return table_name in self.get_table_names(connection, schema)
