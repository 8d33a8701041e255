"""Small SQL constructs whose spelling differs per dialect (ISO week, day, hour, percentiles).

Timestamps are naive UTC ``DateTime`` columns everywhere (abkit/events/schema.py), so
bucketing is a pure function of the stored value; only the function names differ.
Each construct is compiled for sqlite, postgresql, duckdb, trino and spark (Spark SQL, see
spark_dialect.py); the default spelling is standard SQL for any other warehouse.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Date, DateTime
from sqlalchemy.exc import CompileError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement, FunctionElement
from sqlalchemy.types import NullType

DIALECTS = ("sqlite", "postgresql", "duckdb", "trino", "spark")


class week_start(FunctionElement):  # noqa: N801 - reads like the SQL function it stands for
    """Monday (ISO week start) of a timestamp, as a DATE."""

    type = Date()
    name = "week_start"
    inherit_cache = True


class day_of(FunctionElement):  # noqa: N801
    """Calendar day (UTC) of a timestamp, as a DATE."""

    type = Date()
    name = "day_of"
    inherit_cache = True


def _arg(compiler: Any, element: FunctionElement, **kw: Any) -> str:
    (argument,) = list(element.clauses)
    return compiler.process(argument, **kw)


# Week: SQLite moves to the next Sunday (or stays on one) and steps back six days to Monday;
# date_trunc('week', ...) is Monday-based in PostgreSQL, DuckDB, Trino and Spark.
@compiles(week_start)
@compiles(week_start, "postgresql")
@compiles(week_start, "duckdb")
@compiles(week_start, "trino")
@compiles(week_start, "spark")
def _week_start_default(element: week_start, compiler: Any, **kw: Any) -> str:
    return f"CAST(date_trunc('week', {_arg(compiler, element, **kw)}) AS DATE)"


@compiles(week_start, "sqlite")
def _week_start_sqlite(element: week_start, compiler: Any, **kw: Any) -> str:
    return f"date({_arg(compiler, element, **kw)}, 'weekday 0', '-6 days')"


@compiles(day_of)
@compiles(day_of, "postgresql")
@compiles(day_of, "duckdb")
@compiles(day_of, "trino")
@compiles(day_of, "spark")
def _day_default(element: day_of, compiler: Any, **kw: Any) -> str:
    return f"CAST({_arg(compiler, element, **kw)} AS DATE)"


@compiles(day_of, "sqlite")
def _day_sqlite(element: day_of, compiler: Any, **kw: Any) -> str:
    return f"date({_arg(compiler, element, **kw)})"


class hour_of(FunctionElement):  # noqa: N801
    """Start of the hour (UTC) of a timestamp, as a timestamp (SQLite: ISO text)."""

    type = DateTime()
    name = "hour_of"
    inherit_cache = True


@compiles(hour_of)
@compiles(hour_of, "postgresql")
@compiles(hour_of, "duckdb")
@compiles(hour_of, "trino")
def _hour_default(element: hour_of, compiler: Any, **kw: Any) -> str:
    return f"date_trunc('hour', {_arg(compiler, element, **kw)})"


@compiles(hour_of, "spark")
def _hour_spark(element: hour_of, compiler: Any, **kw: Any) -> str:
    # Spark's date_trunc returns an instant (TIMESTAMP); the event store's timestamps are naive UTC.
    return f"CAST(date_trunc('hour', {_arg(compiler, element, **kw)}) AS TIMESTAMP_NTZ)"


@compiles(hour_of, "sqlite")
def _hour_sqlite(element: hour_of, compiler: Any, **kw: Any) -> str:
    return f"strftime('%Y-%m-%d %H:00:00', {_arg(compiler, element, **kw)})"


class percentiles(ColumnElement):  # noqa: N801
    """Several continuous percentiles of a column from one sort, an aggregate returning an array.

    ``percentile_cont`` with an array of fractions (PostgreSQL, DuckDB) sorts each group once
    for all the fractions, where one aggregate per fraction would sort once per fraction.
    Trino only offers ``approx_percentile`` (it takes an array too); SQLite has no percentile
    aggregate at all, so the SQLite source computes exact percentiles from order statistics
    instead (see ``sqlite_percentiles``).
    """

    type = NullType()  # a list of floats, as the driver returns it
    inherit_cache = True

    def __init__(self, column: Any, fractions: tuple[float, ...]):
        if not fractions or not all(0.0 <= fraction <= 1.0 for fraction in fractions):
            raise ValueError(f"percentiles: fractions must be in [0, 1] (and at least one), got {fractions!r}")
        self.column = column
        self.fractions = tuple(float(fraction) for fraction in fractions)

    @property
    def _from_objects(self) -> list:
        return self.column._from_objects


def _array(fractions: tuple[float, ...]) -> str:
    return f"ARRAY[{', '.join(repr(fraction) for fraction in fractions)}]"


@compiles(percentiles)
@compiles(percentiles, "postgresql")
@compiles(percentiles, "duckdb")
def _percentiles_default(element: percentiles, compiler: Any, **kw: Any) -> str:
    # The cast makes the literal array double precision[] (PostgreSQL reads it as numeric[]).
    fractions = f"CAST({_array(element.fractions)} AS DOUBLE PRECISION[])"
    return f"percentile_cont({fractions}) WITHIN GROUP (ORDER BY {compiler.process(element.column, **kw)})"


@compiles(percentiles, "trino")
def _percentiles_trino(element: percentiles, compiler: Any, **kw: Any) -> str:
    return f"approx_percentile({compiler.process(element.column, **kw)}, {_array(element.fractions)})"


@compiles(percentiles, "spark")
def _percentiles_spark(element: percentiles, compiler: Any, **kw: Any) -> str:
    # Spark's exact percentile interpolates linearly between order statistics, as percentile_cont;
    # the D suffix makes each fraction a double (a bare 0.5 is a DECIMAL in Spark SQL).
    fractions = ", ".join(f"{fraction!r}D" for fraction in element.fractions)
    return f"percentile({compiler.process(element.column, **kw)}, array({fractions}))"


@compiles(percentiles, "sqlite")
def _percentiles_sqlite(element: percentiles, compiler: Any, **kw: Any) -> str:
    raise CompileError("percentiles: SQLite has no percentile aggregate; use the window query")


class no_percentiles(ColumnElement):  # noqa: N801
    """A NULL of :class:`percentiles`' array type, for a ``UNION ALL`` branch that has no percentiles.

    Not ``percentiles`` of a NULL column: that is still an ordered-set aggregate, which PostgreSQL
    cannot hash, so the branch would sort all its rows to group them.
    """

    type = NullType()
    inherit_cache = True


@compiles(no_percentiles)
@compiles(no_percentiles, "postgresql")
@compiles(no_percentiles, "duckdb")
def _no_percentiles_default(element: no_percentiles, compiler: Any, **kw: Any) -> str:
    return "CAST(NULL AS DOUBLE PRECISION[])"


@compiles(no_percentiles, "spark")
def _no_percentiles_spark(element: no_percentiles, compiler: Any, **kw: Any) -> str:
    return "CAST(NULL AS ARRAY<DOUBLE>)"
